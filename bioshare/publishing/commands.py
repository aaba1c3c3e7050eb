"""``bioshare publish``: from the command line, with ``--resume`` for interrupted runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from bioshare.errors import BioshareError

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", type=Path, help="an OME-Zarr, a folder, or a file")
    parser.add_argument("--metadata", type=Path, help="the filled metadata spreadsheet")
    parser.add_argument(
        "--target",
        default="local",
        help="local (default), zenodo, invenio:<base-url> or datacite",
    )
    parser.add_argument(
        "--production",
        action="store_true",
        help="zenodo/datacite: the real service, not the sandbox",
    )
    parser.add_argument("--dry-run", action="store_true", help="check and list, send nothing")
    parser.add_argument("--new-version-of", metavar="DOI", help="publish a new version of DOI")
    parser.add_argument("--url", help="datacite: the landing page of the data")
    parser.add_argument("--local-root", type=Path, help="local: the folder the server serves")
    parser.add_argument(
        "--resume", action="store_true", help="finish the last interrupted publication"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument(
        "--analysis",
        type=Path,
        metavar="CRATE",
        help="a captured analysis (`bioshare capture`) to publish with the data",
    )
    parser.add_argument(
        "--allow-identifiable",
        action="store_true",
        help="publish DICOM/NIfTI data even if it holds identifying data (public data; logged)",
    )


def run(args: argparse.Namespace) -> int:
    from bioshare.publishing.api import publish
    from bioshare.publishing.publication import Publication

    path, metadata, target, sandbox = args.path, args.metadata, args.target, not args.production
    if args.resume and path is None:
        path, metadata, target, sandbox = _last_unfinished()
    if path is None or metadata is None:
        raise BioshareError("give the data and its metadata: bioshare publish PATH --metadata FILE")
    result = publish(
        path,
        metadata,
        target=target,
        sandbox=sandbox,
        dry_run=args.dry_run,
        resume=True,
        new_version_of=args.new_version_of,
        url=args.url,
        local_root=args.local_root,
        progress=not args.no_progress,
        allow_identifiable=getattr(args, "allow_identifiable", False),
        analysis=getattr(args, "analysis", None),
    )
    if not isinstance(result, Publication):
        print(result)
        return 0
    print(f"Published to {result.target}: {result.title}")
    if result.doi:
        print(f"DOI: {result.doi}")
    else:
        print(f"Identifier: {result.record_id} (local to this machine, not a DOI)")
    print(f"URL: {result.url}")
    print(f"Cite as: {result.citation()}")
    return 0


def _last_unfinished() -> tuple[Path, Path, str, bool]:
    from bioshare.publishing.journal import unfinished_journals

    for journal in unfinished_journals():
        if journal.metadata_path:
            print(f"Resuming the publication of {journal.source} to {journal.target}")
            return (
                Path(journal.source),
                Path(journal.metadata_path),
                journal.target,
                journal.sandbox,
            )
    raise BioshareError(
        "no interrupted publication to resume (started from the command line with --metadata)"
    )
