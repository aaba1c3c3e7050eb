"""DICOM series as lazy `xarray.DataArray`s with coordinates in millimetres.

Headers are read once (``stop_before_pixels``); pixel data is decoded per file when values
are asked for. Slices are sorted by their position along the slice normal (the cross
product of the ImageOrientationPatient cosines), never by InstanceNumber or file name.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from bioshare.formats._lazy import FrameStack, lazy_data
from bioshare.formats._members import Member, collect
from bioshare.formats.errors import (
    FormatError,
    MissingSlicesError,
    MixedOrientationError,
    MixedShapesError,
    MultipleSeriesError,
    NoDicomError,
    ShearedStackError,
)

__all__ = [
    "SeriesInfo",
    "list_series",
    "open_dicom",
    "open_dicom_series",
    "read_header",
    "read_headers",
]

_ORIENTATION_TOL = 1e-4
_SPACING_RTOL = 0.05  # relative slack on slice spacing before slices count as missing
MM = "millimeter"
_STANDARD_GROUPS = (0x0004, 0x0008, 0x0010, 0x0018, 0x0020, 0x0028)  # 0004: DICOMDIR


@dataclass(frozen=True)
class SeriesInfo:
    """One series found in a source."""

    uid: str
    description: str
    modality: str
    number: int | None
    n_files: int


@dataclass
class _Frame:
    member: Member
    index: int | None  # frame number in a multi-frame file, None for a single-frame file
    position: np.ndarray
    orientation: np.ndarray
    spacing: tuple[float, float]
    shape: tuple[int, int]
    slope: float
    intercept: float
    time: float | None
    samples: int


def read_header(member: Member) -> Any | None:
    """The header (without pixel data) of one DICOM file; None when it does not parse.

    ``force=True`` lets pydicom read files without a preamble, but it then "parses" any
    bytes; a dataset counts as DICOM only when it holds an attribute of the standard
    groups every image has (0008, 0010, 0018, 0020 or 0028), or of a DICOMDIR (0004).
    """
    import pydicom

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pydicom warns for each bogus element
            with member.open() as f:
                ds = pydicom.dcmread(f, stop_before_pixels=True, force=True)
            if not any(int(elem.tag) >> 16 in _STANDARD_GROUPS for elem in ds):
                return None
    except Exception:  # pydicom raises many types for foreign or truncated bytes
        return None
    return ds


def read_headers(members: Iterable[Member]) -> list[tuple[Member, Any]]:
    """The DICOM image headers (without pixel data) among ``members``; others are skipped."""
    found = []
    for member in members:
        if not member.looks_like_dicom():
            continue
        ds = read_header(member)
        if ds is not None and "Rows" in ds and "Columns" in ds:
            found.append((member, ds))
    return found


def _group(headers: list[tuple[Member, Any]]) -> dict[str, list[tuple[Member, Any]]]:
    groups: dict[str, list[tuple[Member, Any]]] = {}
    for member, ds in headers:
        groups.setdefault(str(ds.get("SeriesInstanceUID", "") or "unknown"), []).append(
            (member, ds)
        )
    return dict(sorted(groups.items(), key=lambda kv: (_series_number(kv[1][0][1]), kv[0])))


def _series_number(ds: Any) -> int:
    try:
        return int(ds.get("SeriesNumber", 0) or 0)
    except (TypeError, ValueError):
        return 0


def _info(uid: str, items: list[tuple[Member, Any]]) -> SeriesInfo:
    ds = items[0][1]
    number = ds.get("SeriesNumber")
    return SeriesInfo(
        uid=uid,
        description=str(ds.get("SeriesDescription", "") or ""),
        modality=str(ds.get("Modality", "") or ""),
        number=int(number) if number not in (None, "") else None,
        n_files=len(items),
    )


def list_series(
    source: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None
) -> list[SeriesInfo]:
    """The DICOM series in a folder, file, zip or URL, ordered by SeriesNumber."""
    _label, members = collect(source, storage_options)
    groups = _group(read_headers(members))
    return [_info(uid, items) for uid, items in groups.items()]


def open_dicom_series(
    source: str | os.PathLike[str],
    *,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, xr.DataArray]:
    """Open every series of a DICOM source, by SeriesInstanceUID (ordered by SeriesNumber)."""
    label, groups = _load(source, storage_options)
    return {uid: _series_array(label, uid, items, chunks) for uid, items in groups.items()}


def open_dicom(
    source: str | os.PathLike[str],
    *,
    series: int | str | None = None,
    chunks: Any = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open one DICOM series lazily as a `DataArray` with coordinates in millimetres.

    Parameters
    ----------
    source
        A folder (searched recursively), a DICOM file, a zip of DICOM files (members in
        sub-folders and non-DICOM members are fine), or an http(s) URL of one of those
        (downloaded once; ``storage_options={"headers": {...}}`` carries auth headers).
    series
        Which series, by SeriesInstanceUID or by index in SeriesNumber order; needed when
        the source holds several.
    chunks
        None for a lazily indexed array; a dict/tuple/"auto" for dask (one slice per chunk
        by default).

    Returns
    -------
    xarray.DataArray
        Dims ``("z", "y", "x")`` or ``("t", "z", "y", "x")``; z from ImagePositionPatient
        projected on the slice normal, y/x from PixelSpacing, all in mm; rescale slope and
        intercept applied (float32) when present. ``attrs`` hold ``units``,
        ``orientation`` (ImageOrientationPatient), ``affine`` (voxel index (x, y, z) to
        patient LPS mm), ``modality``, ``source`` and ``series_uid``.

    Raises
    ------
    NoDicomError, MultipleSeriesError, MixedOrientationError, MixedShapesError,
    MissingSlicesError
    """
    label, groups = _load(source, storage_options)
    uid = _pick(label, groups, series)
    return _series_array(label, uid, groups[uid], chunks)


def _load(
    source: str | os.PathLike[str], storage_options: dict[str, Any] | None
) -> tuple[str, dict[str, list[tuple[Member, Any]]]]:
    label, members = collect(source, storage_options)
    headers = read_headers(members)
    if not headers:
        names = ", ".join(m.basename for m in members[:5]) or "no files"
        raise NoDicomError(
            f"no DICOM image found in {label} ({len(members)} file(s): {names}); "
            "expected DICOM files (with a 'DICM' preamble) in a folder, zip or URL"
        )
    return label, _group(headers)


def _pick(label: str, groups: dict[str, list[tuple[Member, Any]]], series: int | str | None) -> str:
    uids = list(groups)
    if series is None:
        if len(uids) == 1:
            return uids[0]
        infos = [_info(uid, groups[uid]) for uid in uids]
        listing = "; ".join(
            f"[{i}] {s.uid} {s.modality} {s.description!r} ({s.n_files} files)"
            for i, s in enumerate(infos)
        )
        raise MultipleSeriesError(
            f"{label} holds {len(uids)} DICOM series; pick one with series=<uid or index>: "
            f"{listing}",
            [(s.uid, s.description, s.n_files) for s in infos],
        )
    if isinstance(series, int) and not isinstance(series, bool):
        if not -len(uids) <= series < len(uids):
            raise FormatError(f"series={series} is out of range: {label} holds {len(uids)}")
        return uids[series]
    if str(series) in groups:
        return str(series)
    raise FormatError(f"series {series!r} is not in {label}; found {', '.join(uids)}")


# -- frames -------------------------------------------------------------------------------


def _first(ds: Any, *path: str) -> Any:
    """``ds.A[0].B[0]...`` or None when any step is missing."""
    node = ds
    for i, key in enumerate(path):
        if node is None or key not in node:
            return None
        node = node[key].value
        if i < len(path) - 1:
            if not node:
                return None
            node = node[0]
    return node


def _floats(value: Any, n: int) -> np.ndarray | None:
    if value is None:
        return None
    many = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    values = [float(v) for v in (value if many else [value])]
    return np.asarray(values, dtype=float) if len(values) == n else None


def _frames(member: Member, ds: Any) -> list[_Frame]:
    shape = (int(ds.Rows), int(ds.Columns))
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    shared = _first(ds, "SharedFunctionalGroupsSequence")
    shared = shared[0] if shared else None
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    top_position = _floats(ds.get("ImagePositionPatient"), 3)
    frames = []
    for i in range(n_frames):
        item = per_frame[i] if per_frame is not None and i < len(per_frame) else None

        def find(seq: str, key: str, item: Any = item) -> Any:
            for group in (item, shared):
                value = _first(group, seq, key) if group is not None else None
                if value is not None:
                    return value
            return ds.get(key)

        orientation = _floats(find("PlaneOrientationSequence", "ImageOrientationPatient"), 6)
        if orientation is None:
            orientation = np.array([1.0, 0, 0, 0, 1, 0])
        spacing = _floats(find("PixelMeasuresSequence", "PixelSpacing"), 2)
        if spacing is None:
            spacing = _floats(ds.get("ImagerPixelSpacing"), 2)
        position = _floats(find("PlanePositionSequence", "ImagePositionPatient"), 3)
        if position is None:
            step = float(ds.get("SpacingBetweenSlices", 0) or ds.get("SliceThickness", 1) or 1)
            normal = np.cross(orientation[:3], orientation[3:])
            base = top_position if top_position is not None else np.zeros(3)
            position = base + i * step * normal if n_frames > 1 else base
        slope = find("PixelValueTransformationSequence", "RescaleSlope")
        intercept = find("PixelValueTransformationSequence", "RescaleIntercept")
        time = _first(item, "FrameContentSequence", "TemporalPositionIndex") if item else None
        if time is None and n_frames == 1:
            time = ds.get("TemporalPositionIdentifier")
        frames.append(
            _Frame(
                member=member,
                index=i if n_frames > 1 else None,
                position=position,
                orientation=orientation,
                spacing=(float(spacing[0]), float(spacing[1])) if spacing is not None else (1, 1),
                shape=shape,
                slope=float(slope) if slope not in (None, "") else 1.0,
                intercept=float(intercept) if intercept not in (None, "") else 0.0,
                time=float(time) if time not in (None, "") else None,
                samples=int(ds.get("SamplesPerPixel", 1) or 1),
            )
        )
    return frames


def _names(frames: Iterable[_Frame], limit: int = 4) -> str:
    names = sorted({f.member.basename for f in frames})
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _check_consistent(label: str, uid: str, frames: list[_Frame]) -> None:
    colour = [f for f in frames if f.samples != 1]
    if colour:
        raise FormatError(
            f"series {uid} in {label}: colour DICOM images (SamplesPerPixel="
            f"{colour[0].samples}) are not supported ({_names(colour)}); expected greyscale"
        )
    groups: list[tuple[np.ndarray, list[_Frame]]] = []
    for f in frames:
        for orientation, members in groups:
            if np.allclose(orientation, f.orientation, atol=_ORIENTATION_TOL):
                members.append(f)
                break
        else:
            groups.append((f.orientation, [f]))
    if len(groups) > 1:
        detail = "; ".join(f"{[round(float(v), 4) for v in o]} in {_names(fs)}" for o, fs in groups)
        raise MixedOrientationError(
            f"series {uid} in {label} mixes {len(groups)} orientations "
            f"(ImageOrientationPatient): {detail}; expected one orientation per series"
        )
    shapes: dict[tuple[Any, ...], list[_Frame]] = {}
    for f in frames:
        key = (f.shape, tuple(round(s, 5) for s in f.spacing))
        shapes.setdefault(key, []).append(f)
    if len(shapes) > 1:
        detail = "; ".join(
            f"{k[0][0]}x{k[0][1]} px at {k[1][0]:g}x{k[1][1]:g} mm in {_names(fs)}"
            for k, fs in shapes.items()
        )
        raise MixedShapesError(
            f"series {uid} in {label} mixes image shapes or pixel spacings: {detail}; "
            "expected every image of a series to share Rows, Columns and PixelSpacing"
        )


def _slice_axis(label: str, uid: str, z: np.ndarray, frames: list[_Frame]) -> None:
    """Raise when positions are duplicated or unevenly spaced (naming what is missing)."""
    if z.size < 2:
        return
    steps = np.diff(z)
    if np.any(steps <= 1e-6 * max(1.0, float(np.abs(z).max()))):
        dup = z[1:][steps <= 1e-6 * max(1.0, float(np.abs(z).max()))]
        raise MissingSlicesError(
            f"series {uid} in {label} has several images at slice position(s) "
            f"{', '.join(f'{v:g}' for v in np.unique(dup))} mm ({_names(frames)}); "
            "expected one image per position (or a temporal index to tell them apart)"
        )
    step = float(steps.min())
    tolerance = max(_SPACING_RTOL * step, 1e-3)
    if np.all(np.abs(steps - step) <= tolerance):
        return
    missing: list[float] = []
    uneven: list[float] = []
    for start, gap in zip(z[:-1], steps, strict=True):
        if abs(gap - step) <= tolerance:
            continue
        k = round(gap / step)
        if k >= 2 and abs(gap - k * step) <= tolerance * k:
            missing.extend(float(start + j * step) for j in range(1, k))
        else:
            uneven.append(float(gap))
    if missing and not uneven:
        raise MissingSlicesError(
            f"series {uid} in {label} is missing {len(missing)} slice(s) at z = "
            f"{', '.join(f'{v:g}' for v in missing[:20])} mm (spacing {step:g} mm, "
            f"{z.size} slices from {z[0]:g} to {z[-1]:g} mm)"
        )
    raise MissingSlicesError(
        f"series {uid} in {label} has uneven slice spacing: steps of "
        f"{', '.join(f'{v:g}' for v in sorted(set(np.round(steps, 4))))} mm "
        f"(expected a constant {step:g} mm within {tolerance:g} mm)"
        + (
            f"; missing slices at z = {', '.join(f'{v:g}' for v in missing[:20])}"
            if missing
            else ""
        )
    )


def _check_not_sheared(
    label: str,
    uid: str,
    start: np.ndarray,
    normal: np.ndarray,
    stacks: list[list[_Frame]],
    pixel: float,
) -> None:
    """Raise when slices move within the image plane (gantry tilt): the grid would be
    wrong, since coordinates and affine assume each slice lies along the normal."""
    tolerance = max(1e-3, 0.05 * pixel)
    worst, where = 0.0, stacks[0][0]
    for group in stacks:
        for f in group:
            offset = f.position - start
            drift = float(np.linalg.norm(offset - (offset @ normal) * normal))
            if drift > worst:
                worst, where = drift, f
    if worst > tolerance:
        raise ShearedStackError(
            f"series {uid} in {label} is sheared (gantry tilt?): slice {where.member.basename} "
            f"lies {worst:.4g} mm off the slice normal through the first slice "
            f"(tolerance {tolerance:.3g} mm), so no regular grid fits it; expected "
            "ImagePositionPatient to advance along the normal of ImageOrientationPatient. "
            "Resample the series first (e.g. dcm2niix corrects gantry tilt)"
        )


def _series_array(
    label: str, uid: str, items: list[tuple[Member, Any]], chunks: Any
) -> xr.DataArray:
    frames = [f for member, ds in items for f in _frames(member, ds)]
    _check_consistent(label, uid, frames)
    first = frames[0]
    row_dir, col_dir = first.orientation[:3], first.orientation[3:]
    normal = np.cross(row_dir, col_dir)
    times = sorted({f.time for f in frames if f.time is not None})
    by_time: dict[float | None, list[_Frame]] = {}
    for f in frames:
        by_time.setdefault(f.time if len(times) > 1 else None, []).append(f)
    stacks = []
    z_ref: np.ndarray | None = None
    for t_key, group in sorted(by_time.items(), key=lambda kv: (kv[0] is None, kv[0] or 0)):
        t = "none" if t_key is None else f"{t_key:g}"
        group = sorted(group, key=lambda f: float(f.position @ normal))
        z = np.array([float(f.position @ normal) for f in group])
        _slice_axis(label, uid, z, group)
        if z_ref is None:
            z_ref = z
        elif z.shape != z_ref.shape or not np.allclose(z, z_ref, atol=1e-3):
            raise MissingSlicesError(
                f"series {uid} in {label}: temporal position {t} has {z.size} slices but "
                f"the first has {z_ref.size}; expected the same slice positions at every time"
            )
        stacks.append(group)
    assert z_ref is not None
    start = stacks[0][0].position  # the stacks are sorted along the normal
    dy, dx = first.spacing  # PixelSpacing is (between rows, between columns)
    _check_not_sheared(label, uid, start, normal, stacks, min(dx, dy))
    rows, cols = first.shape
    y = float(start @ col_dir) + dy * np.arange(rows)
    x = float(start @ row_dir) + dx * np.arange(cols)
    grid = np.empty((len(stacks), z_ref.size), dtype=object)
    for i, group in enumerate(stacks):
        for j, f in enumerate(group):
            grid[i, j] = (f.member, f.index, f.slope, f.intercept)
    rescaled = any(f.slope != 1.0 or f.intercept != 0.0 for f in frames)
    dtype = np.dtype(np.float32) if rescaled else _stored_dtype(items[0][1])
    dims: tuple[str, ...] = ("t", "z", "y", "x")
    if len(stacks) == 1:
        grid = grid[0]
        dims = dims[1:]
    stack = FrameStack(grid, (rows, cols), dtype, _decode_dicom, label)
    coords: dict[str, Any] = {
        "z": xr.Variable("z", z_ref, {"units": MM}),
        "y": xr.Variable("y", y, {"units": MM}),
        "x": xr.Variable("x", x, {"units": MM}),
    }
    if len(stacks) > 1:
        coords["t"] = xr.Variable("t", np.asarray(times, dtype=float))
    dz = (
        float(np.diff(z_ref).mean())
        if z_ref.size > 1
        else float(items[0][1].get("SliceThickness", 1.0) or 1.0)
    )
    affine = np.eye(4)
    affine[:3, 0] = row_dir * dx
    affine[:3, 1] = col_dir * dy
    affine[:3, 2] = normal * dz
    affine[:3, 3] = start
    ds0 = items[0][1]
    attrs: dict[str, Any] = {
        "source": label,
        "format": "dicom",
        "modality": str(ds0.get("Modality", "") or ""),
        "series_uid": uid,
        "units": {"z": MM, "y": MM, "x": MM},
        "orientation": [float(v) for v in first.orientation],
        "affine": affine.round(9).tolist(),
        "patient_frame": "LPS",
    }
    if rescaled:
        slopes = {f.slope for f in frames}
        intercepts = {f.intercept for f in frames}
        attrs["rescale"] = {
            "slope": slopes.pop() if len(slopes) == 1 else "per-slice",
            "intercept": intercepts.pop() if len(intercepts) == 1 else "per-slice",
            "applied": True,
        }
        if "RescaleType" in ds0:
            attrs["rescale"]["type"] = str(ds0.RescaleType)
    data = lazy_data(stack, dims, chunks)
    return xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name="image")


def _stored_dtype(ds: Any) -> np.dtype[Any]:
    # Float Pixel Data (parametric maps) is not told apart here: headers are read
    # without pixel data, and so without the tag that would say so.
    bits = int(ds.get("BitsAllocated", 16) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    return np.dtype(f"{'i' if signed else 'u'}{max(1, bits // 8)}")


def _decode_dicom(refs: list[Any]) -> list[np.ndarray]:
    """Decode the frames ``refs`` (member, frame, slope, intercept), each file once."""
    import pydicom

    cache: dict[int, np.ndarray] = {}
    planes = []
    for member, index, slope, intercept in refs:
        key = id(member)
        if key not in cache:
            with member.open() as f:
                cache[key] = pydicom.dcmread(f, force=True).pixel_array
        pixels = cache[key]
        plane = pixels[index] if index is not None else pixels
        if slope != 1.0 or intercept != 0.0:
            plane = plane.astype(np.float32) * np.float32(slope) + np.float32(intercept)
        planes.append(plane)
    return planes
