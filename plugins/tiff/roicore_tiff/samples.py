"""Conformance samples: TIFF files in every layout this plugin reads, with their ground truth.

Frames are 7 rows x 11 columns (asymmetric, so a transpose changes the shape)
with one bright marker pixel at row 2, column 9. The ground truth is the
generator's own array; the files are written by tifffile (plain, shaped,
compressed, BigTIFF, big-endian, ImageJ, OME) or, for ScanImage, byte for byte
by :mod:`roicore_tiff.scanimage_files`, never by this plugin's writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from roicore.memory import NumpyImagingExtractor
from roicore.testing.samples import ImagingTruth, Sample, WriterSample

from roicore_tiff.scanimage_files import write_scanimage_tiff

__all__ = [
    "make_video",
    "make_tiff_samples",
    "make_scanimage_samples",
    "make_writer_samples",
    "scanimage_acquisition",
    "scanimage_settings",
]

ROWS, COLUMNS = 7, 11
MARKER = (2, 9)
FRAMES = 12


def make_video(dtype: Any, *, frames: int = FRAMES, planes: int | None = None, seed: int = 0) -> np.ndarray:
    """A random ``(frames, 7, 11[, planes])`` native-order video with the dtype's largest value at row 2, column 9."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype).newbyteorder("=")
    shape = (frames, ROWS, COLUMNS) + ((planes,) if planes else ())
    if dtype.kind == "f":
        video = rng.uniform(-1.0, 1.0, shape).astype(dtype)
        marker: Any = 100.0
    else:
        info = np.iinfo(dtype)
        video = rng.integers(max(info.min, -2000), min(info.max, 4000) // 2, shape, endpoint=True).astype(dtype)
        marker = info.max
    video[:, MARKER[0], MARKER[1], ...] = marker
    return video


def _hyperstack(channels: list[np.ndarray]) -> np.ndarray:
    """``(t, z, c, y, x)`` from per-channel ``(t, y, x[, z])`` videos."""
    stacked = np.stack(channels, axis=-1)  # (t, y, x[, z], c)
    if stacked.ndim == 4:
        stacked = stacked[:, :, :, None, :]
    return np.ascontiguousarray(stacked.transpose(0, 3, 4, 1, 2))


def make_tiff_samples(folder: Path) -> list[Sample]:
    """Samples of the ``tiff`` reader: plain, shaped, compressed, BigTIFF, ImageJ, OME, folders."""
    import tifffile

    folder = Path(folder)
    samples: list[Sample] = []

    def add(sample_id: str, path: Path, truth: np.ndarray, rate: float, files: tuple[Path, ...] = (), **kwargs: Any) -> None:
        timestamps = kwargs.pop("timestamps", None)
        samples.append(Sample(sample_id, path, ImagingTruth(truth, rate, timestamps), reader_kwargs=kwargs, files=files))

    video = make_video("u2", seed=1)
    path = folder / "uint16-plain.tif"
    tifffile.imwrite(path, video, metadata=None, photometric="minisblack")  # no shaped JSON: IFD by IFD
    add("uint16-plain", path, video, 20.0, sampling_frequency=20.0)

    video = make_video("i2", seed=2)
    path = folder / "int16-shaped.tif"
    tifffile.imwrite(path, video, photometric="minisblack")  # tifffile's shaped JSON, contiguous
    add("int16-shaped", path, video, 15.0, sampling_frequency=15.0)

    video = make_video("f4", seed=3)
    path = folder / "float32-zlib.tif"
    tifffile.imwrite(path, video, compression="zlib", photometric="minisblack")
    add("float32-zlib", path, video, 7.5, sampling_frequency=7.5)

    video = make_video("u1", seed=4)
    path = folder / "uint8-bigtiff.btf"
    tifffile.imwrite(path, video, bigtiff=True, photometric="minisblack")
    add("uint8-bigtiff", path, video, 30.0, sampling_frequency=30.0)

    video = make_video("u2", seed=5)
    path = folder / "uint16-bigendian-tiled.tif"
    tifffile.imwrite(path, video.astype(">u2"), byteorder=">", tile=(16, 16), photometric="minisblack")
    add("uint16-bigendian-tiled", path, video, 10.0, sampling_frequency=10.0)

    video = make_video("u2", seed=6)
    path = folder / "uint16-imagej.tif"
    tifffile.imwrite(path, video, imagej=True, metadata={"axes": "TYX", "finterval": 0.125})
    add("uint16-imagej", path, video, 8.0)

    channels = [make_video("u2", planes=3, seed=10 + k) for k in range(2)]
    path = folder / "uint16-imagej-tzcyx.tif"
    tifffile.imwrite(path, _hyperstack(channels), imagej=True, metadata={"axes": "TZCYX", "finterval": 0.5})
    add("uint16-imagej-tzcyx-channel1", path, channels[1], 2.0, channel=1)

    channels = [make_video("f4", planes=2, seed=20 + k) for k in range(3)]
    path = folder / "float32-ome-tzcyx.ome.tif"
    tifffile.imwrite(
        path,
        _hyperstack(channels),
        ome=True,
        photometric="minisblack",
        metadata={
            "axes": "TZCYX",
            "TimeIncrement": 40.0,
            "TimeIncrementUnit": "ms",
            "Channel": {"Name": ["red", "green", "blue"]},
        },
    )
    add("float32-ome-green-volumetric", path, channels[1], 25.0, channel="green")
    add("float32-ome-blue-plane1", path, channels[2][..., 1], 25.0, channel=2, plane=1)

    video = make_video("i2", seed=30)
    times = np.round(np.cumsum(np.random.default_rng(31).uniform(0.09, 0.11, FRAMES)), 6)
    path = folder / "int16-ome-deltat.ome.tif"
    tifffile.imwrite(
        path,
        video,
        ome=True,
        photometric="minisblack",
        metadata={"axes": "TYX", "TimeIncrement": 0.1, "Plane": {"DeltaT": times.tolist(), "DeltaTUnit": ["s"] * FRAMES}},
    )
    add("int16-ome-deltat", path, video, 10.0, timestamps=times)

    video = make_video("u2", seed=40)
    sequence = folder / "single-frames"
    sequence.mkdir()
    files = []
    for index in range(FRAMES):  # frame2 must come before frame10: natural order
        files.append(sequence / f"frame{index}.tif")
        tifffile.imwrite(files[-1], video[index], photometric="minisblack")
    add("folder-single-frames", sequence, video, 12.0, files=tuple(files), sampling_frequency=12.0)

    video = make_video("f4", seed=41)
    blocks = folder / "blocks"
    blocks.mkdir()
    files = []
    for number, start in enumerate(range(0, FRAMES, 5)):
        files.append(blocks / f"block_{number + 1}.tiff")
        tifffile.imwrite(files[-1], video[start:start + 5], compression="zlib" if number % 2 else None, photometric="minisblack")
    add("folder-blocks-mixed-compression", blocks, video, 6.0, files=tuple(files), sampling_frequency=6.0)

    channels = [make_video("u2", planes=2, seed=50 + k) for k in range(2)]
    path = folder / "uint16-plain-interleaved.tif"
    tifffile.imwrite(path, _hyperstack(channels).reshape(-1, ROWS, COLUMNS), metadata=None, photometric="minisblack")
    add("uint16-plain-interleaved", path, channels[0], 5.0, sampling_frequency=5.0, planes=2, channels=2)
    return samples


def scanimage_settings(
    *,
    channels: list[int],
    planes: int = 1,
    flyback: int = 0,
    frame_rate: float = 30.0,
    frames_per_file: float = float("inf"),
    modern: bool = False,
    frames: int = FRAMES,
) -> dict[str, Any]:
    """``SI.*`` settings as ScanImage 2016-2018 writes them, or 2020+ (``modern``) with actualNumSlices."""
    volumetric = planes > 1
    settings: dict[str, Any] = {
        "SI.LINE_FORMAT_VERSION": 1,
        "SI.TIFF_FORMAT_VERSION": 4 if modern else 3,
        "SI.VERSION_MAJOR": "2020" if modern else "2016b",
        "SI.VERSION_MINOR": "1",
        "SI.acqState": "grab",
        "SI.hChannels.channelName": ("Ch1", "Ch2", "Ch3", "Ch4"),
        "SI.hChannels.channelSave": channels if len(channels) > 1 else channels[0],
        "SI.hFastZ.enable": volumetric,
        "SI.hFastZ.numDiscardFlybackFrames": flyback if not modern else 0,
        "SI.hRoiManager.linesPerFrame": ROWS,
        "SI.hRoiManager.pixelsPerLine": COLUMNS,
        "SI.hRoiManager.scanFrameRate": frame_rate,
        "SI.hRoiManager.scanVolumeRate": frame_rate / (planes + flyback) if volumetric else frame_rate,
        "SI.hScan2D.logFramesPerFile": frames_per_file,
        "SI.hStackManager.enable": volumetric and modern,
        "SI.hStackManager.framesPerSlice": 1 if volumetric else frames,
    }
    if modern:
        settings["SI.hStackManager.actualNumSlices"] = planes
        settings["SI.hStackManager.numSlices"] = planes
        settings["SI.hStackManager.numFramesPerVolume"] = planes
        settings["SI.hStackManager.numFramesPerVolumeWithFlyback"] = planes + flyback
    else:
        settings["SI.hStackManager.numSlices"] = planes
    return settings


def scanimage_acquisition(
    folder: Path,
    base: str,
    channels: list[np.ndarray],
    settings: dict[str, Any],
    *,
    planes: int = 1,
    flyback: int = 0,
    frame_rate: float = 30.0,
    frames_per_file: int | None = None,
    version: int = 3,
    seed: int = 0,
) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Write channels ``(t, y, x[, z])`` as a ScanImage acquisition; split into files of ``frames_per_file`` volumes.

    Returns
    -------
    files : list of Path
    page_times : ndarray
        ``frameTimestamps_sec`` of every page ``(t, planes + flyback, channels)``.
    flyback_pixels : ndarray
        The flyback pages' pixels (a reader must skip them).
    """
    rng = np.random.default_rng(seed)
    volumes = _hyperstack(channels)  # (t, z, c, y, x)
    samples = volumes.shape[0]
    dtype = volumes.dtype
    junk = rng.integers(0, 100, (samples, flyback, len(channels), ROWS, COLUMNS)).astype(dtype)
    junk[..., MARKER[0], MARKER[1]] = 0
    full = np.concatenate([volumes, junk], axis=1)  # flyback frames after each volume
    per_sample = planes + flyback
    frame_numbers = np.arange(1, samples * per_sample + 1).reshape(samples, per_sample)
    # ScanImage gives every channel of one frame the same number and time; jitter so times are not arange/fs
    times = np.round((frame_numbers - 1) / frame_rate + rng.uniform(0, 2e-4, frame_numbers.shape), 6)
    page_numbers = np.repeat(frame_numbers[..., None], len(channels), axis=2)
    page_times = np.repeat(times[..., None], len(channels), axis=2)
    step = frames_per_file or samples
    files = []
    for number, start in enumerate(range(0, samples, step)):
        end = min(samples, start + step)
        path = folder / f"{base}_{number + 1:05d}.tif"
        write_scanimage_tiff(
            path,
            full[start:end].reshape(-1, ROWS, COLUMNS),
            settings,
            frame_numbers=page_numbers[start:end].reshape(-1),
            timestamps=page_times[start:end].reshape(-1),
            version=version,
        )
        files.append(path)
    return files, page_times, junk


def make_scanimage_samples(folder: Path) -> list[Sample]:
    """Samples of the ``scanimage`` reader: planar, channels, fast-z volumes with flyback, split acquisitions."""
    folder = Path(folder)
    samples: list[Sample] = []

    def add(sample_id: str, path: Path, truth: np.ndarray, rate: float, times: np.ndarray, files: list[Path], **kwargs: Any) -> None:
        samples.append(Sample(sample_id, path, ImagingTruth(truth, rate, times), reader_kwargs=kwargs, files=tuple(files)))

    (folder / "planar").mkdir()
    video = make_video("i2", seed=100)
    settings = scanimage_settings(channels=[1])
    files, times, _ = scanimage_acquisition(folder / "planar", "planar", [video], settings)
    add("int16-planar", files[0], video, 30.0, times[:, 0, 0], files)

    (folder / "two-channels").mkdir()
    pair = [make_video("u2", seed=101), make_video("u2", seed=102)]
    settings = scanimage_settings(channels=[1, 3], frame_rate=15.0)
    files, times, _ = scanimage_acquisition(folder / "two-channels", "pair", pair, settings, frame_rate=15.0, seed=1)
    add("uint16-channel-named", files[0], pair[1], 15.0, times[:, 0, 1], files, channel="Ch3")

    (folder / "fastz").mkdir()
    volumes = [make_video("i2", planes=3, seed=103), make_video("i2", planes=3, seed=104)]
    settings = scanimage_settings(channels=[2, 4], planes=3, flyback=2, frame_rate=50.0)
    files, times, _ = scanimage_acquisition(folder / "fastz", "vol", volumes, settings, planes=3, flyback=2, frame_rate=50.0, seed=2)
    add("int16-fastz-flyback-channel1", files[0], volumes[1], 10.0, times[:, 0, 1], files, channel=1)
    add("int16-fastz-flyback-plane2", files[0], volumes[0][..., 2], 10.0, times[:, 2, 0], files, plane=2)

    (folder / "modern").mkdir()
    volume = make_video("i2", planes=2, seed=105)
    settings = scanimage_settings(channels=[1], planes=2, flyback=1, frame_rate=30.0, modern=True)
    files, times, _ = scanimage_acquisition(folder / "modern", "si2020", [volume], settings, planes=2, flyback=1, version=4, seed=3)
    add("int16-si2020-volumes", files[0], volume, 10.0, times[:, 0, 0], files)

    (folder / "split").mkdir()
    video = make_video("i2", seed=106)
    settings = scanimage_settings(channels=[1, 2], frames_per_file=5)
    other = make_video("i2", seed=107)
    files, times, _ = scanimage_acquisition(folder / "split", "file", [video, other], settings, frames_per_file=5, seed=4)
    add("int16-split-open-second-file", files[1], video, 30.0, times[:, 0, 0], files)
    add("int16-split-folder-channel1", folder / "split", other, 30.0, times[:, 0, 1], files, channel=1)
    return samples


def make_writer_samples(folder: Path) -> list[WriterSample]:
    """Sources for the ``ome-tiff`` writer: dtypes, volumetric, compressed, a time vector."""
    timed = NumpyImagingExtractor(make_video("f4", seed=204), 20.0)
    timed.set_times(np.arange(FRAMES) / 20.0 + 0.5)
    return [
        WriterSample("uint16", NumpyImagingExtractor(make_video("u2", seed=200), 30.0), "movie.ome.tif"),
        WriterSample("int16-chunks-of-5", NumpyImagingExtractor(make_video("i2", seed=201), 12.5), "movie.ome.tif",
                     options={"chunk_frames": 5}),
        WriterSample("float32-volumetric", NumpyImagingExtractor(make_video("f4", planes=3, seed=202), 4.0, volumetric=True),
                     "volume.ome.tiff", options={"chunk_frames": 4}),
        WriterSample("uint8-zlib-bigtiff", NumpyImagingExtractor(make_video("u1", seed=203), 9.0), "movie.tif",
                     options={"compression": "zlib", "bigtiff": True}),
        WriterSample("float32-time-vector", timed, "timed.ome.tif"),
    ]
