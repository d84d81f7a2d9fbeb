"""Reader ``caiman-mmap``: CaImAn's memory-mapped movies (``..._order_C_frames_T_.mmap``).

The file name is the only description of the layout (see
:mod:`roicore_memmap.caiman_name`); the file size must match it exactly.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

from roicore.errors import CorruptFileError, UnsupportedFeatureError, cli_syntax_active

from roicore_memmap.caiman_name import CAIMAN_DTYPE, CaimanName, parse_caiman_name
from roicore_memmap.caiman_order import guess_order
from roicore_memmap.mapped import MappedImagingExtractor, refuse_folder
from roicore_memmap.structure import VideoStructure

__all__ = ["CaimanMmapImagingExtractor", "CaimanOrderWarning"]


class CaimanMmapImagingExtractor(MappedImagingExtractor):
    """A CaImAn memmap movie, memory-mapped read-only (reader id ``caiman-mmap``).

    Reads return float32 ``(time, rows, columns)``, or ``(time, rows, columns,
    planes)`` when the name declares ``d3 > 1``; both storage orders (``C``,
    pixel-major, and ``F``, frame-major) are read.

    Parameters
    ----------
    file_path : str or path-like
        A file named ``<base>_d1_<rows>_d2_<columns>_d3_<planes>_order_<C|F>_frames_<T>_.mmap``.
    sampling_frequency : float, optional
        In Hz. CaImAn does not store the frame rate in the file: without it the
        rate is unknown (None).
    channel : int
        Must be 0: a CaImAn memmap holds one channel.
    order : {"C", "F"}, optional
        The storage order, overriding the name's. Without it the name's order
        is used, and a cheap check of a few hundred values warns when the bytes
        look like the other order (``caiman.save_memmap(order='F')`` of a single
        file writes C-ordered bytes under an ``order_F`` name).

    Raises
    ------
    ValueError
        The name does not follow the convention.
    CorruptFileError
        The file size differs from what the name declares.
    UnsupportedFeatureError
        A channel other than 0.
    """

    def __init__(
        self,
        file_path: str | os.PathLike[str],
        sampling_frequency: float | None = None,
        *,
        channel: int = 0,
        order: str | None = None,
    ) -> None:
        if order is not None and order not in ("C", "F"):
            raise ValueError(f"order must be 'C' (pixel-major) or 'F' (frame-major), not {order!r}")
        path = Path(os.fspath(file_path))
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
        refuse_folder(path, "a CaImAn .mmap file")
        if channel != 0 or isinstance(channel, bool):
            raise UnsupportedFeatureError(f"{path}: a CaImAn memmap holds one channel; channel={channel!r} cannot be read")
        name = parse_caiman_name(path.name)
        if name is None:
            raise ValueError(
                f"{path}: the name does not follow CaImAn's convention "
                "<base>_d1_<rows>_d2_<columns>_d3_<planes>_order_<C|F>_frames_<T>_.mmap, "
                "which is the only description of a CaImAn memmap's layout"
            )
        size = os.stat(path).st_size
        if size != name.data_bytes:
            raise CorruptFileError(
                f"{path}: the name declares {name.rows} x {name.columns} x {name.planes} pixels x "
                f"{name.frames} frames of float32 = {name.data_bytes} bytes, but the file has {size} bytes"
                + (" (truncated)" if size < name.data_bytes else ""),
                path=path,
            )
        if order is None:
            _warn_if_order_looks_wrong(path, name)
        else:
            name = dataclasses.replace(name, order=order)
        axes = name.axes if name.planes > 1 else name.axes.replace("z", "")
        layout = VideoStructure(
            rows=name.rows,
            columns=name.columns,
            planes=name.planes,
            axes=axes,
            dtype=CAIMAN_DTYPE,
            offset=0,
            sampling_frequency=sampling_frequency,
            frames=name.frames,
        )
        self._order = name.order
        self._init_mapping(path, layout, name.frames)

    @property
    def order(self) -> str:
        """``"C"`` (pixel-major) or ``"F"`` (frame-major): as the name says, or as ``order=`` gave it."""
        return self._order


class CaimanOrderWarning(UserWarning):
    """A CaImAn memmap's bytes look stored in the other order than its name says."""


def _warn_if_order_looks_wrong(path: Path, name: CaimanName) -> None:
    guessed, spread_c, spread_f = guess_order(path, name.pixels, name.frames, CAIMAN_DTYPE, name.rows)
    if guessed is None or guessed == name.order:
        return
    override = f"--option order='\"{guessed}\"'" if cli_syntax_active() else f"order={guessed!r}"
    warnings.warn(
        f"{path}: the name says order_{name.order}, but the values look {guessed}-ordered "
        f"(median step to the neighbouring pixel {spread_c:.3g} read as C, to the next frame {spread_f:.3g} "
        f"read as F); caiman.save_memmap(order='F') of a single file writes C-ordered bytes under an order_F "
        f"name. If the frames look scrambled, open it with {override}",
        CaimanOrderWarning,
        stacklevel=4,
    )
