"""Course data: small zipped OME-Zarr datasets, fetched once with pooch and checked by hash.

The files and their sha256 are listed in ``bioshare/data/course-registry.txt`` (shipped
with the package). `fetch_course` puts them into ``<cache>/course``:

- from a mirror, when one is given or ``BIOSHARE_DATA_MIRROR`` names one (an instructor's
  ``bioshare serve`` on the classroom network, for example); every file is checked against
  its registry hash and a file that does not match is refused;
- otherwise by building them here from the demo generators (scikit-image pictures and seeded
  synthetic data): no network at all, and the same bytes as every mirror.

After one fetch everything runs offline: `course_path` only checks the cached files.
`build_course_mirror` writes the files into a folder for ``bioshare serve`` to serve.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from bioshare import config
from bioshare.errors import BioshareError, RemoteAccessError
from bioshare.publishing.package import file_sha256

__all__ = [
    "COURSE_DATASETS",
    "CourseDataError",
    "build_course_mirror",
    "course_dir",
    "course_path",
    "course_registry",
    "fetch_course",
]

# File name -> the demo dataset it is a zip of (the demo's NGFF 0.5 build) and one line.
COURSE_DATASETS: dict[str, tuple[str, str]] = {
    "mitosis.ome.zarr.zip": (
        "v0.5/mitosis.ome.zarr",
        "3D time-lapse of dividing nuclei with a 'nuclei' label image (t, c, z, y, x)",
    ),
    "cells.ome.zarr.zip": ("v0.5/cells.ome.zarr", "quantitative phase image of a cell (y, x)"),
    "ihc.ome.zarr.zip": (
        "v0.5/ihc.ome.zarr",
        "immunohistochemistry slide unmixed into three stains (c, y, x)",
    ),
    "plate.ome.zarr.zip": ("v0.5/plate.ome.zarr", "HCS plate, 2 rows x 3 columns x 2 fields"),
}


class CourseDataError(BioshareError, ValueError):
    """A course file is missing, or its content does not match the registry hash."""


def course_registry() -> dict[str, str]:
    """The course files and their sha256 (hex), from the registry shipped with bioshare."""
    text = resources.files("bioshare").joinpath("data/course-registry.txt").read_text()
    registry = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].startswith("sha256:"):
            raise CourseDataError(
                f"course-registry.txt line {number}: expected 'NAME sha256:HEX', got {line!r}"
            )
        registry[parts[0]] = parts[1].removeprefix("sha256:")
    return registry


def course_dir() -> Path:
    """Where fetched course files live: ``<bioshare cache>/course``."""
    return config.cache_dir() / "course"


def fetch_course(
    mirror: str | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], object] | None = None,
) -> dict[str, Path]:
    """Put every course file into the cache, checked against its registry hash.

    Files already cached with the right hash are kept (no network). The others come from
    ``mirror`` (default ``BIOSHARE_DATA_MIRROR``) or, with no mirror, are built here from
    the demo generators. With ``BIOSHARE_OFFLINE=1`` nothing is downloaded.

    Parameters
    ----------
    mirror
        Base URL of a course mirror: the files sit at ``<mirror>/<file name>``.
    progress
        Show a progress bar per download.
    log
        Called with one line per file (where it came from).

    Returns
    -------
    dict of str to Path
        File name -> cached path.

    Raises
    ------
    CourseDataError
        A file from the mirror (or built here) does not match its registry hash.
    RemoteAccessError
        The mirror could not be reached or does not have a file.
    """
    registry = course_registry()
    folder = course_dir()
    folder.mkdir(parents=True, exist_ok=True)
    say = log or (lambda _line: None)
    missing = [name for name, digest in registry.items() if not _matches(folder / name, digest)]
    for name in registry:
        if name not in missing:
            say(f"{name}: cached")
    if missing and config.offline():
        raise CourseDataError(
            f"course files {', '.join(missing)} are not in {folder} and BIOSHARE_OFFLINE is "
            "set; run `bioshare fetch course` once while online"
        )
    mirror = (mirror or config.data_mirror() or "").rstrip("/")
    if missing and mirror:
        _download(mirror, folder, {name: registry[name] for name in missing}, progress, say)
    elif missing:
        _build(folder, missing, registry, say)
    return {name: folder / name for name in registry}


def course_path(name: str) -> Path:
    """The cached path of one course file, fetched first if needed (see `fetch_course`).

    ``name`` is a file name of the registry (``"mitosis.ome.zarr.zip"``) or its stem
    (``"mitosis"``).
    """
    registry = course_registry()
    file = name if name in registry else f"{name}.ome.zarr.zip"
    if file not in registry:
        raise KeyError(f"no course dataset {name!r}; expected one of: {', '.join(registry)}")
    path = course_dir() / file
    if _matches(path, registry[file]):
        return path
    return fetch_course()[file]


def build_course_mirror(
    dest: str | Path, *, log: Callable[[str], object] | None = None
) -> dict[str, Path]:
    """Build every course file into ``dest``, for ``bioshare serve dest`` to serve.

    The files are built offline from the demo generators, deterministically: their sha256
    equal the registry's (checked; a mismatch raises `CourseDataError`).

    Returns
    -------
    dict of str to Path
        File name -> built path.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    registry = course_registry()
    _build(dest, list(registry), registry, log or (lambda _line: None))
    return {name: dest / name for name in registry}


def _build(
    folder: Path, names: list[str], registry: dict[str, str], say: Callable[[str], object]
) -> None:
    from bioshare.demo import build_demo
    from bioshare.publishing.package import zip_ome_zarr

    with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
        build_demo(tmp, versions=["0.5"])
        for name in names:
            staged = Path(tmp) / name
            zip_ome_zarr(Path(tmp) / COURSE_DATASETS[name][0], staged)
            digest = file_sha256(staged)
            if digest != registry[name]:
                raise CourseDataError(
                    f"built course file {name} has sha256 {digest}, but the registry expects "
                    f"{registry[name]}: this environment's libraries write different bytes "
                    "(compare zarr/numcodecs/scikit-image versions with the mirror's)"
                )
            os.replace(staged, folder / name)
            say(f"{name}: built here (sha256 {digest[:12]}...)")


def _download(
    mirror: str,
    folder: Path,
    registry: dict[str, str],
    progress: bool,
    say: Callable[[str], object],
) -> None:
    import pooch
    import requests

    fetcher = pooch.create(
        path=folder,
        base_url=f"{mirror}/",
        registry={name: f"sha256:{digest}" for name, digest in registry.items()},
        retry_if_failed=2,
    )
    for name, digest in registry.items():
        url = f"{mirror}/{name}"
        try:
            fetcher.fetch(name, progressbar=progress)
        except ValueError as exc:  # pooch: hash mismatch (the download is deleted)
            raise CourseDataError(
                f"{url}: course file {name} does not match its registry sha256 {digest}; the "
                f"mirror is corrupt or out of date ({exc})"
            ) from None
        except requests.RequestException as exc:
            raise RemoteAccessError(
                f"could not download {url} from the course mirror: {exc}"
            ) from None
        say(f"{name}: downloaded from {mirror}")


def _matches(path: Path, digest: str) -> bool:
    return path.is_file() and file_sha256(path) == digest
