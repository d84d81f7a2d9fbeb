"""``roicore demo``: write sample data in every installed format, detect it, open it, and say what was found.

The samples are the conformance samples that each installed reader names, so
the demo exercises every plugin's detection and reading end to end.
"""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["run_demo"]


def run_demo(folder: str | Path) -> int:
    """Run the demo into ``folder``; returns 0 when every sample was detected and read back correctly."""
    import numpy as np

    import roicore
    from roicore.cli.inspect import describe
    from roicore.registry.specs import load_object

    root = Path(folder).resolve()
    root.mkdir(parents=True, exist_ok=True)
    readers = [c for c in roicore.readers() if c.spec.samples]
    if not readers:
        print("no installed reader names sample data; install plugins first (make demo does)")
        return 1
    print(f"roicore {roicore.__version__}: writing sample data of {len(readers)} reader(s) into {root}\n")
    problems = 0
    for contribution in readers:
        target = root / contribution.qualified_id.replace(":", "__")
        target.mkdir(exist_ok=True)
        started = time.perf_counter()
        samples = load_object(contribution.spec.samples)(target)
        print(f"== {contribution.qualified_id}: {len(samples)} sample(s) written in {time.perf_counter() - started:.2f} s")
        for index, sample in enumerate(samples):
            kwargs = dict(sample.reader_kwargs)
            if not sample.detectable:
                kwargs["reader"] = contribution.qualified_id
            how = "auto-detected" if sample.detectable else "explicit reader="
            with roicore.open(sample.path, **kwargs) as extractor:
                correct = _matches_truth(extractor, sample.truth, np)
                problems += not correct
                verdict = "values match the ground truth" if correct else "VALUES DIFFER from the ground truth"
                print(f"  {sample.path.relative_to(root)}  [{how}; {verdict}]")
                if index == 0:  # one full summary per reader; the rest in a line each
                    for line in describe(extractor):
                        print(f"      {line}")
                else:
                    print(f"      {_one_line(extractor)}; because: {extractor.source.rule}")
    print(f"\nall sample files are in {root}")
    if problems:
        print(f"{problems} sample(s) did not read back their ground truth")
    return 1 if problems else 0


def _one_line(extractor) -> str:
    from roicore.imaging import ImagingExtractor

    if isinstance(extractor, ImagingExtractor):
        return f"imaging {extractor.shape} {extractor.get_dtype()} at {extractor.get_sampling_frequency():g} Hz"
    return (f"segmentation: {extractor.get_num_rois()} ROIs on {extractor.get_frame_shape()}, "
            f"{extractor.get_num_samples()} samples, traces {', '.join(extractor.get_trace_names())}")


def _matches_truth(extractor, truth, np) -> bool:
    if hasattr(truth, "series"):
        return bool(np.array_equal(extractor.get_series(), truth.series, equal_nan=True))
    same = list(extractor.get_roi_ids()) == list(truth.roi_ids)
    for name, expected in truth.traces.items():
        same = same and bool(np.allclose(extractor.get_traces(name=name), expected, rtol=truth.rtol, atol=1e-9))
    return same
