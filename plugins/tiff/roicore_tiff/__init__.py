"""roicore-tiff: read TIFF videos (multi-page, BigTIFF, OME-TIFF, ImageJ, ScanImage) and write OME-TIFF.

Importing the package imports nothing heavy; use ``roicore.open(path)`` to read and
``roicore.write(extractor, "movie.ome.tif")`` to write. tifffile is imported when a
file is opened or written.
"""

__version__ = "0.1.0"
