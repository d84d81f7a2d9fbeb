"""Watch for unpickling while conformance checks run (``sys.addaudithook`` on ``pickle.find_class``).

The project's policy forbids unpickling file data (``numpy.load(..., allow_pickle=True)``,
``pickle.load`` of a file): a pickle in a data file runs code. The hook records every
``pickle.find_class`` event raised while a recorder is active. Exempt: the kit's own
pickle round trips of extractors and its sample generation (inside :func:`kit_unpickling`, and
process pools' messages), the project's restricted loader, ``roicore.safeload``, recognised by
its module on the call stack, and unpickling while a module is being imported (libraries load
their own caches at import, as pynwb does with its pickled type map; that is the library's data,
not the file being read).

Limits: ``find_class`` is raised when a pickle names a global (a class or function: every
numpy object array does), so a pickle made only of builtin containers and scalars is not
seen; unpickling in another process (a spawned worker) is not seen either. Audit hooks cannot
be removed, so the hook is installed once per process, on first use, and is idle (one string
comparison per audit event) when no recorder is active.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["record_unpickling", "kit_unpickling", "SAFE_LOADERS"]

SAFE_LOADERS = ("roicore.safeload",)  # modules whose unpickling is the sanctioned, restricted kind
# inter-process messages of process pools (results sent back by a worker), not file data
_IPC_MODULES = ("concurrent.futures.process", "multiprocessing.")
_IMPORT_MACHINERY = "importlib._bootstrap"  # a module's import-time code is running

_lock = threading.Lock()
_installed = False
_recorders: list[list[str]] = []
_kit_depth = 0


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "pickle.find_class" or not _recorders or _kit_depth:
        return
    frame = sys._getframe(1)
    while frame is not None:
        module_name = frame.f_globals.get("__name__", "")
        if module_name.startswith(SAFE_LOADERS + _IPC_MODULES) or module_name == _IMPORT_MACHINERY:
            return
        frame = frame.f_back
    module, name = (str(a) for a in args[:2])
    for recorder in _recorders:
        recorder.append(f"{module}.{name}")


def _install() -> None:
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True


@contextmanager
def record_unpickling() -> Iterator[list[str]]:
    """Collect the globals unpickled (``module.name``) inside the block, from any thread."""
    _install()
    found: list[str] = []
    with _lock:
        _recorders.append(found)
    try:
        yield found
    finally:
        with _lock:
            _recorders.remove(found)


@contextmanager
def kit_unpickling() -> Iterator[None]:
    """Mark the kit's own unpickling (of extractors it pickled itself) as allowed."""
    global _kit_depth
    with _lock:
        _kit_depth += 1
    try:
        yield
    finally:
        with _lock:
            _kit_depth -= 1
