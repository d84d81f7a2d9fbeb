"""The synthetic session and ``roicore demo``."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

import roicore
from roicore.demo import NEEDED, run_demo
from roicore.demo.session import make_session


def test_session_is_reproducible_and_follows_its_model():
    a = make_session(num_frames=300, shape=(48, 64), num_neurons=8, seed=5)
    b = make_session(num_frames=300, shape=(48, 64), num_neurons=8, seed=5)
    np.testing.assert_array_equal(a.video, b.video)
    assert a.video.shape == (300, 48, 64) and a.video.dtype == np.uint16
    assert a.footprints.shape == (48, 64, a.num_neurons) and a.calcium.shape == (300, a.num_neurons)
    assert np.allclose(a.footprints.max(axis=(0, 1)), 1.0)
    distances = np.hypot(*(a.centers[:, None] - a.centers[None]).transpose(2, 0, 1))
    assert distances[~np.eye(a.num_neurons, dtype=bool)].min() >= 9.0
    # calcium is AR(1) driven by the spikes: it only jumps up where a spike is
    rises = np.diff(a.calcium, axis=0) > 0
    assert np.all(a.spikes[1:][rises] > 0)
    # a neuron's brightest frame is brighter at its centre than the session's mean there
    for index, (row, column) in enumerate(np.round(a.centers).astype(int)):
        peak = int(np.argmax(a.calcium[:, index]))
        assert a.video[peak, row, column] > a.video[:, row, column].mean()


def test_demo_recovers_the_ground_truth(tmp_path, capsys):
    installed = {c.id for c in roicore.writers()} | {c.id for c in roicore.methods()}
    if not {name for _, name, _ in NEEDED} <= installed:
        pytest.skip("the demo needs roicore-memmap, roicore-caiman and roicore-sima (make demo installs them)")
    assert run_demo(tmp_path, frames=900) == 0
    printed = capsys.readouterr().out
    for name in ("session.bin", "session.npy", "session_cnmf.hdf5", "session_traces.hdf5", "ground_truth.npz"):
        assert (tmp_path / name).is_file(), name
        assert name in printed
    assert "reader 'memmap'" in printed and "reader 'npy'" in printed and "reader 'caiman'" in printed
    # the CaImAn file holds the generated footprints: the demo must not suggest CaImAn segmented them
    assert "true footprints in CaImAn's layout" in printed and "CaImAn did not segment them" in printed
    assert "CaImAn CNMF result (footprints)" not in printed and "CaImAn footprints" not in printed
    median = float(printed.split("median r = ")[1].split(",")[0])
    assert median > 0.9
    with roicore.open(tmp_path / "session_traces.hdf5") as traces:
        truth = np.load(tmp_path / "ground_truth.npz")["calcium"]
        assert traces.get_traces().shape == truth.shape
    if (tmp_path / "demo.png").exists():
        assert (tmp_path / "demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        umask = os.umask(0o022)
        os.umask(umask)
        # written like any new file (0644 under the usual umask), not 0600 as a temporary file is
        assert stat.S_IMODE((tmp_path / "demo.png").stat().st_mode) == 0o666 & ~umask
