"""Open OME-Zarr images, pyramids, labels and plates lazily as xarray objects."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr
from zarr.abc.store import Store
from zarr.core.sync import sync

from bioshare.errors import MetadataError, NotOMEZarrError
from bioshare.ngff._io import Group, gather_bounded, join, read_array_metadata, read_group
from bioshare.ngff._lazy import ZarrSource, lazy_variable
from bioshare.ngff._model import Multiscale, node_kind, ome_attrs, parse_multiscale
from bioshare.ngff.store import open_store

__all__ = [
    "ArrayInfo",
    "NodeMetadata",
    "fetch_metadata",
    "open_image",
    "open_labels",
    "open_multiscales",
    "open_ome_zarr",
    "open_plate",
]

Source = str | os.PathLike[str]
_VERSION_FORMATS = {"0.5": 3, "0.4": 2, "0.3": 2, "0.2": 2, "0.1": 2}


@dataclass(frozen=True)
class ArrayInfo:
    """What an array's own metadata says: shape, dtype, chunks, dimension names."""

    shape: tuple[int, ...]
    dtype: str
    chunks: tuple[int, ...]
    dimension_names: tuple[str | None, ...] | None


@dataclass(frozen=True)
class NodeMetadata:
    """A group's attributes with the metadata of its multiscale arrays."""

    url: str
    zarr_format: int
    attrs: dict[str, Any]
    arrays: dict[str, ArrayInfo]


@dataclass
class _Context:
    """One opened source: its store, URL, options and (once known) Zarr format."""

    store: Store
    url: str
    storage_options: dict[str, Any] | None
    zarr_format: int | None

    @classmethod
    def open(
        cls, source: Source, storage_options: dict[str, Any] | None, version: str | None
    ) -> _Context:
        store, url = open_store(source, storage_options)
        if version is not None and version not in _VERSION_FORMATS:
            raise ValueError(
                f"version={version!r} is not an OME-NGFF version bioshare reads; "
                f"expected one of {', '.join(sorted(_VERSION_FORMATS))}"
            )
        return cls(store, url, storage_options, _VERSION_FORMATS.get(version or ""))

    async def group(self, path: str) -> Group:
        group = await read_group(self.store, path, self.url, self.zarr_format)
        self.zarr_format = group.zarr_format  # every later node is read with this format
        return group

    def source(self, path: str, metadata: dict[str, Any]) -> ZarrSource:
        return ZarrSource(self.url, path, metadata, self.storage_options, store=self.store)


def open_image(
    source: Source,
    *,
    level: int | str = 0,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    version: str | None = None,
    series: int | str | None = None,
    format: str | None = None,
) -> xr.DataArray:
    """Open one pyramid level of an OME-Zarr image, a DICOM series or a NIfTI volume.

    Opening reads metadata only, in two round trips; selecting a plane then reads just the
    chunks it touches, all at once.

    Parameters
    ----------
    source
        URL (``http(s)://``, ``s3://``, ``gs://``), local path, or ``.zip`` of an OME-Zarr;
        a label image (``.../labels/cells``) or a bioformats2raw root works too.
    level
        Pyramid level, by index (0 is full resolution) or by dataset path.
    chunks
        None (default) for a lazily indexed array; ``"auto"``, a tuple or a dict of dim
        name to size for a dask array (for bulk and distributed computation).
    storage_options
        Passed unchanged to fsspec (credentials, headers, ``anon``, ``endpoint_url``).
    version
        The NGFF version when known ("0.4", "0.5"), which saves one request.
    series
        For a bioformats2raw layout, which series (its path) to open; for DICOM, the
        SeriesInstanceUID or index of the series (see `bioshare.formats.open_dicom`).
    format
        "ome-zarr", "dicom" or "nifti"; by default guessed from the name (``.nii``,
        ``.nii.gz``, ``.dcm``, a ``.zip`` or folder of DICOM files) without a request.

    Returns
    -------
    xarray.DataArray
        Dims from the NGFF axes, physical coordinates from the coordinate transformations,
        a ``c`` coordinate from the omero channel labels; ``attrs`` hold the source URL,
        units, channel colors and windows.
    """
    from bioshare.formats.dispatch import open_any

    def ome_zarr() -> xr.DataArray:
        ctx = _Context.open(source, storage_options, version)
        return sync(_open_image(ctx, "", level, chunks, 0 if series is None else series))

    return open_any(
        source,
        ome_zarr,
        format=format,
        series=series,
        chunks=chunks,
        storage_options=storage_options,
    )


def open_multiscales(
    source: Source,
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    version: str | None = None,
    labels: bool | Sequence[str] = False,
    series: int | str = 0,
) -> xr.DataTree:
    """Open every pyramid level of an OME-Zarr image as an `xarray.DataTree`.

    Each child is named by its dataset path and holds the level as variable ``image``.
    With ``labels=True`` (or a list of names) the label images are added under
    ``labels/<name>``; they are not looked for otherwise, since that costs requests.
    """
    ctx = _Context.open(source, storage_options, version)
    return sync(_open_multiscales(ctx, "", chunks, labels, series))


def open_labels(
    source: Source,
    *,
    names: Sequence[str] | None = None,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    version: str | None = None,
) -> xr.DataTree:
    """Open the label images of an OME-Zarr image: one subtree per label name."""
    ctx = _Context.open(source, storage_options, version)
    return sync(_open_labels(ctx, "", names, chunks))


def open_plate(
    source: Source,
    *,
    level: int | str = 0,
    wells: Sequence[str] | None = None,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    version: str | None = None,
) -> xr.DataTree:
    """Open an HCS plate as a `xarray.DataTree` of ``<row>/<column>/<field>`` nodes.

    Every well's metadata is fetched concurrently, then every field's image metadata, then
    the arrays of the chosen level: four round trips whatever the plate size.

    Parameters
    ----------
    level
        Pyramid level of each field image.
    wells
        Only these wells (``"A/1"`` paths); all by default.
    """
    ctx = _Context.open(source, storage_options, version)
    return sync(_open_plate(ctx, level, wells, chunks))


def open_ome_zarr(
    source: Source,
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
    version: str | None = None,
) -> xr.DataTree:
    """Open whatever OME-Zarr node ``source`` is: image, plate, or labels group.

    Images (and bioformats2raw roots) open as with `open_multiscales`, plates as with
    `open_plate`, a ``labels`` group as with `open_labels`. The root of the returned tree
    has ``attrs["kind"]`` set to ``"image"``, ``"plate"`` or ``"labels"``.
    """
    ctx = _Context.open(source, storage_options, version)
    return sync(_open_ome_zarr(ctx, chunks))


def fetch_metadata(
    source: Source, *, storage_options: dict[str, Any] | None = None
) -> NodeMetadata:
    """Fetch a node's attributes and, for an image, its arrays' metadata (for validation)."""
    ctx = _Context.open(source, storage_options, None)
    return sync(_fetch_metadata(ctx))


# -- the async implementations ------------------------------------------------------------


async def _image_group(
    ctx: _Context, path: str, series: int | str, group: Group | None = None
) -> Group:
    """Read an image group, following a bioformats2raw root to its series."""
    group = group or await ctx.group(path)
    if node_kind(group.attrs) == "bioformats2raw":
        group = await ctx.group(join(path, str(series)))
    _require_image(group, ctx.url)
    return group


def _require_image(group: Group, url: str) -> None:
    kind = node_kind(group.attrs)
    if kind == "image":
        return
    where = f"{url}/{group.path}" if group.path else url
    hint = {
        "plate": "; open it with bioshare.open_plate",
        "labels": "; open it with bioshare.open_labels",
    }.get(kind or "", "")
    found = f"a {kind} group" if kind else f"a group with attributes {sorted(group.attrs)}"
    raise NotOMEZarrError(
        f"{where} is not an OME-Zarr image: found {found}, expected 'multiscales'{hint}"
    )


async def _open_image(
    ctx: _Context, path: str, level: int | str, chunks: Any, series: int | str
) -> xr.DataArray:
    group = await _image_group(ctx, path, series)
    multiscale = parse_multiscale(group.attrs, _where(ctx, group.path))
    chosen = multiscale.level(level)
    array_path = join(group.path, chosen.path)
    metadata = await read_array_metadata(ctx.store, [array_path], ctx.url, group.zarr_format, group)
    return _data_array(ctx, group, multiscale, chosen.path, metadata[array_path], chunks)


async def _open_multiscales(
    ctx: _Context,
    path: str,
    chunks: Any,
    labels: bool | Sequence[str],
    series: int | str,
    group: Group | None = None,
) -> xr.DataTree:
    group = await _image_group(ctx, path, series, group)
    multiscale = parse_multiscale(group.attrs, _where(ctx, group.path))
    paths = [join(group.path, lv.path) for lv in multiscale.levels]
    arrays_task = read_array_metadata(ctx.store, paths, ctx.url, group.zarr_format, group)
    if labels:
        names = None if isinstance(labels, bool) else list(labels)
        metadata, label_tree = await asyncio.gather(
            arrays_task, _open_labels(ctx, group.path, names, chunks, missing_ok=labels is True)
        )
    else:
        metadata, label_tree = await arrays_task, None
    tree = _level_tree(ctx, group, multiscale, metadata, chunks)
    if label_tree is not None and label_tree.children:
        tree["labels"] = label_tree
    return tree


def _level_tree(
    ctx: _Context,
    group: Group,
    multiscale: Multiscale,
    metadata: dict[str, dict[str, Any]],
    chunks: Any,
) -> xr.DataTree:
    children = {}
    for lv in multiscale.levels:
        image = _data_array(
            ctx, group, multiscale, lv.path, metadata[join(group.path, lv.path)], chunks
        )
        children[lv.path] = xr.DataTree(xr.Dataset({"image": image}))
    root_attrs = _group_attrs(ctx, group, multiscale)
    root_attrs["levels"] = [lv.path for lv in multiscale.levels]
    return xr.DataTree.from_dict(
        {"/": xr.Dataset(attrs=root_attrs), **{k: v.dataset for k, v in children.items()}}
    )


async def _open_labels(
    ctx: _Context,
    path: str,
    names: Sequence[str] | None,
    chunks: Any,
    missing_ok: bool = False,
    listing: Group | None = None,
) -> xr.DataTree:
    labels_path = listing.path if listing is not None else join(path, "labels")
    if names is None:
        if listing is None:
            try:
                listing = await ctx.group(labels_path)
            except NotOMEZarrError:
                if missing_ok:
                    return xr.DataTree()
                raise
        names = list(ome_attrs(listing.attrs).get("labels", []))
    groups = await asyncio.gather(*(ctx.group(join(labels_path, n)) for n in names))
    parsed = []
    for group in groups:
        _require_image(group, ctx.url)
        parsed.append((group, parse_multiscale(group.attrs, _where(ctx, group.path))))
    paths = [join(g.path, lv.path) for g, ms in parsed for lv in ms.levels]
    fmt = groups[0].zarr_format if groups else 2
    metadata = await read_array_metadata(ctx.store, paths, ctx.url, fmt)
    tree = xr.DataTree()
    for name, (group, multiscale) in zip(names, parsed, strict=True):
        tree[name] = _level_tree(ctx, group, multiscale, metadata, chunks)
    return tree


async def _open_plate(
    ctx: _Context,
    level: int | str,
    wells: Sequence[str] | None,
    chunks: Any,
    plate_group: Group | None = None,
) -> xr.DataTree:
    plate_group = plate_group or await ctx.group("")
    plate = ome_attrs(plate_group.attrs).get("plate")
    if not isinstance(plate, dict):
        kind = node_kind(plate_group.attrs)
        raise NotOMEZarrError(
            f"{ctx.url} is not an HCS plate: found {'a ' + kind if kind else 'no NGFF'} "
            "group, expected 'plate' metadata"
        )
    well_paths = [w["path"] for w in plate.get("wells", [])]
    if wells is not None:
        unknown = sorted(set(wells) - set(well_paths))
        if unknown:
            raise KeyError(f"{ctx.url}: wells {unknown} are not in the plate; it has {well_paths}")
        well_paths = [w for w in well_paths if w in set(wells)]

    well_groups = await gather_bounded(ctx.group(p) for p in well_paths)
    field_paths = []
    for well in well_groups:
        images = ome_attrs(well.attrs).get("well", {}).get("images")
        if images is None:
            raise MetadataError(f"{_where(ctx, well.path)}: well.images is missing")
        field_paths += [join(well.path, str(image["path"])) for image in images]

    field_groups = await gather_bounded(ctx.group(p) for p in field_paths)
    fields = []
    for group in field_groups:
        _require_image(group, ctx.url)
        multiscale = parse_multiscale(group.attrs, _where(ctx, group.path))
        fields.append((group, multiscale, multiscale.level(level)))
    array_paths = [join(g.path, lv.path) for g, _, lv in fields]
    metadata = await read_array_metadata(ctx.store, array_paths, ctx.url, plate_group.zarr_format)

    nodes: dict[str, xr.Dataset] = {"/": xr.Dataset(attrs={"source": ctx.url, "plate": plate})}
    for well in well_groups:
        nodes[well.path] = xr.Dataset(attrs={"well": ome_attrs(well.attrs).get("well")})
    for group, multiscale, lv in fields:
        image = _data_array(
            ctx, group, multiscale, lv.path, metadata[join(group.path, lv.path)], chunks
        )
        nodes[group.path] = xr.Dataset({"image": image}, attrs=_group_attrs(ctx, group, multiscale))
    return xr.DataTree.from_dict(nodes)


async def _open_ome_zarr(ctx: _Context, chunks: Any) -> xr.DataTree:
    group = await ctx.group("")
    kind = node_kind(group.attrs)
    if kind == "plate":
        tree = await _open_plate(ctx, 0, None, chunks, group)
    elif kind == "labels":
        tree = await _open_labels(ctx, "", None, chunks, listing=group)
    else:
        tree = await _open_multiscales(ctx, "", chunks, False, 0, group)
        kind = "image"
    tree.attrs["kind"] = kind
    return tree


async def _fetch_metadata(ctx: _Context) -> NodeMetadata:
    group = await ctx.group("")
    arrays: dict[str, ArrayInfo] = {}
    if node_kind(group.attrs) == "image":
        datasets = ome_attrs(group.attrs)["multiscales"][0].get("datasets", [])
        paths = [str(d.get("path")) for d in datasets if isinstance(d, dict)]
        docs = await asyncio.gather(
            *(read_array_metadata(ctx.store, [p], ctx.url, group.zarr_format) for p in paths),
            return_exceptions=True,
        )
        for path, doc in zip(paths, docs, strict=True):
            if isinstance(doc, dict):
                arrays[path] = _array_info(doc[path])
    return NodeMetadata(ctx.url, group.zarr_format, group.attrs, arrays)


# -- building xarray objects --------------------------------------------------------------


def _where(ctx: _Context, path: str) -> str:
    return f"{ctx.url}/{path}" if path else ctx.url


def _array_info(doc: dict[str, Any]) -> ArrayInfo:
    if doc.get("zarr_format") == 3:
        grid = doc.get("chunk_grid", {}).get("configuration", {})
        names = doc.get("dimension_names")
        return ArrayInfo(
            shape=tuple(doc["shape"]),
            dtype=str(np.dtype(doc["data_type"]))
            if isinstance(doc.get("data_type"), str)
            else str(doc.get("data_type")),
            chunks=tuple(grid.get("chunk_shape", doc["shape"])),
            dimension_names=tuple(names) if names is not None else None,
        )
    return ArrayInfo(
        shape=tuple(doc["shape"]),
        dtype=str(np.dtype(doc["dtype"])),
        chunks=tuple(doc["chunks"]),
        dimension_names=None,
    )


def _data_array(
    ctx: _Context,
    group: Group,
    multiscale: Multiscale,
    level_path: str,
    metadata: dict[str, Any],
    chunks: Any,
) -> xr.DataArray:
    array_path = join(group.path, level_path)
    source = ctx.source(array_path, metadata)
    dims = multiscale.dims
    if source.ndim != len(dims):
        raise MetadataError(
            f"{ctx.url}/{array_path} has {source.ndim} dimensions but the multiscales metadata "
            f"declares {len(dims)} axes {list(dims)}"
        )
    names = metadata.get("dimension_names")
    if names and any(n is not None for n in names) and tuple(names) != dims:
        raise MetadataError(
            f"{ctx.url}/{array_path}: dimension_names {names} do not match the axes {list(dims)}"
        )
    level = multiscale.level(level_path)
    coords = _coordinates(multiscale, level, source.shape)
    attrs = _group_attrs(ctx, group, multiscale)
    attrs["level"] = level_path
    name = multiscale.name if multiscale.name not in (None, "", "/") else None
    array = xr.DataArray(lazy_variable(source, dims, chunks), coords=coords, name=name, attrs=attrs)
    array.encoding = {
        "chunks": source.chunks,
        "preferred_chunks": dict(zip(dims, source.chunks, strict=True)),
        "dtype": source.dtype,
    }
    return array


def _coordinates(
    multiscale: Multiscale, level: Any, shape: tuple[int, ...]
) -> dict[str, xr.Variable]:
    coords = {}
    for i, axis in enumerate(multiscale.axes):
        if axis.type in ("space", "time") or (axis.type is None and axis.name in "tzyx"):
            values = level.translation[i] + level.scale[i] * np.arange(shape[i])
            attrs = {"units": axis.unit} if axis.unit else {}
            coords[axis.name] = xr.Variable(axis.name, values, attrs)
        elif axis.type == "channel" or axis.name == "c":
            labels = _channel_labels(multiscale.omero, shape[i])
            if labels is not None:
                coords[axis.name] = xr.Variable(axis.name, labels)
    return coords


def _channel_labels(omero: dict[str, Any] | None, size: int) -> list[str] | None:
    channels = (omero or {}).get("channels") or []
    if len(channels) != size:
        return None
    labels = [str(ch.get("label", "")) for ch in channels]
    if not all(labels) or len(set(labels)) != len(labels):
        return None
    return labels


def _group_attrs(ctx: _Context, group: Group, multiscale: Multiscale) -> dict[str, Any]:
    source = _where(ctx, group.path)
    attrs: dict[str, Any] = {
        "source": source,
        "ngff_version": multiscale.version,
        "units": {a.name: a.unit for a in multiscale.axes if a.unit},
    }
    if multiscale.name:
        attrs["multiscale_name"] = multiscale.name
    channels = (multiscale.omero or {}).get("channels") or []
    if channels:
        attrs["channel_colors"] = [str(ch.get("color", "FFFFFF")) for ch in channels]
        attrs["channel_windows"] = [dict(ch.get("window", {})) for ch in channels]
    if multiscale.image_label is not None:
        attrs["image_label"] = multiscale.image_label
    return attrs
