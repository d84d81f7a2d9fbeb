"""The fuzz worker: a separate process that opens and reads one case at a time.

Why a process, not a thread: a damaged HDF5 file can make the HDF5 C
library crash the interpreter or spin in C code that holds the GIL, which
neither a watchdog thread nor SIGALRM can interrupt. Each read therefore
runs in a long-lived spawned child; the parent waits at most the case's time
limit, and a child that died (a crash: its signal is reported) or did not
answer (a hang: the parent kills it) is a failed case. A fresh child serves
the next case.

The child also watches every read, through Python's audit hooks and
``/proc/self/fd``:

* ``pickle.find_class``: any unpickling during a read (nothing may unpickle file data);
* ``open``: files opened outside the case folder (a sidecar path escaping its folder);
* file descriptors into the case folder still open after the read (leaked handles).

Running as root, the child first drops the capabilities that let root ignore
file permissions (``CAP_DAC_OVERRIDE``, ``CAP_DAC_READ_SEARCH``), so that a
file without read permission really cannot be read; the parent learns
whether that worked. Its address space is capped so that a reader trusting
an absurd size in a damaged header fails with MemoryError (a reported
failure) instead of exhausting the machine.
"""

from __future__ import annotations

import ctypes
import gc
import multiprocessing
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Request", "ErrorInfo", "Reading", "Outcome", "Worker", "ALLOWED_ERRORS"]

#: what a damaged file may raise besides roicore.errors.* (DESIGN section 7)
ALLOWED_ERRORS = ("FileNotFoundError", "PermissionError")
#: virtual memory the child may grow by after its imports
MEMORY_HEADROOM = 1 << 30


@dataclass(frozen=True)
class Request:
    """Open ``path`` (with ``reader`` or auto-detected) and read everything; ``root`` is the case folder.

    ``action`` other than ``"read"`` exists for the harness's own tests: ``"crash"``
    (the child kills itself with SIGSEGV) and ``"hang"`` (it never answers).
    """

    path: str
    reader: str | None
    kwargs: dict[str, Any]
    root: str
    action: str = "read"


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised by an open or a read, as plain data."""

    type: str
    roicore: bool
    message: str
    traceback: str

    @property
    def name(self) -> str:
        return self.type.rsplit(".", 1)[-1]

    @property
    def allowed(self) -> bool:
        return self.roicore or self.name in ALLOWED_ERRORS


@dataclass
class Reading:
    """Everything one open read: metadata and arrays (see :func:`read_everything`)."""

    kind: str
    reader: str
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]


@dataclass
class Outcome:
    """What happened to one request.

    ``status`` is ``"read"``, ``"raised"``, ``"hang"`` or ``"crash"``.
    """

    status: str
    reading: Reading | None = None
    error: ErrorInfo | None = None
    detail: str = ""
    opened_outside: list[str] = field(default_factory=list)
    unpickled: list[str] = field(default_factory=list)
    leaked: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- the child ----------------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    """Numbers and tuples as builtins, for metadata that is compared and printed."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


def read_everything(extractor: Any) -> Reading:
    """Read every public view of an extractor (the calls a user makes)."""
    from roicore.imaging import ImagingExtractor

    source = getattr(extractor, "source", None)
    reader = f"{source.plugin}:{source.reader}" if source is not None else "?"
    if isinstance(extractor, ImagingExtractor):
        return _read_imaging(extractor, reader)
    return _read_segmentation(extractor, reader)


def _read_imaging(x: Any, reader: str) -> Reading:
    n = int(x.get_num_samples())
    meta = {
        "num_samples": n,
        "image_shape": _plain(tuple(x.get_image_shape())),
        "planes": _plain(x.get_num_planes()),
        "volumetric": bool(x.is_volumetric),
        "dtype": np.dtype(x.get_dtype()).str,
        "shape": _plain(tuple(x.shape)),
        "sampling_frequency": x.get_sampling_frequency(),
    }
    arrays = {"series": x.get_series(), "timestamps": _timestamps(x)}
    if n:
        indices = np.array([0, n - 1, n // 2, -1])
        window = (n // 3, n - n // 3)
        meta["sample_indices"], meta["window"] = indices.tolist(), window
        arrays["samples"] = x.get_samples(indices)
        arrays["window"] = x.get_series(*window)
    return Reading("imaging", reader, meta, arrays)


def _timestamps(x: Any) -> np.ndarray:
    """The timestamps; without a rate or time vector the call must raise the roicore error (then NaNs)."""
    if x.get_sampling_frequency() is None and not x.has_time_vector():
        from roicore.errors import UnknownSamplingFrequencyError

        try:
            x.get_timestamps()
        except UnknownSamplingFrequencyError:
            return np.full(int(x.get_num_samples()), np.nan)
        raise AssertionError("get_timestamps() without a rate did not raise UnknownSamplingFrequencyError")
    return np.asarray(x.get_timestamps())


def _read_segmentation(x: Any, reader: str) -> Reading:
    names = list(x.get_trace_names())
    keys = list(x.get_property_keys())
    meta = {
        "roi_ids": _plain(list(x.get_roi_ids())),
        "num_rois": int(x.get_num_rois()),
        "frame_shape": _plain(tuple(x.get_frame_shape())),
        # volumetric masks and images live on (rows, columns, planes)
        "mask_shape": _plain(tuple(x.get_volume_shape() if x.is_volumetric else x.get_frame_shape())),
        "num_samples": int(x.get_num_samples()),
        "sampling_frequency": x.get_sampling_frequency(),
        "trace_names": names,
        "background_ids": _plain(list(x.get_background_ids())),
        "property_keys": keys,
    }
    arrays = {"masks": x.get_roi_image_masks(), "timestamps": _timestamps(x)}
    meta["pixel_mask_shapes"] = [tuple(p.shape) for p in x.get_roi_pixel_masks()]
    for name in names:
        arrays[f"trace:{name}"] = x.get_traces(name=name)
    for name, image in x.get_images_dict().items():
        arrays[f"image:{name}"] = np.asarray(image)
    for key in keys:
        arrays[f"property:{key}"] = np.asarray(x.get_property(key))
    arrays["background_masks"] = x.get_background_image_masks()
    return Reading("segmentation", reader, meta, arrays)


class _Watch:
    """Audit-hook recorder, active only during a read."""

    def __init__(self) -> None:
        self.active = False
        self.opened: list[str] = []
        self.unpickled: list[str] = []

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.active:
            return
        if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
            self.opened.append(os.fsdecode(args[0]))
        elif event == "pickle.find_class":
            self.unpickled.append(f"{args[0]}.{args[1]}")


def _library_roots() -> tuple[str, ...]:
    """Folders whose files a read may open besides the case's: the interpreter's and installed packages'."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/sys", "/dev", "/usr"}
    roots.update(p for p in sys.path if "site-packages" in p or "dist-packages" in p)
    return tuple(sorted(os.path.abspath(r) for r in roots))


def _outside(paths: list[str], root: str, libraries: tuple[str, ...]) -> list[str]:
    found = []
    for path in paths:
        absolute = os.path.abspath(path)
        if absolute == root or absolute.startswith(root + os.sep):
            continue
        if absolute.endswith((".py", ".pyc", ".so", ".pth")) or any(absolute.startswith(r + os.sep) for r in libraries):
            continue
        found.append(absolute)
    return sorted(set(found))


def _descriptors_into(root: str) -> dict[str, str]:
    found = {}
    for entry in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            target = os.readlink(f"/proc/self/fd/{entry}")
        except OSError:
            continue
        if target.startswith(root + os.sep):
            found[entry] = target
    return found


def _error_info(exc: BaseException) -> ErrorInfo:
    from roicore.errors import RoicoreError

    kind = type(exc)
    text = "".join(traceback.format_exception(kind, exc, exc.__traceback__, limit=12))
    return ErrorInfo(f"{kind.__module__}.{kind.__qualname__}", isinstance(exc, RoicoreError), str(exc), text)


def _handle(request: Request, watch: _Watch, libraries: tuple[str, ...]) -> Outcome:
    import roicore

    root = os.path.realpath(request.root)
    before = _descriptors_into(root)
    watch.opened.clear()
    watch.unpickled.clear()
    started = time.perf_counter()
    outcome = Outcome("read")
    watch.active = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with roicore.open(request.path, reader=request.reader, **request.kwargs) as extractor:
                outcome.reading = read_everything(extractor)
    except BaseException as exc:  # noqa: BLE001 - every exception is the finding, reported as data
        outcome = Outcome("raised", error=_error_info(exc))
    finally:
        watch.active = False
    outcome.seconds = time.perf_counter() - started
    outcome.opened_outside = _outside(watch.opened, root, libraries)
    outcome.unpickled = list(watch.unpickled)
    leaked = {fd: t for fd, t in _descriptors_into(root).items() if before.get(fd) != t}
    if leaked:
        gc.collect()  # only a reference cycle may still hold them; after this they are leaks
        leaked = {fd: t for fd, t in _descriptors_into(root).items() if before.get(fd) != t}
    outcome.leaked = sorted(leaked.values())
    return outcome


# Linux capabilities: the two that let root read files without permission
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2
_CAPABILITY_VERSION_3 = 0x20080522


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_permission_override() -> None:
    """Make file permissions apply to this (root) process; no effect for other users."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return
    keep = ~((1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    data[0].effective &= keep
    data[0].permitted &= keep
    data[0].inheritable &= keep
    libc.capset(ctypes.byref(header), data)


def _permissions_enforced() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        try:
            probe.read_bytes()
        except PermissionError:
            return True
        finally:
            probe.chmod(0o600)
    return False


def _cap_memory() -> None:
    try:
        with open("/proc/self/status") as handle:
            size_kb = next(int(line.split()[1]) for line in handle if line.startswith("VmSize:"))
    except (OSError, StopIteration, ValueError):
        return
    limit = size_kb * 1024 + MEMORY_HEADROOM
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard >= limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _warm_up() -> None:
    """Import every reader and sniff now, so imports never happen (or open files) during a read."""
    import roicore
    from roicore.registry.specs import load_object

    for contribution in roicore.readers():
        try:
            contribution.spec.load_reader()
            if contribution.spec.sniff:
                load_object(contribution.spec.sniff)
        except Exception:  # a broken plugin: opening its files will report it
            continue
    import scipy.sparse  # noqa: F401 - readers build masks with it lazily


def serve(connection: Any) -> None:
    """The child's loop: answer Requests with Outcomes until it receives None."""
    _warm_up()
    _drop_permission_override()
    watch = _Watch()
    sys.addaudithook(watch)
    libraries = _library_roots()
    connection.send({"pid": os.getpid(), "permissions_enforced": _permissions_enforced()})
    _cap_memory()
    while True:
        request = connection.recv()
        if request is None:
            return
        if request.action == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        while request.action == "hang":
            time.sleep(1)
        connection.send(_handle(request, watch, libraries))


# -- the parent ---------------------------------------------------------------------------------------
def _signal_name(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Worker:
    """The parent's handle on the child: one request at a time, with a time limit.

    Parameters
    ----------
    timeout : float
        Seconds one request (an open plus the full read) may take.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.permissions_enforced: bool | None = None
        self.restarts = 0
        self._process: Any = None
        self._connection: Any = None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=serve, args=(child,), daemon=True, name="roicore-fuzz-worker")
        process.start()
        child.close()
        if not parent.poll(120):
            process.kill()
            raise RuntimeError("the fuzz worker did not start within 120 s")
        try:
            hello = parent.recv()
        except EOFError:
            process.join(10)
            raise RuntimeError(f"the fuzz worker died while starting: {_signal_name(process.exitcode)}") from None
        self.permissions_enforced = hello["permissions_enforced"]
        self._process, self._connection = process, parent

    def _stop(self, kill: bool) -> str:
        process, connection = self._process, self._connection
        self._process = self._connection = None
        self.restarts += 1
        if kill:
            process.kill()
        process.join(10)
        connection.close()
        return _signal_name(process.exitcode)

    def run(self, request: Request) -> Outcome:
        """Send one request; a crash or a time-out is an Outcome too, and the next request gets a new child."""
        if self._process is None:
            self._start()
        started = time.perf_counter()
        try:
            self._connection.send(request)
        except OSError:  # the child died between requests (after a crash it was already replaced)
            self._stop(kill=True)
            self._start()
            self._connection.send(request)
        if not self._connection.poll(self.timeout):
            self._stop(kill=True)
            return Outcome("hang", detail=f"no answer within {self.timeout:g} s (the worker was killed)",
                           seconds=time.perf_counter() - started)
        try:
            return self._connection.recv()
        except (EOFError, OSError):
            how = self._stop(kill=False)
            return Outcome("crash", detail=f"the worker process died: {how}", seconds=time.perf_counter() - started)

    def ensure_started(self) -> None:
        if self._process is None:
            self._start()

    def close(self) -> None:
        if self._process is None:
            return
        try:
            self._connection.send(None)
        except OSError:
            pass
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(10)
        self._connection.close()
        self._process = self._connection = None
