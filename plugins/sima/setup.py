"""The compiled band pass of the chunk kernel; everything else about the package is in pyproject.toml.

The extension is optional: where it cannot be built (no C compiler), the package installs without it and
:mod:`roicore_sima.kernel` uses its numpy band pass, which gives the same traces, only slower.
"""

import sys

from setuptools import Extension, setup

# the traces must be bitwise those of scipy's csr_matvec: no fused multiply-add, no reassociation
FLAGS = ["/O2", "/fp:precise"] if sys.platform == "win32" else ["-O3", "-ffp-contract=off", "-fno-fast-math"]

setup(
    ext_modules=[
        Extension(
            "roicore_sima._bandpass",
            sources=["roicore_sima/_bandpass.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
    ]
)
