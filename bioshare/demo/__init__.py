"""The demo repository: sample OME-Zarr datasets built offline, in 0.4 and 0.5.

``build_demo(dest)`` writes them; `DEMO_DATASETS` names and describes them; `main` is the
command-line entry (``python -m bioshare.demo DEST``). ``bioshare demo`` builds and serves.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

from bioshare.demo.datasets import DEMO_DATASETS, DEMO_VERSIONS, build_demo

__all__ = ["DEMO_DATASETS", "DEMO_VERSIONS", "build_demo", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Build the demo datasets into a folder: ``DEST [--version 0.5] [--overwrite]``."""
    parser = argparse.ArgumentParser(
        prog="python -m bioshare.demo", description="Build the bioshare demo datasets."
    )
    parser.add_argument("dest", help="folder to build into (v0.4/ and v0.5/ are created)")
    parser.add_argument(
        "--version",
        dest="versions",
        action="append",
        choices=DEMO_VERSIONS,
        help="NGFF version to build (repeatable; default: all)",
    )
    parser.add_argument("--overwrite", action="store_true", help="rebuild existing datasets")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    paths = build_demo(args.dest, versions=args.versions or DEMO_VERSIONS, overwrite=args.overwrite)
    for path in paths:
        print(path)
    print(f"{len(paths)} datasets ready in {time.perf_counter() - started:.1f} s")
    return 0
