"""``roicore.write``: dispatch to a writer plugin, with atomic replacement of the target.

A writer never writes to its final path. It asks the :class:`WriteTarget` it is
handed for a temporary path per output file (the main file, and companions
such as a sidecar), writes there, and returns. roicore then flushes each file
to disk and renames it into place, in the order the writer asked for them. If
the writer raises, or the process dies, the final paths are untouched: a good
file is never replaced by a half-written one.

Several output files (data + sidecar) are committed as one: before the first
rename, a small journal naming every (temporary, final) pair is written,
flushed and renamed into place next to each final file
(``.NAME.roicore-tmp-journal``). A process killed between two renames leaves
the journal behind, and the next :func:`roicore.open`, :func:`roicore.explain`
or :func:`write` of any of those files finishes the renames first
(:func:`recover`), so a reader never sees a new data file with an old sidecar.

Appending: a writer whose :class:`~roicore.registry.specs.WriterSpec` declares
the capability ``"append"`` may be asked to add to an existing output
(``write(x, path, append=True)``). It receives ``append=True``, reads the
existing file and writes the old content plus the new one to its temporary
path (a copy it then extends, say), which roicore renames over the original:
appending is as atomic as any other write. Other writers refuse ``append=True``
with :class:`~roicore.errors.UnsupportedFeatureError`.

Temporary names are recognisable (``.NAME.roicore-tmp-XXXXXXXX``, see
:func:`is_temporary_name`); detection never reads them as data, and the next
write to the same target removes any left behind.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from roicore.errors import NoReaderFoundError, UnsupportedFeatureError

__all__ = ["write", "choose_writer", "WriteTarget", "TEMP_MARKER", "JOURNAL_SUFFIX", "APPEND", "is_temporary_name",
           "recover"]

TEMP_MARKER = ".roicore-tmp-"
#: What follows :data:`TEMP_MARKER` in a commit journal's name.
JOURNAL_SUFFIX = "journal"
_JOURNAL_FORMAT = "roicore-commit-journal"
#: The writer capability that lets ``write(..., append=True)`` add to an existing output.
APPEND = "append"

logger = logging.getLogger("roicore.writing")


def is_temporary_name(name: str) -> bool:
    """True for names of roicore's temporary write files and commit journals."""
    return name.startswith(".") and TEMP_MARKER in name


def _temporary_name(final: Path) -> Path:
    import secrets  # here, not at import: it pulls hashlib in, and detection imports this module on every open

    return final.with_name(f".{final.name}{TEMP_MARKER}{secrets.token_hex(4)}")


def journal_path(final: Path) -> Path:
    """Where the journal of an interrupted multi-file commit involving ``final`` would be."""
    return final.with_name(f".{final.name}{TEMP_MARKER}{JOURNAL_SUFFIX}")


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


def _fsync_folders(folders: set[Path]) -> None:
    """Make renames in ``folders`` durable (best effort: some file systems cannot)."""
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


def _replace(temporary: Path, final: Path) -> None:
    if final.is_dir() and not final.is_symlink():
        shutil.rmtree(final)  # os.replace cannot replace a non-empty folder
    os.replace(temporary, final)


def remove_stale_temporaries(final: Path) -> list[Path]:
    """Delete temporary files a killed earlier write to ``final`` left behind.

    Call :func:`recover` first: a pending commit journal is one of them.
    """
    removed = []
    if final.parent.is_dir():
        # escaped: a name like "movie[1].bin" must not match another target's temporaries
        for stale in final.parent.glob(f".{glob.escape(final.name)}{TEMP_MARKER}*"):
            _remove(stale)
            removed.append(stale)
    return removed


def _read_journal(journal: Path) -> tuple[list[tuple[Path, Path]], list[Path]] | None:
    try:
        content = json.loads(journal.read_text(encoding="utf-8"))
        if content.get("format") != _JOURNAL_FORMAT:
            return None
        folder = journal.parent
        pairs = [(folder / temporary, folder / final) for temporary, final in content["files"]]
        journals = [folder / name for name in content["journals"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return pairs, journals


def recover(path: str | os.PathLike[str]) -> bool:
    """Finish a multi-file commit that a killed :func:`write` left half done, if ``path`` was part of one.

    Every temporary file named by the journal was complete and flushed before
    the journal was written, so finishing the renames gives the new files as
    a consistent set. Cheap when there is nothing to do (one ``lstat``).

    Returns
    -------
    bool
        True if a commit was finished.
    """
    journal = journal_path(Path(os.fspath(path)))
    if not os.path.lexists(journal):
        return False
    parsed = _read_journal(journal)
    if parsed is None:  # not a journal of ours: leave it to the stale-temporary clean-up
        return False
    pairs, journals = parsed
    try:
        for temporary, final in pairs:
            if os.path.lexists(temporary):
                try:
                    _replace(temporary, final)
                except FileNotFoundError:  # another process finished this rename first
                    pass
        _fsync_folders({final.parent for _, final in pairs})
        for name in reversed(journals):
            _remove(name)
    except OSError as exc:  # e.g. a read-only folder: the files stay as the interrupted write left them
        logger.debug("cannot finish the interrupted commit of %s: %s", path, exc)
        return False
    logger.debug("finished the interrupted commit of %s", path)
    return True


def _write_journals(pending: list[tuple[Path, Path]]) -> list[Path]:
    """Write the commit journal next to every final path (flushed, renamed into place); returns them."""
    finals = [final for _, final in pending]
    journals = [journal_path(final) for final in finals]
    for final, journal in zip(finals, journals):
        folder = journal.parent
        content = {
            "format": _JOURNAL_FORMAT,
            "files": [[os.path.relpath(t, folder), os.path.relpath(f, folder)] for t, f in pending],
            "journals": [os.path.relpath(j, folder) for j in journals],
        }
        temporary = _temporary_name(final)
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(content, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, journal)
    _fsync_folders({journal.parent for journal in journals})
    return journals


class WriteTarget:
    """Hands out temporary paths for a writer and renames them into place.

    Parameters
    ----------
    path : Path
        The final path of the main output.
    overwrite : bool
        Whether existing final paths may be replaced.
    append : bool
        The writer adds to the existing outputs (``write(..., append=True)``):
        they may be replaced by the writer's extended copies, as with ``overwrite``.
    """

    def __init__(self, path: Path, overwrite: bool = False, append: bool = False) -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        self.append = append
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
        recover(final_path)
        if final_path.exists() and not (self.overwrite or self.append):
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
        """Flush every temporary file and rename it over its final path, in request order.

        Several files are committed as one (see the module docstring): once
        their journal is written the commit is decided, and an error or a kill
        after that point is finished by :func:`recover`, never rolled back.
        """
        pending = list(self._pending)
        for temporary, final in pending:
            if not temporary.exists():
                raise RuntimeError(f"the writer asked for {final} but wrote nothing to its temporary path")
        for temporary, _ in pending:
            _fsync(temporary)
        journals = _write_journals(pending) if len(pending) > 1 else []
        self._pending.clear()  # decided: abort() must not delete what recover() would rename
        for temporary, final in pending:
            try:
                _replace(temporary, final)
            except FileNotFoundError:
                if journals and not os.path.lexists(temporary):
                    continue  # another process opening the target finished this rename (recover)
                raise
        _fsync_folders({final.parent for _, final in pending})
        # the main file's journal goes last: until then, opening the main file finishes the clean-up
        for journal in reversed(journals):
            _remove(journal)

    def abort(self) -> None:
        """Remove every temporary file; the final paths are left as they were."""
        for temporary, _ in self._pending:
            _remove(temporary)
        self._pending.clear()


def _choose_writer(extractor: Any, path: Path, format: str | None) -> Any:
    from roicore.imaging import ImagingExtractor

    return choose_writer("imaging" if isinstance(extractor, ImagingExtractor) else "segmentation", path, format)


def choose_writer(kind: str, path: str | os.PathLike[str], format: str | None = None) -> Any:  # noqa: A002
    """The writer contribution :func:`roicore.write` uses for ``kind`` data and ``path``.

    By ``format`` (a writer id) when given, else by the longest suffix of
    ``path`` that a writer of ``kind`` data declares (so ``.nwb`` goes to
    whichever installed plugin declares it); nothing is hard-coded here.

    Raises
    ------
    ValueError
        Unknown format, a format for the other kind, or (NoReaderFoundError) no
        writer declares the suffix.
    """
    from roicore.errors import cli_syntax_active
    from roicore.registry.discovery import get_registry

    path = Path(os.fspath(path))
    registry = get_registry()
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
        writers = [c for c in registry.contributions("writer") if c.spec.kind == kind]
        formats = ", ".join(f"{c.id} ({' '.join(c.spec.suffixes)})" for c in writers) or "none installed"
        choose = "--format ID" if cli_syntax_active() else "format=..."
        raise NoReaderFoundError(
            f"no writer of {kind} data is chosen by the name {path.name}; give a suffix a writer declares, "
            f"or choose one with {choose} (available: {formats})",
            path=path,
        )
    matches.sort(key=lambda c: (-max(len(s) for s in c.spec.suffixes if name.endswith(s)), c.qualified_id))
    return matches[0]


def write(
    extractor: Any,
    path: str | os.PathLike[str],
    format: str | None = None,  # noqa: A002 - the public name is format=, by design
    overwrite: bool = False,
    append: bool = False,
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
    append : bool
        Add to an existing output instead of refusing or replacing it (a new
        file is written when there is none). Only writers declaring the
        capability ``"append"`` can; they get ``append=True`` and write the
        extended file to a temporary path, renamed over the original when
        complete, so a failed append leaves the original as it was. Takes
        precedence over ``overwrite``.
    **options
        Passed to the writer.

    Returns
    -------
    Path
        The written path.

    Raises
    ------
    FileExistsError
        The output exists and neither ``overwrite`` nor ``append`` is True.
    FileNotFoundError
        The output's folder does not exist.
    ValueError
        Unknown format, or a format that writes the other kind of data.
    UnsupportedFeatureError
        ``append=True`` for a writer that does not declare the ``"append"`` capability.
        A volumetric segmentation given to a writer that does not declare
        ``"volumetric"`` among its capabilities.
    """
    from roicore.imaging import ImagingExtractor
    from roicore.segmentation import SegmentationExtractor

    if not isinstance(extractor, (ImagingExtractor, SegmentationExtractor)):
        raise TypeError(f"can only write roicore extractors, not {type(extractor).__name__}")
    final = Path(os.fspath(path))
    if not final.parent.is_dir():
        raise FileNotFoundError(2, "The output's folder does not exist", str(final.parent))
    recover(final)
    if final.exists() and not (overwrite or append):
        raise FileExistsError(17, "File exists (pass overwrite=True to replace it)", str(final))
    contribution = _choose_writer(extractor, final, format)
    if append:
        if APPEND not in contribution.spec.capabilities:
            raise UnsupportedFeatureError(
                f"{final}: writer {contribution.qualified_id} cannot append to an existing file (it does not "
                f"declare the {APPEND!r} capability); write to a new path, or pass overwrite=True to replace the file"
            )
        options["append"] = True
    if (
        isinstance(extractor, SegmentationExtractor)
        and extractor.is_volumetric
        and "volumetric" not in contribution.spec.capabilities
    ):
        raise UnsupportedFeatureError(
            f"{final}: writer {contribution.qualified_id} does not declare 'volumetric' and cannot write the "
            f"volumetric {type(extractor).__name__} ({extractor.get_num_planes()} planes); write one "
            "plane at a time with select_plane(i)"
        )
    writer = contribution.spec.load_writer()
    target = WriteTarget(final, overwrite=overwrite, append=append)
    try:
        writer(extractor, target, **options)
        if final not in target.finals:
            raise RuntimeError(f"writer {contribution.qualified_id} did not write the main output {final}")
        target.commit()
    except BaseException:
        target.abort()
        raise
    return final
