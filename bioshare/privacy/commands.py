"""``bioshare privacy scan|deidentify`` and ``bioshare convert`` on the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["add_convert_arguments", "add_privacy_arguments", "run_convert", "run_privacy"]


def add_privacy_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(title="actions", dest="privacy_action", metavar="ACTION")
    scan = actions.add_parser(
        "scan", help="report identifying data in DICOM/NIfTI files (exit 3 when found)"
    )
    scan.add_argument("path", help="a folder, file, zip or URL")
    scan.add_argument("--json", action="store_true", help="print JSON")
    deid = actions.add_parser(
        "deidentify", help="write a copy with the DICOM basic confidentiality profile applied"
    )
    deid.add_argument("path", type=Path, help="a folder, file or zip (never modified)")
    deid.add_argument("out", type=Path, help="the output folder (written atomically)")
    deid.add_argument(
        "--key-file",
        type=Path,
        help="a file holding the secret for consistent UID replacement across runs",
    )
    deid.add_argument(
        "--exclude-burned-in",
        action="store_true",
        help="leave out files with burned-in annotation instead of refusing",
    )
    deid.add_argument("--overwrite", action="store_true", help="replace an existing output")


def run_privacy(args: argparse.Namespace) -> int:
    from bioshare.privacy import deidentify, scan

    if args.privacy_action == "scan":
        report = scan(args.path)
        print(json.dumps(report.to_dict(), indent=2) if args.json else report)
        return 0 if report.clean else 3
    if args.privacy_action == "deidentify":
        key = args.key_file.read_bytes().strip() if args.key_file else None
        result = deidentify(
            args.path,
            args.out,
            key=key,
            exclude_burned_in=args.exclude_burned_in,
            overwrite=args.overwrite,
        )
        print(result)
        return 0
    print("usage: bioshare privacy {scan,deidentify} ...")
    return 2


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a DICOM folder/file/zip, a NIfTI file, or a URL")
    parser.add_argument("dest", help="the OME-Zarr to write (e.g. image.ome.zarr)")
    parser.add_argument("--series", help="DICOM SeriesInstanceUID or index")
    parser.add_argument("--format", choices=["ome-zarr", "dicom", "nifti"], help="force a reader")
    parser.add_argument("--ngff-version", default="0.5", choices=["0.4", "0.5"])
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output")
    parser.add_argument(
        "--allow-identifiable",
        action="store_true",
        help="convert even if the source holds identifying data (logged)",
    )


def run_convert(args: argparse.Namespace) -> int:
    from bioshare.formats.conversion import convert

    series: int | str | None = args.series
    if isinstance(series, str) and series.isdigit():
        series = int(series)
    written = convert(
        args.source,
        args.dest,
        format=args.format,
        series=series,
        ngff_version=args.ngff_version,
        allow_identifiable=args.allow_identifiable,
        overwrite=args.overwrite,
    )
    print(f"wrote {written}")
    return 0
