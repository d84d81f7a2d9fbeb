"""A synthetic calcium-imaging session with its ground truth.

The model, per pixel ``x`` and frame ``t`` (in camera counts)::

    F(x, t) = baseline(x) * (1 + drift(t))            # illumination, slow bleaching-like drift
            + neuropil(x) * n(t)                      # a diffuse, slowly fluctuating background
            + sum_i footprint_i(x) * gain_i * c_i(t)  # neurons
            + noise                                   # shot-like noise, sd ~ sqrt(F)

Neurons are 2-D Gaussian footprints (random size and elongation) placed at
least ``min_distance`` pixels apart, so a few touch. Their calcium ``c_i``
follows SIMA/CaImAn's usual AR(1) model: Poisson spikes of random amplitude,
each decaying with the neuron's time constant. The video is uint16 like a
microscope's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SyntheticSession", "make_session"]


@dataclass(frozen=True)
class SyntheticSession:
    """A generated session: the video and everything it was made from.

    Attributes
    ----------
    video : numpy.ndarray
        ``(frames, rows, columns)`` uint16.
    footprints : numpy.ndarray
        ``(rows, columns, neurons)`` float64, each with peak 1.
    calcium : numpy.ndarray
        ``(frames, neurons)`` float64: the true calcium trace of each neuron.
    spikes : numpy.ndarray
        ``(frames, neurons)`` float64: spike amplitudes (0 where none).
    centers : numpy.ndarray
        ``(neurons, 2)`` (row, column) of each footprint's centre.
    sampling_frequency : float
        Frames per second.
    """

    video: np.ndarray
    footprints: np.ndarray
    calcium: np.ndarray
    spikes: np.ndarray
    centers: np.ndarray
    sampling_frequency: float

    @property
    def num_neurons(self) -> int:
        """Number of neurons."""
        return int(self.footprints.shape[2])


def _place_centers(rng: np.random.Generator, count: int, shape: tuple[int, int], min_distance: float,
                   margin: int) -> np.ndarray:
    """Up to ``count`` random centres at least ``min_distance`` apart (rejection sampling)."""
    centers: list[np.ndarray] = []
    for _ in range(count * 200):
        candidate = rng.uniform((margin, margin), (shape[0] - margin, shape[1] - margin))
        if all(np.hypot(*(candidate - c)) >= min_distance for c in centers):
            centers.append(candidate)
            if len(centers) == count:
                break
    return np.array(centers)


def _footprints(rng: np.random.Generator, centers: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Elongated Gaussian footprints, peak 1, cut below 5% of the peak."""
    rows, columns = np.mgrid[0 : shape[0], 0 : shape[1]]
    out = np.zeros((*shape, len(centers)))
    for index, (cy, cx) in enumerate(centers):
        sigma_long, sigma_short = rng.uniform(2.2, 3.2), rng.uniform(1.8, 2.4)
        angle = rng.uniform(0, np.pi)
        dy, dx = rows - cy, columns - cx
        u = dy * np.cos(angle) + dx * np.sin(angle)
        v = -dy * np.sin(angle) + dx * np.cos(angle)
        bump = np.exp(-0.5 * ((u / sigma_long) ** 2 + (v / sigma_short) ** 2))
        bump /= bump.max()  # the centre falls between pixels
        bump[bump < 0.05] = 0.0
        out[..., index] = bump
    return out


def _calcium(rng: np.random.Generator, frames: int, neurons: int, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """AR(1) calcium traces from Poisson spikes; returns ``(calcium, spikes)``."""
    rates = rng.uniform(0.2, 0.8, neurons)  # spikes per second
    spikes = (rng.random((frames, neurons)) < rates / fs) * rng.uniform(0.6, 1.4, (frames, neurons))
    decay = np.exp(-1.0 / (fs * rng.uniform(0.4, 1.0, neurons)))  # tau 0.4-1 s
    calcium = np.empty((frames, neurons))
    level = np.zeros(neurons)
    for t in range(frames):
        level = decay * level + spikes[t]
        calcium[t] = level
    return calcium, spikes


def _smooth_noise(rng: np.random.Generator, frames: int, width: int) -> np.ndarray:
    """A slow random signal with zero mean and unit standard deviation (moving-average-filtered noise)."""
    raw = rng.standard_normal(frames + width)
    smooth = np.convolve(raw, np.ones(width) / width, mode="valid")[:frames]
    return (smooth - smooth.mean()) / (smooth.std() or 1.0)


def make_session(
    num_frames: int = 3000,
    shape: tuple[int, int] = (128, 160),
    num_neurons: int = 36,
    sampling_frequency: float = 30.0,
    *,
    min_distance: float = 9.0,
    seed: int = 0,
) -> SyntheticSession:
    """Generate a session (see the module docstring for the model).

    Parameters
    ----------
    num_frames : int
        Frames (3000 at 30 Hz: 100 s).
    shape : tuple of int
        ``(rows, columns)``.
    num_neurons : int
        Neurons asked for; fewer if they do not fit ``min_distance`` apart.
    sampling_frequency : float
        Frames per second.
    min_distance : float
        Smallest distance between two neurons' centres, in pixels.
    seed : int
        The same seed gives the same session.

    Returns
    -------
    SyntheticSession
    """
    rng = np.random.default_rng(seed)
    rows, columns = shape
    centers = _place_centers(rng, num_neurons, shape, min_distance, margin=6)
    footprints = _footprints(rng, centers, shape)
    calcium, spikes = _calcium(rng, num_frames, len(centers), sampling_frequency)
    gains = rng.uniform(250.0, 450.0, len(centers))  # counts at the footprint's peak per unit calcium

    yy, xx = np.mgrid[0:rows, 0:columns] / max(rows, columns)
    baseline = 300.0 + 150.0 * np.exp(-((yy - 0.4) ** 2 + (xx - 0.55) ** 2) / 0.15)  # uneven illumination
    neuropil = 40.0 * np.exp(-((yy - 0.6) ** 2 + (xx - 0.3) ** 2) / 0.3)
    drift = 0.03 * np.linspace(-1.0, 1.0, num_frames)  # +-3% over the session
    fluctuation = _smooth_noise(rng, num_frames, width=int(5 * sampling_frequency))

    pixel_footprints = footprints.reshape(rows * columns, -1) * gains  # (pixels, neurons)
    video = np.empty((num_frames, rows, columns), dtype=np.uint16)
    for start in range(0, num_frames, 256):
        stop = min(num_frames, start + 256)
        clean = (
            baseline.reshape(1, -1) * (1.0 + drift[start:stop, None])
            + neuropil.reshape(1, -1) * fluctuation[start:stop, None]
            + calcium[start:stop] @ pixel_footprints.T
        )
        noisy = clean + rng.standard_normal(clean.shape) * np.sqrt(clean)
        video[start:stop] = np.clip(np.rint(noisy), 0, np.iinfo(np.uint16).max).reshape(stop - start, rows, columns)
    return SyntheticSession(
        video=video,
        footprints=footprints,
        calcium=calcium,
        spikes=spikes,
        centers=centers,
        sampling_frequency=float(sampling_frequency),
    )
