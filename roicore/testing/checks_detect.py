"""Detection checks: a reader claims its own samples and declines everything else, without raising."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roicore.testing.checks import NotApplicable, check
from roicore.testing.compare import expect
from roicore.testing.decoys import make_decoys, make_folder_decoys


def _verdict(spec: Any, path: Path, *, always_ask: bool = False) -> tuple[str, str]:
    """('yes'|'maybe'|'no'|'no match'|'error', reason) for one reader on one path.

    The sniff is asked only where the static rules match, as detection does, unless ``always_ask``.
    """
    from roicore.registry import detection

    header = detection._read_header(path)
    if not always_ask and detection._static_match(spec, path, header, path.is_dir()) is None:
        return "no match", ""
    candidate = detection.CandidateReport("", "", (), contribution=_FakeContribution(spec))
    detection._ask(candidate, path, header)
    return candidate.verdict, candidate.reason


class _FakeContribution:
    def __init__(self, spec: Any) -> None:
        self.spec = spec
        self.plugin = "?"


def _foreign_paths(case: Any) -> list[tuple[str, Path]]:
    paths = [(f"{owner} sample {sample.id}", sample.path) for owner, sample in case.session.foreign_reader_samples(case.contribution)]
    paths += [(f"decoy {p.parent.name}/{p.name}", p) for p in make_decoys(case.scratch("decoys"), case.spec)]
    return paths


@check("detect.positive", component="detect", subject="reader-sample", depends_on=("registry.plugin.loads",))
def positive(case):
    """roicore.open's detection picks this reader for each of its own detectable samples."""
    import roicore

    if not case.sample.detectable:
        raise NotApplicable("the sample is read only with an explicit reader= (detectable=False)")
    report = roicore.explain(case.sample.path)
    expect(
        report.chosen == case.target,
        f"detection of {case.sample.path.name} chose {report.chosen}, expected {case.target}:\n{report}",
    )


@check("detect.negative", component="detect", subject="reader", depends_on=("registry.plugin.loads",))
def negative(case):
    """The reader's sniff says no (or maybe) to every other reader's samples and to decoys."""
    claimed = []
    for label, path in _foreign_paths(case):
        verdict, reason = _verdict(case.spec, path)
        if verdict == "yes":
            claimed.append(f"{label}: {reason}")
    expect(not claimed, f"{case.target} claims files that are not its format:\n" + "\n".join(claimed))


@check("detect.no_raise", component="detect", subject="reader", depends_on=("registry.plugin.loads",))
def no_raise(case):
    """sniff returns a Support for own samples, foreign samples and decoys; it never raises."""
    paths = [(f"own sample {s.id}", s.path) for s in case.session.samples_of(case.contribution).samples]
    raised = []
    for label, path in paths + _foreign_paths(case):
        verdict, reason = _verdict(case.spec, path)
        if verdict == "error":
            raised.append(f"{label}: {reason}")
    expect(not raised, "sniff raised instead of answering:\n" + "\n".join(raised))


@check("detect.deterministic", component="detect", subject="reader", depends_on=("registry.plugin.loads",))
def deterministic(case):
    """Asking twice gives the same verdict and reason, for own samples and decoys."""
    paths = [s.path for s in case.session.samples_of(case.contribution).samples]
    paths += [p for _, p in _foreign_paths(case)][:20]
    changed = []
    for path in paths:
        first, second = _verdict(case.spec, path), _verdict(case.spec, path)
        if first != second:
            changed.append(f"{path.name}: {first} then {second}")
    expect(not changed, "sniff is not deterministic:\n" + "\n".join(changed))


@check("detect.negative.folders", component="detect", subject="reader", depends_on=("registry.plugin.loads",),
       only_for=("readers with directory markers", lambda contribution, sample: bool(contribution.spec.directory)))
def negative_folders(case):
    """A folder reader's sniff says no (or maybe) to folders holding its marker files with wrong contents."""
    claimed, unmatched = [], []
    for path in make_folder_decoys(case.scratch("folder-decoys"), case.spec):
        verdict, reason = _verdict(case.spec, path)
        if verdict == "yes":
            claimed.append(f"decoy {path.name}: {reason}")
        elif verdict == "no match":
            unmatched.append(path.name)
    expect(not unmatched, f"kit error: the decoy folders {unmatched} do not match the markers {case.spec.directory}")
    expect(not claimed, f"{case.target} claims folders whose marker files {list(case.spec.directory)} are not its format:\n"
                        + "\n".join(claimed))


@check("detect.damaged", component="detect", subject="reader-sample", depends_on=("registry.plugin.loads",))
def damaged(case):
    """sniff answers (yes, maybe or no) on copies of its own samples with any file damaged; it never raises."""
    from roicore.testing.checks_io import _variants
    from roicore.testing.files import copy_sample, sample_files

    pristine_folder = case.scratch("pristine")
    pristine, copied = copy_sample(case.sample, pristine_folder)
    raised = []
    for data_file in sample_files(pristine, copied):  # sniffs of folder formats read the marker files, not the data
        original = bytearray(data_file.read_bytes())
        relative = data_file.relative_to(pristine_folder)
        for name, mutate in _variants(len(original)).items():
            if mutate is None:
                continue
            folder = case.scratch(name)
            main, _ = copy_sample(case.sample, folder)
            (folder / relative).write_bytes(bytes(mutate(bytearray(original))))
            verdict, reason = _verdict(case.spec, main, always_ask=True)  # a damaged magic must not make sniff raise either
            if verdict == "error":
                raised.append(f"{relative} {name}: {reason}")
    expect(not raised, "sniff raised on damaged copies of its own format instead of answering:\n" + "\n".join(raised))
