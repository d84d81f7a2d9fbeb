"""Fuzzing every reader of every installed plugin with mutated files.

For each reader (found through ``roicore.readers()``), the seeds are its
conformance samples and the real recordings of ``../shared/realdata``
(:mod:`fuzz.realdata`). Each case copies a seed, mutates it, and opens it
auto-detected and with ``reader=``, then reads everything. Every open must
end, within :data:`fuzz.cases.CASE_TIMEOUT` seconds, in a read whose shapes
agree with the extractor's metadata, or in an error from ``roicore.errors``
(or FileNotFoundError / PermissionError) whose message names the file; see
:mod:`fuzz.judge` for the exact rules and :mod:`fuzz.worker` for why each
read runs in a separate process.

Families (one test each, per reader):

* unmutated: every seed reads back its ground truth (the baseline of the others);
* filesystem: every file of every seed made zero-length, a folder, unreadable, or a
  symlink loop (enumerated, not drawn);
* bytes: truncation, flipped bytes (header, payload, anywhere), appended garbage
  (one or two per case);
* structure: first every member of every HDF5 file deleted, one per case
  (enumerated, counted as family "hdf5-deletion"; it also finds the members the
  reader depends on, which the drawn edits favour); then drawn HDF5 members
  deleted/reshaped/retyped/refilled/replaced/broken links, sidecar fields
  dropped/renamed/set to wrong values, sidecar text replaced (one to three per case).

Profiles: CI uses hypothesis profile ``ci`` (derandomized, so every run draws
the same cases; ``tests/conftest.py``), with :data:`EXAMPLES_PER_PROFILE_EXAMPLE`
times its ``max_examples`` per family and reader. For a longer, randomized
local run use the ``explore`` profile (500 examples, a fresh random draw each
run, failures kept in the local hypothesis database)::

    HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest -q tests/fuzz

The session ends with a table of cases per reader and outcomes; set
``ROICORE_FUZZ_REPORT=path.json`` to also get it as JSON, and run
``tests/fuzz/report.py`` to refresh the table in ``docs/reliability.md``.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from fuzz.cases import CaseFailed, FuzzSession
from fuzz.mutations import DirectoryInPlace, NotApplicable, PermissionDenied, SymlinkLoop, ZeroLength
from fuzz.realdata import DERIVED
from fuzz.seeds import reader_ids
from fuzz.strategies import byte_mutation, has_structure, structure_mutation
from fuzz.tally import TALLY

READERS = reader_ids()
#: each drawn family runs this many times the profile's max_examples (ci: 40 -> 160 cases per reader)
EXAMPLES_PER_PROFILE_EXAMPLE = 4
FILESYSTEM_MUTATIONS = (ZeroLength, DirectoryInPlace, PermissionDenied, SymlinkLoop)


def _drawn_settings() -> settings:
    examples = settings.default.max_examples * EXAMPLES_PER_PROFILE_EXAMPLE
    TALLY.notes["drawn_cases_per_family"] = examples
    return settings(
        max_examples=examples,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )


def _expect_cases(reader: str, family: str, before: int) -> None:
    ran = TALLY.cases_of(reader, family) - before
    assert ran > 0, f"no {family} case of {reader} could be run (every drawn mutation was discarded)"


def test_every_installed_reader_is_fuzzed():
    assert READERS, "no installed reader names conformance samples, so nothing can be fuzzed"


@pytest.mark.parametrize("reader", READERS)
def test_unmutated_seeds_read_their_truth(reader: str, fuzz_session: FuzzSession):
    seeds = fuzz_session.seeds(reader)
    assert seeds, f"{reader} has no seeds"
    for seed in seeds:
        for mode in ("auto", "explicit"):
            fuzz_session.baseline(seed, mode)


@pytest.mark.parametrize("reader", READERS)
def test_filesystem_mutations(reader: str, fuzz_session: FuzzSession):
    enforced = fuzz_session.worker.permissions_enforced
    mutations = [m for m in FILESYSTEM_MUTATIONS if m is not PermissionDenied or enforced]
    failures = []
    before = TALLY.cases_of(reader, "filesystem")
    for seed in fuzz_session.seeds(reader):
        for name in seed.files:
            for mutation in mutations:
                try:
                    fuzz_session.check(seed, [mutation(name)], "filesystem")
                except CaseFailed as failure:
                    failures.append(str(failure))
    _expect_cases(reader, "filesystem", before)
    assert not failures, f"{len(failures)} filesystem case(s) failed:\n\n" + "\n\n".join(failures)
    if not enforced:
        pytest.skip("file permissions cannot be enforced in the worker (root without capset): "
                    "the permission-denied cases did not run; every other case passed")


@pytest.mark.parametrize("reader", READERS)
def test_byte_mutations(reader: str, fuzz_session: FuzzSession):
    by_id = {seed.id: seed for seed in fuzz_session.seeds(reader)}

    @_drawn_settings()
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        seed = by_id[data.draw(st.sampled_from(sorted(by_id)), label="seed")]
        strategy = byte_mutation(fuzz_session.files(seed))
        mutations = data.draw(st.lists(strategy, min_size=1, max_size=2), label="mutations")
        try:
            fuzz_session.check(seed, mutations, "bytes")
        except NotApplicable:
            reject()

    before = TALLY.cases_of(reader, "bytes")
    case()
    _expect_cases(reader, "bytes", before)


@pytest.mark.parametrize("reader", READERS)
def test_structure_mutations(reader: str, fuzz_session: FuzzSession):
    seeds = [seed for seed in fuzz_session.seeds(reader) if has_structure(fuzz_session.files(seed))]
    if not seeds:
        pytest.skip(f"no seed of {reader} has an HDF5 file or a JSON sidecar to edit (its bytes are fuzzed)")
    by_id = {seed.id: seed for seed in seeds}
    deletions = {seed.id: fuzz_session.member_deletions(seed) for seed in seeds}  # enumerated first
    used = {seed_id: found for seed_id, (found, _) in deletions.items()}

    @_drawn_settings()
    @given(data=st.data())
    def case(data: st.DataObject) -> None:
        seed = by_id[data.draw(st.sampled_from(sorted(by_id)), label="seed")]
        strategy = structure_mutation(fuzz_session.files(seed), used[seed.id])
        mutations = data.draw(st.lists(strategy, min_size=1, max_size=3), label="mutations")
        try:
            fuzz_session.check(seed, mutations, "structure")
        except NotApplicable:
            reject()

    before = TALLY.cases_of(reader, "structure")
    case()
    _expect_cases(reader, "structure", before)
    failures = [failure for _, seed_failures in deletions.values() for failure in seed_failures]
    assert not failures, f"{len(failures)} HDF5 member deletion(s) failed:\n\n" + "\n\n".join(failures)


def test_real_recordings_are_seeds(realdata, fuzz_session: FuzzSession):
    """With ../shared/realdata present, every reader with a real-data recipe gets real seeds."""
    for reader in READERS:
        real = [seed for seed in fuzz_session.seeds(reader) if seed.origin == "realdata"]
        if reader in DERIVED:
            assert real, f"{reader} has a real-data recipe but no real-data seed"
    assert any(seed.origin == "realdata" for reader in READERS for seed in fuzz_session.seeds(reader))
