"""``backend="dask"``: the same chunk kernel over a dask array chunked in time.

The video becomes ``dask.array.from_array(imaging, chunks=(chunk, rows,
columns))``: each block is read on a worker through the imaging contract
(``imaging[start:end]``), so a file-backed extractor travels as its path and
options (extractors pickle by constructor arguments), never as data. The
kernel (weights and unmixing matrices, a few MB) is scattered once to every
worker. Each block's traces come back as soon as it is done and are written
into the preallocated output, so the client holds the output plus a few
blocks; the mean image is a tree reduction of per-block sums on the cluster.

Needs ``dask[array,distributed]`` (``pip install "roicore-sima[dask]"``) and a
``dask.distributed`` client: the one passed as ``client=``, else the current
one (``distributed.get_client()``), for example ``Client(LocalCluster())`` on
one machine or ``Client("tcp://scheduler:8786")`` on a cluster.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np

from roicore.errors import MissingDependencyError
from roicore_sima.kernel import ChunkKernel, kernel_block, mean_block

__all__ = ["resolve_client", "dask_traces", "dask_means"]


def _modules() -> tuple[Any, Any, Any]:
    try:
        import dask
        import dask.array as dask_array
        import distributed
    except ImportError:
        raise MissingDependencyError("dask", purpose='backend="dask"', pip_name='"roicore-sima[dask]"') from None
    return dask, dask_array, distributed


def resolve_client(client: Any) -> Any:
    """The dask.distributed client to run on: ``client``, else the current one.

    Raises
    ------
    MissingDependencyError
        dask or distributed is not installed.
    ValueError
        No client was given and none is running.
    TypeError
        ``client`` is not a ``distributed.Client``.
    """
    _, _, distributed = _modules()
    if client is None:
        try:
            return distributed.get_client()
        except ValueError:
            raise ValueError(
                'backend="dask" runs on a dask.distributed cluster, and no client is running: '
                "create one first (from distributed import Client; client = Client()) "
                "or pass client=..."
            ) from None
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a distributed.Client, not {type(client).__name__}")
    return client


def _as_dask_array(imaging: Any, chunk_size: int) -> Any:
    _, dask_array, _ = _modules()
    rows, cols = imaging.get_image_shape()
    return dask_array.from_array(
        imaging,
        chunks=(chunk_size, rows, cols),
        lock=False,
        asarray=False,
        name=f"roicore-sima-video-{uuid.uuid4().hex}",
        meta=np.empty((0, 0, 0), dtype=imaging.dtype),
    )


def _mean_graph(array: Any) -> Any:
    """A dask array ``(2, pixels)``: per-pixel sums and finite counts over all frames."""
    pixels = array.shape[1] * array.shape[2]
    blocks = len(array.chunks[0])
    partial = array.map_blocks(
        mean_block,
        chunks=((1,) * blocks, (2,), (pixels,)),
        dtype=np.float64,
        meta=np.empty((0, 0, 0), dtype=np.float64),
    )
    return partial.sum(axis=0)


def _to_mean(sums: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    total, counts = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(counts > 0, total / np.maximum(counts, 1), np.nan)
    return mean.reshape(shape)


def dask_means(sources: Sequence[Any], *, chunk_size: int, client: Any, bar: Any) -> list[np.ndarray]:
    """The mean image of every source, computed on the cluster (one pass each)."""
    arrays = [_as_dask_array(source, chunk_size) for source in sources]
    graphs = [_mean_graph(array) for array in arrays]
    futures = client.compute(graphs)
    try:
        results = client.gather(futures)
    finally:
        client.cancel(futures)
    bar.update(sources[0].get_num_samples())
    return [
        _to_mean(np.asarray(result), source.get_image_shape()) for result, source in zip(results, sources, strict=True)
    ]


def dask_traces(
    sources: Sequence[Any],
    kernels: Sequence[ChunkKernel],
    outputs: Sequence[np.ndarray],
    *,
    chunk_size: int,
    client: Any,
    bar: Any,
    mean_of_first: bool,
) -> np.ndarray | None:
    """Traces of every source into ``outputs`` (and the first source's mean image).

    Parameters
    ----------
    sources : sequence of ImagingExtractor
        The signal channel, then optionally the demix channel.
    kernels : sequence of ChunkKernel
        One per source.
    outputs : sequence of numpy.ndarray
        Preallocated ``(time, rois)`` float32, one per source.
    chunk_size : int
        Frames per dask block.
    client : distributed.Client
    bar : progress bar
        Updated with the frames of each finished signal block.
    mean_of_first : bool
        Also compute the first source's mean image.

    Returns
    -------
    numpy.ndarray or None
        The first source's mean image when asked for.
    """
    _, _, distributed = _modules()
    from dask import delayed

    tasks = []
    where = []
    mean_graph = None
    for index, (source, kernel) in enumerate(zip(sources, kernels, strict=True)):
        array = _as_dask_array(source, chunk_size)
        remote_kernel = client.scatter(kernel, broadcast=True, hash=False)
        starts = np.concatenate(([0], np.cumsum(array.chunks[0])))
        for block, start, end in zip(array.to_delayed().ravel(), starts[:-1], starts[1:], strict=True):
            tasks.append(delayed(kernel_block, pure=False)(block, remote_kernel))
            where.append((index, int(start), int(end)))
        if index == 0 and mean_of_first:
            mean_graph = _mean_graph(array)
    futures = client.compute(tasks + ([mean_graph] if mean_graph is not None else []))
    position = {future.key: i for i, future in enumerate(futures)}
    mean = None
    try:
        for future, result in distributed.as_completed(futures, with_results=True):
            i = position[future.key]
            if i == len(tasks):
                mean = _to_mean(np.asarray(result), sources[0].get_image_shape())
                continue
            index, start, end = where[i]
            outputs[index][start:end] = result
            if index == 0:
                bar.update(end - start)
            future.release()
    finally:
        client.cancel(futures)
    return mean
