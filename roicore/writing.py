"""``roicore.write``: dispatch to a writer plugin, with atomic replacement of the target.

A writer never writes to its final path. It asks the :class:`WriteTarget` it is
handed for a temporary path per output file (the main file, and companions
such as a sidecar), writes there, and returns. roicore then flushes each file
to disk and renames it into place, in the order the writer asked for them. If
the writer raises, or the process dies, the final paths are untouched: a good
file is never replaced by a half-written one. Temporary names are
recognisable (``.NAME.roicore-tmp-XXXXXXXX``) and the next write to the same
target removes any left behind.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from roicore.errors import NoReaderFoundError

__all__ = ["write", "WriteTarget", "TEMP_MARKER", "is_temporary_name"]

TEMP_MARKER = ".roicore-tmp-"


def is_temporary_name(name: str) -> bool:
    """True for names of roicore's temporary write files."""
    return name.startswith(".") and TEMP_MARKER in name


def _temporary_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{TEMP_MARKER}{secrets.token_hex(4)}")


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def _fsync(path: Path) -> None:
    if path.is_dir():
        for child in path.rglob("*"):
            if child.is_file():
                _fsync(child)
        return
    with path.open("rb+") as handle:
        os.fsync(handle.fileno())


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Delete temporary files a killed earlier write to ``final`` left behind."""
    removed = []
    if final.parent.is_dir():
        for stale in final.parent.glob(f".{final.name}{TEMP_MARKER}*"):
            _remove(stale)
            removed.append(stale)
    return removed


class WriteTarget:
    """Hands out temporary paths for a writer and renames them into place.

    Parameters
    ----------
    path : Path
        The final path of the main output.
    overwrite : bool
        Whether existing final paths may be replaced.
    """

    def __init__(self, path: Path, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self._pending: list[tuple[Path, Path]] = []

    def temporary(self, final: str | os.PathLike[str] | None = None) -> Path:
        """A temporary path in the final file's folder; ``final`` defaults to :attr:`path`.

        Companion files (a sidecar next to the data) pass their own final path.

        Raises
        ------
        FileExistsError
            ``final`` exists and overwriting was not allowed.
        """
        final_path = self.path if final is None else Path(final)
        if final_path.exists() and not self.overwrite:
            raise FileExistsError(17, "File exists (pass overwrite=True to replace it)", str(final_path))
        if any(final_path == done for _, done in self._pending):
            raise ValueError(f"{final_path} was already requested from this write target")
        remove_stale_temporaries(final_path)
        temporary = _temporary_name(final_path)
        self._pending.append((temporary, final_path))
        return temporary

    @property
    def finals(self) -> list[Path]:
        """Final paths requested so far, in order."""
        return [final for _, final in self._pending]

    def commit(self) -> None:
        """Flush every temporary file and rename it over its final path, in request order."""
        for temporary, final in self._pending:
            if not temporary.exists():
                raise RuntimeError(f"the writer asked for {final} but wrote nothing to its temporary path")
        for temporary, _ in self._pending:
            _fsync(temporary)
        for temporary, final in self._pending:
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)  # os.replace cannot replace a non-empty folder
            os.replace(temporary, final)
        folders = {final.parent for _, final in self._pending}
        for folder in folders:
            try:
                descriptor = os.open(folder, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fsync(descriptor)
            except OSError:
                pass
            finally:
                os.close(descriptor)
        self._pending.clear()

    def abort(self) -> None:
        """Remove every temporary file; the final paths are left as they were."""
        for temporary, _ in self._pending:
            _remove(temporary)
        self._pending.clear()


def _choose_writer(extractor: Any, path: Path, format: str | None) -> Any:
    from roicore.imaging import ImagingExtractor
    from roicore.registry.discovery import get_registry

    registry = get_registry()
    kind = "imaging" if isinstance(extractor, ImagingExtractor) else "segmentation"
    if format is not None:
        try:
            contribution = registry.lookup("writer", format)
        except KeyError as exc:
            raise ValueError(f"unknown format {format!r}: {exc.args[0]}") from None
        if contribution.spec.kind != kind:
            raise ValueError(f"format {format!r} writes {contribution.spec.kind} data, but {kind} data was given")
        return contribution
    name = path.name.lower()
    matches = [
        c
        for c in registry.contributions("writer", include_conflicts=False)
        if c.spec.kind == kind and any(name.endswith(s) for s in c.spec.suffixes)
    ]
    if not matches:
        formats = ", ".join(c.id for c in registry.contributions("writer") if c.spec.kind == kind) or "none installed"
        raise NoReaderFoundError(
            f"no writer of {kind} data is chosen by the name {path.name}; pass format=... (available: {formats})",
            path=path,
        )
    matches.sort(key=lambda c: (-max(len(s) for s in c.spec.suffixes if name.endswith(s)), c.qualified_id))
    return matches[0]


def write(
    extractor: Any,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - the public name is format=, by design
    overwrite: bool = False,
    **options: Any,
) -> Path:
    """Write an extractor to ``path`` with an installed writer, atomically.

    Parameters
    ----------
    extractor : ImagingExtractor or SegmentationExtractor
        What to write; it is only read.
    path : str or path-like
        The output path; its folder must exist.
    format : str, optional
        A writer id; by default the writer is chosen by the output's suffix.
    overwrite : bool
        Replace an existing output.
    **options
        Passed to the writer.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    FileExistsError
        The output exists and ``overwrite`` is False.
    FileNotFoundError
        The output's folder does not exist.
    ValueError
        Unknown format, or a format that writes the other kind of data.
    """
    from roicore.imaging import ImagingExtractor
    from roicore.segmentation import SegmentationExtractor

    if not isinstance(extractor, (ImagingExtractor, SegmentationExtractor)):
        raise TypeError(f"can only write roicore extractors, not {type(extractor).__name__}")
    final = Path(os.fspath(path))
    if not final.parent.is_dir():
        raise FileNotFoundError(2, "The output's folder does not exist", str(final.parent))
    if final.exists() and not overwrite:
        raise FileExistsError(17, "File exists (pass overwrite=True to replace it)", str(final))
    contribution = _choose_writer(extractor, final, format)
    writer = contribution.spec.load_writer()
    target = WriteTarget(final, overwrite=overwrite)
    try:
        writer(extractor, target, **options)
        if final not in target.finals:
            raise RuntimeError(f"writer {contribution.qualified_id} did not write the main output {final}")
        target.commit()
    except BaseException:
        target.abort()
        raise
    return final
