"""Running one case: copy a seed, mutate it, open it twice in the worker, judge, count.

A case opens the mutated main path twice: auto-detected (``roicore.open(path,
**reader_kwargs)``) and with ``reader=`` the seed's reader. Each open is
judged against the unmutated seed's outcome in the same mode (its baseline,
computed once per seed, which must itself read back the seed's ground truth).
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

from fuzz.judge import SAME, Verdict, judge, truth_problems
from fuzz.mutations import Hdf5Delete, Mutation, NotApplicable, copy_seed, restore_permissions
from fuzz.realdata import realdata_seeds
from fuzz.seeds import Seed, sample_seeds
from fuzz.strategies import SeedFiles
from fuzz.tally import TALLY, Tally
from fuzz.worker import Outcome, Request, Worker

__all__ = ["FuzzSession", "CASE_TIMEOUT", "MODES"]

#: seconds one open plus its full read may take before the case counts as a hang
CASE_TIMEOUT = 5.0
MODES = ("auto", "explicit")


class CaseFailed(AssertionError):
    """A case ended in a way the contract forbids; the message is a reproduction recipe."""


class FuzzSession:
    """Seeds, baselines, the worker and the tally of one test session.

    Parameters
    ----------
    root : Path
        A scratch folder for seeds and cases.
    worker : Worker
    tally : Tally
    """

    def __init__(self, root: Path, worker: Worker, tally: Tally = TALLY) -> None:
        self.root = root
        self.worker = worker
        self.tally = tally
        self._seeds: dict[str, list[Seed]] = {}
        self._files: dict[tuple[str, str], SeedFiles] = {}
        self._baselines: dict[tuple[str, str, str], Outcome] = {}
        self._deletions: dict[tuple[str, str], tuple[dict[str, set[str]], list[str]]] = {}
        self._counter = itertools.count()

    # -- seeds ------------------------------------------------------------------------------------
    def seeds(self, reader: str) -> list[Seed]:
        """The reader's seeds: its conformance samples, then the real-data seeds."""
        if reader not in self._seeds:
            folder = self.root / "seeds" / reader.replace(":", "__")
            samples = sample_seeds(reader, folder / "samples")
            kind = samples[0].kind if samples else "imaging"
            real = realdata_seeds(reader, kind, folder / "realdata")
            self.tally.seeds(reader, "sample", len(samples))
            self.tally.seeds(reader, "realdata", len(real))
            self._seeds[reader] = samples + real
        return self._seeds[reader]

    def files(self, seed: Seed) -> SeedFiles:
        key = (seed.reader, seed.id)
        if key not in self._files:
            self._files[key] = SeedFiles(seed)
        return self._files[key]

    # -- running ----------------------------------------------------------------------------------
    def _request(self, seed: Seed, folder: Path, mode: str) -> Request:
        reader = seed.reader if mode == "explicit" else None
        return Request(str(folder / seed.main), reader, dict(seed.reader_kwargs), str(folder))

    def _fresh_folder(self) -> Path:
        folder = self.root / "cases" / f"c{next(self._counter):06d}"
        folder.mkdir(parents=True)
        return folder

    @staticmethod
    def _remove(folder: Path) -> None:
        restore_permissions(folder)
        shutil.rmtree(folder)

    def baseline(self, seed: Seed, mode: str) -> Outcome:
        """The unmutated seed's outcome in ``mode``; fails if it does not read back its truth."""
        key = (seed.reader, seed.id, mode)
        if key not in self._baselines:
            folder = self._fresh_folder()
            copy_seed(seed.folder, seed.files, folder)
            try:
                outcome = self.worker.run(self._request(seed, folder, mode))
            finally:
                self._remove(folder)
            verdict = judge(outcome, names={Path(seed.main).name, str(folder / seed.main)})
            problems = list(verdict.problems)
            must_read = seed.truth is not None and (mode == "explicit" or seed.detectable)
            if must_read and outcome.status != "read":
                what = f"{outcome.error.type}: {outcome.error.message}" if outcome.error else outcome.detail
                problems.append(f"the unmutated seed does not read ({mode}): {outcome.status} {what}")
            elif must_read and outcome.reading is not None:
                if mode == "auto" and outcome.reading.reader != seed.reader:
                    problems.append(f"auto-detection chose {outcome.reading.reader}, not {seed.reader}")
                problems += truth_problems(outcome.reading, seed.truth)
            if mode == MODES[0]:
                self.tally.case(seed.reader, "unmutated", ["none"])
            label = SAME if outcome.status == "read" else verdict.label  # the baseline is its own reference
            self.tally.opened(seed.reader, label, bool(problems), outcome.seconds)
            if problems:
                self.tally.failed(seed.reader, f"{seed.describe()}, unmutated, {mode} open: {problems}")
                raise CaseFailed(f"{seed.describe()}, unmutated, {mode} open:\n  " + "\n  ".join(problems))
            self._baselines[key] = outcome
        return self._baselines[key]

    def member_deletions(self, seed: Seed) -> tuple[dict[str, set[str]], list[str]]:
        """Delete every member of every HDF5 file of the seed, one per case (cached per seed).

        Returns
        -------
        used : dict of str to set of str
            Per HDF5 file, the members whose deletion changed the explicit read:
            the ones the reader depends on, which the drawn HDF5 edits favour.
        failures : list of str
            Descriptions of the cases that failed.
        """
        key = (seed.reader, seed.id)
        if key not in self._deletions:
            used: dict[str, set[str]] = {}
            failures: list[str] = []
            for name, facts in self.files(seed).files.items():
                for member, _, _ in facts.hdf5_nodes or ():
                    try:
                        verdicts = self.check(seed, [Hdf5Delete(name, name=member)], "hdf5-deletion")
                    except NotApplicable:  # h5py could not delete this member: nothing to judge
                        continue
                    except CaseFailed as failure:
                        failures.append(str(failure))
                        used.setdefault(name, set()).add(member)
                        continue
                    if verdicts[MODES.index("explicit")].label != SAME:
                        used.setdefault(name, set()).add(member)
            self._deletions[key] = (used, failures)
        return self._deletions[key]

    def check(self, seed: Seed, mutations: list[Mutation], family: str) -> list[Verdict]:
        """Run one mutated case in both modes; raise CaseFailed describing it if any open fails.

        Raises NotApplicable (after counting it as discarded) when a mutation does
        not apply to the file; drawn cases turn that into a hypothesis ``reject()``.
        """
        baselines = {mode: self.baseline(seed, mode) for mode in MODES}
        folder = self._fresh_folder()
        try:
            copy_seed(seed.folder, seed.files, folder)
            try:
                for mutation in mutations:
                    mutation.apply(folder)
            except NotApplicable:
                self.tally.discarded(seed.reader)
                raise
            self.tally.case(seed.reader, family, [m.kind for m in mutations])
            payload_only = all(m.payload_only for m in mutations)
            facts = self.files(seed).files
            elementwise = all(
                m.file in facts and facts[m.file].payload is not None and facts[m.file].payload.elementwise
                for m in mutations
            )
            names = {Path(seed.main).name, str(folder / seed.main)} | {Path(m.file).name for m in mutations}
            verdicts, failures = [], []
            for mode in MODES:
                outcome = self.worker.run(self._request(seed, folder, mode))
                verdict = judge(
                    outcome,
                    names=names,
                    baseline=baselines[mode],
                    payload_only=payload_only,
                    flipped=sum(m.flipped_bytes() for m in mutations),
                    elementwise=elementwise,
                    selects_channel="channel" in seed.reader_kwargs,
                    expected_errors=next((m.expected_errors for m in mutations if m.expected_errors), None),
                )
                self.tally.opened(seed.reader, verdict.label, not verdict.ok, outcome.seconds)
                verdicts.append(verdict)
                failures += [f"{mode} open: {problem}" for problem in verdict.problems]
        finally:
            self._remove(folder)
        if failures:
            recipe = "\n  ".join(repr(m) for m in mutations)
            description = f"{seed.describe()}\nmutations ({family}):\n  {recipe}\nfailures:\n  " + "\n  ".join(failures)
            self.tally.failed(seed.reader, description)
            raise CaseFailed(description)
        return verdicts
