"""Study metadata inside an OME-Zarr: the root group's ``bioshare`` attribute.

The study goes under ``attributes["bioshare"]["study"]`` (``zarr.json``, NGFF 0.5) or
``["bioshare"]["study"]`` (``.zattrs``, NGFF 0.4), with its title, description and
licence beside it (what ``bioshare serve`` lists). Every other key, ``ome`` and
``multiscales`` included, is kept as it was; the metadata document is replaced in one
atomic step, so a crash leaves either the old or the new document, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bioshare.errors import MetadataError, WriteError

if TYPE_CHECKING:
    from bioshare.metadata.study import Study

__all__ = ["read_study", "write_study"]

KEY = "bioshare"


def write_study(study: Study, target: str | os.PathLike[str]) -> Path:
    """Write ``study`` into the root group attributes of a local OME-Zarr.

    Parameters
    ----------
    study
        The metadata to store.
    target
        A local OME-Zarr folder (NGFF 0.4 or 0.5).

    Returns
    -------
    Path
        The metadata document that was rewritten (``zarr.json`` or ``.zattrs``).
    """
    root = Path(target).expanduser()
    if "://" in str(target) and not str(target).startswith("file://"):
        raise WriteError(
            f"cannot write metadata to {target}: only local OME-Zarr folders are written; "
            "write to a local copy and upload it"
        )
    document, zarr_format = _document(root)
    data = json.loads(document.read_text()) if document.exists() else {}
    attributes = data.setdefault("attributes", {}) if zarr_format == 3 else data
    existing = attributes.get(KEY)
    section: dict[str, Any] = existing if isinstance(existing, dict) else {}
    summary = {  # what `bioshare serve` and the local repository list for a dataset
        "title": study.title,
        "description": study.description,
        "license": study.licence,
    }
    attributes[KEY] = {
        **section,
        **{k: v for k, v in summary.items() if v},
        "study": study.model_dump(mode="json", exclude_defaults=True),
    }
    _replace(document, json.dumps(data, indent=2))
    return document


def read_study(
    source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> Study:
    """Read the study stored by `write_study` from a local or remote OME-Zarr."""
    from zarr.core.sync import sync

    from bioshare.metadata.study import Study
    from bioshare.ngff._io import read_group
    from bioshare.ngff.store import open_store

    store, url = open_store(source, storage_options)
    group = sync(read_group(store, "", url))
    section = group.attrs.get(KEY)
    if not isinstance(section, dict) or not isinstance(section.get("study"), dict):
        raise MetadataError(
            f"{url} holds no bioshare study metadata (attribute {KEY!r} with 'study'); "
            "write it with study.to_ome_zarr(path)"
        )
    return Study.model_validate(section["study"])


def _document(root: Path) -> tuple[Path, int]:
    if (root / "zarr.json").is_file():
        return root / "zarr.json", 3
    if (root / ".zgroup").is_file() or (root / ".zattrs").is_file():
        return root / ".zattrs", 2
    raise MetadataError(
        f"{root} is not a local OME-Zarr group: no zarr.json, .zgroup or .zattrs found"
    )


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
