"""roicore-suite2p: read suite2p output folders (0.x and 1.x layouts) and its binaries with roicore.

Importing the package imports nothing heavy; use ``roicore.open(path)``,
:class:`roicore_suite2p.reader.Suite2pSegmentationExtractor` or
:class:`roicore_suite2p.binary.Suite2pBinaryImagingExtractor`. suite2p's
pickles (``stat.npy``, ``ops.npy``, ...) are read with
:func:`roicore.safeload.load_npy`, which runs no code from them.
"""

__version__ = "0.1.0"
