"""The roicore conformance kit over every reader and writer of this plugin."""

from roicore.testing import conformance_suite

test_conformance = conformance_suite("roicore-tiff")
