"""A short description of an OME-Zarr: what `bioshare info` prints."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bioshare.errors import NotOMEZarrError
from bioshare.ngff.read import open_ome_zarr
from bioshare.ngff.store import is_remote, normalize_source

__all__ = ["describe", "format_description"]


def describe(
    source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Describe an OME-Zarr image or plate from its metadata (no pixels are read).

    Returns a JSON-serialisable dict: dims, shape, dtype, levels (path, shape, chunks,
    scale), physical pixel sizes with units, channels, uncompressed size, and size on disk
    for local sources.
    """
    url = normalize_source(source)
    tree = open_ome_zarr(url, storage_options=storage_options)
    if tree.attrs["kind"] == "plate":
        return _describe_plate(url, tree)
    if tree.attrs["kind"] != "image":
        raise NotOMEZarrError(f"{url} is a labels group; describe one of its label images")
    levels = []
    for path, node in tree.children.items():
        image = node.dataset["image"]
        levels.append(
            {
                "path": path,
                "shape": list(image.shape),
                "chunks": list(image.encoding["chunks"]),
                "scale": {d: _step(image, str(d)) for d in image.dims if _step(image, str(d))},
            }
        )
    first = tree.children[next(iter(tree.children))].dataset["image"]
    units = first.attrs.get("units", {})
    return {
        "source": url,
        "kind": "image",
        "ngff_version": first.attrs.get("ngff_version"),
        "name": first.attrs.get("multiscale_name"),
        "dims": [str(d) for d in first.dims],
        "shape": list(first.shape),
        "dtype": str(first.dtype),
        "levels": levels,
        "pixel_size": {
            d: {"value": _step(first, d), "unit": units.get(d)} for d in units if _step(first, d)
        },
        "channels": [str(c) for c in first.coords["c"].values] if "c" in first.coords else [],
        "uncompressed_bytes": int(
            sum(math.prod(lv["shape"]) for lv in levels) * first.dtype.itemsize
        ),
        "bytes_on_disk": _disk_size(url),
    }


def _describe_plate(url: str, tree: xr.DataTree) -> dict[str, Any]:
    plate = tree.attrs["plate"]
    return {
        "source": url,
        "kind": "plate",
        "name": plate.get("name"),
        "rows": [r["name"] for r in plate.get("rows", [])],
        "columns": [c["name"] for c in plate.get("columns", [])],
        "wells": len(plate.get("wells", [])),
        "fields": sum(1 for node in tree.subtree if "image" in node.dataset),
        "bytes_on_disk": _disk_size(url),
    }


def _step(image: xr.DataArray, dim: str) -> float | None:
    if dim not in image.coords or image.sizes[dim] < 2:
        return None
    values = image.coords[dim].values
    if not np.issubdtype(values.dtype, np.number):
        return None
    return float(values[1] - values[0])


def _disk_size(url: str) -> int | None:
    if is_remote(url):
        return None  # would need a listing, which bioshare never does remotely
    path = Path(url)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def format_description(info: dict[str, Any]) -> str:
    """Render `describe` output as a few aligned lines for a terminal."""
    lines = [f"source:       {info['source']}"]
    if info["kind"] == "plate":
        lines += [
            "kind:         HCS plate",
            f"rows:         {', '.join(info['rows'])}",
            f"columns:      {', '.join(info['columns'])}",
            f"wells:        {info['wells']} ({info['fields']} fields)",
        ]
    else:
        sizes = ", ".join(
            f"{d}={v['value']:g} {v['unit'] or ''}".rstrip() for d, v in info["pixel_size"].items()
        )
        lines += [
            f"ngff version: {info['ngff_version']}",
            f"dims:         {' '.join(info['dims'])}",
            f"shape:        {' x '.join(map(str, info['shape']))}",
            f"dtype:        {info['dtype']}",
            f"pixel size:   {sizes or 'not given'}",
            f"channels:     {', '.join(info['channels']) or '-'}",
            f"levels:       {len(info['levels'])}",
        ]
        for level in info["levels"]:
            chunks = " x ".join(map(str, level["chunks"]))
            lines.append(
                f"  {level['path']:>8}: {' x '.join(map(str, level['shape']))}  chunks {chunks}"
            )
        lines.append(f"uncompressed: {_human(info['uncompressed_bytes'])}")
    on_disk = info.get("bytes_on_disk")
    lines.append(f"on disk:      {_human(on_disk) if on_disk is not None else 'unknown (remote)'}")
    return "\n".join(lines)


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    raise AssertionError("unreachable")
