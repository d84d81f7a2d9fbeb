"""Cost of ``import roicore`` and of the first ``roicore.open()`` with 1 and with 100 installed plugins.

Each measurement runs in a fresh interpreter (so nothing is cached in the
process), is repeated, and the median is printed. Synthetic plugins are real
distributions (dist-info with an entry point) in a temporary folder on
PYTHONPATH; the allow-list keeps the measurement to them alone.

Run: ``python benchmarks/bench_registry.py``
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPEATS = 7

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


def run(folder: Path, names: list[str]) -> dict[str, float]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    environment["PYTHONPATH"] = str(folder)
    environment["ROICORE_PLUGINS"] = ",".join(names)
    samples = []
    for _ in range(REPEATS):
        done = subprocess.run([sys.executable, "-c", MEASURE, str(folder / "movie.b000")], capture_output=True,
                              text=True, env=environment, check=True)
        samples.append(json.loads(done.stdout))
    return {key: statistics.median(s[key] for s in samples) for key in ("import", "registry", "open", "first_open", "plugins")}


def baseline() -> float:
    times = []
    for _ in range(REPEATS):
        done = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import numpy; "
                               "print(time.perf_counter() - t)"], capture_output=True, text=True, check=True)
        times.append(float(done.stdout))
    return statistics.median(times)


def main() -> None:
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
    main()
