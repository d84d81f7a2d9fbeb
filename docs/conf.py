"""Sphinx configuration of the roicore documentation.

Build: ``make docs`` (regenerates the check table, then builds), or
``sphinx-build -W --keep-going -n -q -b html docs docs/_build/html``.
The build is offline: no intersphinx inventories are fetched.
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))

import roicore  # noqa: E402

project = "roicore"
author = "The roicore developers"
copyright = "The roicore developers"
release = version = roicore.__version__

extensions = [
    "sphinx.ext.autodoc",
    "numpydoc",
    "myst_parser",
    "roicore_docs",  # docs/_ext/roicore_docs.py: the CLI page from the argparse parser
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []
html_static_path = ["_static"]
html_theme = "alabaster"
html_theme_options = {"description": "calcium-imaging ROI data behind one open()", "fixed_sidebar": True}
html_title = f"roicore {release}"
pygments_style = "sphinx"

# MyST: the Markdown pages are the same files that read well on GitHub.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc + numpydoc
autodoc_typehints = "none"  # the docstrings carry the types (numpydoc); signatures stay readable
autodoc_member_order = "bysource"
autodoc_default_options = {"undoc-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set[str] = set()
numpydoc_xref_param_type = False

# -n: every cross-reference must resolve. Names from other projects are plain text (no intersphinx).
nitpicky = True
nitpick_ignore_regex = [
    ("py:(class|obj|data|func|meth|exc)", r"(numpy|np|scipy|h5py|dask|pathlib|os|typing|collections|argparse|pluggy|pytest)\..*"),
]
