"""Dataset summaries read from OME-Zarr metadata on disk (folders and zips), no zarr needed."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

__all__ = ["find_datasets", "summarize"]

_NGFF_KEYS = ("multiscales", "plate", "bioformats2raw.layout")


class _Reader:
    """Read JSON documents from an OME-Zarr folder or zip by relative key."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        if path.is_file():
            self.zip = zipfile.ZipFile(path)
            names = set(self.zip.namelist())
            if not ({"zarr.json", ".zattrs"} & names):
                tops = {n.split("/", 1)[0] for n in names if "/" in n}
                if len(tops) == 1:
                    self.prefix = f"{tops.pop()}/"

    def json(self, key: str) -> dict[str, Any] | None:
        try:
            if self.zip is not None:
                data = self.zip.read(self.prefix + key)
            else:
                data = (self.path / key).read_bytes()
            value = json.loads(data)
        except (KeyError, OSError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _group(reader: _Reader, key: str = "") -> tuple[int, dict[str, Any]] | None:
    prefix = f"{key}/" if key else ""
    v3 = reader.json(f"{prefix}zarr.json")
    if v3 is not None and v3.get("node_type") == "group":
        return 3, dict(v3.get("attributes") or {})
    v2 = reader.json(f"{prefix}.zattrs")
    return (2, v2) if v2 is not None else None


def _ome(attrs: dict[str, Any]) -> dict[str, Any]:
    return attrs["ome"] if isinstance(attrs.get("ome"), dict) else attrs


def is_ome_zarr(path: Path) -> bool:
    """True when ``path`` (a folder or a zip) holds OME-NGFF group metadata at its root."""
    try:
        reader = _Reader(path)
    except (OSError, zipfile.BadZipFile):
        return False
    try:
        found = _group(reader)
    finally:
        reader.close()
    return found is not None and any(k in _ome(found[1]) for k in _NGFF_KEYS)


def find_datasets(root: Path) -> Iterator[Path]:
    """OME-Zarr datasets at the top of ``root`` and one folder deeper, never inside one."""
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix.lower() == ".zip" and is_ome_zarr(entry):
            yield entry
        elif entry.is_dir():
            if is_ome_zarr(entry):
                yield entry
                continue
            for child in sorted(entry.iterdir()):
                if child.name.startswith("."):
                    continue
                if (child.is_dir() or child.suffix.lower() == ".zip") and is_ome_zarr(child):
                    yield child


def summarize(path: Path, root: Path) -> dict[str, Any]:
    """What the search API says about one dataset, read from its metadata."""
    reader = _Reader(path)
    try:
        found = _group(reader)
        assert found is not None
        zarr_format, attrs = found
        ome = _ome(attrs)
        extra: dict[str, Any] = attrs["bioshare"] if isinstance(attrs.get("bioshare"), dict) else {}
        name = PurePosixPath(path.relative_to(root).as_posix()).as_posix()
        summary: dict[str, Any] = {
            "name": name,
            "url": f"/{name}",
            "title": str(extra.get("title") or path.name),
            "description": str(extra.get("description") or ""),
            "license": extra.get("license"),
            "ngff_version": _version(ome),
            "size_bytes": _size(path),
        }
        if "plate" in ome:
            summary.update(_plate_summary(ome["plate"]))
            if not extra.get("title") and ome["plate"].get("name"):
                summary["title"] = str(ome["plate"]["name"])
        else:
            image_key = ""
            if "multiscales" not in ome:  # bioformats2raw: describe series 0
                image_key = "0"
                found = _group(reader, image_key)
                ome = _ome(found[1]) if found else {}
                summary["kind"] = "bioformats2raw"
            else:
                summary["kind"] = "image"
            summary.update(_image_summary(reader, ome, image_key, zarr_format))
            if not extra.get("title") and summary.get("multiscale_name"):
                summary["title"] = summary["multiscale_name"]
        summary.pop("multiscale_name", None)
        return summary
    finally:
        reader.close()


def _version(ome: dict[str, Any]) -> str | None:
    if "version" in ome:
        return str(ome["version"])
    for key in ("multiscales", "plate"):
        value = ome.get(key)
        entry = value[0] if isinstance(value, list) and value else value
        if isinstance(entry, dict) and "version" in entry:
            return str(entry["version"])
    return None


def _image_summary(
    reader: _Reader, ome: dict[str, Any], key: str, zarr_format: int
) -> dict[str, Any]:
    multiscales = ome.get("multiscales") or [{}]
    entry = multiscales[0]
    axes = entry.get("axes") or []
    dims = [a["name"] if isinstance(a, dict) else str(a) for a in axes]
    datasets = entry.get("datasets") or []
    shape, dtype = None, None
    if datasets:
        prefix = f"{key}/" if key else ""
        array_key = f"{prefix}{datasets[0]['path']}/" + (
            "zarr.json" if zarr_format == 3 else ".zarray"
        )
        meta = reader.json(array_key) or {}
        shape = meta.get("shape")
        raw = meta.get("data_type") or meta.get("dtype")
        dtype = _dtype_name(raw)
    scale: dict[str, Any] = {}
    transforms = datasets[0].get("coordinateTransformations", []) if datasets else []
    values = next((t.get("scale") for t in transforms if t.get("type") == "scale"), None)
    for i, axis in enumerate(axes):
        if isinstance(axis, dict) and axis.get("type") in ("space", "time") and values:
            scale[axis["name"]] = {"value": values[i], "unit": axis.get("unit")}
    channels = [str(c.get("label", "")) for c in (ome.get("omero") or {}).get("channels", [])]
    labels_group = _group(reader, f"{key}/labels" if key else "labels")
    labels = list(_ome(labels_group[1]).get("labels", [])) if labels_group else []
    return {
        "multiscale_name": entry.get("name"),
        "dims": dims,
        "shape": shape,
        "dtype": dtype,
        "scale": scale,
        "channels": channels,
        "levels": len(datasets),
        "labels": labels,
    }


def _plate_summary(plate: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "plate",
        "rows": [r.get("name") for r in plate.get("rows", [])],
        "columns": [c.get("name") for c in plate.get("columns", [])],
        "wells": len(plate.get("wells", [])),
        "field_count": plate.get("field_count"),
    }


def _dtype_name(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return str(np.dtype(raw))
    except TypeError:
        return raw


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
