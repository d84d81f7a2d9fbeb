"""Build fake plugin distributions on disk: real entry points, found by importlib-metadata.

Each fake distribution is a ``NAME-VERSION.dist-info`` folder (METADATA and
entry_points.txt) plus its modules, in a folder that a subprocess puts on
``PYTHONPATH``, so discovery sees exactly what a ``pip install`` would give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

READER_MODULE = '''
import numpy as np
from pathlib import Path
from roicore.imaging import ImagingExtractor
from roicore.registry.specs import Support

def sniff(path, header):
    return Support.yes("{label}") if header.startswith({magic}) or Path(path).is_dir() else Support.no("no {label} magic")

class Reader(ImagingExtractor):
    def __init__(self, path):
        self._path = Path(path)
    def get_image_shape(self):
        return (2, 3)
    def get_num_samples(self):
        return 4
    def get_sampling_frequency(self):
        return 10.0
    def get_dtype(self):
        return np.dtype("uint8")
    def _read_series(self, start, end):
        return np.zeros((end - start, 2, 3), dtype="uint8")
'''

ENTRY_MODULE = '''
import roicore
from roicore.registry.specs import ReaderSpec

@roicore.hookimpl
def roicore_readers():
    return [ReaderSpec(id="{reader_id}", kind="imaging", reader="{package}_reader:Reader", sniff="{package}_reader:sniff",
                       suffixes={suffixes!r}, magic={magic_tuple!r}, directory={directory!r}, priority={priority})]
'''


def make_plugin(
    site: Path,
    name: str,
    *,
    reader_id: str | None = None,
    suffixes: tuple[str, ...] = (".fake",),
    magic: bytes = b"FAKE",
    directory: tuple[str, ...] = (),
    priority: int = 0,
    entry_source: str | None = None,
    reader_source: str | None = None,
    entry_points_text: str | None = None,
    requires: tuple[str, ...] = (),
) -> str:
    """Write a plugin distribution ``name`` into ``site``; returns its package name.

    ``entry_source`` and ``reader_source`` replace the entry module
    (``<package>_plugin``) and the reader module (``<package>_reader``, which
    holds ``sniff`` and ``Reader``); ``entry_points_text`` replaces the
    distribution's ``entry_points.txt``; ``requires`` are its ``Requires-Dist`` lines.
    """
    package = name.replace("-", "_")
    dist_info = site / f"{package}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    requires_dist = "".join(f"Requires-Dist: {line}\n" for line in requires)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n{requires_dist}")
    (dist_info / "entry_points.txt").write_text(
        entry_points_text if entry_points_text is not None else f"[roicore.plugins]\n{name} = {package}_plugin\n"
    )
    (site / f"{package}_reader.py").write_text(
        textwrap.dedent(reader_source) if reader_source is not None
        else textwrap.dedent(READER_MODULE).format(label=name, magic=repr(magic))
    )
    source = entry_source if entry_source is not None else ENTRY_MODULE.format(
        reader_id=reader_id or package.replace("_", "-"), package=package, suffixes=suffixes,
        magic_tuple=(magic,), directory=directory, priority=priority,
    )
    (site / f"{package}_plugin.py").write_text(textwrap.dedent(source))
    return package


def site_environment(site: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a subprocess that sees ``site``'s plugins: no inherited ROICORE_ variable."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROICORE_")}
    environment["PYTHONPATH"] = os.pathsep.join([str(site), *[p for p in sys.path if p]])
    environment.update(env or {})
    return environment


def run_process(site: Path, args: list[str], env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` with ``site`` on the path, in ``site``; returns the completed process."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True,
                          env=site_environment(site, env), timeout=timeout, cwd=site)


def run_python(site: Path, code: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    """Run ``code`` in a fresh interpreter with ``site`` on the path; it must print one JSON line last."""
    done = run_process(site, ["-c", textwrap.dedent(code)], env, timeout)
    if done.returncode != 0:
        raise AssertionError(f"subprocess failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
