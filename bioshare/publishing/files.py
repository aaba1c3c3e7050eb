"""What gets published: every OME-Zarr packed as a zip, other files as they are."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from bioshare.errors import BioshareError
from bioshare.metadata.models import FileReference, StudyComponent
from bioshare.metadata.study import Study
from bioshare.publishing.package import PackedFile, file_md5, is_ome_zarr, zip_ome_zarr

__all__ = [
    "collect",
    "fingerprint",
    "prepare",
    "source_bytes",
    "with_file_list",
    "with_packed_files",
]

Progress = Callable[[int], object] | None


def collect(path: Path) -> list[tuple[Path, str]]:
    """The sources under ``path`` and the file name each gets in the record.

    An OME-Zarr folder becomes ``<name>.zip``; a folder of things, each OME-Zarr in it and
    every other file (by relative path, ``/`` replaced by ``__`` as records are flat).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path}: nothing to publish there")
    if is_ome_zarr(path):
        return [(path, f"{path.name}.zip")]
    if path.is_file():
        return [(path, path.name)]
    found: list[tuple[Path, str]] = []
    _walk(path, path, found)
    if not found:
        raise BioshareError(f"{path} is an empty folder; expected OME-Zarr images or files")
    names = [name for _, name in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise BioshareError(f"{path}: two sources would be published as {duplicates[0]!r}")
    return found


def _walk(root: Path, folder: Path, found: list[tuple[Path, str]]) -> None:
    for child in sorted(folder.iterdir()):
        if child.name.startswith("."):
            continue
        relative = child.relative_to(root).as_posix().replace("/", "__")
        if is_ome_zarr(child):
            found.append((child, f"{relative}.zip"))
        elif child.is_dir():
            _walk(root, child, found)
        else:
            found.append((child, relative))


def source_bytes(sources: list[tuple[Path, str]]) -> int:
    """Bytes to read to publish ``sources`` (for progress bars)."""
    total = 0
    for source, _ in sources:
        if source.is_dir():
            total += sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
        else:
            total += source.stat().st_size
    return total


def fingerprint(source: Path) -> str:
    """Cheap identity of a source's content: every file's path, size and mtime."""
    digest = hashlib.sha256()
    paths = sorted(source.rglob("*")) if source.is_dir() else [source]
    for path in paths:
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def prepare(
    sources: list[tuple[Path, str]],
    staging: Path,
    *,
    known: dict[str, dict[str, object]] | None = None,
    progress: Progress = None,
) -> list[PackedFile]:
    """Pack OME-Zarr sources into ``staging`` and checksum the rest.

    ``known`` maps a file name to the ``fingerprint`` and md5 of an earlier run: a zip
    already in ``staging`` for an unchanged source is reused, not rebuilt.
    """
    known = known or {}
    packed: list[PackedFile] = []
    for source, name in sources:
        previous = known.get(name) or {}
        target = staging / name
        if source.is_dir():
            if (
                target.exists()
                and previous.get("fingerprint") == fingerprint(source)
                and previous.get("md5")
            ):
                packed.append(PackedFile(name, target, target.stat().st_size, str(previous["md5"])))
                continue
            packed.append(zip_ome_zarr(source, target, progress=progress))
        else:
            md5 = file_md5(source, progress)
            packed.append(PackedFile(name, source, source.stat().st_size, md5))
    return packed


def with_file_list(study: Study, files: list[tuple[str, int, bool]]) -> Study:
    """A copy of ``study`` listing ``files`` (name, size, is OME-Zarr), when it lists none.

    A study that already has a file list keeps it: it says more than names and sizes.
    """
    described = study.model_copy(deep=True)
    if any(f.file_path for c in described.study_component for f in c.files):
        return described
    references = [
        FileReference(file_path=name, size_in_bytes=size, format="OME-Zarr" if zarr else None)
        for name, size, zarr in files
    ]
    described.study_component = [
        StudyComponent(title=described.title, description=described.description, files=references)
    ]
    return described


def with_packed_files(study: Study, packed: list[PackedFile]) -> Study:
    """`with_file_list` for the files `prepare` made (zips are OME-Zarr)."""
    return with_file_list(study, [(p.name, p.size, p.name.endswith(".zip")) for p in packed])
