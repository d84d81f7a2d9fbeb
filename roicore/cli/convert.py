"""``roicore convert``: any readable extractor to any installed writer, streamed."""

from __future__ import annotations

import argparse
from pathlib import Path

from roicore.cli.common import (
    add_progress_arguments,
    add_reader_arguments,
    check_output,
    check_writer,
    parse_option,
    reader_options,
)

__all__ = ["register"]

EXAMPLE = """examples:
  roicore convert session.npy session.bin                 # .npy -> raw binary + JSON sidecar
  roicore convert cnmf_results.hdf5 copy.hdf5 --format caiman --overwrite
  roicore convert movie.raw movie.npy --option sampling_frequency=30 --option dtype='"uint16"'
  roicore convert suite2p/plane0 session.nwb --append      # add the ROIs to an existing NWB file
The writer is chosen by OUTPUT's suffix (roicore formats lists them) or by --format."""


def _convert(args: argparse.Namespace) -> int:
    import roicore
    from roicore.cli.counting import ProgressImaging
    from roicore.imaging import ImagingExtractor
    from roicore.progress import make_bar

    output = Path(args.output)
    check_output(output, args.overwrite, args.append)
    options = dict(parse_option(item) for item in args.writer_option)
    with roicore.open(args.input, reader=args.reader, kind=args.kind, **reader_options(args.option)) as source:
        kind = "imaging" if isinstance(source, ImagingExtractor) else "segmentation"
        check_writer(args.format, kind, output, append=args.append)
        if kind == "imaging":
            bar = make_bar(args.progress, source.get_num_samples(), f"converting {Path(args.input).name}")
            try:
                written = roicore.write(ProgressImaging(source, bar), output, format=args.format,
                                        overwrite=args.overwrite, append=args.append, **options)
            finally:
                bar.close()
        else:  # traces and masks: small next to a video; writers stream them without a bar
            written = roicore.write(source, output, format=args.format, overwrite=args.overwrite, append=args.append,
                                    **options)
        what = (f"{source.get_num_samples()} frames of {source.get_image_shape()} {source.get_dtype()}"
                if kind == "imaging" else f"{source.get_num_rois()} ROIs, {source.get_num_samples()} samples")
    print(f"converted {args.input} ({source.source.reader}) to {written}: {what}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``convert`` to the ``roicore`` command."""
    parser = commands.add_parser(
        "convert", help="convert a file to another format (any reader to any writer, streamed)",
        description="Read INPUT with the plugin that detects it and write it as OUTPUT with an installed writer.",
        epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("input", metavar="INPUT", help="the file or folder to read")
    parser.add_argument("output", metavar="OUTPUT", help="the file to write")
    parser.add_argument("--format", metavar="ID", help="the writer (default: chosen by OUTPUT's suffix)")
    parser.add_argument("--kind", choices=("imaging", "segmentation"), help="what to read INPUT as")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    parser.add_argument("--append", action="store_true",
                        help="add to an existing OUTPUT (writers with the 'append' capability, e.g. NWB)")
    parser.add_argument("--writer-option", action="append", default=[], metavar="KEY=VALUE",
                        help="a writer argument (JSON value), repeatable")
    add_reader_arguments(parser, what="INPUT")
    add_progress_arguments(parser)
    parser.set_defaults(func=_convert)
