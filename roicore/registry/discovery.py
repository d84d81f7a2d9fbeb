"""Plugin discovery: entry points and in-process plugins -> one validated registry.

Discovery is lazy (built on first use, memoized per process), never raises
(unless ``ROICORE_STRICT_PLUGINS=1``), and isolates each plugin: an import
error, a hook that raises, an invalid spec or a duplicate id is recorded on
that plugin or those ids, and everything else keeps working.

Environment variables, read at each build:

``ROICORE_DISABLE_PLUGINS=a,b``
    Plugins (entry-point or distribution names) never imported.
``ROICORE_PLUGINS=a,b``
    Allow-list; when set, only these entry-point plugins are imported.
    Set but empty: no entry-point plugin at all.
``ROICORE_STRICT_PLUGINS=1``
    Re-raise the first plugin fault as :class:`roicore.errors.PluginError`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from roicore.errors import NoReaderFoundError, PluginError
from roicore.registry.specs import MethodSpec, ReaderSpec, WriterSpec, as_spec_list

__all__ = [
    "ENTRY_POINT_GROUP",
    "Contribution",
    "PluginRecord",
    "Registry",
    "get_registry",
    "refresh",
    "register",
    "unregister",
    "isolated",
    "readers",
    "writers",
    "methods",
    "plugins",
]

ENTRY_POINT_GROUP = "roicore.plugins"
#: the group's section header in an entry_points.txt (the INI-style parser strips blanks inside brackets)
_GROUP_HEADER = re.compile(r"^\s*\[\s*" + re.escape(ENTRY_POINT_GROUP) + r"\s*\]\s*$", re.MULTILINE)

logger = logging.getLogger("roicore.registry")

ContributionType = Literal["reader", "writer", "method"]

#: What a plugin's code may raise without taking roicore down: every error, and SystemExit (a plugin
#: calling sys.exit() while being imported or asked). KeyboardInterrupt still interrupts.
PLUGIN_FAULTS: tuple[type[BaseException], ...] = (Exception, SystemExit)

_HOOKS: dict[ContributionType, tuple[str, type]] = {
    "reader": ("roicore_readers", ReaderSpec),
    "writer": ("roicore_writers", WriterSpec),
    "method": ("roicore_methods", MethodSpec),
}


def _normalize_name(name: str) -> str:
    """PEP 503 normalisation, so ``Roicore_Memmap`` and ``roicore-memmap`` are one name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_list(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {_normalize_name(part.strip()) for part in raw.split(",") if part.strip()}


def _strict() -> bool:
    return os.environ.get("ROICORE_STRICT_PLUGINS", "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Contribution:
    """One reader, writer or method spec, attributed to the plugin that contributed it.

    Attributes
    ----------
    plugin : str
        The contributing plugin's name.
    version : str or None
        The plugin distribution's version.
    type : {"reader", "writer", "method"}
        What the spec describes.
    spec : ReaderSpec or WriterSpec or MethodSpec
        The spec itself.
    status : {"active", "conflict"}
        ``"conflict"``: another plugin registered the same id; the spec is left
        out of auto-detection and plain-id look-up but stays usable by
        :attr:`qualified_id`.
    error : str
        Why the status is not ``"active"``.
    """

    plugin: str
    version: str | None
    type: ContributionType
    spec: Any
    status: str = "active"
    error: str = ""

    @property
    def id(self) -> str:
        """The spec's plain id."""
        return self.spec.id

    @property
    def qualified_id(self) -> str:
        """``"plugin:id"``, unique in any registry."""
        return f"{self.plugin}:{self.spec.id}"


@dataclass
class PluginRecord:
    """What discovery found out about one plugin.

    Attributes
    ----------
    name : str
        Entry-point name (or the name given to :func:`roicore.register`).
    distribution : str or None
        The distribution that declared the entry point.
    version : str or None
        That distribution's version.
    module : str or None
        The entry module (``value`` of the entry point).
    origin : {"entry-point", "in-process"}
        How the plugin was found.
    status : str
        ``"active"``, ``"disabled"``, ``"not-allowed"``, ``"import-error"``,
        ``"invalid-hooks"``, ``"hook-error"``, ``"invalid-spec"``,
        ``"invalid-metadata"`` (an ``entry_points.txt`` that cannot be parsed) or
        ``"incompatible-core"`` (its ``Requires-Dist: roicore`` excludes the running
        core; it is not imported).
        A plugin with a faulty hook keeps the contributions of its other hooks.
    errors : list of str
        Error texts (with tracebacks for import errors and raising hooks).
    contributions : list of Contribution
        What the plugin contributed, conflicting ones included.
    """

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    origin: str = "entry-point"
    status: str = "active"
    errors: list[str] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    plugin_object: Any = field(default=None, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        """True when the plugin loaded and every hook gave valid specs."""
        return self.status == "active"

    def fail(self, status: str, message: str) -> None:
        """Record a fault; the first fault sets the status."""
        if self.status == "active":
            self.status = status
        self.errors.append(message)
        logger.debug("plugin %s: %s: %s", self.name, status, message)
        if _strict():
            raise PluginError(f"plugin {self.name!r} is broken ({status}): {message}", plugin=self.name)


class Registry:
    """An immutable snapshot of every plugin and contribution.

    Build it with :meth:`build`; the process-wide one is returned by
    :func:`get_registry`.
    """

    def __init__(self, records: list[PluginRecord]) -> None:
        self.records: dict[str, PluginRecord] = {record.name: record for record in records}
        self._by_type: dict[str, list[Contribution]] = {"reader": [], "writer": [], "method": []}
        for record in records:
            for contribution in record.contributions:
                self._by_type[contribution.type].append(contribution)
        for items in self._by_type.values():
            items.sort(key=lambda c: c.qualified_id)

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        *,
        entry_points: bool = True,
        extra: Iterable[tuple[str, Any]] = (),
    ) -> Registry:
        """Discover plugins and collect their specs.

        Parameters
        ----------
        entry_points : bool
            Scan the ``roicore.plugins`` entry-point group.
        extra : iterable of (name, object)
            In-process plugins: modules, classes or instances with hook implementations.
        """
        import pluggy

        from roicore.registry.hooks import PROJECT_NAME, RoicoreHookSpecs

        manager = pluggy.PluginManager(PROJECT_NAME)
        manager.add_hookspecs(RoicoreHookSpecs)
        records: list[PluginRecord] = []
        if entry_points:
            records.extend(_load_entry_points())
        for name, obj in extra:
            records.append(
                PluginRecord(
                    name=name,
                    version=getattr(obj, "__version__", None),
                    module=getattr(obj, "__name__", type(obj).__name__),
                    origin="in-process",
                    plugin_object=obj,
                )
            )
        for record in records:
            if record.status != "active" or record.plugin_object is None:
                continue
            try:
                manager.register(record.plugin_object, name=record.name)
            except Exception as exc:  # pluggy validation, or a name registered twice
                record.fail("invalid-hooks", f"{type(exc).__name__}: {exc}")
                continue
            _collect_contributions(manager, record)
        _mark_conflicts(records)
        return cls(records)

    # -- queries ----------------------------------------------------------------------------
    def contributions(self, type_: ContributionType, *, include_conflicts: bool = True) -> list[Contribution]:
        """All contributions of one type, sorted by qualified id."""
        items = self._by_type[type_]
        return list(items) if include_conflicts else [c for c in items if c.status == "active"]

    def lookup(self, type_: ContributionType, name: str) -> Contribution:
        """Find a contribution by ``"id"`` or ``"plugin:id"``.

        Raises
        ------
        KeyError
            Nothing matches; the message lists what is installed.
        roicore.errors.AmbiguousFormatError
            A plain id registered by several plugins; the message names the qualified ids.
        """
        from roicore.errors import AmbiguousFormatError

        items = self._by_type[type_]
        if ":" in name:
            for item in items:
                if item.qualified_id == name:
                    return item
        else:
            matches = [item for item in items if item.id == name]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                choices = ", ".join(repr(m.qualified_id) for m in matches)
                raise AmbiguousFormatError(
                    f"{type_} id {name!r} is registered by several plugins; choose one of {choices}",
                    candidates=tuple(m.qualified_id for m in matches),
                )
        available = ", ".join(sorted(item.qualified_id for item in items)) or "none installed"
        raise KeyError(f"no {type_} {name!r}; available: {available}")

    def plugin_of(self, contribution: Contribution) -> PluginRecord:
        """The record of the plugin that contributed ``contribution``."""
        return self.records[contribution.plugin]


def _folder_parts(dist: Any) -> tuple[str, str | None] | None:
    """``(name, version)`` from the metadata folder's name (``Name-1.0.dist-info``, ``Name.egg-info``).

    Reading them this way costs a string split, where parsing every installed
    distribution's METADATA (and importing the e-mail parser to do it) cost
    ~0.17 ms each (54 ms for 313 packages). None when the folder's name says
    nothing; then METADATA is read.
    """
    path = getattr(dist, "_path", None)
    folder = getattr(path, "name", None)
    if not isinstance(folder, str):
        return None
    for suffix in (".dist-info", ".egg-info"):
        if folder.endswith(suffix):
            name, _, rest = folder[: -len(suffix)].partition("-")
            version = rest.split("-", 1)[0] or None
            return (name, version) if name else None
    return None


def _distribution_name(dist: Any) -> str | None:
    parts = _folder_parts(dist)
    if parts is not None:
        return parts[0]
    try:
        return dist.metadata["Name"]
    except Exception:  # unreadable METADATA
        return None


def _version_of(dist: Any) -> str | None:
    parts = _folder_parts(dist)
    if parts is not None and parts[1] is not None:
        return parts[1]
    try:
        return dist.version
    except Exception:
        return None


def _entry_points() -> tuple[list[Any], list[PluginRecord]]:
    """Entry points of the roicore group, read one distribution at a time.

    ``importlib_metadata.entry_points()`` raises for the whole environment when
    any one distribution has a malformed ``entry_points.txt``; here such a
    distribution is skipped, and returned as a broken plugin record only when
    its file mentions roicore's group (anything else is none of roicore's
    business). A distribution found twice on ``sys.path`` counts once: the
    first one wins, as with import.

    Returns
    -------
    entry_points : list
        Sorted by name.
    broken : list of PluginRecord
        Distributions whose roicore entry points cannot be read.
    """
    import importlib_metadata

    found: list[Any] = []
    broken: list[PluginRecord] = []
    seen: set[str] = set()
    for dist in importlib_metadata.distributions():
        name = _distribution_name(dist)
        key = _normalize_name(name) if name else f"<unnamed {getattr(dist, '_path', id(dist))}>"
        if key in seen:
            continue
        seen.add(key)
        try:
            text = dist.read_text("entry_points.txt") or ""
        except Exception:
            text = ""
        if not _GROUP_HEADER.search(text):  # most distributions: nothing for roicore, nothing parsed
            continue
        try:
            found.extend(ep for ep in dist.entry_points if ep.group == ENTRY_POINT_GROUP)
        except Exception as exc:
            try:  # rare: a broken plugin is named as its METADATA spells it
                name = dist.metadata["Name"] or name
            except Exception:
                pass
            record = PluginRecord(name=name or key, distribution=name, version=_version_of(dist))
            record.errors.append(f"its entry_points.txt cannot be parsed: {type(exc).__name__}: {exc}")
            broken.append(record)
    return sorted(found, key=lambda ep: ep.name), broken


def _filtered_out(record: PluginRecord, disabled: set[str], allowed: set[str] | None) -> bool:
    """Apply ROICORE_DISABLE_PLUGINS and ROICORE_PLUGINS to a record (before any import); True if it is out."""
    names = {_normalize_name(record.name)}
    if record.distribution:
        names.add(_normalize_name(record.distribution))
    if names & disabled:
        record.status = "disabled"
        record.errors[:] = ["disabled by ROICORE_DISABLE_PLUGINS"]
        return True
    if allowed is not None and not names & allowed:
        record.status = "not-allowed"
        record.errors[:] = ["not in the ROICORE_PLUGINS allow-list"]
        return True
    return False


def _load_entry_points() -> list[PluginRecord]:
    disabled = _env_list("ROICORE_DISABLE_PLUGINS") or set()
    allowed = _env_list("ROICORE_PLUGINS")
    found, broken = _entry_points()
    records: list[PluginRecord] = []
    for record in broken:
        records.append(record)
        if not _filtered_out(record, disabled, allowed):
            message = record.errors.pop()
            record.fail("invalid-metadata", message)
    seen: set[str] = {record.name for record in broken}
    for entry_point in found:
        if entry_point.name in seen:  # the same plugin name twice: the first one wins, like import
            continue
        seen.add(entry_point.name)
        dist = getattr(entry_point, "dist", None)
        dist_name = _distribution_name(dist) if dist is not None else None
        record = PluginRecord(
            name=entry_point.name,
            distribution=dist_name,
            version=_version_of(dist) if dist is not None else None,
            module=entry_point.value,
        )
        records.append(record)
        if _filtered_out(record, disabled, allowed):
            continue
        if _built_for_another_core(record, dist):
            continue
        try:
            record.plugin_object = entry_point.load()
        except PLUGIN_FAULTS:  # SystemExit too: a plugin must not end the process by being imported
            record.fail("import-error", traceback.format_exc(limit=6).rstrip())
    return records


def _built_for_another_core(record: PluginRecord, dist: Any) -> bool:
    """Fail a plugin whose ``Requires-Dist: roicore`` excludes the running core (before importing it)."""
    if dist is None:
        return False
    from roicore import __version__
    from roicore.registry.compatibility import core_requirement_problem

    # the folder-derived name has underscores; pip names it with hyphens (the same project to pip)
    problem = core_requirement_problem(dist, __version__, (record.distribution or record.name).replace("_", "-"))
    if problem is not None:
        record.fail("incompatible-core", problem)
    return problem is not None


def _collect_contributions(manager: Any, record: PluginRecord) -> None:
    for type_, (hook_name, spec_type) in _HOOKS.items():
        hook = getattr(manager.hook, hook_name)
        impls = [impl for impl in hook.get_hookimpls() if impl.plugin_name == record.name]
        for impl in impls:
            try:
                result = _materialize(impl.function())
            except PLUGIN_FAULTS:
                record.fail("hook-error", f"{hook_name}() raised:\n{traceback.format_exc(limit=6).rstrip()}")
                continue
            try:
                specs = as_spec_list(result, spec_type, hook_name)
            except Exception as exc:
                record.fail("invalid-spec", str(exc))
                continue
            own_ids = {c.spec.id for c in record.contributions if c.type == type_}
            for spec in specs:
                if spec.id in own_ids:
                    record.fail("invalid-spec", f"{hook_name}() returned the {type_} id {spec.id!r} twice")
                    continue
                own_ids.add(spec.id)
                record.contributions.append(Contribution(record.name, record.version, type_, spec))


def _materialize(result: Any) -> Any:
    """A hook's result with any lazy iterable (a generator) run now, inside the plugin's fault isolation."""
    if result is None or isinstance(result, (list, tuple, str, bytes)) or not isinstance(result, Iterable):
        return result
    return list(result)


def _mark_conflicts(records: list[PluginRecord]) -> None:
    owners: dict[tuple[str, str], list[PluginRecord]] = {}
    for record in records:
        for contribution in record.contributions:
            owners.setdefault((contribution.type, contribution.id), []).append(record)
    for (type_, id_), holders in owners.items():
        if len(holders) < 2:
            continue
        names = sorted(holder.name for holder in holders)
        for holder in holders:
            others = ", ".join(n for n in names if n != holder.name)
            message = (
                f"{type_} id {id_!r} is also registered by {others}; it is left out of auto-detection "
                f"and plain-id look-up, use the qualified id '{holder.name}:{id_}'"
            )
            holder.contributions = [
                Contribution(c.plugin, c.version, c.type, c.spec, "conflict", message)
                if (c.type, c.id) == (type_, id_)
                else c
                for c in holder.contributions
            ]
            holder.errors.append(message)
            # not a warning: it would print on every first use of roicore, wanted or not; the conflict shows
            # in `roicore plugins`, in the error of a plain-id look-up, and in the hints of a file it would read
            logger.debug("plugin %s: %s", holder.name, message)


# -- the process-wide registry ------------------------------------------------------------------
_lock = threading.RLock()
_current: Registry | None = None
_in_process: list[tuple[str, Any]] = []
_isolated_stack: list[Registry] = []


def get_registry() -> Registry:
    """The registry in force: the innermost :func:`isolated` one, else the process-wide one."""
    global _current
    with _lock:
        if _isolated_stack:
            return _isolated_stack[-1]
        if _current is None:
            _current = Registry.build(extra=list(_in_process))
        return _current


def refresh() -> Registry:
    """Forget the memoized registry and build it again (after installing a plugin in a live session)."""
    global _current
    with _lock:
        _current = None
        return get_registry()


def _plugin_name(obj: Any, name: str | None) -> str:
    if name is not None:
        return name
    return getattr(obj, "__name__", None) or type(obj).__name__


def register(obj: Any, name: str | None = None) -> str:
    """Register an in-process plugin (lab code, a notebook) and rebuild the registry.

    Parameters
    ----------
    obj : module, class or instance
        Holds functions marked with :data:`roicore.hookimpl`.
    name : str, optional
        The plugin name; defaults to the object's ``__name__``.

    Returns
    -------
    str
        The name the plugin is registered under.

    Raises
    ------
    ValueError
        A plugin of that name is already registered in-process.
    """
    plugin_name = _plugin_name(obj, name)
    with _lock:
        if any(existing == plugin_name for existing, _ in _in_process):
            raise ValueError(f"a plugin named {plugin_name!r} is already registered; unregister it first")
        _in_process.append((plugin_name, obj))
        refresh()
    return plugin_name


def unregister(obj_or_name: Any) -> None:
    """Remove an in-process plugin registered with :func:`register` (by object or name).

    Raises
    ------
    KeyError
        Nothing of that name or identity is registered.
    """
    with _lock:
        for index, (name, obj) in enumerate(_in_process):
            if obj is obj_or_name or name == obj_or_name:
                del _in_process[index]
                refresh()
                return
    raise KeyError(f"no in-process plugin {obj_or_name!r} is registered")


@contextlib.contextmanager
def isolated(*plugins: Any, entry_points: bool = False, names: Iterable[str] | None = None) -> Iterator[Registry]:
    """A scoped registry holding only the given plugins (for tests and libraries).

    Parameters
    ----------
    *plugins : module, class or instance
        In-process plugins to register in the scoped registry.
    entry_points : bool
        Also discover installed entry-point plugins.
    names : iterable of str, optional
        Plugin names, one per plugin (default: each object's ``__name__``).

    Examples
    --------
    >>> with roicore.registry.isolated(my_plugin_module):   # doctest: +SKIP
    ...     roicore.open("file.myf")
    """
    name_list = list(names) if names is not None else [None] * len(plugins)
    if len(name_list) != len(plugins):
        raise ValueError("give one name per plugin")
    extra = [(_plugin_name(obj, name), obj) for obj, name in zip(plugins, name_list)]
    registry = Registry.build(entry_points=entry_points, extra=extra)
    with _lock:
        _isolated_stack.append(registry)
    try:
        yield registry
    finally:
        with _lock:
            _isolated_stack.remove(registry)


# -- public listing functions (re-exported as roicore.readers() etc.) ------------------------------
def readers(kind: str | None = None) -> list[Contribution]:
    """Every reader in the registry, conflicting ones included, optionally of one ``kind``."""
    items = get_registry().contributions("reader")
    return [c for c in items if kind is None or c.spec.kind == kind]


def writers(kind: str | None = None) -> list[Contribution]:
    """Every writer in the registry, optionally of one ``kind``."""
    items = get_registry().contributions("writer")
    return [c for c in items if kind is None or c.spec.kind == kind]


def methods() -> list[Contribution]:
    """Every signal-extraction method in the registry."""
    return get_registry().contributions("method")


def plugins() -> list[PluginRecord]:
    """Every plugin found, with its status, version, errors and contributions."""
    return sorted(get_registry().records.values(), key=lambda record: record.name)


def resolve_reader(name: str) -> Contribution:
    """Look a reader up by id, refreshing the registry once if it is unknown (a plugin installed live)."""
    try:
        return get_registry().lookup("reader", name)
    except KeyError:
        if not _isolated_stack:
            refresh()
        try:
            return get_registry().lookup("reader", name)
        except KeyError as exc:
            raise NoReaderFoundError(f"unknown reader {name!r}: {exc.args[0]}") from None
