"""The roicore conformance kit over this plugin's reader and writer samples."""

from roicore.testing import conformance_suite

test_conformance = conformance_suite("roicore-nwb")
