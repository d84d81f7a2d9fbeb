"""Reliability tests: make ``reliability_support`` importable here and in spawned worker processes.

Spawned processes (``multiprocessing`` with the spawn start method) and the
writer subprocesses import helpers by module name, so this folder goes on
``sys.path`` (spawn copies the parent's ``sys.path``; subprocesses get it
through ``PYTHONPATH``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
