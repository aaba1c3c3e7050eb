"""Write xarray images as OME-Zarr 0.4 or 0.5, with a pyramid, channels and labels."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from zarr.codecs import BloscCodec

from bioshare._version import __version__
from bioshare.errors import WriteError
from bioshare.ngff.store import is_remote, normalize_source

__all__ = ["write_atomically", "write_group_metadata", "write_image"]

NGFF_VERSIONS = ("0.4", "0.5")
_AXIS_ORDER = {"time": 0, "channel": 1, "custom": 1, "space": 2}
_AXIS_TYPES = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
_TARGET_CHUNK_BYTES = 2**20
_BLOCK_BYTES = 64 * 2**20
_DEFAULT_COLORS = ("FF0000", "00FF00", "0000FF", "FF00FF", "00FFFF", "FFFF00", "FFFFFF")


def write_image(
    data: xr.DataArray | xr.DataTree | np.ndarray[Any, Any],
    dest: str | os.PathLike[str],
    *,
    ngff_version: str = "0.5",
    chunks: Mapping[str, int] | tuple[int, ...] | None = None,
    levels: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    labels: Mapping[str, xr.DataArray] | None = None,
    dims: tuple[str, ...] | None = None,
    name: str | None = None,
    overwrite: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> str:
    """Write an image as an OME-Zarr with a multiscale pyramid.

    Parameters
    ----------
    data
        A `DataArray` (dims among t, c, z, y, x or custom names; physical coordinates and
        ``units`` attrs become the NGFF scale, translation and units), a `DataTree` as
        returned by `open_multiscales` (its levels are written as they are), or a numpy
        array with ``dims``.
    dest
        Local path (written beside and renamed at the end, so a half-written image never
        looks valid) or a writable URL such as ``s3://bucket/image.ome.zarr``.
    ngff_version
        "0.5" (Zarr v3, default) or "0.4" (Zarr v2).
    chunks
        Chunk size per dimension (dict by name, or tuple); by default about 1 MiB chunks
        that are whole planes in y and x where possible.
    levels
        Number of pyramid levels; by default halve y and x until a level fits one chunk.
    metadata
        Extra JSON written under the ``bioshare`` key of the group attributes.
    labels
        Label images (integer arrays with the image's spatial dims) by name.
    overwrite
        Replace an existing destination.

    Returns
    -------
    str
        The destination URL or absolute path.
    """
    if ngff_version not in NGFF_VERSIONS:
        raise WriteError(
            f"ngff_version={ngff_version!r} cannot be written; expected one of {NGFF_VERSIONS}"
        )
    pyramid, label_arrays = _as_pyramid(data, dims)
    labels = {**label_arrays, **dict(labels or {})}
    target = normalize_source(dest)
    if is_remote(target):
        store = zarr.storage.FsspecStore.from_url(target, storage_options=storage_options)
        _write_all(store, pyramid, labels, ngff_version, chunks, levels, metadata, name)
        return target
    return write_atomically(
        Path(target),
        lambda path: _write_all(
            zarr.storage.LocalStore(path),
            pyramid,
            labels,
            ngff_version,
            chunks,
            levels,
            metadata,
            name,
        ),
        overwrite=overwrite,
    )


def write_atomically(dest: Path, write: Callable[[Path], Any], *, overwrite: bool = False) -> str:
    """Run ``write(staging)`` into a folder beside ``dest``, then rename it onto ``dest``.

    A half-written folder never sits at ``dest``; an existing ``dest`` is moved aside only
    once the new one is complete (and only with ``overwrite=True``).
    """
    if dest.exists() and not overwrite:
        raise WriteError(f"{dest} already exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    staging = dest.with_name(f".{dest.name}.tmp-{token}")
    try:
        write(staging)
        if dest.exists():
            trash = dest.with_name(f".{dest.name}.old-{token}")
            dest.rename(trash)
            staging.rename(dest)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return str(dest)


# -- preparing the input ------------------------------------------------------------------


@dataclass(frozen=True)
class _Axis:
    name: str
    type: str | None
    unit: str | None


def _as_pyramid(
    data: Any, dims: tuple[str, ...] | None
) -> tuple[list[xr.DataArray], dict[str, xr.DataArray]]:
    """Return the given levels (one unless a DataTree) and labels found in a DataTree."""
    if isinstance(data, xr.DataTree):
        paths = data.attrs.get("levels") or [p for p, c in data.children.items() if "image" in c]
        levels: list[xr.DataArray] = [
            data[path].dataset["image"] for path in paths if "image" in data[path].dataset
        ]
        if not levels:
            raise WriteError("the DataTree has no child with an 'image' variable to write")
        labels: dict[str, xr.DataArray] = {}
        if "labels" in data.children:
            for label_name, tree in data["labels"].children.items():
                first = tree.attrs.get("levels", [next(iter(tree.children))])[0]
                labels[str(label_name)] = tree[first].dataset["image"]
        return [_canonical(level) for level in levels], labels
    if isinstance(data, np.ndarray):
        if dims is None:
            raise WriteError("a numpy array needs dims=, e.g. dims=('z', 'y', 'x')")
        data = xr.DataArray(data, dims=dims)
    if not isinstance(data, xr.DataArray):
        raise WriteError(
            f"cannot write {type(data).__name__}; expected an xarray DataArray, DataTree or "
            "numpy array"
        )
    return [_canonical(data)], {}


def _axis_type(dim: str) -> str | None:
    return _AXIS_TYPES.get(dim)


def _canonical(array: xr.DataArray) -> xr.DataArray:
    """Check the dims and order them as NGFF requires: time, channel/custom, space."""
    dims = [str(d) for d in array.dims]
    if not 2 <= len(dims) <= 5:
        raise WriteError(f"an OME-Zarr image has 2 to 5 dims; got {len(dims)}: {dims}")
    spatial = [d for d in dims if _axis_type(d) == "space"]
    if len(spatial) < 2:
        raise WriteError(f"dims {dims} need at least two spatial dims among 'z', 'y', 'x'")
    others = [d for d in dims if _axis_type(d) not in ("space", "time")]
    if len(others) > 1:
        raise WriteError(
            f"dims {dims} have more than one channel/custom dim ({others}); NGFF allows one"
        )
    spatial_order = [d for d in ("z", "y", "x") if d in dims]
    order = [d for d in dims if _axis_type(d) == "time"] + others + spatial_order
    # Coordinates that are not an axis (a scalar left by .sel(c="DAPI") or .isel(t=0), or
    # an auxiliary one) have no place in NGFF metadata.
    extra = [name for name in array.coords if name not in array.dims]
    return array.drop_vars(extra).transpose(*order)


def _axes(array: xr.DataArray) -> list[_Axis]:
    units = array.attrs.get("units", {}) if isinstance(array.attrs.get("units"), dict) else {}
    axes = []
    for dim in map(str, array.dims):
        kind = _axis_type(dim) or "custom"
        unit = None
        if dim in array.coords:
            unit = array.coords[dim].attrs.get("units") or None
        unit = unit or units.get(dim)
        axes.append(
            _Axis(dim, None if kind == "custom" else kind, unit if kind != "channel" else None)
        )
    return axes


def _transform(array: xr.DataArray) -> tuple[list[float], list[float]]:
    """Scale and translation per dim, from regularly spaced numeric coordinates."""
    scale, translation = [], []
    for dim in map(str, array.dims):
        s, t = 1.0, 0.0
        coord = array.coords.get(dim)
        if coord is not None and np.issubdtype(coord.dtype, np.number):
            values = np.asarray(coord.values, dtype=float)
            t = _tidy(float(values[0])) if values.size else 0.0
            if values.size > 1:
                steps = np.diff(values)
                s = _tidy(float(values[-1] - values[0]) / (values.size - 1))
                if s <= 0 or not np.allclose(steps, s, rtol=1e-6, atol=1e-12 * abs(s)):
                    raise WriteError(
                        f"coordinate {dim!r} is not regularly increasing (steps from "
                        f"{steps.min():g} to {steps.max():g}); NGFF needs a constant scale"
                    )
            elif "scale" in coord.attrs:
                s = float(coord.attrs["scale"])
        scale.append(s)
        translation.append(t)
    return scale, translation


def _tidy(value: float) -> float:
    """Drop float noise from coordinate arithmetic: 0.10700000000000001 -> 0.107."""
    return float(f"{value:.12g}")


# -- chunks and pyramid ---------------------------------------------------------------------


def _chunk_shape(array: xr.DataArray, chunks: Any) -> tuple[int, ...]:
    """Chunk sizes: about 1 MiB, whole y/x tiles first, then z; ``chunks`` overrides."""
    shape = tuple(int(n) for n in array.shape)
    dims = [str(d) for d in array.dims]
    result = _default_chunks(shape, dims, array.dtype.itemsize)
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - set(dims)
        if unknown:
            raise WriteError(f"chunks name dims {sorted(unknown)} not in the image's {dims}")
        result = [int(chunks.get(d, c)) for d, c in zip(dims, result, strict=True)]
    elif chunks is not None:
        result = [int(c) for c in chunks]
        if len(result) != len(dims):
            raise WriteError(f"chunks {tuple(result)} must have one size per dim {dims}")
    return tuple(max(1, min(c, n)) for c, n in zip(result, shape, strict=True))


def _default_chunks(shape: tuple[int, ...], dims: list[str], itemsize: int) -> list[int]:
    budget = _TARGET_CHUNK_BYTES // itemsize
    side = 2 ** int(np.floor(np.log2(np.sqrt(budget))))
    result = [1] * len(dims)
    for i in (len(dims) - 2, len(dims) - 1):  # the last two dims are y, x (or z, y)
        result[i] = min(shape[i], side)
    used = int(np.prod(result))
    if "z" in dims[:-2] and used < budget:
        i = dims.index("z")
        result[i] = max(1, min(shape[i], budget // used))
    return result


def _level_count(shape: tuple[int, ...], dims: list[str], chunk: tuple[int, ...]) -> int:
    count = 1
    yx = [i for i, d in enumerate(dims) if d in ("y", "x")]
    sizes = [shape[i] for i in yx]
    while any(s > chunk[i] for s, i in zip(sizes, yx, strict=True)) and min(sizes) >= 2:
        sizes = [(s + 1) // 2 for s in sizes]
        count += 1
    return count


def _downsample(array: xr.DataArray, is_label: bool) -> xr.DataArray:
    """Halve y and x: mean for intensities, nearest for labels (never invent label values).

    A mean over 2 pixels moves the pixel centre by half the old pixel size; the new
    coordinates say so, which keeps every level aligned in physical space.
    """
    factors = {d: 2 for d in ("y", "x") if d in array.dims}
    # Without coordinates, positions are pixel indices: name them so that coarser levels
    # get their doubled scale (and half-pixel shift) like any other image.
    pixels = {d: np.arange(array.sizes[d], dtype=float) for d in factors if d not in array.coords}
    array = array.assign_coords(pixels)
    if is_label:
        return array.isel({d: slice(None, None, 2) for d in factors})
    coords = {}
    for dim in factors:
        if dim in array.coords and array.sizes[dim] > 1:
            values = np.asarray(array.coords[dim].values, dtype=float)
            step = values[1] - values[0]
            size = (array.sizes[dim] + 1) // 2
            coords[dim] = xr.Variable(
                dim, values[0] + step / 2 + 2 * step * np.arange(size), array.coords[dim].attrs
            )
    plain = array.drop_vars([d for d in factors if d in array.coords])
    coarse = plain.coarsen(factors, boundary="pad").mean()
    if np.issubdtype(array.dtype, np.integer):
        coarse = coarse.round()
    return coarse.astype(array.dtype).assign_coords(coords)


# -- writing ---------------------------------------------------------------------------------


def _write_all(
    store: Any,
    pyramid: list[xr.DataArray],
    labels: Mapping[str, xr.DataArray],
    version: str,
    chunks: Any,
    levels: int | None,
    metadata: Mapping[str, Any] | None,
    name: str | None,
) -> None:
    root = zarr.open_group(store, mode="w", zarr_format=3 if version == "0.5" else 2)
    image_name = name or pyramid[0].name
    written = _write_multiscale(root, pyramid, version, chunks, levels, is_label=False)
    ome: dict[str, Any] = {"multiscales": [_multiscales_entry(written, version, image_name)]}
    ome["omero"] = _omero(written[-1][1], pyramid[0])
    if labels:
        group = root.create_group("labels")
        for label_name, label in labels.items():
            _write_label(
                group, label_name, _canonical(label), pyramid[0], version, chunks, len(written)
            )
        write_group_metadata(group, {"labels": list(labels)}, version)
    extra = {"bioshare": dict(metadata)} if metadata else {}
    write_group_metadata(
        root, ome, version, extra
    )  # root metadata last: nothing looks valid before


def _write_multiscale(
    group: zarr.Group,
    pyramid: list[xr.DataArray],
    version: str,
    chunks: Any,
    levels: int | None,
    is_label: bool,
) -> list[tuple[str, xr.DataArray]]:
    """Write the levels (given, or computed from the first), returning (path, lazy level)."""
    first = pyramid[0]
    chunk = _chunk_shape(first, chunks)
    dims = [str(d) for d in first.dims]
    count = (
        levels
        if levels is not None
        else (len(pyramid) if len(pyramid) > 1 else _level_count(tuple(first.shape), dims, chunk))
    )
    if count < 1:
        raise WriteError(f"levels={levels} must be at least 1")
    written: list[tuple[str, xr.DataArray]] = []
    previous: xr.DataArray | None = None
    for index in range(count):
        if index < len(pyramid):
            level = pyramid[index]
        else:
            assert previous is not None
            level = _downsample(previous, is_label)
        path = str(index)
        level_chunk = tuple(min(c, n) for c, n in zip(chunk, level.shape, strict=True))
        array = _create_array(group, path, level, level_chunk, version)
        _store(level, array, level_chunk)
        reread = xr.DataArray(
            da.from_zarr(array), dims=level.dims, coords=level.coords, attrs=level.attrs
        )
        written.append((path, reread))
        previous = reread
    return written


def _create_array(
    group: zarr.Group, path: str, level: xr.DataArray, chunk: tuple[int, ...], version: str
) -> zarr.Array:
    dtype = level.dtype
    if version == "0.5":
        return group.create_array(
            path,
            shape=level.shape,
            chunks=chunk,
            dtype=dtype,
            dimension_names=[str(d) for d in level.dims],
            compressors=BloscCodec(cname="zstd", clevel=5, shuffle="bitshuffle"),
            fill_value=0,
        )
    from numcodecs import Blosc

    return group.create_array(
        path,
        shape=level.shape,
        chunks=chunk,
        dtype=dtype,
        chunk_key_encoding={"name": "v2", "separator": "/"},
        compressors=Blosc(cname="zstd", clevel=5, shuffle=Blosc.BITSHUFFLE),
        fill_value=0,
    )


def _store(level: xr.DataArray, array: zarr.Array, chunk: tuple[int, ...]) -> None:
    """Write a level through dask in blocks of whole zarr chunks (about 64 MiB each).

    Each block is one zarr write that encodes and stores its chunks concurrently, and only
    a few blocks are in memory at once.
    """
    if level.chunks is None:  # numpy or lazily indexed: let xarray cut it into dask blocks
        level = level.chunk(dict(zip(level.dims, chunk, strict=True)))
    blocks = da.core.normalize_chunks(
        "auto", level.shape, limit=_BLOCK_BYTES, dtype=level.dtype, previous_chunks=chunk
    )
    da.store(level.data.rechunk(blocks), array, lock=False)  # type: ignore[arg-type]


def _multiscales_entry(
    written: list[tuple[str, xr.DataArray]], version: str, name: Any, is_label: bool = False
) -> dict[str, Any]:
    first = written[0][1]
    axes = []
    for axis in _axes(first):
        entry: dict[str, Any] = {"name": axis.name}
        if axis.type:
            entry["type"] = axis.type
        if axis.unit:
            entry["unit"] = axis.unit
        axes.append(entry)
    datasets = []
    for path, level in written:
        scale, translation = _transform(level)
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(t != 0 for t in translation):
            transforms.append({"type": "translation", "translation": translation})
        datasets.append({"path": path, "coordinateTransformations": transforms})
    entry = {
        "axes": axes,
        "datasets": datasets,
        "name": str(name) if name else "image",
        "type": "nearest" if is_label else "mean",
        "metadata": {
            "description": "y and x halved per level: "
            + ("every second pixel (labels)" if is_label else "2x2 mean, padded edges excluded"),
            "method": "bioshare.write_image",
            "version": __version__,
        },
    }
    if version == "0.4":
        entry["version"] = "0.4"
    return entry


def _omero(smallest: xr.DataArray, original: xr.DataArray) -> dict[str, Any]:
    """Channel labels, colors and windows; windows from the smallest level when not given."""
    if "c" in original.dims:
        count = original.sizes["c"]
        values = smallest.transpose("c", ...).values.reshape(count, -1)
    else:
        count = 1
        values = smallest.values.reshape(1, -1)
    labels = (
        [str(v) for v in original.coords["c"].values]
        if "c" in original.coords
        else [f"Channel {i}" for i in range(count)]
    )
    colors = list(original.attrs.get("channel_colors", []))
    windows = list(original.attrs.get("channel_windows", []))
    info = np.iinfo(original.dtype) if np.issubdtype(original.dtype, np.integer) else None
    channels = []
    for i in range(count):
        window = windows[i] if i < len(windows) else None
        if not window:
            lo, hi = (float(v) for v in np.percentile(values[i], [0.1, 99.9]))
            window = {
                "min": float(info.min) if info else float(values[i].min()),
                "max": float(info.max) if info else float(values[i].max()),
                "start": lo,
                "end": hi if hi > lo else lo + 1,
            }
        channels.append(
            {
                "label": labels[i],
                "color": colors[i]
                if i < len(colors)
                else _DEFAULT_COLORS[i % len(_DEFAULT_COLORS)]
                if count > 1
                else "FFFFFF",
                "window": window,
                "active": True,
            }
        )
    return {"channels": channels, "rdefs": {"model": "color" if count > 1 else "greyscale"}}


def _write_label(
    labels_group: zarr.Group,
    label_name: str,
    label: xr.DataArray,
    image: xr.DataArray,
    version: str,
    chunks: Any,
    levels: int,
) -> None:
    if not np.issubdtype(label.dtype, np.integer):
        raise WriteError(
            f"label image {label_name!r} has dtype {label.dtype}; expected an integer dtype"
        )
    spatial = [d for d in image.dims if _axis_type(str(d)) == "space"]
    missing = [d for d in spatial if d not in label.dims]
    if missing or any(label.sizes[d] != image.sizes[d] for d in spatial):
        raise WriteError(
            f"label image {label_name!r} has sizes {dict(label.sizes)}; expected the image's "
            f"spatial sizes {{{', '.join(f'{d!r}: {image.sizes[d]}' for d in spatial)}}}"
        )
    label = label.assign_coords({d: image.coords[d] for d in spatial if d in image.coords})
    group = labels_group.create_group(label_name)
    written = _write_multiscale(group, [label], version, chunks, levels, is_label=True)
    entry = _multiscales_entry(written, version, label_name, is_label=True)
    colors = label.attrs.get("label_colors")
    if colors is None:
        values = np.unique(written[-1][1].values)
        rng = np.random.default_rng(0)
        colors = {
            int(v): [*(int(c) for c in rng.integers(40, 256, 3)), 255] for v in values if v != 0
        }
    image_label: dict[str, Any] = {
        "colors": [{"label-value": int(k), "rgba": list(v)} for k, v in colors.items()],
        "source": {"image": "../../"},
    }
    if "label_properties" in label.attrs:
        image_label["properties"] = label.attrs["label_properties"]
    write_group_metadata(group, {"multiscales": [entry], "image-label": image_label}, version)


def write_group_metadata(
    group: zarr.Group | str | os.PathLike[str],
    ome: Mapping[str, Any],
    ngff_version: str = "0.5",
    extra: Mapping[str, Any] | None = None,
) -> zarr.Group:
    """Set a group's NGFF metadata as the version lays it out; create the group if needed.

    0.5 puts it under ``ome`` with the version; 0.4 puts it at the top level, with the
    version inside ``plate``, ``well`` and ``image-label``. ``extra`` keys (``bioshare``)
    go beside it. Useful to build plates and wells around images from `write_image`.
    """
    if ngff_version not in NGFF_VERSIONS:
        raise WriteError(
            f"ngff_version={ngff_version!r} cannot be written; expected one of {NGFF_VERSIONS}"
        )
    if not isinstance(group, zarr.Group):
        fmt: Literal[2, 3] = 3 if ngff_version == "0.5" else 2
        group = zarr.open_group(zarr.storage.LocalStore(Path(group)), mode="a", zarr_format=fmt)
    ngff = dict(ome)
    if ngff_version == "0.4":
        for key in ("plate", "well", "image-label"):
            if isinstance(ngff.get(key), dict):
                ngff[key] = {**ngff[key], "version": ngff[key].get("version", "0.4")}
    attrs = {"ome": {"version": "0.5", **ngff}} if ngff_version == "0.5" and ngff else ngff
    group.attrs.update({**attrs, **(extra or {})})
    return group
