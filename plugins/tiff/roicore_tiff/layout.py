"""Where sample ``t``, plane ``z``, channel ``c`` of a video sits among a file's pages.

Every layout this plugin reads is a page index that is linear in ``(t, z, c)``:
ImageJ hyperstacks and ScanImage store the channel fastest, then the slice,
then time (ScanImage adds flyback frames at the end of each volume); OME-TIFF
names its order in ``DimensionOrder``. :class:`FrameLayout` holds the sizes
and the three strides and turns sample indices into page indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FrameLayout", "interleaved"]


@dataclass(frozen=True)
class FrameLayout:
    """Sizes and page strides of a ``(time, plane, channel)`` video.

    Attributes
    ----------
    samples, planes, channels : int
        Number of time points, z planes and channels.
    stride_t, stride_z, stride_c : int
        Page-index steps of one time point, plane and channel.
    first : int
        Page index of sample 0, plane 0, channel 0.
    """

    samples: int
    planes: int = 1
    channels: int = 1
    stride_t: int = 1
    stride_z: int = 0
    stride_c: int = 0
    first: int = 0

    def pages(self, samples: np.ndarray, channel: int, planes: list[int]) -> np.ndarray:
        """Page indices ``(len(samples), len(planes))`` of ``channel`` at ``samples`` and ``planes``."""
        base = self.first + channel * self.stride_c + np.asarray(samples, dtype=np.int64) * self.stride_t
        return base[:, None] + np.asarray(planes, dtype=np.int64)[None, :] * self.stride_z

    def last_page(self) -> int:
        """The largest page index the layout addresses (for validation against the file)."""
        return int(
            self.first
            + (self.samples - 1) * self.stride_t
            + (self.planes - 1) * self.stride_z
            + (self.channels - 1) * self.stride_c
        )


def interleaved(pages: int, planes: int = 1, channels: int = 1, extra_per_sample: int = 0) -> FrameLayout:
    """Channel fastest, then plane, then time, ``extra_per_sample`` skipped pages after each sample.

    ImageJ's and ScanImage's order (ScanImage's flyback frames are the extra
    pages). A last incomplete sample is dropped.
    """
    per_sample = planes * channels + extra_per_sample
    return FrameLayout(
        samples=pages // per_sample if per_sample else 0,
        planes=planes,
        channels=channels,
        stride_t=per_sample,
        stride_z=channels,
        stride_c=1,
    )
