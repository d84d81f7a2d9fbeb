"""I/O checks: corrupt inputs, file handles, pickling, threads and spawned processes."""

from __future__ import annotations

import gc
import os
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import RoicoreError
from roicore.testing.checks import NotApplicable, check
from roicore.testing.audit import kit_unpickling
from roicore.testing.compare import expect, expect_equal_arrays
from roicore.testing.files import copy_sample

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


def leaked_after_error(before: dict[str, str], folder: Path) -> list[str]:
    """Handles under ``folder`` opened since ``before`` and still open after a failed open.

    A traceback may keep a half-built extractor alive until the next garbage collection, so
    apparent leaks are looked at again after one (only then: a collection costs tens of ms).
    """
    leaked = _new_handles(before, [folder])
    if leaked:
        gc.collect()
        leaked = _new_handles(before, [folder])
    return leaked


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
        "flipped-after-magic": lambda b: (_flip(b, range(8, min(size, 512), 5)), b)[1],
        "flipped-data": lambda b: (_flip(b, list(rng.integers(0, max(size, 1), 64))), b)[1],
        "random-bytes": lambda b: bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes()),
        "directory-in-its-place": None,
    }


def _attempt(case, main: Path, inspect: Any = None) -> tuple[str, BaseException | None, Any]:
    """Open and read ``main`` in a watchdog thread: ('ok'|'raised'|'hang', exception, inspected).

    ``inspect(extractor)``, if given, runs on the open extractor after the reads; what it
    returns is the third item.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            with case.spec.load_reader()(main, **case.sample.reader_kwargs) as extractor:
                _read_everything(extractor)
                if inspect is not None:
                    outcome["inspected"] = inspect(extractor)
            outcome["status"] = "ok"
        except BaseException as exc:  # noqa: BLE001 - reported, not swallowed
            outcome["status"], outcome["error"] = "raised", exc

    worker = threading.Thread(target=run, daemon=True, name="roicore-corrupt-read")
    worker.start()
    worker.join(CORRUPT_TIMEOUT)
    if worker.is_alive():
        return "hang", None, None
    return outcome["status"], outcome.get("error"), outcome.get("inspected")


@_io_check("io.corrupt", depends_on=("imaging.series.full", "segmentation.ids"))
def corrupt(case):
    """Truncated, bit-flipped, empty, random or replaced files end in a roicore error naming the file (leaving no handle open), or a read."""
    problems = []
    pristine_folder = case.scratch("pristine")
    pristine_main, _ = copy_sample(case.sample, pristine_folder)
    data_file = _data_file(pristine_main)
    original = bytearray(data_file.read_bytes())
    for name, mutate in _variants(len(original)).items():
        folder = case.scratch(name)
        main, copied = copy_sample(case.sample, folder)
        target = folder / data_file.relative_to(pristine_folder)
        if mutate is None:
            target.unlink()
            target.mkdir()
        else:
            target.write_bytes(bytes(mutate(bytearray(original))))
        before = _open_descriptors()
        status, error, _ = _attempt(case, main)
        if status == "hang":
            problems.append(f"{name}: no answer within {CORRUPT_TIMEOUT:g} s")
            continue
        if error is not None:
            if not isinstance(error, (RoicoreError, FileNotFoundError)):
                problems.append(f"{name}: raised {type(error).__name__}: {error} (expected a roicore.errors type)")
            elif not any(p.name in str(error) or str(p) in str(error) for p in [main, target, *copied]):
                problems.append(f"{name}: {type(error).__name__} does not name the file: {error}")
        if error is not None:  # leaks after a successful read are io.handles' business
            leaked = leaked_after_error(before, folder)
            if leaked:
                problems.append(f"{name}: file handles left open after {type(error).__name__}: {leaked}")
    expect(not problems, "corrupt inputs were mishandled:\n" + "\n".join(problems))


def _mapped_files() -> dict[str, int]:
    """Paths of the files this process maps (``/proc/self/maps``), with their number of mappings."""
    found: dict[str, int] = {}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split(maxsplit=5)
        if len(fields) == 6 and fields[5].startswith("/"):
            name = fields[5].removesuffix(" (deleted)")
            found[name] = found.get(name, 0) + 1
    return found


def _new_mappings(before: dict[str, int], paths: list[Path]) -> list[str]:
    watched = {str(p.resolve()) for p in paths}
    return sorted(
        name for name, count in _mapped_files().items()
        if count > before.get(name, 0) and (name in watched or any(name.startswith(w + os.sep) for w in watched))
    )


@_io_check("io.handles", depends_on=("imaging.series.full", "segmentation.ids"))
def handles(case):
    """close() and context exit release every file handle and memory map at once, while the extractor is still referenced."""
    if not Path("/proc/self/fd").is_dir():
        raise NotApplicable("needs /proc/self/fd and /proc/self/maps to list open files and mappings")
    reader = case.spec.load_reader()
    for how in ("close()", "the end of a with block"):
        main, copied = copy_sample(case.sample, case.scratch(how.split()[0]))
        watched = [main, *copied]
        collecting = gc.isenabled()
        gc.disable()  # nothing may depend on the garbage collector, so it must not run in between
        try:
            descriptors, mappings = _open_descriptors(), _mapped_files()
            if how == "close()":
                extractor = reader(main, **case.sample.reader_kwargs)
                _read_everything(extractor)
                extractor.close()
            else:
                with reader(main, **case.sample.reader_kwargs) as extractor:
                    _read_everything(extractor)
            # `extractor` is still referenced here: only close() can have released its resources
            leaked = _new_handles(descriptors, watched)
            mapped = _new_mappings(mappings, watched)
        finally:
            if collecting:
                gc.enable()
        problems = [f"file handles are still open: {leaked}"] if leaked else []
        problems += [f"files are still memory-mapped: {mapped}"] if mapped else []
        expect(not problems, f"after {how}, " + "; ".join(problems) + ". Close handles and drop every reference to "
               "a mapping in _close(); do not rely on __del__ or garbage collection")
        del extractor


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
    with kit_unpickling():
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


def _defined_in_main(extractor: Any) -> str | None:
    """The name of the first class in the extractor's type hierarchy defined in ``__main__`` (a notebook or script)."""
    for klass in type(extractor).__mro__:
        if klass.__module__ in ("__main__", "__mp_main__"):
            return klass.__qualname__
    return None


@_io_check("io.spawn", depends_on=("io.pickle",))
def spawned(case):
    """Reads in a spawned process (from the pickled extractor) equal serial reads; the reader lives in an importable module."""
    from concurrent.futures.process import BrokenProcessPool

    from roicore.testing import parallel

    extractor = case.open()
    in_main = _defined_in_main(extractor)
    expect(in_main is None,
           f"the reader class {in_main} is defined in __main__ (a notebook cell or a script), which a spawned worker "
           "cannot import, so pickled extractors fail in process pools: move the class into a module (a .py file "
           "on the path, e.g. next to the notebook) and import it from there")
    n = extractor.get_num_samples()
    windows = [(0, n), *_windows(n, 3, 3)]
    payload = pickle.dumps(extractor)
    try:
        future = parallel.spawn_executor().submit(parallel.read_windows_from_pickle, payload, windows, case_kind(extractor))
        with kit_unpickling():  # the pool's result thread unpickles the worker's arrays meanwhile
            results = future.result(timeout=300)
    except BrokenProcessPool:
        parallel.shutdown()
        case.fail(f"the spawned worker died while unpickling or reading {type(extractor).__module__}."
                  f"{type(extractor).__qualname__}: a fresh interpreter must be able to import that module "
                  "(and the main program, if it is a script)")
    except Exception as exc:
        case.fail(f"in a spawned worker, unpickling or reading raised {type(exc).__name__}: {exc} (the worker imports "
                  f"{type(extractor).__module__} afresh: is the reader importable there, with no state from this process?)")
    for window, result in zip(windows, results):
        expect_equal_arrays(result, _read_window(extractor, window), f"read of {window} in a spawned process")


def _read_all(extractor: Any) -> None:
    """Every read an extractor offers, metadata included."""
    _read_everything(extractor)
    if case_kind(extractor) == "segmentation":
        extractor.get_roi_pixel_masks()
        extractor.get_background_ids()
        if extractor.get_num_background_components():
            extractor.get_background_image_masks()
        for key in extractor.get_property_keys():
            extractor.get_property(key)
    if extractor.has_time_vector() or extractor.get_sampling_frequency() is not None:
        extractor.get_timestamps()  # without either, it raises by contract (imaging.time checks that)


@_io_check("io.no_pickle", depends_on=("imaging.series.full", "segmentation.ids"))
def no_pickle(case):
    """Opening and reading everything unpickles nothing (no allow_pickle=True, no pickle.load of file data)."""
    from roicore.testing.audit import SAFE_LOADERS, record_unpickling

    with record_unpickling() as found:
        with case.open() as extractor:
            _read_all(extractor)
    expect(not found, f"reading the sample unpickled {sorted(set(found))[:8]}: a pickle in a data file runs code. "
                      f"Do not use allow_pickle=True or pickle.load on file data ({', '.join(SAFE_LOADERS)} is the "
                      "restricted loader for object arrays)")
