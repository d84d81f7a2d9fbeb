"""backend="dask": the same kernel on a dask.distributed LocalCluster of 2 processes equals threads."""

from __future__ import annotations

import numpy as np
import pytest
from roicore_sima.reference import reference_traces
from roicore_sima.samples import make_movie

import roicore

distributed = pytest.importorskip(
    "distributed", reason='dask.distributed is not installed (pip install "roicore-sima[dask]")'
)
pytest.importorskip("dask.array", reason='dask.array is not installed (pip install "roicore-sima[dask]")')


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


@pytest.mark.parametrize(
    "options, movie_kind",
    [
        (dict(), dict()),
        (dict(remove_overlap=False), dict(nan_border=True, weighted=True)),
        (dict(sima_compat=True), dict(nan_border=True)),
        (dict(sima_compat=True, remove_overlap=False), dict(weighted=True)),
    ],
    ids=["default", "least-squares-nan", "compat-nan", "compat-keep"],
)
def test_dask_equals_threads(client, options, movie_kind):
    movie = make_movie(frames=53, **movie_kind)
    other = make_movie(frames=53, seed=12, **movie_kind)
    threads = roicore.extract(
        movie.imaging(), movie.masks, method="sima", demix_channel=other.imaging(), chunk_size=6, **options
    )
    on_dask = roicore.extract(
        movie.imaging(),
        movie.masks,
        method="sima",
        demix_channel=other.imaging(),
        backend="dask",
        client=client,
        chunk_size=11,
        **options,
    )
    np.testing.assert_array_equal(on_dask.get_traces(name="raw"), threads.get_traces(name="raw"))
    np.testing.assert_array_equal(on_dask.get_traces(name="demixed_raw"), threads.get_traces(name="demixed_raw"))
    np.testing.assert_allclose(on_dask.get_image("mean"), threads.get_image("mean"), rtol=1e-6)
    expected = reference_traces(movie.video, movie.masks, **{k: v for k, v in options.items()})
    np.testing.assert_allclose(on_dask.get_traces(), expected, rtol=1e-5, equal_nan=True)
    assert on_dask.provenance["options"]["backend"] == "dask"
    assert on_dask.provenance["options"]["n_workers"] is None


def test_dask_uses_the_current_client(client):
    movie = make_movie(frames=9)
    with client.as_current():
        result = roicore.extract(movie.imaging(), movie.masks, method="sima", backend="dask")
    np.testing.assert_allclose(result.get_traces(), reference_traces(movie.video, movie.masks), rtol=1e-5)
