"""Build conformance cases for plugins and run them, with dependencies and expected failures.

One :class:`Session` holds what cases share: the registry, a scratch folder
with every plugin's generated samples, the opened extractors (closed at the
end) and the results. Both front ends use it: ``roicore check`` runs every
case in order; the pytest plugin runs one case per test item, and a case's
dependencies run on demand (memoized), so ``-k`` and ``--deselect`` work.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from roicore.testing.audit import kit_unpickling, record_unpickling
from roicore.testing.checks import COMPONENTS, Check, CheckFailed, NotApplicable, all_checks, select_checks

__all__ = ["STATUSES", "Case", "CaseResult", "Session", "find_conformance_config"]

STATUSES = ("passed", "failed", "xfail", "xpass", "n/a", "blocked", "not-run", "error")
EXECUTED = ("passed", "failed", "xfail", "xpass")
BAD = ("failed", "xpass", "error")


@dataclass
class CaseResult:
    """The outcome of one case; one JSON record of ``roicore check --json``."""

    plugin: str
    check: str
    component: str
    target: str
    sample: str
    status: str
    message: str = ""
    duration: float = 0.0

    @property
    def case_id(self) -> str:
        parts = [self.target or self.plugin, self.sample] if self.sample else [self.target or self.plugin]
        return f"{'/'.join(p for p in parts if p)}::{self.check}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "check": self.check,
            "component": self.component,
            "target": self.target,
            "sample": self.sample,
            "status": self.status,
            "message": self.message,
            "duration": round(self.duration, 4),
        }


@dataclass
class SampleSet:
    """The samples of one contribution, or why there are none."""

    samples: list[Any] = field(default_factory=list)
    error: str = ""
    declared: bool = True


class Case:
    """One check applied to one subject; what a check function receives.

    Attributes
    ----------
    check : Check
    session : Session
    plugin : PluginRecord
    contribution : Contribution or None
        The reader, writer or method under test.
    sample : Sample, WriterSample, MethodSample or None
    """

    def __init__(self, check: Check, session: Session, plugin: Any, contribution: Any = None, sample: Any = None) -> None:
        self.check = check
        self.session = session
        self.plugin = plugin
        self.contribution = contribution
        self.sample = sample

    # -- identity ------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return self.contribution.qualified_id if self.contribution is not None else ""

    @property
    def sample_id(self) -> str:
        return getattr(self.sample, "id", "") if self.sample is not None else ""

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.check.id, self.plugin.name, self.target, self.sample_id)

    @property
    def case_id(self) -> str:
        return CaseResult(self.plugin.name, self.check.id, "", self.target, self.sample_id, "").case_id

    # -- what checks use ---------------------------------------------------------------------
    @property
    def spec(self) -> Any:
        return self.contribution.spec

    @property
    def truth(self) -> Any:
        return self.sample.truth

    @property
    def capabilities(self) -> frozenset[str]:
        return self.spec.capabilities if self.contribution is not None else frozenset()

    def open(self, path: Path | None = None, **extra: Any) -> Any:
        """Open the sample with the reader callable itself (not roicore.open, whose safety net would hide errors).

        The extractor is closed when the session ends.
        """
        reader = self.spec.load_reader()
        kwargs = {**self.sample.reader_kwargs, **extra}
        extractor = reader(self.sample.path if path is None else path, **kwargs)
        self.session.track(extractor)
        return extractor

    @property
    def extractor(self) -> Any:
        """A shared, already opened extractor of this case's sample (do not close it)."""
        key = (self.target, self.sample_id)
        if key not in self.session.opened:
            self.session.opened[key] = self.open()
        return self.session.opened[key]

    def scratch(self, name: str = "") -> Path:
        """A fresh empty folder for this case."""
        return self.session.scratch(f"{self.check.id}-{self.sample_id or 'plugin'}-{name}")

    def given(self, test: Callable[..., None], *strategies: Any) -> None:
        """Run ``test`` under hypothesis with the session's deterministic settings."""
        from hypothesis import HealthCheck, given, settings

        wrapped = settings(
            max_examples=self.session.max_examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )(given(*strategies)(test))
        wrapped()

    def fail(self, message: str) -> None:
        raise CheckFailed(message)


def _find_pyproject(start: Path, distribution: str | None) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            if distribution is None:
                return candidate
            try:
                data = _load_toml(candidate)
            except Exception:
                continue
            name = data.get("project", {}).get("name", "")
            if _normalize(name) == _normalize(distribution):
                return candidate
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with path.open("rb") as handle:
        return tomllib.load(handle)


def find_conformance_config(record: Any) -> tuple[Path | None, dict[str, Any]]:
    """Locate a plugin's ``pyproject.toml`` and return its ``[tool.roicore.conformance]`` table.

    The pyproject is looked for above the entry module's file (source trees and
    editable installs), then above the working directory.
    """
    starts = []
    module_name = (record.module or "").partition(":")[0]
    if module_name:
        import importlib.util

        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.origin:
            starts.append(Path(spec.origin).resolve().parent)
    starts.append(Path.cwd())
    for start in starts:
        path = _find_pyproject(start, record.distribution)
        if path is not None:
            table = _load_toml(path).get("tool", {}).get("roicore", {}).get("conformance", {})
            return path, table
    return None, {}


class Session:
    """Everything a conformance run shares.

    Parameters
    ----------
    plugins : list of str, optional
        Plugin names to check (default: every plugin found).
    select, deselect : list of str, optional
        Check-id globs.
    max_examples : int
        Hypothesis examples per property check.
    registry : Registry, optional
        Defaults to the registry in force.
    """

    def __init__(
        self,
        plugins: Iterable[str] | None = None,
        *,
        select: list[str] | None = None,
        deselect: list[str] | None = None,
        max_examples: int = 25,
        registry: Any = None,
    ) -> None:
        from roicore.registry.discovery import get_registry

        self.registry = registry if registry is not None else get_registry()
        self.max_examples = max_examples
        names = list(plugins) if plugins is not None else sorted(self.registry.records)
        unknown = [name for name in names if name not in self.registry.records]
        if unknown:
            known = ", ".join(sorted(self.registry.records)) or "none"
            raise KeyError(f"no plugin named {', '.join(map(repr, unknown))}; installed plugins: {known}")
        self.plugin_names = names
        self.checks = select_checks(select, deselect)
        self.workdir = Path(tempfile.mkdtemp(prefix="roicore-check-"))
        self.results: dict[tuple[str, str, str, str], CaseResult] = {}
        self.opened: dict[tuple[str, str], Any] = {}
        self._tracked: list[Any] = []
        self._samples: dict[str, SampleSet] = {}
        self._counter = 0
        self.config_errors: list[str] = []
        self.unpickled: dict[str, list[str]] = {}  # case id -> globals unpickled while it ran (fails the run)
        self.expected_failures: dict[str, dict[str, str]] = {}
        for name in names:
            self.expected_failures[name] = self._read_expected_failures(self.registry.records[name])

    # -- configuration --------------------------------------------------------------------------
    def _read_expected_failures(self, record: Any) -> dict[str, str]:
        try:
            path, table = find_conformance_config(record)
        except Exception as exc:
            self.config_errors.append(f"{record.name}: cannot read its pyproject.toml: {exc}")
            return {}
        entries = table.get("expected-failures", {})
        if not isinstance(entries, dict):
            self.config_errors.append(f"{record.name}: [tool.roicore.conformance.expected-failures] must be a table")
            return {}
        known = [c.id for c in all_checks()]
        valid = {}
        for pattern, reason in entries.items():
            check_pattern = pattern.partition("[")[0]
            if not isinstance(reason, str) or not reason.strip():
                self.config_errors.append(f"{record.name} ({path}): expected failure {pattern!r} needs a reason")
            elif not any(fnmatch(check_id, check_pattern) for check_id in known):
                self.config_errors.append(f"{record.name} ({path}): expected failure {pattern!r} matches no check id")
            else:
                valid[pattern] = reason
        return valid

    def _expected_failure(self, case: Case) -> str | None:
        for pattern, reason in self.expected_failures.get(case.plugin.name, {}).items():
            check_pattern, _, rest = pattern.partition("[")
            sample_pattern = rest.rstrip("]") if rest else "*"
            if fnmatch(case.check.id, check_pattern) and fnmatch(case.sample_id or "", sample_pattern):
                return reason
        return None

    # -- resources ------------------------------------------------------------------------------
    def scratch(self, name: str) -> Path:
        self._counter += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]
        folder = self.workdir / "scratch" / f"{self._counter:05d}-{safe}"
        folder.mkdir(parents=True)
        return folder

    def track(self, extractor: Any) -> None:
        self._tracked.append(extractor)

    def close(self) -> None:
        """Close every extractor opened by the run and delete the scratch folder."""
        for extractor in self._tracked:
            try:
                extractor.close()
            except Exception:
                pass
        self._tracked.clear()
        self.opened.clear()
        parallel = sys.modules.get("roicore.testing.parallel")
        if parallel is not None:  # only when a spawn check started a worker
            parallel.shutdown()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- samples ---------------------------------------------------------------------------------
    def samples_of(self, contribution: Any) -> SampleSet:
        """Generate (once) and return the samples a contribution's spec names."""
        key = f"{contribution.type}:{contribution.qualified_id}"
        if key not in self._samples:
            self._samples[key] = self._generate(contribution)
        return self._samples[key]

    def _generate(self, contribution: Any) -> SampleSet:
        from roicore.registry.specs import load_object

        reference = contribution.spec.samples
        if reference is None:
            return SampleSet(declared=False, error=f"{contribution.qualified_id} names no sample generator")
        folder = self.workdir / "samples" / re.sub(r"[^A-Za-z0-9_.-]+", "_", contribution.qualified_id)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            # generation is fixture code, not the reader under test: a check that asks for another
            # plugin's samples must not be blamed for what that generator's libraries unpickle
            # (pynwb loads its pickled type map cache when first imported)
            with kit_unpickling():
                samples = list(load_object(reference)(folder))
        except Exception:
            return SampleSet(error=f"sample generator {reference} raised:\n{traceback.format_exc(limit=4)}")
        if not samples:
            return SampleSet(error=f"sample generator {reference} returned no sample")
        ids = [getattr(s, "id", None) for s in samples]
        if len(set(ids)) != len(ids):
            return SampleSet(error=f"sample generator {reference} returned duplicate sample ids {ids}")
        return SampleSet(samples)

    def foreign_reader_samples(self, contribution: Any) -> list[tuple[str, Any]]:
        """Samples of every other reader in the registry, as (qualified id, sample)."""
        found = []
        for other in self.registry.contributions("reader"):
            if other.qualified_id == contribution.qualified_id:
                continue
            record = self.registry.records[other.plugin]
            if not record.ok and record.status not in ("hook-error", "invalid-spec"):
                continue
            for sample in self.samples_of(other).samples:
                found.append((other.qualified_id, sample))
        return found

    # -- cases -------------------------------------------------------------------------------------
    def _subjects(self, check: Check, record: Any) -> list[tuple[Any, Any]]:
        if check.subject == "plugin":
            return [(None, None)]
        contributions = record.contributions
        if check.subject in ("reader", "reader-sample"):
            items = [c for c in contributions if c.type == "reader" and c.spec.kind in check.kinds]
        elif check.subject == "writer-sample":
            items = [c for c in contributions if c.type == "writer" and c.spec.kind in check.kinds]
        else:
            items = [c for c in contributions if c.type == "method"]
        if check.subject == "reader":
            return [(c, None) for c in items if check.applies_to(c, None)]
        subjects = []
        for contribution in items:
            sample_set = self.samples_of(contribution)
            if sample_set.samples:
                subjects.extend((contribution, s) for s in sample_set.samples if check.applies_to(contribution, s))
            else:
                subjects.append((contribution, _MissingSample(sample_set.error)))
        return subjects

    def cases(self, checks: list[Check] | None = None) -> list[Case]:
        """Every case of the selected plugins and checks, dependencies first."""
        found = []
        for check in checks if checks is not None else self.checks:
            for name in self.plugin_names:
                record = self.registry.records[name]
                if record.status in ("disabled", "not-allowed"):
                    continue
                for contribution, sample in self._subjects(check, record):
                    found.append(Case(check, self, record, contribution, sample))
        return found

    def _dependency_case(self, case: Case, dependency_id: str) -> Case | None:
        from roicore.testing.checks import get_check

        dependency = get_check(dependency_id)
        contribution = case.contribution if dependency.subject != "plugin" else None
        sample = case.sample if dependency.subject.endswith("sample") else None
        if dependency.subject != "plugin" and contribution is None:
            return None
        if dependency.subject.startswith("reader") and contribution.spec.kind not in dependency.kinds:
            return None  # e.g. a segmentation-only dependency of an io check on an imaging reader
        return Case(dependency, self, case.plugin, contribution, sample)

    def run_case(self, case: Case) -> CaseResult:
        """Run one case (its dependencies first, memoized) and record its result."""
        if case.key in self.results:
            return self.results[case.key]
        started = time.perf_counter()
        status, message = self._execute(case)
        result = CaseResult(
            case.plugin.name, case.check.id, case.check.component, case.target, case.sample_id, status, message,
            time.perf_counter() - started,
        )
        self.results[case.key] = result
        return result

    def _execute(self, case: Case) -> tuple[str, str]:
        if isinstance(case.sample, _MissingSample):
            reason = case.sample.reason
            return ("not-run", reason) if "names no sample" in reason else ("error", reason)
        for dependency_id in case.check.depends_on:
            dependency = self._dependency_case(case, dependency_id)
            if dependency is None:
                continue
            outcome = self.run_case(dependency)
            if outcome.status == "n/a":
                return "n/a", f"{dependency_id} is n/a: {outcome.message}"
            if outcome.status not in ("passed", "xpass"):
                return "blocked", f"blocked by {dependency_id} ({outcome.status})"
        missing = sorted(case.check.requires - case.capabilities)
        if missing:
            return "n/a", f"capability {', '.join(missing)} not declared"
        expected = self._expected_failure(case)
        try:
            with record_unpickling() as unpickled:
                try:
                    case.check.function(case)
                finally:
                    if unpickled:
                        self.unpickled[case.case_id] = sorted(set(unpickled))
        except NotApplicable as exc:
            return "n/a", str(exc)
        except Exception as exc:
            message = _failure_message(exc)
            if expected is not None:
                return "xfail", f"expected failure ({expected}): {message}"
            return "failed", message
        if expected is not None:
            return "xpass", f"passed but is listed as an expected failure ({expected})"
        return "passed", ""

    def run(self, progress: Callable[[CaseResult], None] | None = None) -> list[CaseResult]:
        """Run every selected case; returns their results in run order."""
        results = []
        for case in self.cases():
            result = self.run_case(case)
            results.append(result)
            if progress is not None:
                progress(result)
        return results

    # -- verdict -----------------------------------------------------------------------------------
    def applicable_components(self, name: str) -> list[str]:
        """Components that must have executed checks for plugin ``name``."""
        record = self.registry.records[name]
        components = {"registry"}
        for contribution in record.contributions:
            if contribution.type == "reader":
                components |= {"detect", "io", contribution.spec.kind}
            elif contribution.type == "writer":
                components.add("writer")
            else:
                components.add("method")
        selected = {check.component for check in self.checks}
        return [c for c in COMPONENTS if c in components and c in selected]

    def problems(self, results: list[CaseResult]) -> list[str]:
        """Why the run fails: bad statuses, config errors, components with zero executed checks."""
        problems = list(self.config_errors)
        for case_id, names in self.unpickled.items():
            problems.append(f"{case_id}: unpickled {', '.join(names[:5])} while the check ran (unpickling file data is forbidden)")
        bad = [r for r in results if r.status in BAD]
        if bad:
            problems.append(f"{len(bad)} case(s) failed, errored or passed unexpectedly")
        for name in self.plugin_names:
            record = self.registry.records[name]
            if record.status in ("disabled", "not-allowed"):
                problems.append(f"plugin {name} is {record.status}; nothing was checked")
                continue
            for component in self.applicable_components(name):
                executed = [r for r in results if r.plugin == name and r.component == component and r.status in EXECUTED]
                if not executed:
                    problems.append(f"plugin {name}: component {component!r} executed no check")
        return problems


@dataclass
class _MissingSample:
    reason: str
    id: str = "<no sample>"


def _failure_message(exc: BaseException) -> str:
    if isinstance(exc, CheckFailed):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
        frames = traceback.extract_tb(exc.__traceback__)
        if frames:
            last = frames[-1]
            text += f" (at {os.path.basename(last.filename)}:{last.lineno} in {last.name})"
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += "\n" + "\n".join(str(n) for n in notes)
    return text
