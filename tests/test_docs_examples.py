"""The plugin-author guide's example (docs/examples/tiny_reader.py) works as the guide says.

It is registered in-process with roicore.register, found by roicore.open, and passes the whole
conformance kit, so the example in the docs cannot rot.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import roicore
from roicore.errors import CorruptFileError

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"


@pytest.fixture
def tiny_reader(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The example module, registered in-process (as the guide does) and unregistered afterwards."""
    monkeypatch.syspath_prepend(str(EXAMPLES))  # spawned workers of the kit inherit sys.path
    sys.modules.pop("tiny_reader", None)
    module = importlib.import_module("tiny_reader")
    name = roicore.register(module)
    try:
        yield module
    finally:
        roicore.unregister(name)
        sys.modules.pop("tiny_reader", None)


def test_the_example_is_found_by_open_and_reads_back_its_input(tiny_reader: Any, tmp_path: Path) -> None:
    video = np.arange(3 * 4 * 6, dtype="<u2").reshape(3, 4, 6)
    path = tmp_path / "session.tiny"
    tiny_reader.write_tiny(path, video, 20.0)

    with roicore.open(path) as movie:
        assert movie.source.reader == "tinyscope"
        assert movie.source.plugin == "tiny_reader"
        assert movie.shape == (3, 4, 6)
        assert movie.get_sampling_frequency() == 20.0
        np.testing.assert_array_equal(movie.get_series(), video)
        np.testing.assert_array_equal(movie[1:, 2, ::2], video[1:, 2, ::2])
        np.testing.assert_allclose(movie.get_timestamps(), np.arange(3) / 20.0)

    explained = roicore.explain(path)
    assert "tiny_reader:tinyscope" in str(explained)

    with roicore.open(path, reader="tinyscope", sampling_frequency=10.0) as movie:
        assert movie.get_sampling_frequency() == 10.0

    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(CorruptFileError, match="session.tiny"):
        roicore.open(path)


def test_the_example_passes_the_conformance_kit(tiny_reader: Any) -> None:
    from roicore.testing.runner import Session

    with Session(["tiny_reader"], max_examples=10) as session:
        results = session.run()
        problems = session.problems(results)
    not_passed = [f"{r.case_id}: {r.status}: {r.message}" for r in results if r.status not in ("passed", "n/a")]
    assert not not_passed, "\n".join(not_passed)
    assert not problems, "\n".join(problems)
    executed = {r.component for r in results if r.status == "passed"}
    assert {"registry", "detect", "imaging", "io"} <= executed


def test_the_guide_includes_the_example_file() -> None:
    guide = (EXAMPLES.parent / "writing-a-plugin.md").read_text()
    assert "examples/tiny_reader.py" in guide
