"""Detection and open(): ranking, ambiguity, lazy sniffing, errors and hints, writing dispatch."""

from __future__ import annotations

import itertools
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore
from roicore.errors import AmbiguousFormatError, CorruptFileError, NoReaderFoundError, PluginError
from roicore.imaging import ImagingExtractor
from roicore.registry import isolated
from roicore.registry.specs import ReaderSpec, Support, WriterSpec

MODULE = __name__
SNIFFED: list[str] = []


class TinyReader(ImagingExtractor):
    def __init__(self, path: Any, scale: int = 1) -> None:
        self._path, self._scale = Path(path), scale

    def get_image_shape(self):
        return (2, 3)

    def get_num_samples(self):
        return 5

    def get_sampling_frequency(self):
        return 4.0

    def get_dtype(self):
        return np.dtype("int32")

    def _read_series(self, start, end):
        return np.arange(start * 6, end * 6, dtype="int32").reshape(end - start, 2, 3) * self._scale


def reader_raising_struct_error(path, **kwargs):
    raise struct.error("unpack requires a buffer of 8 bytes")


def reader_returning_garbage(path, **kwargs):
    return [1, 2, 3]


def _sniff(verdict: str, name: str):
    def sniff(path: Path, header: bytes) -> Support:
        SNIFFED.append(name)
        if verdict == "raise":
            raise RuntimeError(f"{name} sniff exploded")
        return Support(verdict, f"{name} says {verdict}")

    return sniff


for _name, _verdict in itertools.product(("a", "b", "c"), ("yes", "no", "maybe", "raise")):
    globals()[f"sniff_{_name}_{_verdict}"] = _sniff(_verdict, _name)


def plugin(name: str, verdict: str = "yes", reader: str = "TinyReader", **spec: Any):
    spec.setdefault("suffixes", (".tiny",))

    class Plugin:
        @roicore.hookimpl
        def roicore_readers(self):
            return [ReaderSpec(id=f"{name}-reader", kind="imaging", reader=f"{MODULE}:{reader}",
                               sniff=f"{MODULE}:sniff_{name}_{verdict}", **spec)]

    Plugin.__name__ = name
    return Plugin()


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "movie.tiny"
    path.write_bytes(b"TINY" + bytes(60))
    SNIFFED.clear()
    return path


def test_open_returns_the_extractor_with_its_source(tiny):
    with isolated(plugin("a"), names=["plugin-a"]):
        with roicore.open(tiny) as movie:
            assert movie.shape == (5, 2, 3)
            np.testing.assert_array_equal(movie[1], np.arange(6, 12).reshape(2, 3))
            assert movie.source.plugin == "plugin-a"
            assert movie.source.reader == "a-reader"
            assert movie.source.rule == "suffix .tiny; sniff: a says yes"


def test_missing_path_raises_file_not_found(tmp_path):
    with isolated(plugin("a")), pytest.raises(FileNotFoundError, match="nothing-here"):
        roicore.open(tmp_path / "nothing-here.tiny")


def test_two_equal_claims_are_ambiguous_and_name_both_and_the_ways_out(tiny):
    with isolated(plugin("a"), plugin("b")), pytest.raises(AmbiguousFormatError) as info:
        roicore.open(tiny)
    message = str(info.value)
    assert "a:a-reader" in message and "b:b-reader" in message and "reader=" in message
    assert set(info.value.candidates) == {"a:a-reader", "b:b-reader"}


@pytest.mark.parametrize(
    ("first", "second", "winner"),
    [
        (dict(priority=1), dict(), "a:a-reader"),  # priority breaks a tie
        (dict(tier="generic"), dict(), "b:b-reader"),  # specific beats generic
        (dict(), dict(magic=(b"TINY",)), "b:b-reader"),  # magic beats a suffix
        (dict(suffixes=(".tiny",)), dict(suffixes=(".movie.tiny",)), "b:b-reader"),  # a longer suffix is stronger
    ],
)
def test_ranking_never_depends_on_registration_order(tmp_path, first, second, winner):
    path = tmp_path / "x.movie.tiny"
    path.write_bytes(b"TINY" + bytes(8))
    for order in ((plugin("a", **first), plugin("b", **second)), (plugin("b", **second), plugin("a", **first))):
        with isolated(*order):
            assert roicore.explain(path).chosen == winner
            assert roicore.open(path).source.reader == winner.split(":")[1]


def test_sniff_is_lazy_in_rank_order(tiny):
    with isolated(plugin("a", priority=5), plugin("b", priority=1), plugin("c", tier="generic")):
        assert roicore.open(tiny).source.plugin == "a"
    assert SNIFFED == ["a"]  # lower-ranked candidates were never asked


def test_a_raising_sniff_is_recorded_and_detection_moves_on(tiny):
    with isolated(plugin("a", "raise", priority=5), plugin("b")):
        report = roicore.explain(tiny)
        assert report.chosen == "b:b-reader"
        verdicts = {c.reader: (c.verdict, c.reason) for c in report.candidates}
        assert verdicts["a:a-reader"] == ("error", "RuntimeError: a sniff exploded")
        assert "a:a-reader" in str(report) and "error" in str(report)


def test_maybe_is_a_fallback_only(tiny):
    with isolated(plugin("a", "maybe", priority=5), plugin("b", "yes")):
        assert roicore.explain(tiny).chosen == "b:b-reader"
    with isolated(plugin("a", "maybe"), plugin("b", "no")):
        assert roicore.explain(tiny).chosen == "a:a-reader"


def test_no_reader_found_carries_the_report_and_reasons(tiny):
    with isolated(plugin("a", "no"), plugin("b", "raise")), pytest.raises(NoReaderFoundError) as info:
        roicore.open(tiny)
    message = str(info.value)
    assert str(tiny) in message
    assert "a says no" in message and "b sniff exploded" in message
    assert info.value.report.chosen is None
    assert [c.reader for c in info.value.report.candidates] == ["a:a-reader", "b:b-reader"]


def test_hints_for_formats_whose_plugin_is_not_installed(tmp_path):
    raw = tmp_path / "data.bin"
    raw.write_bytes(bytes(100))
    npy = tmp_path / "video.npy"
    np.save(npy, np.zeros((2, 3, 4)))
    with isolated():
        with pytest.raises(NoReaderFoundError) as info:
            roicore.open(raw)
        assert "pip install roicore-memmap" in str(info.value) and "sidecar" in str(info.value)
        with pytest.raises(NoReaderFoundError, match="pip install roicore-memmap"):
            roicore.open(npy)


def test_explicit_reader_is_used_as_given(tiny):
    with isolated(plugin("a", "no"), plugin("b", "no")):
        assert roicore.open(tiny, reader="a-reader").source.rule == "explicit reader="
        assert roicore.open(tiny, reader="b:b-reader", scale=2)[1, 0, 0] == 12
        assert SNIFFED == []
        with pytest.raises(NoReaderFoundError, match="a:a-reader"):
            roicore.open(tiny, reader="no-such-reader")


def test_kind_filter(tiny):
    with isolated(plugin("a")):
        with pytest.raises(NoReaderFoundError, match="segmentation"):
            roicore.open(tiny, kind="segmentation")
        with pytest.raises(ValueError, match="reads imaging data"):
            roicore.open(tiny, reader="a-reader", kind="segmentation")
        with pytest.raises(ValueError, match="kind must be"):
            roicore.open(tiny, kind="video")


def test_reader_bugs_become_clear_errors_naming_the_file(tiny):
    with isolated(plugin("a", reader="reader_raising_struct_error")):
        with pytest.raises(CorruptFileError, match="movie.tiny") as info:
            roicore.open(tiny)
        assert isinstance(info.value.__cause__, struct.error)
    with isolated(plugin("a", reader="reader_returning_garbage")), pytest.raises(PluginError, match="returned list"):
        roicore.open(tiny)


def test_register_and_unregister_in_process(tiny):
    name = roicore.register(plugin("a"), name="lab-plugin")
    try:
        assert "lab-plugin" in [record.name for record in roicore.plugins()]
        assert roicore.open(tiny).source.plugin == "lab-plugin"
        with pytest.raises(ValueError, match="already registered"):
            roicore.register(plugin("a"), name="lab-plugin")
    finally:
        roicore.unregister(name)
    assert "lab-plugin" not in [record.name for record in roicore.plugins()]
    with pytest.raises(KeyError):
        roicore.unregister("lab-plugin")


# -- writing ------------------------------------------------------------------------------------
def write_tiny(extractor, target, fail_after: int | None = None, sidecar: bool = True):
    data = target.temporary()
    with open(data, "wb") as handle:
        for index in range(len(extractor)):
            if fail_after is not None and index >= fail_after:
                raise RuntimeError("disk full (simulated)")
            handle.write(extractor.get_series(index, index + 1).tobytes())
    if sidecar:
        target.temporary(Path(str(target.path) + ".json")).write_text('{"shape": [5, 2, 3]}')


class WriterPlugin:
    @roicore.hookimpl
    def roicore_writers(self):
        return [WriterSpec(id="tiny", kind="imaging", writer=f"{MODULE}:write_tiny", suffixes=(".tiny",))]


def test_write_is_atomic_and_refuses_to_overwrite(tmp_path):
    source = roicore.NumpyImagingExtractor(np.arange(30, dtype="int32").reshape(5, 2, 3), 4.0)
    target = tmp_path / "out.tiny"
    with isolated(WriterPlugin()):
        assert roicore.write(source, target) == target
        assert target.read_bytes() == source.get_series().tobytes()
        assert Path(str(target) + ".json").exists()
        first = target.read_bytes()
        with pytest.raises(FileExistsError):
            roicore.write(source, target)
        with pytest.raises(RuntimeError, match="disk full"):
            roicore.write(source, target, overwrite=True, fail_after=2)
        assert target.read_bytes() == first
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tiny", "out.tiny.json"]
        # a companion that exists is refused too, and nothing is left behind
        target.unlink()
        with pytest.raises(FileExistsError, match="out.tiny.json"):
            roicore.write(source, target)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tiny.json"]
        # a stale temporary file from a killed write is removed by the next write
        stale = tmp_path / ".out2.tiny.roicore-tmp-deadbeef"
        stale.write_bytes(b"partial")
        roicore.write(source, tmp_path / "out2.tiny", sidecar=False)
        assert not stale.exists()
        with pytest.raises(ValueError, match="unknown format"):
            roicore.write(source, tmp_path / "x.tiny", format="nope")
        with pytest.raises(NoReaderFoundError, match="format="):
            roicore.write(source, tmp_path / "x.unknown")


def write_tally(extractor, target, append: bool = False, fail_after: int | None = None):
    """Appends the series' bytes to what the file held; the sidecar counts the writes."""
    sidecar = Path(str(target.path) + ".count")
    before = target.path.read_bytes() if append and target.path.exists() else b""
    count = int(sidecar.read_text()) if append and sidecar.exists() else 0
    data = target.temporary()
    with open(data, "wb") as handle:
        handle.write(before)
        for index in range(len(extractor)):
            if fail_after is not None and index >= fail_after:
                raise RuntimeError("disk full (simulated)")
            handle.write(extractor.get_series(index, index + 1).tobytes())
    target.temporary(sidecar).write_text(str(count + 1))


class AppendingWriterPlugin:
    @roicore.hookimpl
    def roicore_writers(self):
        return [WriterSpec(id="tally", kind="imaging", writer=f"{MODULE}:write_tally", suffixes=(".tally",),
                           capabilities=("append",)),
                WriterSpec(id="tiny", kind="imaging", writer=f"{MODULE}:write_tiny", suffixes=(".tiny",))]


def test_append_needs_the_writer_capability_and_stays_atomic(tmp_path):
    from roicore.errors import UnsupportedFeatureError

    first = roicore.NumpyImagingExtractor(np.arange(30, dtype="int32").reshape(5, 2, 3), 4.0)
    second = roicore.NumpyImagingExtractor(np.arange(100, 118, dtype="int32").reshape(3, 2, 3), 4.0)
    target = tmp_path / "out.tally"
    count = tmp_path / "out.tally.count"
    with isolated(AppendingWriterPlugin()):
        # append=True on a missing file writes a new one
        assert roicore.write(first, target, append=True) == target
        assert target.read_bytes() == first.get_series().tobytes() and count.read_text() == "1"
        with pytest.raises(FileExistsError):
            roicore.write(second, target)
        # on an existing file: no overwrite=True needed; main file and companion both replaced
        roicore.write(second, target, append=True)
        both = first.get_series().tobytes() + second.get_series().tobytes()
        assert target.read_bytes() == both and count.read_text() == "2"
        # a failed append leaves the file and its companion as they were, and no temporary
        with pytest.raises(RuntimeError, match="disk full"):
            roicore.write(second, target, append=True, fail_after=1)
        assert target.read_bytes() == both and count.read_text() == "2"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tally", "out.tally.count"]
        # append=False is not handed to writers (write_tiny takes no such argument)
        plain = tmp_path / "out.tiny"
        roicore.write(first, plain, append=False, sidecar=False)
        original = plain.read_bytes()
        # a writer without the capability refuses, before it runs, whether the file exists or not
        for path in (plain, tmp_path / "new.tiny"):
            for overwrite in (False, True):
                with pytest.raises(UnsupportedFeatureError, match=r"tiny.*cannot append.*'append' capability"):
                    roicore.write(second, path, append=True, overwrite=overwrite, sidecar=False)
        assert plain.read_bytes() == original
        assert not (tmp_path / "new.tiny").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tally", "out.tally.count", "out.tiny"]


def test_cli_refuses_append_for_a_writer_without_the_capability(tmp_path):
    from roicore.cli.common import UsageError, check_output, check_writer

    existing = tmp_path / "x.tiny"
    existing.write_bytes(b"old")
    with isolated(AppendingWriterPlugin()):
        check_writer(None, "imaging", tmp_path / "x.tally", append=True)
        check_writer("tally", "imaging", tmp_path / "x.tiny", append=True)
        check_writer(None, "imaging", existing)
        for format_id in (None, "tiny"):
            with pytest.raises(UsageError, match=r"--append: writer \S*tiny cannot add .*that can: tally\)"):
                check_writer(format_id, "imaging", existing, append=True)
    check_output(existing, overwrite=False, append=True)
    with pytest.raises(FileExistsError, match="--append"):
        check_output(existing, overwrite=False)
