"""Detection next to every installed plugin, and the data.bin reader against the bytes it was made from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import roicore
from roicore_suite2p.binary import Suite2pBinaryImagingExtractor
from roicore_suite2p.samples import make_binary_samples, make_folder_samples, make_plane_samples


@pytest.fixture(scope="module")
def all_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    folder = tmp_path_factory.mktemp("suite2p-samples")
    return {
        "suite2p": make_plane_samples(folder / "planes"),
        "suite2p-folder": make_folder_samples(folder / "folders"),
        "suite2p-binary": make_binary_samples(folder / "binaries"),
    }


def test_open_detects_every_sample_without_ambiguity(all_samples: dict[str, list]) -> None:
    installed = {plugin.name for plugin in roicore.plugins()}
    assert {"roicore-memmap", "roicore-caiman", "roicore-suite2p"} <= installed
    for reader, samples in all_samples.items():
        for sample in samples:
            report = roicore.explain(sample.path)  # asks every candidate: a tie would raise here
            assert report.chosen == f"roicore-suite2p:{reader}", f"{sample.id}:\n{report}"
            with roicore.open(sample.path, **sample.reader_kwargs) as opened:
                assert opened.source.reader == reader


def test_data_bin_next_to_the_memmap_raw_reader(all_samples: dict[str, list]) -> None:
    sample = all_samples["suite2p-binary"][0]
    report = roicore.explain(sample.path)
    verdicts = {c.reader: (c.verdict, c.reason) for c in report.candidates}
    assert verdicts["roicore-memmap:memmap"][0] == "no"  # a bare .bin without its sidecar JSON
    assert "sidecar" in verdicts["roicore-memmap:memmap"][1]
    assert verdicts["roicore-suite2p:suite2p-binary"][0] == "yes"


def test_a_memmap_sidecar_beside_data_bin_wins_over_suite2p(all_samples: dict[str, list], tmp_path: Path) -> None:
    """With a sidecar the file is the memmap plugin's: it ranks by suffix, suite2p's binary reader by name pattern."""
    from roicore.memory import NumpyImagingExtractor

    sample = all_samples["suite2p-binary"][0]
    folder = tmp_path / "with-sidecar"
    folder.mkdir()
    roicore.write(NumpyImagingExtractor(sample.truth.series, 15.0), folder / "data.bin", format="memmap")
    (folder / "ops.npy").write_bytes((sample.path.parent / "ops.npy").read_bytes())
    report = roicore.explain(folder / "data.bin")
    assert report.chosen == "roicore-memmap:memmap", str(report)
    with roicore.open(folder / "data.bin", reader="suite2p-binary") as video:
        np.testing.assert_array_equal(video.get_series(), sample.truth.series)


def test_unrelated_folders_and_files_are_declined(tmp_path: Path) -> None:
    from roicore_suite2p.sniff import sniff_binary, sniff_folder

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "stat.npy").write_bytes(b"not numpy")
    (tmp_path / "numeric").mkdir()
    np.save(tmp_path / "numeric" / "stat.npy", np.arange(3))
    np.save(tmp_path / "numeric" / "F.npy", np.zeros((3, 3)))
    (tmp_path / "data.bin").write_bytes(b"\x00" * 64)
    for path in (tmp_path / "empty", tmp_path / "notes", tmp_path / "numeric", tmp_path / "data.bin", tmp_path / "nothing"):
        assert sniff_folder(path, b"").level.name == "NO", path
    assert sniff_binary(tmp_path / "data.bin", b"").level.name == "NO"
    assert sniff_binary(tmp_path / "empty", b"").level.name == "NO"


def test_binary_values_shape_rate_and_windows(all_samples: dict[str, list]) -> None:
    for sample in all_samples["suite2p-binary"]:
        truth = sample.truth
        with Suite2pBinaryImagingExtractor(sample.path) as video:
            frames, rows, columns = truth.series.shape
            assert video.get_num_samples() == frames and type(video.get_num_samples()) is int
            assert video.get_image_shape() == (rows, columns)
            assert video.get_dtype() == np.int16
            assert video.get_sampling_frequency() == truth.sampling_frequency
            manual = np.fromfile(sample.path, dtype="<i2").reshape(frames, rows, columns)
            np.testing.assert_array_equal(video.get_series(), manual)
            np.testing.assert_array_equal(video.get_series(2, 5), manual[2:5])
            np.testing.assert_array_equal(video.get_samples([4, 0, 4, -1]), manual[[4, 0, 4, -1]])
        with roicore.open(sample.path, sampling_frequency=99.0) as video:
            assert video.get_sampling_frequency() == 99.0


def test_close_releases_the_mapping(all_samples: dict[str, list]) -> None:
    sample = all_samples["suite2p-binary"][0]
    video = Suite2pBinaryImagingExtractor(sample.path)
    video.get_series(0, 1)
    assert video._array is not None
    video.close()
    assert video._array is None
    with pytest.raises(ValueError, match="closed"):
        video.get_series(0, 1)
