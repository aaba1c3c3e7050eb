"""The ``bioshare`` command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bioshare import __version__
from bioshare.errors import BioshareError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``bioshare`` command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except (BioshareError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"bioshare: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bioshare", description="Find, stream, describe and share bioimage data."
    )
    parser.add_argument("--version", action="version", version=f"bioshare {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        name: str, help: str, run: Callable[[argparse.Namespace], int | None]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(run=run)
        return sub

    demo = command("demo", "build the demo repository, serve it and open JupyterLab", _demo)
    demo.add_argument("--data", type=Path, help="where to build the demo data")
    demo.add_argument("--port", type=int, default=8765, help="repository server port")
    demo.add_argument("--lab-port", type=int, default=8888, help="JupyterLab port")
    demo.add_argument("--notebook", type=Path, default=Path("notebooks/00-tour.ipynb"))
    demo.add_argument("--build-only", action="store_true", help="build the data and stop")
    demo.add_argument("--no-lab", action="store_true", help="serve the data without JupyterLab")

    serve = command("serve", "serve a folder of OME-Zarr datasets over HTTP", _serve)
    serve.add_argument("directory", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    info = command("info", "describe an OME-Zarr image or plate", _info)
    info.add_argument("source", help="URL or path of an OME-Zarr")
    info.add_argument("--json", action="store_true", help="print JSON")

    validate = command("validate", "check an OME-Zarr against the OME-NGFF spec", _validate)
    validate.add_argument("source", help="URL or path of an OME-Zarr")
    validate.add_argument("--strict", action="store_true", help="apply the strict schemas")
    validate.add_argument("--json", action="store_true", help="print JSON")
    return parser


def _demo(args: argparse.Namespace) -> int:
    from bioshare.demo.run import run_demo

    return run_demo(
        data=args.data,
        port=args.port,
        lab_port=args.lab_port,
        notebook=args.notebook,
        build_only=args.build_only,
        lab=not args.no_lab,
    )


def _serve(args: argparse.Namespace) -> int:
    from bioshare.server import serve

    serve(args.directory, host=args.host, port=args.port)
    return 0


def _info(args: argparse.Namespace) -> int:
    from bioshare.ngff.info import describe, format_description

    info = describe(args.source)
    print(json.dumps(info, indent=2) if args.json else format_description(info))
    return 0


def _validate(args: argparse.Namespace) -> int:
    from bioshare.ngff.validate import validate

    report = validate(args.source, strict=args.strict)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
