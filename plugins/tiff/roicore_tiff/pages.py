"""The pages of TIFF files, read by index: the engine under every reader of this plugin.

:class:`TiffPages` is one file's 2-D pages. Uncompressed pages whose data is one
contiguous run are read with ``os.preadv`` straight into the output array, and
neighbouring pages that are also neighbours in the file are read in one call,
so a sequential read of a stack written in one piece is a few large reads.
Their offsets come from each page's IFD, parsed the first time a page is
read (never all of them at open), or, for stacks tifffile or ImageJ wrote in
one contiguous block, from the first page alone. Compressed or tiled pages are
decoded by tifffile one by one, only those asked for.

:class:`PageSequence` puts several files end to end (a split acquisition, a
folder of TIFF files), keeping a bounded number of them open at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from roicore.errors import CorruptFileError, UnsupportedFeatureError

__all__ = ["TiffPages", "PageSequence", "open_tiff", "native", "tifffile_damage"]

_UNKNOWN, _DECODE = -1, -2  # markers in the offset table: not parsed yet; compressed or scattered page


def native(dtype: np.dtype) -> np.dtype:
    """``dtype`` in the machine's byte order."""
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


#: what tifffile logs (instead of raising) when it skips damaged structures
_DAMAGE = (
    "invalid page offset",
    "invalid offset to first page",
    "corrupted tag list",
    "invalid value offset",
    "missing required tags",
    "incorrect StripByteCounts",
    "incorrect StripOffsets",
    "incorrect TileByteCounts",
    "incorrect TileOffsets",
    "read_json",
    "series failed",
    "metadata raised",
    "description_metadata",
    "invalid data type",
    "is not a valid",
)


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def tifffile_damage(path: Path) -> Any:
    """Turn what tifffile only logs about a damaged file into CorruptFileError naming ``path``.

    tifffile skips an IFD chain pointing past the end, a tag whose value
    lies outside the file or unparsable metadata with a log warning and goes
    on, so a truncated file would otherwise read as a shorter, differently
    described one. Its other warnings pass through unchanged.
    """
    logger = logging.getLogger("tifffile")
    collector = _Collector()
    logger.addHandler(collector)
    propagate = logger.propagate
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(collector)
        logger.propagate = propagate
        damage = [m for m in collector.messages if any(marker in m for marker in _DAMAGE)]
        for message in collector.messages:
            if message not in damage:
                logger.warning(message)
    if damage:
        raise CorruptFileError(f"{path}: a damaged TIFF: {'; '.join(damage[:3])}", path=path)


def open_tiff(path: Path) -> Any:
    """``tifffile.TiffFile(path)``, with tifffile's errors for a damaged file as CorruptFileError."""
    import tifffile

    tif = None
    try:
        with tifffile_damage(path):
            tif = tifffile.TiffFile(path)
        return tif
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except CorruptFileError:
        if tif is not None:
            tif.close()
        raise
    except (tifffile.TiffFileError, ValueError, struct.error, OSError, IndexError, KeyError, TypeError) as exc:
        raise CorruptFileError(f"{path}: not a readable TIFF file: {exc}", path=path) from None


class _Handles:
    """The open tifffile handle and read descriptor of one file, closed by ``close()`` or when collected."""

    def __init__(self, tif: Any) -> None:
        self.tif = tif
        self.fd: int | None = None

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.tif is not None:
            self.tif.close()
            self.tif = None


class TiffPages:
    """The 2-D pages of one TIFF file, all of one shape and dtype.

    Parameters
    ----------
    path : Path
        The file.
    tif : tifffile.TiffFile, optional
        An already open handle of ``path`` (the metadata parsers open it first);
        it is owned from here on.

    Raises
    ------
    CorruptFileError
        Not a readable TIFF, no pages, or a damaged first page.
    UnsupportedFeatureError
        Pages that are not single-sample 2-D images (RGB, tiled volumes) or not numbers.
    """

    def __init__(self, path: Path, tif: Any = None) -> None:
        self.path = Path(path)
        self._handles = _Handles(tif if tif is not None else open_tiff(self.path))
        # an extractor dropped without close() must not leak descriptors (the handles hold no reference back)
        weakref.finalize(self, self._handles.close)
        self._lock = threading.RLock()
        try:
            self._describe_first_page()
        except (CorruptFileError, UnsupportedFeatureError):
            self.close()
            raise
        except Exception as exc:  # tifffile hands damaged tags through as odd values (tuples, None)
            self.close()
            raise CorruptFileError(f"{self.path}: a damaged first page: {type(exc).__name__}: {exc}", path=self.path) from None
        except BaseException:
            self.close()
            raise

    def _describe_first_page(self) -> None:
        tif = self._handles.tif
        pages = tif.pages
        pages.cache = False  # never keep one object per page: a long stack would fill memory
        pages.useframes = True
        try:
            with tifffile_damage(self.path):
                first = pages.first
                count = len(pages)
        except CorruptFileError:
            raise
        except Exception as exc:  # tifffile raises many kinds for damaged IFDs
            raise CorruptFileError(f"{self.path}: the TIFF has no readable first page: {exc}", path=self.path) from None
        if count == 0:
            raise CorruptFileError(f"{self.path}: the TIFF holds no image", path=self.path)
        shape = tuple(int(v) for v in first.shape)
        if len(shape) != 2:
            raise UnsupportedFeatureError(
                f"{self.path}: pages of shape {shape} (axes {first.axes!r}); only single-channel 2-D pages "
                "are read (RGB and multi-sample pages are not)"
            )
        if first.dtype is None or np.dtype(first.dtype).kind not in "biuf":
            raise UnsupportedFeatureError(f"{self.path}: pages of dtype {first.dtype} are not supported")
        self.frame_shape: tuple[int, int] = (shape[0], shape[1])
        self.file_dtype = np.dtype(tif.byteorder + np.dtype(first.dtype).str[1:])
        self.dtype = native(self.file_dtype)
        self.frame_bytes = int(shape[0] * shape[1] * self.file_dtype.itemsize)
        self.count = int(count)
        self.compressed = not first.is_contiguous or self.file_dtype.kind == "b"
        self.size = os.fstat(tif.filehandle.fileno()).st_size
        self._offsets = np.full(self.count, _DECODE if self.compressed else _UNKNOWN, dtype=np.int64)

    # -- layout shortcuts set by the metadata parsers -----------------------------------------------
    def set_contiguous(self, offset: int, count: int) -> None:
        """Declare ``count`` uncompressed pages stored back to back from ``offset`` (tifffile, ImageJ stacks).

        ``count`` may exceed the IFDs in the file: ImageJ writes one IFD for a
        stack larger than 4 GiB.

        Raises
        ------
        CorruptFileError
            The pages would end past the end of the file (a truncated file).
        """
        end = offset + count * self.frame_bytes
        if end > self.size:
            whole = max(0, (self.size - offset) // self.frame_bytes)
            raise CorruptFileError(
                f"{self.path}: the metadata promise {count} pages of {self.frame_bytes} bytes from offset {offset} "
                f"({end} bytes) but the file has {self.size} bytes ({whole} whole pages): it is truncated",
                path=self.path,
            )
        self.count = int(count)
        self.compressed = False
        self._offsets = offset + np.arange(count, dtype=np.int64) * self.frame_bytes

    # -- metadata of single pages -------------------------------------------------------------------
    def page(self, index: int) -> Any:
        """The full ``tifffile.TiffPage`` at ``index`` (all its tags), not cached."""
        with self._lock:
            pages = self._handle().pages
            pages.useframes = False
            try:
                return pages[index]
            except Exception as exc:
                raise CorruptFileError(f"{self.path}: cannot read the IFD of page {index}: {exc}", path=self.path) from None
            finally:
                pages.useframes = True

    def description(self, index: int) -> str:
        """The ImageDescription of page ``index`` ("" when it has none)."""
        return str(self.page(index).description or "")

    @property
    def tif(self) -> Any:
        """The open ``tifffile.TiffFile``."""
        return self._handle()

    # -- reading ------------------------------------------------------------------------------------
    def _handle(self) -> Any:
        handles = self._handles
        if handles.tif is None:
            handles.tif = open_tiff(self.path)
            handles.tif.pages.cache = False
            handles.tif.pages.useframes = True
        return handles.tif

    def _descriptor(self) -> int:
        handles = self._handles
        if handles.fd is None:
            with self._lock:
                if handles.fd is None:
                    handles.fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
        return handles.fd  # type: ignore[return-value]

    def _fill_offsets(self, indices: np.ndarray) -> None:
        """Parse the IFDs of the pages in ``indices`` whose data offset is not known yet."""
        todo = indices[self._offsets[indices] == _UNKNOWN]
        if not todo.size:
            return
        with self._lock:
            pages = self._handle().pages
            for index in np.unique(todo).tolist():
                try:
                    frame = pages[index]
                    offsets, counts = frame.dataoffsets, frame.databytecounts
                except Exception as exc:
                    raise CorruptFileError(f"{self.path}: cannot read the IFD of page {index}: {exc}", path=self.path) from None
                if len(offsets) == 0 or sum(counts) != self.frame_bytes:
                    raise CorruptFileError(
                        f"{self.path}: page {index} holds {sum(counts)} bytes of image data, expected "
                        f"{self.frame_bytes} like the first page ({self.frame_shape}, {self.file_dtype})",
                        path=self.path,
                    )
                start = int(offsets[0])
                contiguous = all(int(offsets[k + 1]) == int(offsets[k]) + int(counts[k]) for k in range(len(offsets) - 1))
                if not contiguous:
                    self._offsets[index] = _DECODE
                    continue
                if start + self.frame_bytes > self.size:
                    raise CorruptFileError(
                        f"{self.path}: the data of page {index} end at byte {start + self.frame_bytes}, past the end "
                        f"of the file ({self.size} bytes): it is truncated",
                        path=self.path,
                    )
                self._offsets[index] = start

    def _pread_into(self, buffer: np.ndarray, offset: int) -> None:
        view = memoryview(buffer).cast("B")
        descriptor = self._descriptor()
        done = 0
        while done < len(view):
            got = os.preadv(descriptor, [view[done:]], offset + done)
            if got <= 0:
                raise CorruptFileError(
                    f"{self.path}: the file ended at byte {offset + done} while reading image data "
                    f"({len(view) - done} bytes missing): it is truncated",
                    path=self.path,
                )
            done += got

    def _decode(self, index: int, out: np.ndarray) -> None:
        with self._lock:
            try:
                frame = self._handle().pages[index]
                data = frame.asarray()
            except Exception as exc:
                raise CorruptFileError(f"{self.path}: cannot decode page {index}: {exc}", path=self.path) from None
        if data.shape != self.frame_shape:
            raise CorruptFileError(
                f"{self.path}: page {index} has shape {data.shape}, the first page {self.frame_shape}", path=self.path
            )
        out[...] = data

    def read_into(self, indices: np.ndarray, out: np.ndarray) -> None:
        """Read pages ``indices`` (any order, validated by the caller) into ``out`` of shape ``(k, rows, columns)``.

        ``out`` has :attr:`file_dtype` and is C-contiguous.
        """
        self._fill_offsets(indices)
        offsets = self._offsets[indices]
        direct = offsets >= 0
        if direct.all():
            breaks = np.flatnonzero(np.diff(offsets) != self.frame_bytes) + 1
            starts = np.concatenate(([0], breaks)).tolist()
            ends = np.concatenate((breaks, [len(indices)])).tolist()
            for start, end in zip(starts, ends):
                self._pread_into(out[start:end], int(offsets[start]))
            return
        for position, index in enumerate(indices.tolist()):
            if direct[position]:
                self._pread_into(out[position], int(offsets[position]))
            else:
                self._decode(index, out[position])

    def close(self) -> None:
        """Close the tifffile handle and the read descriptor (it reopens on the next read)."""
        with self._lock:
            self._handles.close()


class PageSequence:
    """Pages of several TIFF files read as one sequence (a split acquisition, a folder of files).

    Parameters
    ----------
    files : sequence of TiffPages
        In order; all with the frame shape and dtype of the first.
    max_open : int
        At most this many files stay open between reads (the least recently
        read are closed), so a folder of 10,000 single-frame files does not
        exhaust the process's file descriptors.

    Raises
    ------
    CorruptFileError
        A file whose pages differ in shape or dtype from the first file's.
    """

    def __init__(self, files: Sequence[TiffPages], max_open: int = 32) -> None:
        if not files:
            raise ValueError("a page sequence needs at least one file")
        first = files[0]
        for other in files[1:]:
            if other.frame_shape != first.frame_shape or other.dtype != first.dtype:
                raise CorruptFileError(
                    f"{other.path}: pages of {other.frame_shape} {other.dtype}, but {first.path.name} has "
                    f"{first.frame_shape} {first.dtype}; the files cannot be one video",
                    path=other.path,
                )
        self.files = list(files)
        self.frame_shape = first.frame_shape
        self.dtype = first.dtype
        self.counts = np.array([f.count for f in self.files], dtype=np.int64)
        self.bounds = np.concatenate(([0], np.cumsum(self.counts)))
        self.count = int(self.bounds[-1])
        self._max_open = max_open
        self._open: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def compressed(self) -> bool:
        """Some file's pages are decoded rather than read in place."""
        return any(f.compressed for f in self.files)

    def locate(self, index: int) -> tuple[TiffPages, int]:
        """The file holding global page ``index`` and the page's index in it."""
        which = int(np.searchsorted(self.bounds, index, side="right") - 1)
        return self.files[which], int(index - self.bounds[which])

    def _touch(self, which: int) -> None:
        with self._lock:
            self._open[which] = None
            self._open.move_to_end(which)
            while len(self._open) > self._max_open:
                stale, _ = self._open.popitem(last=False)
                self.files[stale].close()

    def read(self, indices: np.ndarray) -> np.ndarray:
        """Pages ``indices`` (valid global indices, any order) as a new native-order ``(k, rows, columns)`` array."""
        file_dtype = self.files[0].file_dtype
        out = np.empty((len(indices), *self.frame_shape), dtype=file_dtype)
        which = np.searchsorted(self.bounds, indices, side="right") - 1
        if len(self.files) == 1:
            self._touch(0)
            self.files[0].read_into(indices, out)
        else:
            # runs of the same file keep the order of ``indices``
            breaks = np.flatnonzero(np.diff(which) != 0) + 1
            starts = np.concatenate(([0], breaks)).tolist()
            ends = np.concatenate((breaks, [len(indices)])).tolist()
            for start, end in zip(starts, ends):
                number = int(which[start])
                pages = self.files[number]
                self._touch(number)
                local = indices[start:end] - self.bounds[number]
                if pages.file_dtype == file_dtype:
                    pages.read_into(local, out[start:end])
                else:  # another byte order than the first file
                    part = np.empty((end - start, *self.frame_shape), dtype=pages.file_dtype)
                    pages.read_into(local, part)
                    out[start:end] = part
        if file_dtype.byteorder not in ("=", "|"):
            out = out.byteswap(inplace=True).view(native(file_dtype))
        return out

    def close(self) -> None:
        """Close every file."""
        for pages in self.files:
            pages.close()
        self._open.clear()
