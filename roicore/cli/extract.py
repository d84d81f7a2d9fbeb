"""``roicore extract``: traces from a video and ROI masks, written by an installed writer."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from roicore.cli.common import (
    UsageError,
    add_progress_arguments,
    add_reader_arguments,
    check_output,
    check_writer,
    parse_option,
    positive_int,
    reader_options,
)

__all__ = ["register"]

EXAMPLE = """examples:
  roicore extract session.bin --rois cnmf_results.hdf5 -o traces.hdf5
  roicore extract movie.npy --option sampling_frequency=30 --rois rois.hdf5 -o traces.hdf5 \\
      --workers 2 --no-remove-overlap --method-option label='"V1 session 3"'
The output's writer is chosen by its suffix (roicore formats lists them) or by --format."""


def _extract(args: argparse.Namespace) -> int:
    import roicore

    if args.method not in {c.id for c in roicore.methods()} | {c.qualified_id for c in roicore.methods()}:
        known = ", ".join(sorted(c.id for c in roicore.methods())) or "none installed (pip install roicore-sima)"
        raise UsageError(f"--method {args.method!r} is not an installed extraction method (available: {known})")
    check_writer(args.format, "segmentation", Path(args.output), append=args.append)
    output = Path(args.output)
    check_output(output, args.overwrite, args.append)
    options = dict(parse_option(item) for item in args.method_option)
    if args.workers is not None:
        options["n_workers"] = args.workers
    if args.chunk_size is not None:
        options["chunk_size"] = args.chunk_size
    if args.no_remove_overlap:
        options["remove_overlap"] = False
    if args.progress is not None:
        options["progress"] = args.progress
    with roicore.open(args.video, reader=args.reader, kind="imaging", **reader_options(args.option)) as video, \
            roicore.open(args.rois, reader=args.rois_reader, kind="segmentation",
                         **reader_options(args.rois_option)) as rois:
        started = time.perf_counter()
        result = roicore.extract(video, rois, method=args.method, **options)
        seconds = time.perf_counter() - started
        written = roicore.write(result, output, format=args.format, overwrite=args.overwrite, append=args.append)
    frames = result.get_num_samples()
    rate = f", {frames / seconds:,.0f} frames/s" if seconds > 0 else ""
    print(f"extracted {result.get_num_rois()} traces of {frames} samples with {args.method!r} "
          f"in {seconds:.2f} s{rate}")
    print(f"wrote {written} (traces: {', '.join(result.get_trace_names())})")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``extract`` to the ``roicore`` command."""
    parser = commands.add_parser(
        "extract", help="extract ROI traces from a video with an installed method and write them",
        description="Extract one trace per ROI from VIDEO with the masks of SEGMENTATION, and write the result.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", metavar="VIDEO", help="the imaging file or folder")
    parser.add_argument("--rois", required=True, metavar="SEGMENTATION", help="a segmentation whose masks are used")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="where to write the traces")
    parser.add_argument("--method", default="sima", help="the extraction method (default: sima)")
    parser.add_argument("--workers", type=positive_int, metavar="N", help="worker threads (method default: all cores)")
    parser.add_argument("--chunk-size", type=positive_int, metavar="FRAMES", help="frames per streamed chunk")
    parser.add_argument("--no-remove-overlap", action="store_true",
                        help="keep pixels shared by ROIs and unmix them by least squares")
    parser.add_argument("--method-option", action="append", default=[], metavar="KEY=VALUE",
                        help="another method option (JSON value), repeatable")
    parser.add_argument("--format", metavar="ID", help="the writer (default: chosen by the output's suffix)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument("--append", action="store_true",
                        help="add the traces to an existing output (writers with the 'append' capability, e.g. NWB)")
    add_reader_arguments(parser, what="VIDEO")
    add_reader_arguments(parser, prefix="rois", what="SEGMENTATION")
    add_progress_arguments(parser)
    parser.set_defaults(func=_extract)
