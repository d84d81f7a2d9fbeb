"""A small, correct reference plugin for testing the conformance kit.

Formats:
* ``.tvid``: ``b"TVID1\\n"``, one JSON header line (dtype, shape, rate), then raw C-order samples;
* ``.tseg``: ``b"TSEG1\\n"``, one JSON header line, then float64 masks (rows, columns, n) and traces (T, n);
* a ``.tdir`` folder: ``toyseg.json`` (frame shape, rate, ROI count), ``pixels.npy`` (k, 4) float64
  rows ``[roi, row, column, weight]``, ``traces.npy`` (T, n) float64 read through a memory map,
  and ``mean.npy``, a summary image. It is the kit's multi-file, lazily read sample.

It also registers a writer for ``.tvid`` and a signal-extraction method
``toy-mean`` (the weighted mean of each ROI's pixels). Mutants in
``test_kit_mutants.py`` subclass these pieces and break one rule each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import roicore
from roicore.errors import CorruptFileError
from roicore.imaging import ImagingExtractor
from roicore.memory import NumpyImagingExtractor, NumpySegmentationExtractor
from roicore.registry.specs import MethodSpec, ReaderSpec, Support, WriterSpec
from roicore.segmentation import RoiMasks, SegmentationExtractor
from roicore.testing.samples import ImagingTruth, MethodSample, Sample, SegmentationTruth, WriterSample

VIDEO_MAGIC = b"TVID1\n"
SEGMENTATION_MAGIC = b"TSEG1\n"
MODULE = __name__


def _rate(given: float | None, stored: Any, path: Path) -> float:
    """The explicit rate if given, else the file's; CorruptFileError for a bad stored one."""
    try:
        rate = float(stored if given is None else given)
    except (TypeError, ValueError):
        raise CorruptFileError(f"{path}: bad sampling rate {stored!r}", path=path) from None
    if not np.isfinite(rate) or rate <= 0:
        raise CorruptFileError(f"{path}: bad sampling rate {rate}", path=path)
    return rate


def _read_header(path: Path, magic: bytes) -> tuple[dict[str, Any], int]:
    if path.is_dir():
        raise CorruptFileError(f"{path}: is a folder, expected a toy file", path=path)
    with open(path, "rb") as handle:
        if handle.read(len(magic)) != magic:
            raise CorruptFileError(f"{path}: not a toy file (bad magic)", path=path)
        line = handle.readline(4096)
        offset = handle.tell()
    try:
        header = json.loads(line)
        if not isinstance(header, dict):
            raise ValueError("the header is not an object")
    except ValueError as exc:
        raise CorruptFileError(f"{path}: bad header: {exc}", path=path) from None
    return header, offset


def _field(header: dict[str, Any], name: str, path: Path) -> Any:
    try:
        return header[name]
    except KeyError:
        raise CorruptFileError(f"{path}: header lacks {name!r}", path=path) from None


def sniff_video(path: Path, header: bytes) -> Support:
    if header.startswith(VIDEO_MAGIC):
        return Support.yes("toy video magic")
    return Support.no("no toy video magic")


def sniff_segmentation(path: Path, header: bytes) -> Support:
    if header.startswith(SEGMENTATION_MAGIC):
        return Support.yes("toy segmentation magic")
    return Support.no("no toy segmentation magic")


class ToyImaging(ImagingExtractor):
    """Reads ``.tvid``; opens the file for each read, so it holds no handle between reads."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        self._path = Path(path)
        header, self._offset = _read_header(self._path, VIDEO_MAGIC)
        try:
            self._dtype = np.dtype(_field(header, "dtype", self._path))
            self._shape = tuple(int(v) for v in _field(header, "shape", self._path))
            self._rate = _rate(sampling_frequency, _field(header, "rate", self._path), self._path)
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(f"{self._path}: bad header values: {exc}", path=self._path) from None
        if len(self._shape) != 3 or min(self._shape) < 1 or not np.isfinite(self._rate) or self._rate <= 0:
            raise CorruptFileError(f"{self._path}: bad shape {self._shape} or rate {self._rate}", path=self._path)
        expected = self._offset + int(np.prod(self._shape)) * self._dtype.itemsize
        actual = self._path.stat().st_size
        if actual != expected:
            raise CorruptFileError(f"{self._path}: {actual} bytes, the header promises {expected}", path=self._path)

    def get_image_shape(self) -> tuple[int, int]:
        return self._shape[1], self._shape[2]

    def get_num_samples(self) -> int:
        return self._shape[0]

    def get_sampling_frequency(self) -> float:
        return self._rate

    def get_dtype(self) -> np.dtype:
        return self._dtype

    def _read_series(self, start: int, end: int) -> np.ndarray:
        frame = self._shape[1] * self._shape[2]
        with open(self._path, "rb") as handle:
            handle.seek(self._offset + start * frame * self._dtype.itemsize)
            data = np.fromfile(handle, dtype=self._dtype, count=(end - start) * frame)
        return data.reshape(end - start, *self._shape[1:])


class ToySegmentation(SegmentationExtractor):
    """Reads ``.tseg`` into memory at open (a tiny format)."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        self._path = Path(path)
        header, offset = _read_header(self._path, SEGMENTATION_MAGIC)
        try:
            rows, columns, count, samples = (int(v) for v in _field(header, "shape", self._path))
            self._rate = _rate(sampling_frequency, _field(header, "rate", self._path), self._path)
        except (TypeError, ValueError) as exc:
            raise CorruptFileError(f"{self._path}: bad header values: {exc}", path=self._path) from None
        with open(self._path, "rb") as handle:
            handle.seek(offset)
            data = np.fromfile(handle, dtype="<f8")
        expected = rows * columns * count + samples * count
        if min(rows, columns, samples) < 1 or count < 0 or data.size != expected or not np.isfinite(self._rate):
            raise CorruptFileError(f"{self._path}: {data.size} values, the header promises {expected}", path=self._path)
        masks = data[: rows * columns * count].reshape(rows, columns, count)
        if not np.all(np.isfinite(masks)) or np.any(masks < 0):
            raise CorruptFileError(f"{self._path}: mask weights must be finite and >= 0", path=self._path)
        self._roi_masks = RoiMasks.from_image_masks(masks)
        self._traces = data[rows * columns * count :].reshape(samples, count)
        self._frame = (rows, columns)

    def get_roi_ids(self) -> list[Any]:
        return list(range(self._traces.shape[1]))

    def get_frame_shape(self) -> tuple[int, int]:
        return self._frame

    def get_num_samples(self) -> int:
        return self._traces.shape[0]

    def get_sampling_frequency(self) -> float:
        return self._rate

    def _get_roi_masks(self) -> RoiMasks:
        return self._roi_masks

    def get_trace_names(self) -> list[str]:
        return ["raw"]

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        return self._traces[start:end, positions]


FOLDER_MARKER = "toyseg.json"


def sniff_folder(path: Path, header: bytes) -> Support:
    try:
        content = json.loads((path / FOLDER_MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return Support.no(f"no readable {FOLDER_MARKER}")
    if isinstance(content, dict) and content.get("format") == "toy-folder":
        return Support.yes(f"{FOLDER_MARKER} says format toy-folder")
    return Support.no(f"{FOLDER_MARKER} is not a toy-folder description")


def _load_npy(path: Path, *, mmap: bool = False) -> np.ndarray:
    """A float64 .npy array (memory-mapped when asked); CorruptFileError naming the file otherwise."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise CorruptFileError(f"{path}: the file is missing", path=path) from None
    except (OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(f"{path}: not a readable .npy file: {exc}", path=path) from None
    if array.dtype != np.float64:
        raise CorruptFileError(f"{path}: dtype {array.dtype}, expected float64", path=path)
    return array


class ToyFolderSegmentation(SegmentationExtractor):
    """Reads a ``.tdir`` folder; traces through a memory map opened on first read and dropped by close()."""

    def __init__(self, path: Any, sampling_frequency: float | None = None) -> None:
        self._folder = Path(path)
        meta_path = self._folder / FOLDER_MARKER
        try:
            meta = json.loads(meta_path.read_text())
        except FileNotFoundError:
            raise CorruptFileError(f"{meta_path}: the file is missing", path=meta_path) from None
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise CorruptFileError(f"{meta_path}: not a JSON description: {exc}", path=meta_path) from None
        try:
            if not isinstance(meta, dict):
                raise TypeError("not an object")
            rows, columns = (int(v) for v in meta["frame"])
            self._count = int(meta["rois"])
            self._rate = _rate(sampling_frequency, meta["rate"], meta_path)
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptFileError(f"{meta_path}: bad description ({type(exc).__name__}: {exc})", path=meta_path) from None
        if min(rows, columns) < 1 or self._count < 0:
            raise CorruptFileError(f"{meta_path}: bad frame {rows} x {columns} or ROI count {self._count}", path=meta_path)
        self._frame = (rows, columns)
        self._traces_path = self._folder / "traces.npy"
        traces = _load_npy(self._traces_path, mmap=True)
        if traces.ndim != 2 or traces.shape[1] != self._count or traces.shape[0] < 1:
            raise CorruptFileError(f"{self._traces_path}: shape {traces.shape}, expected (T, {self._count})", path=self._traces_path)
        self._num_samples = int(traces.shape[0])
        del traces  # the mapping is made again on first read, so an open extractor holds nothing
        self._traces: np.ndarray | None = None
        self._images: dict[str, np.ndarray] | None = None

    def get_roi_ids(self) -> list[Any]:
        return list(range(self._count))

    def get_frame_shape(self) -> tuple[int, int]:
        return self._frame

    def get_num_samples(self) -> int:
        return self._num_samples

    def get_sampling_frequency(self) -> float:
        return self._rate

    def get_trace_names(self) -> list[str]:
        return ["raw"]

    def _pixels(self) -> np.ndarray:
        path = self._folder / "pixels.npy"
        pixels = _load_npy(path)
        if pixels.ndim != 2 or pixels.shape[1] != 4:
            raise CorruptFileError(f"{path}: shape {pixels.shape}, expected (k, 4)", path=path)
        return pixels

    def _get_roi_masks(self) -> RoiMasks:
        pixels = self._pixels()
        path = self._folder / "pixels.npy"
        owner = pixels[:, 0]
        if np.any((owner < 0) | (owner >= self._count) | (owner != np.floor(owner))):
            raise CorruptFileError(f"{path}: ROI numbers outside 0..{self._count - 1}", path=path)
        masks = [pixels[owner == k, 1:] for k in range(self._count)]
        try:
            return RoiMasks.from_pixel_masks(masks, self._frame)
        except ValueError as exc:  # pixels outside the frame, repeated, negative weights
            raise CorruptFileError(f"{path}: {exc}", path=path) from None

    def _read_traces(self, name: str, positions: np.ndarray, start: int, end: int) -> np.ndarray:
        if self._traces is None:
            traces = _load_npy(self._traces_path, mmap=True)
            if traces.shape != (self._num_samples, self._count):
                raise CorruptFileError(f"{self._traces_path}: changed since it was opened", path=self._traces_path)
            self._traces = traces
        return self._traces[start:end, positions]

    def get_images_dict(self) -> dict[str, np.ndarray]:
        if self._images is None:
            path = self._folder / "mean.npy"
            image = _load_npy(path)
            if image.shape != self._frame:
                raise CorruptFileError(f"{path}: shape {image.shape}, expected the frame {self._frame}", path=path)
            self._images = {"mean": image}
        return {name: image.copy() for name, image in self._images.items()}

    def _close(self) -> None:
        self._traces = None


def write_video(extractor: ImagingExtractor, target: Any, chunk: int = 4) -> None:
    temporary = target.temporary()
    header = {"dtype": extractor.get_dtype().str, "shape": list(extractor.shape), "rate": extractor.get_sampling_frequency()}
    with open(temporary, "wb") as handle:
        handle.write(VIDEO_MAGIC + json.dumps(header).encode() + b"\n")
        for start in range(0, len(extractor), chunk):
            extractor.get_series(start, min(start + chunk, len(extractor))).tofile(handle)


def write_video_file(path: Path, video: np.ndarray, rate: float) -> None:
    header = {"dtype": video.dtype.str, "shape": list(video.shape), "rate": rate}
    path.write_bytes(VIDEO_MAGIC + json.dumps(header).encode() + b"\n" + np.ascontiguousarray(video).tobytes())


def _video(rows: int = 5, columns: int = 7, samples: int = 12, dtype: str = "<u2") -> np.ndarray:
    video = (np.arange(samples * rows * columns) % 50).astype(dtype).reshape(samples, rows, columns)
    video[:, 1, 5] = 200  # an asymmetric marker: a transposed read puts it elsewhere
    return video


def video_samples(folder: Path) -> list[Sample]:
    samples = []
    for dtype in ("<u2", "<f4"):
        video = _video(dtype=dtype)
        path = folder / f"movie-{dtype[1:]}.tvid"
        write_video_file(path, video, 20.0)
        samples.append(Sample(f"video-{dtype[1:]}", path, ImagingTruth(video, 20.0)))
    samples.extend(square_video_samples(folder))
    return samples


def square_video_samples(folder: Path) -> list[Sample]:
    """A 6 x 6 video (common in real data): the axis order must still be checked, by values."""
    video = _video(rows=6, columns=6, samples=10)
    path = folder / "square.tvid"
    write_video_file(path, video, 25.0)
    return [Sample("video-square", path, ImagingTruth(video, 25.0))]


def _segmentation_truth() -> SegmentationTruth:
    rng = np.random.default_rng(5)
    masks = np.zeros((6, 9, 3))
    masks[1:3, 6:8, 0] = 1.0
    masks[3:5, 0:2, 1] = 0.5
    masks[0, 0, 2] = 2.0
    traces = rng.normal(size=(15, 3))
    return SegmentationTruth(list(range(3)), masks, {"raw": traces}, 10.0, 15)


def segmentation_samples(folder: Path) -> list[Sample]:
    truth = _segmentation_truth()
    rows, columns, count = truth.image_masks.shape
    header = {"shape": [rows, columns, count, truth.num_samples], "rate": truth.sampling_frequency}
    path = folder / "rois.tseg"
    body = np.concatenate([truth.image_masks.ravel(), truth.traces["raw"].ravel()]).astype("<f8").tobytes()
    path.write_bytes(SEGMENTATION_MAGIC + json.dumps(header).encode() + b"\n" + body)
    return [Sample("segmentation", path, truth)]


def _folder_truth() -> SegmentationTruth:
    """20 ROIs over 7000 samples: 1.1 MB of traces, so a window read is visibly smaller than the whole."""
    rng = np.random.default_rng(9)
    rows, columns, count, samples = 12, 17, 20, 7000
    masks = np.zeros((rows, columns, count))
    for k in range(count):
        r, c = divmod(k, 5)
        masks[3 * r : 3 * r + 2, 3 * c + 1 : 3 * c + 3, k] = 1.0 + k / 10
    traces = rng.normal(size=(samples, count))
    mean = rng.uniform(0, 100, (rows, columns))
    return SegmentationTruth(list(range(count)), masks, {"raw": traces}, 30.0, samples, images={"mean": mean})


def write_folder_sample(folder: Path, truth: SegmentationTruth) -> list[Path]:
    """Write a ``.tdir`` folder for ``truth``; returns its files."""
    folder.mkdir(parents=True, exist_ok=True)
    rows, columns, count = truth.image_masks.shape
    meta = {"format": "toy-folder", "frame": [rows, columns], "rate": truth.sampling_frequency, "rois": count}
    (folder / FOLDER_MARKER).write_text(json.dumps(meta))
    r, c, k = np.nonzero(truth.image_masks)
    pixels = np.stack([k, r, c, truth.image_masks[r, c, k]], axis=1).astype(np.float64)
    np.save(folder / "pixels.npy", pixels[np.argsort(k, kind="stable")], allow_pickle=False)
    np.save(folder / "traces.npy", truth.traces["raw"].astype(np.float64), allow_pickle=False)
    np.save(folder / "mean.npy", truth.images["mean"].astype(np.float64), allow_pickle=False)
    return [folder / name for name in (FOLDER_MARKER, "pixels.npy", "traces.npy", "mean.npy")]


def _pixel_outside_frame(path: Path) -> None:
    """Move the first ROI pixel one row below the frame."""
    pixels = np.load(path / "pixels.npy", allow_pickle=False)
    rows = json.loads((path / FOLDER_MARKER).read_text())["frame"][0]
    pixels[0, 1] = rows
    np.save(path / "pixels.npy", pixels, allow_pickle=False)


def folder_samples(folder: Path) -> list[Sample]:
    truth = _folder_truth()
    path = folder / "session.tdir"
    files = write_folder_sample(path, truth)
    return [Sample("folder", path, truth, files=(path, *files), damages={"roi-outside-frame": _pixel_outside_frame})]


def writer_samples(folder: Path) -> list[WriterSample]:
    return [
        WriterSample("u2", NumpyImagingExtractor(_video(), 20.0), "written.tvid"),
        WriterSample("f4", NumpyImagingExtractor(_video(dtype="<f4", samples=9), 15.0), "written-f4.tvid"),
    ]


def extract_mean(imaging: ImagingExtractor, masks: RoiMasks, *, roi_ids: list[Any], chunk_size: int = 5) -> Any:
    weights = masks.to_csr().T.tocsr()
    totals = np.asarray(masks.matrix.sum(axis=0)).ravel()
    n = imaging.get_num_samples()
    traces = np.empty((n, masks.num_rois))
    for start in range(0, n, chunk_size):
        block = imaging.get_series(start, min(start + chunk_size, n)).reshape(-1, masks.matrix.shape[0])
        traces[start : start + len(block)] = (weights @ block.T.astype(np.float64)).T / totals
    return NumpySegmentationExtractor(masks, imaging.get_sampling_frequency(), traces={"raw": traces}, roi_ids=roi_ids)


def method_samples(folder: Path) -> list[MethodSample]:
    video = _video(samples=10).astype(np.float64)
    image = np.zeros((5, 7, 2))
    image[0:2, 0:3, 0] = 1
    image[3:5, 4:7, 1] = 2
    masks = RoiMasks.from_image_masks(image)
    expected = np.stack([(video * image[:, :, k]).sum(axis=(1, 2)) / image[:, :, k].sum() for k in range(2)], axis=1)
    return [MethodSample("two-rois", NumpyImagingExtractor(video, 20.0), masks, ["a", "b"], expected)]


class ToyPlugin:
    """The hook implementations; mutants override one spec."""

    imaging_reader = f"{MODULE}:ToyImaging"
    video_sniff = f"{MODULE}:sniff_video"
    video_samples = f"{MODULE}:video_samples"
    folder_reader = f"{MODULE}:ToyFolderSegmentation"
    folder_sniff = f"{MODULE}:sniff_folder"
    folder_samples = f"{MODULE}:folder_samples"
    writer = f"{MODULE}:write_video"

    @roicore.hookimpl
    def roicore_readers(self) -> list[ReaderSpec]:
        return [
            ReaderSpec(id="toy-video", kind="imaging", reader=self.imaging_reader, sniff=self.video_sniff,
                       suffixes=(".tvid",), samples=self.video_samples),
            ReaderSpec(id="toy-segmentation", kind="segmentation", reader=f"{MODULE}:ToySegmentation",
                       sniff=f"{MODULE}:sniff_segmentation", suffixes=(".tseg",), samples=f"{MODULE}:segmentation_samples"),
            ReaderSpec(id="toy-folder", kind="segmentation", reader=self.folder_reader, sniff=self.folder_sniff,
                       directory=(FOLDER_MARKER,), samples=self.folder_samples),
        ]

    @roicore.hookimpl
    def roicore_writers(self) -> list[WriterSpec]:
        return [WriterSpec(id="toy-video", kind="imaging", writer=self.writer, suffixes=(".tvid",), reader="toy-video",
                           capabilities={"lossless"}, samples=f"{MODULE}:writer_samples")]

    @roicore.hookimpl
    def roicore_methods(self) -> list[MethodSpec]:
        return [MethodSpec(id="toy-mean", method=f"{MODULE}:extract_mean", capabilities={"chunk_invariant", "deterministic"},
                           samples=f"{MODULE}:method_samples")]
