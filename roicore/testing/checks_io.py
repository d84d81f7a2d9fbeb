"""I/O checks: corrupt inputs, file handles, pickling, threads and spawned processes."""

from __future__ import annotations

import gc
import os
import pickle
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import RoicoreError
from roicore.testing.checks import NotApplicable, check
from roicore.testing.compare import expect, expect_equal_arrays

CORRUPT_TIMEOUT = 20.0  # seconds for one corrupt variant: open plus a full read


def _io_check(check_id: str, depends_on: tuple[str, ...]):
    return check(check_id, component="io", subject="reader-sample", depends_on=depends_on)


def _read_everything(extractor: Any) -> None:
    from roicore.imaging import ImagingExtractor

    if isinstance(extractor, ImagingExtractor):
        extractor.get_series()
        return
    extractor.get_roi_image_masks()
    extractor.get_images_dict()
    for name in extractor.get_trace_names():
        extractor.get_traces(name=name)


def _opened_ok(case) -> str:
    return "imaging.series.full" if case.spec.kind == "imaging" else "segmentation.ids"


# -- file descriptors ---------------------------------------------------------------------------------
def _open_descriptors() -> dict[str, str]:
    folder = Path("/proc/self/fd")
    found = {}
    for entry in folder.iterdir() if folder.is_dir() else ():
        try:
            found[entry.name] = os.readlink(entry)
        except OSError:
            continue
    return found


def _new_handles(before: dict[str, str], paths: list[Path]) -> list[str]:
    watched = {str(p.resolve()) for p in paths}
    return sorted(
        target for fd, target in _open_descriptors().items()
        if before.get(fd) != target and (target in watched or any(target.startswith(w + os.sep) for w in watched))
    )


def _copy_sample(case, folder: Path) -> tuple[Path, list[Path]]:
    """Copy every file of the sample into ``folder``; return the copied main path and files."""
    sample = case.sample
    root = sample.path.parent
    copied = []
    for file in {*sample.files, sample.path}:
        if not file.exists():
            continue
        target = folder / file.relative_to(root) if file.is_relative_to(root) else folder / file.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if file.is_dir():
            shutil.copytree(file, target, dirs_exist_ok=True)
        else:
            shutil.copy2(file, target)
        copied.append(target)
    main = folder / sample.path.relative_to(root)
    return main, copied


def _data_file(main: Path) -> Path:
    if main.is_file():
        return main
    files = sorted((p for p in main.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    if not files:
        raise NotApplicable("the sample folder holds no file to corrupt")
    return files[-1]


def _flip(data: bytearray, positions: range | list[int]) -> None:
    for position in positions:
        if 0 <= position < len(data):
            data[position] ^= 0xA5


def _variants(size: int) -> dict[str, Any]:
    rng = np.random.default_rng(size)
    return {
        "empty": lambda b: bytearray(),
        "one-byte-short": lambda b: b[: max(size - 1, 0)],
        "truncated-half": lambda b: b[: size // 2],
        "header-only": lambda b: b[: min(size, 64)],
        "flipped-header": lambda b: (_flip(b, range(0, min(size, 512), 7)), b)[1],
        "flipped-data": lambda b: (_flip(b, list(rng.integers(0, max(size, 1), 64))), b)[1],
        "random-bytes": lambda b: bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes()),
        "directory-in-its-place": None,
    }


def _attempt(case, main: Path) -> tuple[str, BaseException | None]:
    """Open and read ``main`` in a watchdog thread: ('ok'|'raised'|'hang', exception)."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with case.spec.load_reader()(main, **case.sample.reader_kwargs) as extractor:
                _read_everything(extractor)
            outcome["status"] = "ok"
        except BaseException as exc:  # noqa: BLE001 - reported, not swallowed
            outcome["status"], outcome["error"] = "raised", exc

    worker = threading.Thread(target=run, daemon=True, name="roicore-corrupt-read")
    worker.start()
    worker.join(CORRUPT_TIMEOUT)
    if worker.is_alive():
        return "hang", None
    return outcome["status"], outcome.get("error")


@_io_check("io.corrupt", depends_on=("imaging.series.full", "segmentation.ids"))
def corrupt(case):
    """Truncated, bit-flipped, empty, random or replaced files end in a roicore error naming the file (leaving no handle open), or a read."""
    problems = []
    pristine_folder = case.scratch("pristine")
    pristine_main, _ = _copy_sample(case, pristine_folder)
    data_file = _data_file(pristine_main)
    original = bytearray(data_file.read_bytes())
    for name, mutate in _variants(len(original)).items():
        folder = case.scratch(name)
        main, copied = _copy_sample(case, folder)
        target = folder / data_file.relative_to(pristine_folder)
        if mutate is None:
            target.unlink()
            target.mkdir()
        else:
            target.write_bytes(bytes(mutate(bytearray(original))))
        before = _open_descriptors()
        status, error = _attempt(case, main)
        if status == "hang":
            problems.append(f"{name}: no answer within {CORRUPT_TIMEOUT:g} s")
            continue
        if error is not None:
            if not isinstance(error, (RoicoreError, FileNotFoundError)):
                problems.append(f"{name}: raised {type(error).__name__}: {error} (expected a roicore.errors type)")
            elif not any(p.name in str(error) or str(p) in str(error) for p in [main, target, *copied]):
                problems.append(f"{name}: {type(error).__name__} does not name the file: {error}")
        if error is not None:  # leaks after a successful read are io.handles' business
            gc.collect()
            leaked = _new_handles(before, [folder])
            if leaked:
                problems.append(f"{name}: file handles left open after {type(error).__name__}: {leaked}")
    expect(not problems, "corrupt inputs were mishandled:\n" + "\n".join(problems))


@_io_check("io.handles", depends_on=("imaging.series.full", "segmentation.ids"))
def handles(case):
    """No file handle stays open after close(), context exit, or del + garbage collection."""
    if not Path("/proc/self/fd").is_dir():
        raise NotApplicable("needs /proc/self/fd to list open files")
    watched = [case.sample.path, *case.sample.files]
    for how in ("close", "context", "del"):
        before = _open_descriptors()
        if how == "context":
            with case.spec.load_reader()(case.sample.path, **case.sample.reader_kwargs) as extractor:
                _read_everything(extractor)
        else:
            extractor = case.spec.load_reader()(case.sample.path, **case.sample.reader_kwargs)
            _read_everything(extractor)
            if how == "close":
                extractor.close()
        del extractor
        gc.collect()
        leaked = _new_handles(before, watched)
        expect(not leaked, f"after {how}, file handles are still open: {leaked}")


def _windows(n: int, count: int, seed: int) -> list[tuple[int, int]]:
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, count)
    return [(int(a), int(rng.integers(a, n + 1))) for a in starts]


def _read_window(extractor: Any, window: tuple[int, int]) -> np.ndarray:
    if case_kind(extractor) == "imaging":
        return extractor.get_series(*window)
    return extractor.get_traces(start_sample=window[0], end_sample=window[1])


def case_kind(extractor: Any) -> str:
    from roicore.imaging import ImagingExtractor

    return "imaging" if isinstance(extractor, ImagingExtractor) else "segmentation"


@_io_check("io.pickle", depends_on=("imaging.series.full", "segmentation.ids"))
def pickling(case):
    """A pickle round trip reads the same data, and the pickle holds no bulk data."""
    extractor = case.open()
    n = extractor.get_num_samples()
    payload = pickle.dumps(extractor)
    clone = pickle.loads(payload)
    case.session.track(clone)
    for window in [(0, n), *_windows(n, 3, 1)]:
        expect_equal_arrays(_read_window(clone, window), _read_window(extractor, window), f"unpickled read of {window}")
    data_bytes = sum(np.asarray(v).nbytes for v in _truth_arrays(case.truth))
    limit = max(8192, data_bytes // 2)
    expect(len(payload) <= limit, f"the pickle is {len(payload)} bytes for {data_bytes} bytes of data: pickle by constructor arguments, not data")


def _truth_arrays(truth: Any) -> list[Any]:
    if hasattr(truth, "series"):
        return [truth.series]
    return list(truth.traces.values()) or [truth.image_masks]


@_io_check("io.threads", depends_on=("imaging.series.full", "segmentation.ids"))
def threads(case):
    """Reads from 8 threads at once equal serial reads."""
    extractor = case.open()
    n = extractor.get_num_samples()
    windows = _windows(n, 32, 2)
    serial = [_read_window(extractor, w) for w in windows]
    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(lambda w: _read_window(extractor, w), windows))
    for window, a, b in zip(windows, parallel, serial):
        expect_equal_arrays(a, b, f"threaded read of {window}")


@_io_check("io.spawn", depends_on=("io.pickle",))
def spawned(case):
    """Reads in a spawned process (from the pickled extractor) equal serial reads."""
    from roicore.testing import parallel

    extractor = case.open()
    n = extractor.get_num_samples()
    windows = [(0, n), *_windows(n, 3, 3)]
    future = parallel.spawn_executor().submit(
        parallel.read_windows_from_pickle, pickle.dumps(extractor), windows, case_kind(extractor)
    )
    results = future.result(timeout=300)
    for window, result in zip(windows, results):
        expect_equal_arrays(result, _read_window(extractor, window), f"read of {window} in a spawned process")
