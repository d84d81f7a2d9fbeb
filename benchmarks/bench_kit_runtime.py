#!/usr/bin/env python
"""How long ``roicore check --all`` takes: this tree against an earlier commit, side by side.

What it does
------------
1. Exports ``roicore/`` and ``plugins/`` of ``--base`` (a git ref, default ``HEAD~1``) with
   ``git archive`` into a temporary folder.
2. Runs ``python -m roicore check --all`` ``--repeat`` times for each tree, alternating
   which goes first in each round: the base tree by putting it first on ``PYTHONPATH``
   (the installed plugins' entry points name the same modules), this tree as installed.
   Each run is checked to have imported the tree it claims and to have passed.
3. Prints, per tree, the number of cases, the median wall and CPU time (user + system of the
   child), and the ratios this tree / base.

The machine may be shared: the medians of alternated runs are what to compare, not one run.
Run: ``python benchmarks/bench_kit_runtime.py [--base REF] [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ("memmap", "caiman", "sima")
CWD = tempfile.gettempdir()  # not the repository: its roicore/ would shadow the base tree's


def export(ref: str, folder: Path) -> Path:
    """Unpack ``roicore/`` and ``plugins/`` of ``ref`` into ``folder``."""
    archive = folder / "base.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "-C", str(ROOT), "archive", ref, "roicore", "plugins"], stdout=handle, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder / "tree", filter="data")
    return folder / "tree"


def environment(tree: Path | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    if tree is not None:
        paths = [str(tree), *(str(tree / "plugins" / name) for name in PLUGINS)]
        env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def imported_from(env: dict[str, str]) -> list[str]:
    code = "import roicore, roicore_memmap, roicore_caiman; print(roicore.__file__); print(roicore_memmap.__file__); print(roicore_caiman.__file__)"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=CWD)
    return done.stdout.split()


def run_once(env: dict[str, str]) -> tuple[float, float, int]:
    """(wall seconds, child CPU seconds, cases) of one ``roicore check --all``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "roicore", "check", "--all"], env=env, capture_output=True, text=True, cwd=CWD)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0 or "roicore check passed" not in done.stdout:
        raise SystemExit(f"roicore check --all failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    cases = int(re.search(r"roicore check passed: (\d+) cases", done.stdout).group(1))  # type: ignore[union-attr]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="HEAD~1", help="git ref to compare with (default HEAD~1)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per tree (default 5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roicore-bench-kit-") as scratch:
        base_tree = export(args.base, Path(scratch))
        trees = {"base": environment(base_tree), "this tree": environment(None)}
        origins = {name: imported_from(env) for name, env in trees.items()}
        if not all(path.startswith(str(base_tree)) for path in origins["base"]):
            raise SystemExit(f"the base run did not import the exported tree: {origins['base']}")
        if any(path.startswith(str(base_tree)) for path in origins["this tree"]):
            raise SystemExit("the run of this tree imported the exported base tree")
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in trees}
        for round_index in range(args.repeat):
            order = list(trees) if round_index % 2 == 0 else list(trees)[::-1]
            for name in order:
                results[name].append(run_once(trees[name]))
                print(f"round {round_index + 1}: {name:<9} wall {results[name][-1][0]:6.2f} s", flush=True)
    print(f"\nroicore check --all, {args.repeat} alternated runs per tree (base = {args.base}); medians:")
    print(f"{'tree':<10} {'cases':>6} {'wall s':>8} {'cpu s':>8}")
    medians = {}
    for name, runs in results.items():
        wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        medians[name] = (wall, cpu)
        print(f"{name:<10} {runs[0][2]:>6} {wall:>8.2f} {cpu:>8.2f}")
    (base_wall, base_cpu), (wall, cpu) = medians["base"], medians["this tree"]
    print(f"ratio this tree / base: wall {wall / base_wall:.2f}x, cpu {cpu / base_cpu:.2f}x")


if __name__ == "__main__":
    main()
