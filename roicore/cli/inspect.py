"""``roicore plugins``, ``formats``, ``info`` and ``explain``: what is installed and what a file is."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from roicore.cli.common import reader_options

__all__ = ["register", "describe"]


def _print_plugins(args: argparse.Namespace) -> int:
    import roicore

    records = roicore.plugins()
    if not records:
        print("no roicore plugin is installed (pip install roicore-memmap roicore-caiman roicore-sima)")
        return 0
    for record in records:
        version = record.version or "-"
        origin = "" if record.origin == "entry-point" else f" [{record.origin}]"
        print(f"{record.name} {version}: {record.status}{origin}")
        for contribution in record.contributions:
            status = "" if contribution.status == "active" else f" ({contribution.status})"
            print(f"    {contribution.type:<7} {contribution.id}{status}")
        for error in record.errors:
            text = error if args.verbose else error.strip().splitlines()[-1]
            print(textwrap.indent(text, "    ! "))
    return 0


def _print_formats(args: argparse.Namespace) -> int:
    import roicore

    readers = roicore.readers()
    writers = roicore.writers()
    print("readers:")
    for contribution in readers:
        spec = contribution.spec
        matches = ", ".join([*spec.suffixes, *spec.patterns, *(f"folder with {m}" for m in spec.directory)])
        auto = "" if spec.autodetect else " (explicit reader= only)"
        print(f"  {contribution.qualified_id:<34} {spec.kind:<12} {matches}{auto}")
        if spec.description:
            print(f"  {'':<34} {spec.description}")
    if not readers:
        print("  none installed")
    print("writers:")
    for contribution in writers:
        spec = contribution.spec
        print(f"  {contribution.qualified_id:<34} {spec.kind:<12} {', '.join(spec.suffixes)}")
    if not writers:
        print("  none installed")
    return 0


def _explain(args: argparse.Namespace) -> int:
    import roicore

    print(roicore.explain(args.path, kind=args.kind))
    return 0


def describe(extractor: Any) -> list[str]:
    """Readable summary lines of an opened extractor (used by ``roicore info``)."""
    from roicore.imaging import ImagingExtractor

    lines = []
    source = getattr(extractor, "source", None)
    n = extractor.get_num_samples()
    fs = extractor.get_sampling_frequency()
    if isinstance(extractor, ImagingExtractor):
        lines.append("kind:       imaging")
        lines.append(f"shape:      {extractor.shape} (samples, rows, columns{', planes' if extractor.is_volumetric else ''})")
        lines.append(f"dtype:      {extractor.get_dtype()}")
    else:
        lines.append("kind:       segmentation")
        if extractor.is_volumetric:
            lines.append(f"volume:     {extractor.get_volume_shape()} (rows, columns, planes)")
        else:
            lines.append(f"frame:      {extractor.get_frame_shape()} (rows, columns)")
        lines.append(f"samples:    {n}")
        lines.append(f"ROIs:       {extractor.get_num_rois()}")
        background = extractor.get_background_ids()
        if background:
            lines.append(f"background: {len(background)} component(s), kept apart from the ROIs")
        lines.append(f"traces:     {', '.join(extractor.get_trace_names()) or 'none'}")
        images = list(extractor.get_images_dict())
        lines.append(f"images:     {', '.join(images) or 'none'}")
        keys = extractor.get_property_keys()
        lines.append(f"properties: {', '.join(keys) or 'none'}")
        if "is_accepted" in keys:
            accepted = int(extractor.get_property("is_accepted").sum())
            lines.append(f"accepted:   {accepted} of {extractor.get_num_rois()}")
        else:
            note = getattr(extractor, "acceptance_note", None) or "no acceptance information in this file"
            lines.append(f"accepted:   unknown ({note})")
    if fs is None:
        lines.append("rate:       unknown (give it with --option sampling_frequency=30)")
    else:
        lines.append(f"rate:       {fs:g} Hz")
    lines.append(f"duration:   {n / fs:.3f} s" if fs else "duration:   unknown")
    origin = getattr(extractor, "origin_note", None)
    if origin:
        lines.append(f"origin:     {origin}")
    if source is not None:
        version = f" {source.version}" if source.version else ""
        lines.append(f"read by:    {source.plugin}{version}, reader {source.reader!r}")
        lines.append(f"because:    {source.rule}")
    return lines


def _info(args: argparse.Namespace) -> int:
    import roicore

    kwargs = reader_options(args.option)
    with roicore.open(args.path, reader=args.reader, kind=args.kind, **kwargs) as extractor:
        print(args.path)
        for line in describe(extractor):
            print(f"  {line}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``plugins``, ``formats``, ``info`` and ``explain`` to the ``roicore`` command."""
    plugins = commands.add_parser("plugins", help="list installed plugins, their status and contributions",
                                  epilog="example: roicore plugins --verbose")
    plugins.add_argument("-v", "--verbose", action="store_true", help="show full error tracebacks")
    plugins.set_defaults(func=_print_plugins)

    formats = commands.add_parser("formats", help="list readers and writers", epilog="example: roicore formats")
    formats.set_defaults(func=_print_formats)

    info = commands.add_parser("info", help="detect a file's format and summarise it",
                               epilog="example: roicore info movie.bin --reader memmap --option sampling_frequency=30")
    info.add_argument("path", help="a file or folder")
    info.add_argument("--reader", help="use this reader id instead of detection")
    info.add_argument("--kind", choices=("imaging", "segmentation"))
    info.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                      help="a reader argument (JSON value), repeatable")
    info.set_defaults(func=_info)

    explain = commands.add_parser("explain", help="show how a path is detected: every candidate and its verdict",
                                  epilog="example: roicore explain results.hdf5")
    explain.add_argument("path", help="a file or folder")
    explain.add_argument("--kind", choices=("imaging", "segmentation"))
    explain.set_defaults(func=_explain)
