"""NIfTI-1/2 volumes as lazy `xarray.DataArray`s with coordinates in millimetres.

NIfTI stores (x, y, z[, t]); bioshare exposes (z, y, x) or (t, z, y, x), as NGFF orders
axes. Local files are read lazily through nibabel's array proxy (memory-mapped for
``.nii``); URLs are downloaded once and held in memory.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bioshare.formats._lazy import lazy_data
from bioshare.formats._members import download, is_url, safe_url
from bioshare.formats.errors import FormatError

__all__ = ["header_class", "load_nifti", "open_nifti"]

_SPACE_UNITS = {"mm": "millimeter", "micron": "micrometer", "meter": "meter"}
_TIME_UNITS = {"sec": "second", "msec": "millisecond", "usec": "microsecond"}


def header_class(head: bytes) -> Any:
    """nibabel's header class (NIfTI-1 or -2) for a file starting with ``head`` (its
    decompressed first 4 bytes, ``sizeof_hdr`` in either byte order), or None."""
    import nibabel as nib

    sizes = {int.from_bytes(head[:4], "little"), int.from_bytes(head[:4], "big")}
    if 348 in sizes:
        return nib.Nifti1Header
    if 540 in sizes:
        return nib.Nifti2Header
    return None


def _from_bytes(data: bytes, label: str) -> Any:
    import nibabel as nib

    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    klass = header_class(data)
    if klass is None:
        size = int.from_bytes(data[:4], "little")
        raise FormatError(f"{label} is not a NIfTI file (header size {size}); expected 348 or 540")
    image_class = nib.Nifti2Image if klass is nib.Nifti2Header else nib.Nifti1Image
    return image_class.from_bytes(data)


def load_nifti(
    source: str | os.PathLike[str], storage_options: dict[str, Any] | None = None
) -> Any:
    """A nibabel image for a local path or an http(s) URL (downloaded once).

    Gzipped files are decompressed once into memory: nibabel's proxy would re-read the
    gzip stream from its start for every plane asked for (quadratic with dask chunks).
    """
    import nibabel as nib

    text = os.fspath(source)
    if is_url(text):
        return _from_bytes(download(text, storage_options), safe_url(text))
    path = Path(text).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        if gzipped:
            return _from_bytes(path.read_bytes(), str(path))
        return nib.load(str(path))
    except FormatError:
        raise
    except Exception as exc:  # nibabel and gzip raise several types for foreign files
        raise FormatError(f"{path} could not be read as NIfTI: {exc}") from exc


class _NiftiSource:
    """nibabel's array proxy seen in (t, z, y, x) order; scaling applied by the proxy."""

    def __init__(self, proxy: Any, shape: tuple[int, ...], dtype: np.dtype[Any], label: str):
        self.proxy = proxy
        self.shape = tuple(reversed(shape))
        self.dtype = np.dtype(dtype)
        self.label = label

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"NiftiSource({self.label!r}, shape={self.shape})"

    def __getitem__(self, key: Any) -> np.ndarray[Any, Any]:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        arrays = [k for k in key if not isinstance(k, slice | int | np.integer)]
        basic = tuple(k if isinstance(k, slice | int | np.integer) else slice(None) for k in key)
        block = np.asarray(self.proxy[tuple(reversed(basic))]).T
        if arrays:  # outer selection with integer arrays, applied in memory
            kept = [k for k in key if not isinstance(k, int | np.integer)]
            for axis, k in enumerate(kept):
                if not isinstance(k, slice):
                    block = np.take(block, np.asarray(k), axis=axis)
        return block.astype(self.dtype, copy=False)


def open_nifti(
    source: str | os.PathLike[str],
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open a NIfTI file (``.nii``, ``.nii.gz``, local or http(s)) as a lazy `DataArray`.

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")`` (``("t", "z", "y", "x")`` for 4-d data, ``("y", "x")``
        for 2-d); each spatial coordinate runs along its voxel axis, starting at the
        affine's origin projected on that axis, with the voxel size as step, in mm.
        ``attrs["affine"]`` (voxel index (x, y, z) to RAS+ mm) and
        ``attrs["orientation"]`` (the axis codes, e.g. ``"RAS"``) record the orientation;
        ``scl_slope``/``scl_inter`` are applied.
    """
    import nibabel as nib

    label = safe_url(os.fspath(source)) if is_url(os.fspath(source)) else os.fspath(source)
    image = load_nifti(source, storage_options)
    shape = tuple(int(n) for n in image.shape)
    if len(shape) > 4:
        raise FormatError(
            f"{label} has {len(shape)} dimensions {shape}; expected 2, 3 or 4 (x, y, z, t)"
        )
    header = image.header
    affine = np.asarray(image.affine, dtype=float)
    zooms = [float(z) for z in header.get_zooms()]
    space_unit, time_unit = header.get_xyzt_units()
    unit = _SPACE_UNITS.get(space_unit, "millimeter")  # "unknown" is read as mm, as tools do
    # nibabel moves scl_slope/scl_inter from the header onto the array proxy when loading
    slope = getattr(image.dataobj, "slope", None)
    inter = getattr(image.dataobj, "inter", None)
    if slope is None:
        slope, inter = header.get_slope_inter()
    scaled = (slope is not None and slope not in (0.0, 1.0)) or bool(inter)
    dtype = np.dtype(np.float32) if scaled else np.dtype(header.get_data_dtype())
    if scaled and np.dtype(header.get_data_dtype()) == np.float64:
        dtype = np.dtype(np.float64)
    names = ("x", "y", "z", "t")[: len(shape)]
    dims = tuple(reversed(names))
    coords: dict[str, Any] = {}
    for axis, name in enumerate(names[:3]):
        column = affine[:3, axis]
        norm = float(np.linalg.norm(column)) or 1.0
        origin = float(affine[:3, 3] @ (column / norm))
        coords[name] = xr.Variable(name, origin + norm * np.arange(shape[axis]), {"units": unit})
    units = dict.fromkeys(names[:3], unit)
    if len(shape) == 4:
        step = zooms[3] if len(zooms) > 3 and zooms[3] > 0 else 1.0
        t_attrs = {"units": _TIME_UNITS[time_unit]} if time_unit in _TIME_UNITS else {}
        coords["t"] = xr.Variable("t", step * np.arange(shape[3]), t_attrs)
        if t_attrs:
            units["t"] = t_attrs["units"]
    source_array = _NiftiSource(image.dataobj, shape, dtype, label)
    attrs: dict[str, Any] = {
        "source": label,
        "format": "nifti",
        "modality": "",
        "units": units,
        "affine": affine.round(9).tolist(),
        "orientation": "".join(nib.aff2axcodes(affine)),
        "patient_frame": "RAS",
    }
    if scaled:
        attrs["rescale"] = {"slope": float(slope), "intercept": float(inter or 0), "applied": True}
    data = lazy_data(source_array, dims, chunks)
    return xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name="image")
