"""``roicore show``: a quick-look figure of an imaging or a segmentation file."""

from __future__ import annotations

import argparse
from pathlib import Path

from roicore.cli.common import (
    UsageError,
    add_progress_arguments,
    add_reader_arguments,
    check_output,
    positive_int,
    reader_options,
)

__all__ = ["register"]

EXAMPLE = """examples:
  roicore show session.bin -o session.png            # mean and max images and a strip of frames
  roicore show cnmf_results.hdf5 -o rois.png --traces 12   # outlines over the summary image, traces
The figure's format follows its suffix (.png, .pdf, .svg). Needs matplotlib (pip install "roicore[plot]")."""


def _show(args: argparse.Namespace) -> int:
    import roicore
    from roicore.imaging import ImagingExtractor
    from roicore.plotting import imaging_figure, require_matplotlib, segmentation_figure
    from roicore.progress import make_bar

    output = Path(args.output)
    if not output.suffix:
        raise UsageError(f"-o {args.output!r} needs a suffix naming the figure's format, e.g. .png or .pdf")
    check_output(output, overwrite=True)
    require_matplotlib("roicore show")
    with roicore.open(args.path, reader=args.reader, kind=args.kind, **reader_options(args.option)) as extractor:
        if isinstance(extractor, ImagingExtractor):
            bar = make_bar(args.progress, extractor.get_num_samples(), f"summarising {Path(args.path).name}")
            try:
                written = imaging_figure(extractor, output, frames=args.frames, bar=bar)
            finally:
                bar.close()
            what = "mean and maximum images and a strip of frames"
        else:
            written = segmentation_figure(extractor, output, traces=args.traces)
            what = "ROI outlines over the summary image and the first traces"
    print(f"{args.path} ({extractor.source.reader}): {what} in {written}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``show`` to the ``roicore`` command."""
    parser = commands.add_parser(
        "show", help="draw a quick-look figure of a video or a segmentation",
        description="Draw PATH into a figure file: a video's mean and max images and a strip of frames, or a "
                    "segmentation's ROI outlines over its summary image and its first traces.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("path", metavar="PATH", help="the file or folder to show")
    parser.add_argument("-o", "--output", required=True, metavar="FIGURE", help="the figure file (.png, .pdf, .svg)")
    parser.add_argument("--kind", choices=("imaging", "segmentation"), help="what to read PATH as")
    parser.add_argument("--frames", type=positive_int, default=6, metavar="N", help="frames in a video's strip (default 6)")
    parser.add_argument("--traces", type=positive_int, default=8, metavar="N", help="traces of a segmentation (default 8)")
    add_reader_arguments(parser, what="PATH")
    add_progress_arguments(parser)
    parser.set_defaults(func=_show)
