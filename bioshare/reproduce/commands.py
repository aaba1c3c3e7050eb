"""``bioshare capture`` and ``bioshare rerun``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["add_capture_arguments", "add_rerun_arguments", "run_capture", "run_rerun"]


def add_rerun_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        help="DOI, record URL, local publication (local:... or its folder), crate folder or zip",
    )
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the report as JSON")
    form.add_argument("--markdown", action="store_true", help="print Markdown (the default)")
    parser.add_argument(
        "--yes", "-y", action="store_true", help="run the notebook's code without asking"
    )
    _parameter_argument(parser, "override a recorded parameter (JSON value, else text)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per cell")
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep the run's files in DIR")


def add_capture_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebook", type=Path, help="the .ipynb to run and capture")
    _parameter_argument(parser, "a notebook parameter (JSON value, else text)")
    parser.add_argument("--output", "-o", type=Path, help="crate folder or .zip to write")
    parser.add_argument("--title", help="title of the captured analysis")
    parser.add_argument("--description", default="", help="what the analysis does")
    parser.add_argument("--agent", help="who ran it: a name or an ORCID URL")
    parser.add_argument(
        "--license", help="licence of the notebook and its outputs: SPDX id (CC-BY-4.0) or URL"
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per cell")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing crate")


def run_rerun(args: argparse.Namespace) -> int:
    from bioshare.reproduce.rerunning import rerun
    from bioshare.reproduce.safety import EXECUTION_WARNING

    if not args.yes:
        print(f"warning: {EXECUTION_WARNING}", file=sys.stderr)
        if not sys.stdin.isatty():
            print(
                "bioshare: error: not confirmed; pass --yes to run the notebook's code",
                file=sys.stderr,
            )
            return 2
        answer = input(f"Run the notebook from {args.source}? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("Not run.", file=sys.stderr)
            return 2
    report = rerun(
        args.source,
        parameters=_parameters(args.parameter),
        timeout=args.timeout,
        keep=args.keep,
        quiet=True,  # warned above
    )
    print(report.to_json() if args.json else report.to_markdown())
    return 0 if report.ok else 1


def run_capture(args: argparse.Namespace) -> int:
    from bioshare.reproduce.capturing import capture

    analysis = capture(
        args.notebook,
        _parameters(args.parameter),
        dest=args.output,
        title=args.title,
        description=args.description,
        agent=args.agent,
        license=args.license,
        timeout=args.timeout,
        overwrite=args.overwrite,
    )
    print(f"captured {len(analysis.outputs)} output(s) of {analysis.notebook} in {analysis.path}")
    for spec in analysis.outputs:
        print(f"  {spec.name:<24} {spec.kind:<7} sha256 {spec.sha256[:16]}")
    return 0


def _parameter_argument(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=help + "; repeatable",
    )


def _parameters(items: list[str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"parameter {item!r}: expected NAME=VALUE")
        try:
            values[name.strip()] = json.loads(text)
        except ValueError:
            values[name.strip()] = text
    return values
