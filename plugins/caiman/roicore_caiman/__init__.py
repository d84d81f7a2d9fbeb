"""roicore-caiman: read and write CaImAn CNMF HDF5 results with roicore.

Importing the package imports nothing heavy; use ``roicore.open(path)`` or
:class:`roicore_caiman.reader.CaimanSegmentationExtractor` to read, and
``roicore.write(extractor, path, format="caiman")`` to write.
"""

__version__ = "0.1.0"
