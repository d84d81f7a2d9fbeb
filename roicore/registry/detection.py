"""Format detection: which installed reader reads a path.

Order, for ``open(path)`` without ``reader=``:

1. a missing path raises FileNotFoundError; a file's header (4 KiB) is read once;
2. static candidates: auto-detected readers of the right ``kind`` whose
   suffixes, patterns or magic match a file, or whose directory markers all
   match inside a folder; no plugin code is imported for this;
3. candidates ranked by tier (specific first), match strength (magic or
   markers, then the longest suffix, then a pattern), priority, then
   qualified id: the ranking never depends on install order;
4. each candidate's ``sniff(path, header)`` is asked lazily in rank order; the
   first YES wins unless an equally ranked candidate also says YES, which
   raises AmbiguousFormatError; a MAYBE is used only when nobody says YES;
5. nothing: NoReaderFoundError carrying the DetectionReport, with hints about
   formats whose plugin is missing, disabled or broken.

A sniff is plugin code, so it is isolated: one that raises, or does not answer
within ``ROICORE_SNIFF_TIMEOUT`` seconds (default 5; ``off`` for no limit, see
:mod:`roicore.registry.sniffing`), gets the verdict ``"error"`` with the reason,
and detection goes on with the next candidate. A timed-out sniff goes on
running in a daemon thread and its reader is not asked again until it returns;
:func:`open` warns about it once per process (unless the timeout is already
reported by the error it raises).

Paths detection never reads: roicore's own temporary write files (see
:func:`roicore.writing.is_temporary_name`) and files that are not regular
files (a FIFO or a device would block the header read). A half-finished
multi-file commit of an interrupted :func:`roicore.write` is finished before
detection (:func:`roicore.writing.recover`).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from roicore.errors import (
    AmbiguousFormatError,
    CorruptFileError,
    NoReaderFoundError,
    PluginError,
    RoicoreError,
    cli_syntax_active,
    reader_hint,
)
from roicore.registry.discovery import (
    PLUGIN_FAULTS,
    Contribution,
    Registry,
    _strict,
    get_registry,
    resolve_reader,
)
from roicore.registry.known import known_formats_for
from roicore.registry.sniffing import SniffTimeout, run_limited, sniff_timeout, still_running
from roicore.registry.specs import ReaderSpec, SourceInfo, Support, load_object
from roicore.writing import is_temporary_name, recover

__all__ = ["open", "explain", "DetectionReport", "CandidateReport", "HEADER_SIZE"]

HEADER_SIZE = 4096

logger = logging.getLogger("roicore.detection")

# match strengths: bigger is stronger
_MAGIC, _MARKER, _SUFFIX, _PATTERN = 3, 3, 2, 1


@dataclass
class CandidateReport:
    """One reader considered for a path.

    Attributes
    ----------
    reader : str
        Qualified id ``"plugin:id"``.
    rule : str
        The static match, e.g. ``"suffix .npy"`` or ``"magic b'\\x89HDF'"``.
    rank : tuple
        The sort key (lower ranks first).
    verdict : {"yes", "maybe", "no", "error", "not asked"}
        What ``sniff`` answered; ``"not asked"`` when a better candidate won first.
    reason : str
        The reader's reason, or the error text.
    timed_out : bool
        The sniff did not answer within the time limit (the verdict is ``"error"``).
    """

    reader: str
    rule: str
    rank: tuple[Any, ...]
    verdict: str = "not asked"
    reason: str = ""
    contribution: Contribution | None = field(default=None, repr=False)
    timed_out: bool = field(default=False, repr=False)


@dataclass
class DetectionReport:
    """Everything detection did for one path; ``str()`` gives a readable page.

    Attributes
    ----------
    path : str
    is_dir : bool
    candidates : list of CandidateReport
        In rank order.
    chosen : str or None
        Qualified id of the winning reader.
    rule : str
        Why it won.
    hints : list of str
        Readers that would match but are unavailable, and what to do about it.
    refused : str
        Why the path was not examined at all (a temporary write file, a FIFO), or "".
    """

    path: str
    is_dir: bool
    candidates: list[CandidateReport] = field(default_factory=list)
    chosen: str | None = None
    rule: str = ""
    hints: list[str] = field(default_factory=list)
    refused: str = ""

    def __str__(self) -> str:
        what = "folder" if self.is_dir else "file"
        lines = [f"{what} {self.path}"]
        if self.refused:
            lines.append(f"  not examined: it is {self.refused}")
        elif not self.candidates:
            lines.append("  no installed reader matches its name, header or contents statically")
        for candidate in self.candidates:
            mark = "->" if candidate.reader == self.chosen else "  "
            reason = f": {candidate.reason}" if candidate.reason else ""
            lines.append(f"{mark} {candidate.reader:<32} [{candidate.rule}] {candidate.verdict}{reason}")
        if self.chosen:
            lines.append(f"chosen: {self.chosen} ({self.rule})")
        lines.extend(f"hint: {hint}" for hint in self.hints)
        return "\n".join(lines)


def _check_path(path: Any) -> Path:
    resolved = Path(os.fspath(path))
    if not os.path.lexists(resolved):
        raise FileNotFoundError(2, "No such file or directory", str(resolved))
    if not resolved.exists():  # a dangling or looping symlink
        raise FileNotFoundError(2, "Broken symbolic link (its target does not exist or loops)", str(resolved))
    return resolved


def _read_header(path: Path) -> bytes:
    if path.is_dir():
        return b""
    with path.open("rb") as handle:
        return handle.read(HEADER_SIZE)


def _unreadable_reason(path: Path) -> str | None:
    """Why detection must not read ``path`` at all, or None."""
    if is_temporary_name(path.name):
        return (
            "a temporary file of an interrupted roicore.write(), not data: the next write to the file "
            "it was meant for removes it"
        )
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file or a folder (a FIFO, socket or device): nothing to detect"
    return None


def _static_match(spec: ReaderSpec, path: Path, header: bytes, is_dir: bool) -> tuple[str, int, int] | None:
    """(rule, strength, suffix length) of the best static match, or None."""
    name = path.name.lower()
    if is_dir:
        if not spec.directory:
            return None
        for marker in spec.directory:
            if not any(not is_temporary_name(found.name) for found in path.glob(marker)):
                return None
        return f"markers {', '.join(spec.directory)}", _MARKER, 0
    for prefix in spec.magic:
        if header.startswith(prefix):
            return f"magic {prefix[:8]!r}", _MAGIC, 0
    matching = [s for s in spec.suffixes if name.endswith(s)]
    if matching:
        longest = max(matching, key=len)
        return f"suffix {longest}", _SUFFIX, len(longest)
    for pattern in spec.patterns:
        if fnmatch(name, pattern.lower()):
            return f"pattern {pattern}", _PATTERN, 0
    return None


def _candidates(registry: Registry, path: Path, header: bytes, kind: str | None) -> list[CandidateReport]:
    is_dir = path.is_dir()
    found = []
    for contribution in registry.contributions("reader", include_conflicts=False):
        spec: ReaderSpec = contribution.spec
        if not spec.autodetect or (kind is not None and spec.kind != kind):
            continue
        match = _static_match(spec, path, header, is_dir)
        if match is None:
            continue
        rule, strength, suffix_length = match
        tier = 0 if spec.tier == "specific" else 1
        rank = (tier, -strength, -suffix_length, -spec.priority, contribution.qualified_id)
        found.append(CandidateReport(contribution.qualified_id, rule, rank, contribution=contribution))
    found.sort(key=lambda c: c.rank)
    return found


def _sniffer(spec: ReaderSpec) -> Any:
    if spec.sniff is not None:
        return load_object(spec.sniff)
    return getattr(spec.load_reader(), "sniff", None)


def _call_sniff(spec: ReaderSpec, path: Path, header: bytes) -> Support | None:
    """Import and call the reader's sniff (None: it has none); in a worker thread under a time limit."""
    sniff = _sniffer(spec)
    if sniff is None:
        return None
    support = sniff(path, header)
    if not isinstance(support, Support):
        raise TypeError(f"sniff returned {type(support).__name__}, not roicore.Support")
    return support


def _ask(candidate: CandidateReport, path: Path, header: bytes) -> None:
    """Fill in the candidate's verdict; a raising or hanging sniff is an 'error', never an exception."""
    spec: ReaderSpec = candidate.contribution.spec  # type: ignore[union-attr]
    running = still_running(spec)
    if running is not None:
        _fault(candidate, path, f"not asked: an earlier call of its sniff timed out and is still running "
                                f"({running:.0f} s)", timed_out=True)
        return
    try:
        support = run_limited(spec, _call_sniff, spec, path, header, timeout=sniff_timeout())
    except SniffTimeout as exc:
        _fault(candidate, path, f"timed out: its sniff {exc}", exc, timed_out=True)
        return
    except PLUGIN_FAULTS as exc:
        logger.debug("sniff of %s failed:\n%s", candidate.reader, "".join(traceback.format_exception(exc)))
        _fault(candidate, path, f"{type(exc).__name__}: {exc}", exc)
        return
    if support is None:
        candidate.verdict, candidate.reason = "yes", "static match (the reader has no sniff)"
        return
    candidate.verdict = support.level.name.lower()
    candidate.reason = support.reason


def _fault(
    candidate: CandidateReport, path: Path, reason: str, exc: BaseException | None = None, *, timed_out: bool = False
) -> None:
    """Record a failed sniff on the candidate; with ROICORE_STRICT_PLUGINS=1, raise PluginError instead."""
    candidate.verdict, candidate.timed_out = "error", timed_out
    if timed_out:
        reason += "; detection went on without it (the limit is ROICORE_SNIFF_TIMEOUT)"
    candidate.reason = reason
    if _strict():
        raise PluginError(
            f"the sniff of reader {candidate.reader} failed on {path}: {candidate.reason}",
            plugin=candidate.contribution.plugin,  # type: ignore[union-attr]
        ) from exc


def _same_rank(a: CandidateReport, b: CandidateReport) -> bool:
    return a.rank[:4] == b.rank[:4]


def _decide(candidates: list[CandidateReport], path: Path, header: bytes, *, exhaustive: bool) -> CandidateReport | None:
    """Ask candidates in rank order; return the winner or None; raise on a tie."""
    winner: CandidateReport | None = None
    for candidate in candidates:
        if winner is not None and not _same_rank(candidate, winner) and not exhaustive:
            break
        _ask(candidate, path, header)
        if candidate.verdict != "yes":
            continue
        if winner is None:
            winner = candidate
        elif _same_rank(candidate, winner):
            raise AmbiguousFormatError(
                f"{path}: two readers of equal rank both claim it: {winner.reader} "
                f"({winner.reason or winner.rule}) and {candidate.reader} ({candidate.reason or candidate.rule}). "
                f"Choose one with {_open_with(winner.reader)} or "
                f"{reader_hint(candidate.reader)}, or disable one plugin with ROICORE_DISABLE_PLUGINS.",
                path=path,
                candidates=(winner.reader, candidate.reader),
            )
    if winner is not None:
        return winner
    maybes = [c for c in candidates if c.verdict == "maybe"]
    if len(maybes) > 1 and _same_rank(maybes[0], maybes[1]):
        raise AmbiguousFormatError(
            f"{path}: no reader is sure, and two equally ranked readers might read it: "
            f"{maybes[0].reader} and {maybes[1].reader}; choose one with {reader_hint()}",
            path=path,
            candidates=(maybes[0].reader, maybes[1].reader),
        )
    return maybes[0] if maybes else None


def _open_with(reader: str) -> str:
    return reader_hint(reader) if cli_syntax_active() else f"roicore.open(path, reader={reader!r})"


def _last_line(record: Any) -> str:
    return record.errors[0].strip().splitlines()[-1] if record.errors else ""


def _hints(registry: Registry, path: Path, kind: str | None) -> list[str]:
    hints = []
    mentioned: set[str] = set()
    records = {record.distribution or record.name: record for record in registry.records.values()}
    records.update({record.name: record for record in registry.records.values()})
    for known in known_formats_for(path.name):
        record = records.get(known.plugin)
        if record is None:
            hints.append(f"{path.name} looks like a {known.name}: install its reader with pip install {known.plugin}")
        elif record.status in {"disabled", "not-allowed"}:
            hints.append(
                f"{path.name} looks like a {known.name}, read by plugin {record.name}, which is "
                f"{record.status} ({'; '.join(record.errors)})"
            )
            mentioned.add(record.name)
        elif not record.ok:
            hints.append(
                f"{path.name} looks like a {known.name}, read by plugin {record.name}, which is broken "
                f"({record.status}: {_last_line(record)})"
            )
            mentioned.add(record.name)
        if known.hint:
            hints.append(known.hint_text())
    for contribution in registry.contributions("reader"):
        if contribution.status == "conflict" and _static_match(contribution.spec, path, b"", path.is_dir()):
            hints.append(f"reader {contribution.qualified_id} would match but is in conflict: {contribution.error}")
    # a plugin that failed before declaring its readers might be the one for this file: say so, once each
    for record in sorted(registry.records.values(), key=lambda r: r.name):
        broken = not record.ok and record.status not in {"disabled", "not-allowed"}
        if broken and not record.contributions and record.name not in mentioned:
            hints.append(
                f"plugin {record.name} is broken ({record.status}: {_last_line(record)}) and declared no "
                "reader, so it may be the one for this file; `roicore plugins --verbose` shows why"
            )
    if kind is not None:
        hints.append(f"only readers of kind {kind!r} were considered")
    return hints


def _detect(path: Path, kind: str | None, *, exhaustive: bool) -> tuple[DetectionReport, CandidateReport | None]:
    registry = get_registry()
    report = DetectionReport(str(path), path.is_dir())
    report.refused = _unreadable_reason(path) or ""
    if report.refused:
        return report, None
    header = _read_header(path)
    report.candidates = _candidates(registry, path, header, kind)
    winner = _decide(report.candidates, path, header, exhaustive=exhaustive)
    if winner is not None:
        report.chosen = winner.reader
        report.rule = f"{winner.rule}; sniff: {winner.reason}" if winner.reason else winner.rule
    else:
        report.hints = _hints(registry, path, kind)
    return report, winner


_warned_timeouts: set[Any] = set()
_warned_lock = threading.Lock()


def _warn_timeouts(report: DetectionReport, *, raised: bool) -> None:
    """Warn once per process and reader about a timed-out sniff, unless the raised error already says so."""
    for candidate in report.candidates:
        if not candidate.timed_out:
            continue
        contribution = candidate.contribution
        with _warned_lock:
            if contribution.spec in _warned_timeouts:  # type: ignore[union-attr]
                continue
            _warned_timeouts.add(contribution.spec)  # type: ignore[union-attr]
        if raised:
            continue
        plugin = contribution.plugin  # type: ignore[union-attr]
        warnings.warn(
            f"roicore: reader {candidate.reader} of plugin {plugin}: {candidate.reason} "
            f"(first seen on {report.path}; warned once per process; to skip the plugin set "
            f"ROICORE_DISABLE_PLUGINS={plugin})",
            RuntimeWarning,
            stacklevel=4,
        )


def explain(path: str | os.PathLike[str], *, kind: str | None = None) -> DetectionReport:
    """Report every candidate reader for ``path``, its match rule, verdict and reason.

    Unlike :func:`open`, every static candidate is asked, so the report shows
    readers that lost as well as the winner. Nothing is opened.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    AmbiguousFormatError
        Two equally ranked readers claim the path.
    """
    recover(path)  # first: a decided commit of a first write brings the file into existence
    resolved = _check_path(path)
    report, _ = _detect(resolved, kind, exhaustive=True)
    return report


def _no_reader_message(report: DetectionReport) -> str:
    if report.refused:
        return f"{report.path} is not read by roicore: it is {report.refused}"
    lines = [f"no installed reader can read {report.path}"]
    for candidate in report.candidates:
        lines.append(f"  {candidate.reader} [{candidate.rule}]: {candidate.verdict} - {candidate.reason}")
    if not report.candidates:
        lines.append("  no reader's suffixes, patterns, magic bytes or folder markers match it")
    lines.extend(f"  hint: {hint}" for hint in report.hints)
    if cli_syntax_active():
        lines.append(f"  see `roicore explain {report.path}`; choose a reader with {reader_hint()}")
    else:
        lines.append("  see roicore.explain(path) or `roicore explain PATH`; choose a reader with reader=...")
    return "\n".join(lines)


def open(  # noqa: A001 - the public name is roicore.open, by design
    path: str | os.PathLike[str],
    reader: str | None = None,
    kind: str | None = None,
    **reader_kwargs: Any,
) -> Any:
    """Open a file or folder with the installed reader that claims it.

    Parameters
    ----------
    path : str or path-like, or a list of them
        A file or a folder. A list of paths, or a glob pattern (``"run*.tif"``,
        when no file has that very name), opens each with the same arguments and
        concatenates the videos in time, in the order given (a pattern's matches
        sorted by name); see :func:`roicore.concatenate`.
    reader : str, optional
        A reader id (``"memmap"``) or qualified id (``"roicore-memmap:memmap"``):
        used as given, with no detection and no silent fallback.
    kind : {"imaging", "segmentation"}, optional
        Consider only readers of this kind (settles folders holding both).
    **reader_kwargs
        Passed to the reader, e.g. ``channel=1``.

    Returns
    -------
    ImagingExtractor or SegmentationExtractor
        With ``.source`` recording the plugin, its version, the reader and the rule.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    NoReaderFoundError
        No reader claims the path (``.report`` holds the DetectionReport), or ``reader`` is unknown.
    AmbiguousFormatError
        Two equally ranked readers claim it.
    CorruptFileError
        The chosen reader found the content invalid.
    """
    if kind is not None and kind not in ("imaging", "segmentation"):
        raise ValueError(f"kind must be 'imaging' or 'segmentation', not {kind!r}")
    from roicore.combine import is_many, open_many

    if is_many(path):
        return open_many(path, reader=reader, kind=kind, **reader_kwargs)
    recover(path)  # first: a decided commit of a first write brings the file into existence
    resolved = _check_path(path)
    if reader is not None:
        contribution = resolve_reader(reader)
        if kind is not None and contribution.spec.kind != kind:
            raise ValueError(f"reader {contribution.qualified_id} reads {contribution.spec.kind} data, not {kind}")
        rule = "explicit reader="
    else:
        report, winner = _detect(resolved, kind, exhaustive=False)
        _warn_timeouts(report, raised=winner is None)
        if winner is None:
            raise NoReaderFoundError(_no_reader_message(report), path=resolved, report=report)
        contribution = winner.contribution  # type: ignore[assignment]
        rule = report.rule
    return _instantiate(contribution, resolved, rule, reader_kwargs)


def _instantiate(contribution: Contribution, path: Path, rule: str, kwargs: dict[str, Any]) -> Any:
    from roicore.imaging import ImagingExtractor
    from roicore.segmentation import SegmentationExtractor

    spec: ReaderSpec = contribution.spec
    try:
        reader = spec.load_reader()
    except Exception as exc:
        raise PluginError(
            f"reader {contribution.qualified_id} could not be imported: {type(exc).__name__}: {exc}"
            + (f" ({spec.install_hint})" if spec.install_hint else ""),
            plugin=contribution.plugin,
        ) from exc
    try:
        extractor = reader(path, **kwargs)
    except (RoicoreError, OSError, TypeError, ValueError, IndexError, KeyError, MemoryError):
        raise  # roicore's errors, and the builtins that signal bad arguments (DESIGN section 7)
    except Exception as exc:
        # a safety net for plugin bugs on bad files (struct.error, AttributeError, ...): name the file
        raise CorruptFileError(
            f"{path}: reader {contribution.qualified_id} failed: {type(exc).__name__}: {exc}", path=path
        ) from exc
    expected = ImagingExtractor if spec.kind == "imaging" else SegmentationExtractor
    if not isinstance(extractor, expected):
        raise PluginError(
            f"reader {contribution.qualified_id} returned {type(extractor).__name__}, "
            f"not a {expected.__name__} as its spec declares",
            plugin=contribution.plugin,
        )
    extractor.source = SourceInfo(contribution.plugin, contribution.version, spec.id, rule, str(path))
    return extractor

