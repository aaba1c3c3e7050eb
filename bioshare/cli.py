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

    search = command("search", "search datasets across repositories", _search)
    search.add_argument("query", nargs="?", default="", help="words to search for")
    search.add_argument(
        "--repo",
        help="comma-separated repositories (default: the public ones and a running local one)",
    )
    search.add_argument("--organism", help="organism name or NCBITaxon CURIE")
    search.add_argument("--imaging-method", help="imaging method name or FBbi CURIE")
    search.add_argument("--license", help="licence, e.g. CC-BY-4.0")
    search.add_argument("--has-ome-zarr", action="store_true", help="only streamable datasets")
    search.add_argument("--limit", type=int, default=20)
    search.add_argument("--page", type=int, default=1)
    search.add_argument("--timeout", type=float, default=10.0, help="seconds per repository")
    search.add_argument("--offline", action="store_true", help="answer from the offline index")
    search.add_argument("--json", action="store_true", help="print JSON")

    index = command("index", "build the offline search index", _index)
    index.add_argument("action", choices=["update", "info"])
    index.add_argument(
        "--repo",
        help="comma-separated repositories (default: the public ones and a running local one)",
    )
    index.add_argument("--per-repo", type=int, default=1000, help="records per repository")

    annotate = command("annotate", "describe data with REMBI metadata spreadsheets", _annotate)
    from bioshare.metadata.commands import add_parser as add_annotate_actions

    add_annotate_actions(annotate)

    publish = command(
        "publish", "publish a dataset with a DOI (or to the local repository)", _publish
    )
    from bioshare.publishing.commands import add_arguments as add_publish_arguments

    add_publish_arguments(publish)

    from bioshare.reproduce import commands as reproduce_commands

    capture = command(
        "capture",
        "run a notebook and capture it as a Process Run Crate",
        reproduce_commands.run_capture,
    )
    reproduce_commands.add_capture_arguments(capture)
    rerun = command(
        "rerun", "re-run a captured analysis and compare its outputs", reproduce_commands.run_rerun
    )
    reproduce_commands.add_rerun_arguments(rerun)

    fetch = command("fetch", "download data sets into the cache (checked by sha256)", _fetch)
    fetch.add_argument("what", choices=["course"], help="which data: the course datasets")
    fetch.add_argument("--mirror", help="base URL of a mirror (default: BIOSHARE_DATA_MIRROR)")
    fetch.add_argument(
        "--build-mirror",
        type=Path,
        metavar="DIR",
        help="build the files into DIR (offline) for `bioshare serve DIR`, instead of fetching",
    )

    validate = command("validate", "check an OME-Zarr against the OME-NGFF spec", _validate)
    validate.add_argument("source", help="URL or path of an OME-Zarr")
    validate.add_argument("--strict", action="store_true", help="apply the strict schemas")
    validate.add_argument("--json", action="store_true", help="print JSON")

    from bioshare.privacy import commands as privacy_commands

    convert = command(
        "convert", "convert DICOM or NIfTI (or OME-Zarr) to OME-Zarr", privacy_commands.run_convert
    )
    privacy_commands.add_convert_arguments(convert)
    privacy = command(
        "privacy", "find and remove identifying data in DICOM/NIfTI", privacy_commands.run_privacy
    )
    privacy_commands.add_privacy_arguments(privacy)
    return parser


def _annotate(args: argparse.Namespace) -> int:
    from bioshare.metadata.commands import run

    return run(args)


def _publish(args: argparse.Namespace) -> int:
    from bioshare.publishing.commands import run

    return run(args)


def _fetch(args: argparse.Namespace) -> int:
    from bioshare.datasets import build_course_mirror, fetch_course

    if args.build_mirror is not None:
        files = build_course_mirror(args.build_mirror, log=print)
        print(f"{len(files)} course files in {args.build_mirror}; serve them to learners with")
        print(f"  bioshare serve {args.build_mirror} --host 0.0.0.0 --port 8000")
        print("and set BIOSHARE_DATA_MIRROR=http://<this machine>:8000 on their side")
        return 0
    files = fetch_course(args.mirror, progress=sys.stderr.isatty(), log=print)
    print(f"{len(files)} course files ready in {next(iter(files.values())).parent}")
    return 0


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


def _repositories(text: str | None) -> list[str] | None:
    return [name.strip() for name in text.split(",") if name.strip()] if text else None


def _search(args: argparse.Namespace) -> int:
    from bioshare.catalog.search import search

    results = search(
        args.query,
        repositories=_repositories(args.repo),
        limit=args.limit,
        page=args.page,
        timeout=args.timeout,
        offline=True if args.offline else None,
        organism=args.organism,
        imaging_method=args.imaging_method,
        license=args.license,
        has_ome_zarr=True if args.has_ome_zarr else None,
    )
    if args.json:
        document = {
            "query": results.query,
            "total": results.total,
            "offline": results.offline,
            "repositories": [vars(s) for s in results.statuses],
            "results": [r.to_dict() for r in results],
        }
        print(json.dumps(document, indent=2))
        return 0
    for status in results.statuses:
        if status.ok:
            print(f"{status.repository:>10}: {status.count} result(s) in {status.seconds:.2f} s")
        else:
            print(f"{status.repository:>10}: failed: {status.error}")
    if results.offline:
        print("(answered from the offline index)")
    print(f"{results.total} dataset(s); showing {len(results)}:")
    for record in results:
        marker = "zarr" if record.has_ome_zarr else "    "
        print(f"  [{marker}] {record.repository}:{record.id}  {record.title}")
    return 0


def _index(args: argparse.Namespace) -> int:
    from bioshare.catalog.index import RecordIndex
    from bioshare.repositories.registry import default_repositories

    with RecordIndex() as index:
        if args.action == "update":
            names = _repositories(args.repo) or default_repositories()
            outcome = index.harvest(names, per_repository=args.per_repo)
            for name, result in outcome.items():
                print(
                    f"{name:>10}: "
                    + (f"{result} record(s)" if isinstance(result, int) else f"failed: {result}")
                )
        print(f"{len(index)} record(s) in {index.path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from bioshare.ngff.validate import validate

    report = validate(args.source, strict=args.strict)
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.to_text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
