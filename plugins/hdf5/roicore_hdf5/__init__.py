"""roicore-hdf5: imaging videos stored as an HDF5 dataset, for roicore.

Reader ``hdf5`` (``roicore.open("movie.h5")``, or with ``dataset=``,
``axes=``, ``channel=``, ``sampling_frequency=``) and writer ``hdf5``
(``roicore.write(x, "movie.h5")``).

The package namespace is lazy, so that roicore's discovery of the entry
module :mod:`roicore_hdf5._plugin` imports neither h5py nor the reader.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "Hdf5ImagingExtractor": "roicore_hdf5.reader",
    "DatasetNotFoundError": "roicore_hdf5.opening",
    "NeedsArgumentError": "roicore_hdf5.opening",
    "write_hdf5": "roicore_hdf5.writer",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'roicore_hdf5' has no attribute {name!r}") from None
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
