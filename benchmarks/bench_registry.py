"""Start-up: ``import roicore``, the registry build, the first ``roicore.open()``, ``roicore info``.

Each measurement runs in a fresh interpreter (so nothing is cached in the
process), the candidates of a comparison alternate, and the median (with the
range) is printed. Synthetic plugins are real distributions (dist-info with an
entry point) in a temporary folder on PYTHONPATH; the allow-list keeps the
measurement to them alone. Printed:

* with 1 and 100 plugins: ``import roicore``, the registry build, then open;
* the registry build with 0, 100 and 300 *unrelated* distributions (dist-info
  folders with a METADATA of typical size, ~10 KB, and a console-script entry
  point, no roicore plugin)
  beside the installed ones. Goal: it grows by <= 10 ms per 100;
* ``roicore info`` on a small ``.npy`` (with its sidecar) as a whole process,
  against ``python -c "import numpy"``. Goal: <= 2x.

Child processes write and reuse bytecode (in a temporary ``PYTHONPYCACHEPREFIX``,
even where ``PYTHONDONTWRITEBYTECODE`` is set), and each command runs once
untimed first: an installed package has its ``.pyc`` files, and compiling
roicore's sources in every process would be measured otherwise.

Run: ``python benchmarks/bench_registry.py [--quick]``
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPEATS = 9

ENTRY = '''
import roicore
from roicore.registry.specs import ReaderSpec

@roicore.hookimpl
def roicore_readers():
    return [ReaderSpec(id="{rid}", kind="imaging", reader="{package}_reader:Reader", sniff="{package}_reader:sniff",
                       suffixes=(".{suffix}",), magic=(b"{magic}",))]
'''

READER = '''
import numpy as np
from roicore.imaging import ImagingExtractor
from roicore.registry.specs import Support

def sniff(path, header):
    return Support.yes("magic") if header.startswith(b"{magic}") else Support.no("no magic")

class Reader(ImagingExtractor):
    def __init__(self, path):
        self.path = path
    def get_image_shape(self):
        return (4, 4)
    def get_num_samples(self):
        return 1
    def get_sampling_frequency(self):
        return 1.0
    def get_dtype(self):
        return np.dtype("uint8")
    def _read_series(self, start, end):
        return np.zeros((end - start, 4, 4), "uint8")
'''

MEASURE = '''
import json, sys, time
t0 = time.perf_counter()
import roicore
t1 = time.perf_counter()
import numpy  # every plugin needs it; timed apart so the registry's own cost shows
t2 = time.perf_counter()
roicore.plugins()
t3 = time.perf_counter()
roicore.open(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "registry": t3 - t2, "open": t4 - t3, "first_open": t4 - t2,
                  "plugins": len(roicore.plugins())}))
'''


def make_site(folder: Path, count: int) -> list[str]:
    names = []
    for index in range(count):
        name = f"bench-plugin-{index:03d}"
        package = name.replace("-", "_")
        info = folder / f"{package}-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[roicore.plugins]\n{name} = {package}_plugin\n")
        magic = f"B{index:03d}"
        (folder / f"{package}_plugin.py").write_text(
            textwrap.dedent(ENTRY).format(rid=f"bench-{index:03d}", package=package, suffix=f"b{index:03d}", magic=magic)
        )
        (folder / f"{package}_reader.py").write_text(textwrap.dedent(READER).format(magic=magic))
        names.append(name)
    (folder / "movie.b000").write_bytes(b"B000" + bytes(16))
    return names


PYCACHE = tempfile.mkdtemp(prefix="roicore-bench-pycache-")


def child_environment(**extra: str) -> dict[str, str]:
    """The environment of a measured process: no ROICORE_ settings, bytecode written and reused."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment["PYTHONPYCACHEPREFIX"] = PYCACHE
    environment.update(extra)
    return environment


def run(folder: Path, names: list[str]) -> dict[str, float]:
    environment = child_environment(PYTHONPATH=str(folder), ROICORE_PLUGINS=",".join(names))
    samples = []
    for repeat in range(REPEATS + 1):  # the first run writes the bytecode of the synthetic plugins
        done = subprocess.run([sys.executable, "-c", MEASURE, str(folder / "movie.b000")], capture_output=True,
                              text=True, env=environment, check=True)
        if repeat:
            samples.append(json.loads(done.stdout))
    return {key: statistics.median(s[key] for s in samples) for key in ("import", "registry", "open", "first_open", "plugins")}


def baseline() -> float:
    times = []
    for _ in range(REPEATS):
        done = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import numpy; "
                               "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True,
                              env=child_environment())
        times.append(float(done.stdout))
    return statistics.median(times)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:7.1f} ms [{min(values) * 1e3:.1f}-{max(values) * 1e3:.1f}]"


REGISTRY_ONLY = "import time, roicore; t = time.perf_counter(); roicore.plugins(); print(time.perf_counter() - t)"


def make_unrelated(folder: Path, count: int) -> None:
    for index in range(count):
        info = folder / f"unrelated_package_{index:03d}-1.{index}.dist-info"
        info.mkdir(parents=True)
        # a METADATA of typical size: headers, then a long description (installed packages carry their README)
        headers = "".join(f"Requires-Dist: dependency-{k} >=1.0\nClassifier: Topic :: Number {k}\n" for k in range(20))
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: unrelated-package-{index:03d}\nVersion: 1.{index}\nSummary: x\n"
            + headers + "\n" + "A line of the package's README, as installed packages carry it.\n" * 150
        )
        (info / "entry_points.txt").write_text(f"[console_scripts]\nunrelated-{index:03d} = os:getcwd\n")
        (info / "RECORD").write_text("")


def unrelated_growth(repeats: int) -> float:
    """Registry build with 0, 100, 300 unrelated distributions on the path (alternated); ms per 100."""
    counts = (0, 100, 300)
    with tempfile.TemporaryDirectory(prefix="roicore-bench-") as temporary:
        sites = {}
        for count in counts:
            site = Path(temporary) / f"site{count}"
            site.mkdir()
            make_unrelated(site, count)
            sites[count] = site
        times: dict[int, list[float]] = {count: [] for count in counts}
        for repeat in range(repeats + 1):  # the first round only writes bytecode
            for count in counts:
                done = subprocess.run([sys.executable, "-c", REGISTRY_ONLY], capture_output=True, text=True,
                                      env=child_environment(PYTHONPATH=str(sites[count])), check=True)
                if repeat:
                    times[count].append(float(done.stdout))
    print("registry build (every installed plugin) with unrelated distributions added, fresh processes:")
    for count in counts:
        print(f"  +{count:3d} unrelated: {spread(times[count])}")
    per_100 = (statistics.median(times[300]) - statistics.median(times[0])) / 3
    print(f"  growth per 100 unrelated distributions: {per_100 * 1e3:.1f} ms; goal <= 10 ms: "
          f"{'met' if per_100 <= 0.010 else 'MISSED'}")
    return per_100


def info_versus_numpy(repeats: int) -> float:
    """``roicore info`` on a .npy as a whole process against ``python -c 'import numpy'`` (alternated)."""
    import numpy as np

    import roicore
    from roicore.memory import NumpyImagingExtractor

    roicore_cli = [sys.executable, "-c", "import sys; from roicore.cli import main; sys.exit(main())"]
    with tempfile.TemporaryDirectory(prefix="roicore-bench-") as temporary:
        path = Path(temporary) / "video.npy"
        roicore.write(NumpyImagingExtractor(np.zeros((10, 32, 32), np.uint16), 30.0), path)
        candidates = {
            "python -c 'import numpy'": [sys.executable, "-c", "import numpy"],
            "roicore info video.npy": [*roicore_cli, "info", str(path)],
        }
        times: dict[str, list[float]] = {name: [] for name in candidates}
        for repeat in range(repeats + 1):  # the first round only writes bytecode
            for name, command in candidates.items():
                started = time.perf_counter()
                subprocess.run(command, capture_output=True, check=True, env=child_environment())
                if repeat:
                    times[name].append(time.perf_counter() - started)
    print("whole processes (interpreter start-up included):")
    for name, values in times.items():
        print(f"  {name:28s} {spread(values)}")
    ratio = statistics.median(times["roicore info video.npy"]) / statistics.median(times["python -c 'import numpy'"])
    print(f"  roicore info / import numpy: {ratio:.2f}x; goal <= 2x: {'met' if ratio <= 2 else 'MISSED'}")
    return ratio


def main() -> None:
    global REPEATS
    if "--quick" in sys.argv[1:]:
        REPEATS = 5
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
          f"medians of {REPEATS} fresh processes")
    info_versus_numpy(REPEATS)
    unrelated_growth(REPEATS)
    numpy_import = baseline()
    print(f"import numpy alone (reference):          {numpy_import * 1e3:7.1f} ms")
    results = {}
    for count in (1, 100):
        with tempfile.TemporaryDirectory(prefix="roicore-bench-") as temporary:
            folder = Path(temporary)
            names = make_site(folder, count)
            results[count] = run(folder, names)
        r = results[count]
        print(f"{count:>3} plugin(s): import roicore           {r['import'] * 1e3:7.1f} ms")
        print(f"{count:>3} plugin(s): registry build (discover, import entry modules, collect specs) {r['registry'] * 1e3:7.1f} ms")
        print(f"{count:>3} plugin(s): then open() (detect, import one reader, open) {r['open'] * 1e3:7.1f} ms")
        print(f"{count:>3} plugin(s): first open() in all (numpy already imported) {r['first_open'] * 1e3:7.1f} ms")
    ratio = results[100]["first_open"] / results[1]["first_open"]
    print(f"first open, 100 plugins / 1 plugin:       {ratio:7.2f}x")
    print(f"import roicore / import numpy:            {results[1]['import'] / numpy_import:7.2f}x "
          "(import roicore does not import numpy; the ratio shows it is cheaper)")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(PYCACHE, ignore_errors=True)
