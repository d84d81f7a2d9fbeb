"""Registry checks: the plugin loads, its entry module is light, its specs resolve."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types

from roicore.registry.specs import load_object
from roicore.testing.checks import check
from roicore.testing.compare import expect

HEAVY_MODULES = (
    "h5py", "scipy", "tifffile", "dask", "distributed", "matplotlib", "pandas", "torch", "tensorflow",
    "zarr", "numba", "cv2", "skimage", "sklearn", "hypothesis", "pytest",
)


@check("registry.plugin.loads", component="registry", subject="plugin")
def plugin_loads(case):
    """The entry module imports, every hook returns valid specs, and nothing is registered twice."""
    record = case.plugin
    expect(record.status == "active", f"plugin {record.name} is {record.status}: " + "\n".join(record.errors))


@check("registry.entry_module.light", component="registry", subject="plugin", depends_on=("registry.plugin.loads",))
def entry_module_light(case):
    """Importing the entry module (in a fresh interpreter) imports no heavy module."""
    module = (case.plugin.module or "").partition(":")[0]
    if case.plugin.origin != "entry-point":
        plugin = case.plugin.plugin_object
        module = plugin.__name__ if isinstance(plugin, types.ModuleType) else type(plugin).__module__
    expect(bool(module) and module in sys.modules, f"cannot tell the entry module of {case.plugin.name}")
    code = (
        "import importlib, json, sys; importlib.import_module(sys.argv[1]); "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[2:])))"
    )
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-c", code, module, *HEAVY_MODULES], capture_output=True, text=True, timeout=120, env=environment
    )
    expect(done.returncode == 0, f"importing {module} in a fresh interpreter failed:\n{done.stderr[-2000:]}")
    heavy = sorted({name.split(".")[0] for name in json.loads(done.stdout.strip().splitlines()[-1])})
    expect(not heavy, f"importing the entry module {module} imports heavy modules {heavy}; import them where used")


@check("registry.specs.resolve", component="registry", subject="plugin", depends_on=("registry.plugin.loads",))
def specs_resolve(case):
    """Every lazy reference of every spec (reader, sniff, writer, method, samples) imports and is callable."""
    problems = []
    for contribution in case.plugin.contributions:
        spec = contribution.spec
        for field_name in ("reader", "sniff", "writer", "method", "samples"):
            reference = getattr(spec, field_name, None)
            if reference is None or field_name == "reader" and contribution.type == "writer":
                continue
            try:
                target = load_object(reference)
            except Exception as exc:
                problems.append(f"{contribution.qualified_id}.{field_name} = {reference!r}: {type(exc).__name__}: {exc}")
                continue
            if not callable(target):
                problems.append(f"{contribution.qualified_id}.{field_name} = {reference!r} is not callable")
    expect(not problems, "unresolvable references:\n" + "\n".join(problems))


@check("registry.ids.unique", component="registry", subject="plugin", depends_on=("registry.plugin.loads",))
def ids_unique(case):
    """No reader, writer or method id of the plugin is registered by another plugin too."""
    conflicts = [c for c in case.plugin.contributions if c.status == "conflict"]
    expect(not conflicts, "; ".join(c.error for c in conflicts))


@check("registry.samples.declared", component="registry", subject="plugin", depends_on=("registry.plugin.loads",))
def samples_declared(case):
    """Every reader, writer and method names a sample generator that returns at least one sample."""
    problems = []
    for contribution in case.plugin.contributions:
        sample_set = case.session.samples_of(contribution)
        if sample_set.error:
            problems.append(f"{contribution.qualified_id}: {sample_set.error}")
    expect(not problems, "\n".join(problems))
