"""Synthetic DICOM series and NIfTI volumes with fake patient data, for tests and fakes.

Everything is generated here (pydicom, nibabel); nothing is downloaded. The headers carry
made-up identifying data (`FAKE_PATIENT`) so that privacy scans have something to find.

    from fakes.medical import write_dicom_series, write_nifti, dicom_series_zip

    series = write_dicom_series(tmp_path / "ct", n_slices=8)         # a CT series folder
    series.volume          # the expected float volume (z, y, x), rescale applied
    series.z, series.y, series.x                                     # coordinates in mm
    series.series_uid, series.files

    mr = write_enhanced_dicom(tmp_path / "mr.dcm", n_slices=6, n_times=3)   # multi-frame
    nii = write_nifti(tmp_path / "brain.nii.gz", shape=(6, 10, 12))  # expected data (z, y, x)
    blob = dicom_series_zip(n_series=2)   # bytes of a zip: sub-folders + a non-DICOM member
    with MedicalFileServer({"study.zip": blob}, token="t") as server:   # serve them on 127.0.0.1
        ...

All writers are deterministic for a given `seed`.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web
from fakes.service import FakeService

__all__ = [
    "FAKE_PATIENT",
    "DicomSeries",
    "MedicalFileServer",
    "NiftiVolume",
    "dicom_series_zip",
    "dicom_zip_series",
    "make_uid",
    "write_dicom_series",
    "write_enhanced_dicom",
    "write_nifti",
]

#: Made-up identifying data written into every generated header.
FAKE_PATIENT: dict[str, str] = {
    "PatientName": "Doe^Jane^Q",
    "PatientID": "PID-0042-FAKE",
    "PatientBirthDate": "19700312",
    "PatientSex": "F",
    "PatientAge": "055Y",
    "PatientAddress": "12 Imaginary Road, Nowhere",
    "InstitutionName": "Example General Hospital",
    "InstitutionAddress": "1 Hospital Way, Nowhere",
    "ReferringPhysicianName": "House^Gregory",
    "OperatorsName": "Tech^Terry",
    "AccessionNumber": "ACC987654",
    "StudyID": "STUDY77",
    "StudyDate": "20240115",
    "SeriesDate": "20240115",
    "AcquisitionDate": "20240115",
    "ContentDate": "20240115",
    "StudyTime": "101530",
    "SeriesTime": "101745",
    "StationName": "CT-SCANNER-01",
}

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
_UID_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's documented example root


def make_uid(*parts: object) -> str:
    """A valid, deterministic DICOM UID derived from `parts`."""
    from pydicom.uid import generate_uid

    return str(generate_uid(prefix=_UID_ROOT, entropy_srcs=[str(p) for p in parts]))


@dataclass
class DicomSeries:
    """What `write_dicom_series` / `write_enhanced_dicom` wrote, and what a reader must find."""

    folder: Path
    files: list[Path]
    series_uid: str
    study_uid: str
    volume: np.ndarray  # float64, (z, y, x) or (t, z, y, x), rescale applied, sorted by z
    z: np.ndarray
    y: np.ndarray
    x: np.ndarray
    orientation: tuple[float, ...]
    modality: str
    description: str
    sop_uids: list[str] = field(default_factory=list)


@dataclass
class NiftiVolume:
    """What `write_nifti` wrote: array data in (z, y, x) order (or (t, z, y, x)) and affine."""

    path: Path
    data: np.ndarray
    affine: np.ndarray
    descrip: str


def _base_dataset(
    path: Path,
    *,
    sop_class: str,
    sop_uid: str,
    modality: str,
    patient: dict[str, str],
    study_uid: str,
    series_uid: str,
    frame_uid: str,
    description: str,
    series_number: int,
    burned_in: bool,
    private_tags: bool,
) -> Any:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = make_uid("bioshare-tests")
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.FrameOfReferenceUID = frame_uid
    ds.SeriesDescription = description
    ds.StudyDescription = "Synthetic study"
    ds.SeriesNumber = series_number
    ds.Manufacturer = "bioshare-tests"
    for keyword, value in patient.items():
        setattr(ds, keyword, value)
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    if private_tags:
        block = ds.private_block(0x0009, "FAKE VENDOR", create=True)
        block.add_new(0x10, "LO", patient.get("PatientName", "secret"))
        block.add_new(0x11, "LO", "scanner serial 1234")
    return ds


def _volume(shape: tuple[int, ...], seed: int, stored_dtype: np.dtype) -> np.ndarray:
    rng = np.random.default_rng(seed)
    high = 2000 if stored_dtype.kind == "i" else 4000
    return rng.integers(0, high, size=shape).astype(stored_dtype)


def _axes(
    n_slices: int, rows: int, cols: int, spacing: tuple[float, float, float], origin: tuple
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    dz, dy, dx = spacing
    z = float(origin[2]) + dz * np.arange(n_slices)
    y = float(origin[1]) + dy * np.arange(rows)
    x = float(origin[0]) + dx * np.arange(cols)
    return z, y, x


def write_dicom_series(
    folder: str | Path,
    *,
    n_slices: int = 8,
    rows: int = 16,
    cols: int = 12,
    modality: str = "CT",
    spacing: tuple[float, float, float] = (2.5, 0.75, 0.5),
    origin: tuple[float, float, float] = (-30.0, -40.0, -50.0),
    orientation: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    rescale: tuple[float, float] | None = None,
    patient: dict[str, str] | None = None,
    study_uid: str | None = None,
    series_uid: str | None = None,
    series_number: int = 1,
    description: str | None = None,
    missing: tuple[int, ...] = (),
    burned_in: bool = False,
    private_tags: bool = True,
    filename: str = "IM{index:04d}.dcm",
    seed: int = 0,
) -> DicomSeries:
    """Write one single-frame DICOM series (one file per slice) into `folder`.

    Parameters
    ----------
    folder
        Created if needed; files are named with `filename` (``{index}`` is the slice
        index, ``{uid}`` the SOPInstanceUID, ``{patient}`` the patient name) in a shuffled
        order so that readers must sort by position.
    spacing
        (slice spacing, row spacing, column spacing) in mm, i.e. (z, y, x).
    origin
        ImagePositionPatient (x, y, z) of the first slice, in mm.
    orientation
        ImageOrientationPatient; the slices advance along its normal. Coordinates in the
        result are along the row/column/normal directions, starting from the projection of
        the first position.
    rescale
        (slope, intercept); defaults to (1, -1024) for CT and no rescale tags for MR.
    missing
        Slice indices not written (for "missing slice" errors); the returned `volume` and
        `z` still describe the complete series.
    """
    import pydicom  # noqa: F401  (fail early with a clear ImportError)

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    patient = dict(FAKE_PATIENT if patient is None else patient)
    study_uid = study_uid or make_uid("study", seed)
    series_uid = series_uid or make_uid("series", seed, series_number, modality)
    frame_uid = make_uid("frame", study_uid)
    description = description or f"{modality} synthetic series {series_number}"
    if rescale is None and modality == "CT":
        rescale = (1.0, -1024.0)
    stored_dtype = np.dtype(np.int16 if modality == "CT" else np.uint16)
    stored = _volume((n_slices, rows, cols), seed, stored_dtype)
    slope, intercept = rescale or (1.0, 0.0)
    volume = stored.astype(np.float64) * slope + intercept

    row_dir = np.asarray(orientation[:3], dtype=float)
    col_dir = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row_dir, col_dir)
    first = np.asarray(origin, dtype=float)
    dz, dy, dx = spacing
    z = float(first @ normal) + dz * np.arange(n_slices)
    y = float(first @ col_dir) + dy * np.arange(rows)
    x = float(first @ row_dir) + dx * np.arange(cols)

    rng = np.random.default_rng(seed + 1)
    order = rng.permutation(n_slices)
    sop_class = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    files: list[Path] = []
    sop_uids: list[str] = []
    for rank, k in enumerate(order):
        k = int(k)
        sop_uid = make_uid("sop", series_uid, k)
        sop_uids.append(sop_uid)
        if k in missing:
            continue
        name = filename.format(index=rank, uid=sop_uid, patient=patient.get("PatientName", ""))
        path = folder / name.replace("^", "_")
        ds = _base_dataset(
            path,
            sop_class=sop_class,
            sop_uid=sop_uid,
            modality=modality,
            patient=patient,
            study_uid=study_uid,
            series_uid=series_uid,
            frame_uid=frame_uid,
            description=description,
            series_number=series_number,
            burned_in=burned_in,
            private_tags=private_tags,
        )
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = int(rank) + 1  # deliberately not the spatial order
        ds.ImagePositionPatient = [float(v) for v in first + k * dz * normal]
        ds.ImageOrientationPatient = [float(v) for v in orientation]
        ds.PixelSpacing = [float(dy), float(dx)]
        ds.SliceThickness = float(dz)
        ds.SliceLocation = float(z[k])
        ds.Rows, ds.Columns = rows, cols
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if stored_dtype.kind == "i" else 0
        if rescale is not None:
            ds.RescaleSlope = float(slope)
            ds.RescaleIntercept = float(intercept)
            ds.RescaleType = "HU" if modality == "CT" else "US"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
    return DicomSeries(
        folder=folder,
        files=files,
        series_uid=series_uid,
        study_uid=study_uid,
        volume=volume,
        z=z,
        y=y,
        x=x,
        orientation=tuple(float(v) for v in orientation),
        modality=modality,
        description=description,
        sop_uids=sop_uids,
    )


def write_enhanced_dicom(
    path: str | Path,
    *,
    n_slices: int = 6,
    n_times: int = 1,
    rows: int = 10,
    cols: int = 8,
    spacing: tuple[float, float, float] = (3.0, 1.25, 1.5),
    origin: tuple[float, float, float] = (10.0, 20.0, -15.0),
    rescale: tuple[float, float] = (2.0, -100.0),
    patient: dict[str, str] | None = None,
    seed: int = 0,
) -> DicomSeries:
    """Write one Enhanced MR multi-frame file (axial, frames ordered t-major then z).

    Per-frame groups carry PlanePositionSequence, FrameContentSequence (with
    TemporalPositionIndex when `n_times > 1`) and PixelValueTransformationSequence; the
    shared groups carry PixelMeasuresSequence and PlaneOrientationSequence. The frames are
    stored in reverse slice order so readers must sort by position.
    """
    from pydicom.dataset import Dataset

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    patient = dict(FAKE_PATIENT if patient is None else patient)
    study_uid = make_uid("study", "enhanced", seed)
    series_uid = make_uid("series", "enhanced", seed)
    sop_uid = make_uid("sop", "enhanced", seed)
    ds = _base_dataset(
        path,
        sop_class=ENHANCED_MR_STORAGE,
        sop_uid=sop_uid,
        modality="MR",
        patient=patient,
        study_uid=study_uid,
        series_uid=series_uid,
        frame_uid=make_uid("frame", study_uid),
        description="Enhanced MR synthetic",
        series_number=1,
        burned_in=False,
        private_tags=True,
    )
    stored = _volume((n_times, n_slices, rows, cols), seed, np.dtype(np.uint16))
    slope, intercept = rescale
    volume = stored.astype(np.float64) * slope + intercept
    z, y, x = _axes(n_slices, rows, cols, spacing, origin)

    shared = Dataset()
    measures = Dataset()
    measures.PixelSpacing = [float(spacing[1]), float(spacing[2])]
    measures.SliceThickness = float(spacing[0])
    shared.PixelMeasuresSequence = [measures]
    plane = Dataset()
    plane.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    shared.PlaneOrientationSequence = [plane]
    ds.SharedFunctionalGroupsSequence = [shared]

    frames = []
    pixels = []
    for t in range(n_times):
        for k in reversed(range(n_slices)):
            item = Dataset()
            position = Dataset()
            position.ImagePositionPatient = [float(origin[0]), float(origin[1]), float(z[k])]
            item.PlanePositionSequence = [position]
            content = Dataset()
            content.DimensionIndexValues = [t + 1, k + 1]
            if n_times > 1:
                content.TemporalPositionIndex = t + 1
            item.FrameContentSequence = [content]
            transform = Dataset()
            transform.RescaleSlope = float(slope)
            transform.RescaleIntercept = float(intercept)
            transform.RescaleType = "US"
            item.PixelValueTransformationSequence = [transform]
            frames.append(item)
            pixels.append(stored[t, k])
    ds.PerFrameFunctionalGroupsSequence = frames
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(np.stack(pixels)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return DicomSeries(
        folder=path.parent,
        files=[path],
        series_uid=series_uid,
        study_uid=study_uid,
        volume=volume if n_times > 1 else volume[0],
        z=z,
        y=y,
        x=x,
        orientation=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        modality="MR",
        description="Enhanced MR synthetic",
        sop_uids=[sop_uid],
    )


def dicom_series_zip(
    dest: str | Path | None = None,
    *,
    n_series: int = 1,
    extra_members: bool = True,
    member: str = "study/series{series}/{name}",
    seed: int = 0,
    **series_kwargs: Any,
) -> bytes:
    """A zip of `n_series` DICOM series, as TCIA `getImage` or XNAT `?format=zip` return.

    Series ``i`` sits under ``study/series{i}/`` (modality alternating CT, MR); `member`
    changes that layout, e.g. ``"{name}"`` (TCIA: flat) or
    ``"S1/scans/{series}/resources/DICOM/files/{name}"`` (XNAT). With
    `extra_members`, a ``README.txt`` and a ``study/manifest.json`` are added (non-DICOM
    members readers must ignore). `series_kwargs` go to `write_dicom_series`. Returns the
    zip's bytes and also writes them to `dest` when given.
    """
    import tempfile

    buffer = io.BytesIO()
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(buffer, "w") as zf:
        for i in range(n_series):
            kwargs = {"modality": "CT" if i % 2 == 0 else "MR", **series_kwargs}
            series = write_dicom_series(
                Path(tmp) / f"series{i}", series_number=i + 1, seed=seed + i, **kwargs
            )
            for f in series.files:
                zf.write(
                    f,
                    member.format(
                        series=i, name=f"{i}-{f.name}" if "{series}" not in member else f.name
                    ),
                )
        if extra_members:
            zf.writestr("README.txt", "Synthetic DICOM for bioshare tests.\n")
            zf.writestr("study/manifest.json", f'{{"series": {n_series}}}')
    data = buffer.getvalue()
    if dest is not None:
        Path(dest).write_bytes(data)
    return data


def dicom_zip_series(n_series: int = 1, seed: int = 0, **series_kwargs: Any) -> list[DicomSeries]:
    """The `DicomSeries` that `dicom_series_zip` with the same arguments puts in its zip."""
    import tempfile

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n_series):
            kwargs = {"modality": "CT" if i % 2 == 0 else "MR", **series_kwargs}
            out.append(
                write_dicom_series(
                    Path(tmp) / f"series{i}", series_number=i + 1, seed=seed + i, **kwargs
                )
            )
    return out


def write_nifti(
    path: str | Path,
    *,
    shape: tuple[int, ...] = (6, 10, 12),
    spacing: tuple[float, float, float] = (2.0, 1.5, 1.0),
    origin: tuple[float, float, float] = (-12.0, -15.0, -6.0),
    affine: np.ndarray | None = None,
    descrip: str = "Doe^Jane PID-0042-FAKE scanned 2024-01-15",
    aux_file: str = "",
    dtype: str = "int16",
    slope: float | None = None,
    intercept: float = 0.0,
    seed: int = 0,
) -> NiftiVolume:
    """Write a NIfTI-1 volume (`.nii` or `.nii.gz`) with an identifying `descrip`.

    Parameters
    ----------
    shape
        (z, y, x) or (t, z, y, x), the order of the returned `data`; on disk NIfTI stores
        (x, y, z[, t]).
    spacing, origin
        (z, y, x) voxel sizes and the (x, y, z) position of voxel 0, in mm, used to build
        the affine when `affine` is not given.
    slope, intercept
        `scl_slope`/`scl_inter`; the returned data has them applied.
    """
    import nibabel as nib

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    stored = rng.integers(0, 1000, size=shape).astype(dtype)
    if affine is None:
        affine = np.diag([spacing[2], spacing[1], spacing[0], 1.0])
        affine[:3, 3] = origin
    data = stored.astype(np.float64)
    if slope is not None:
        data = data * slope + intercept
    # Written by hand (header + raw bytes) so that the raw values and scl_slope/scl_inter are
    # exactly the ones asked for: nibabel's writer would choose its own scaling.
    header = nib.Nifti1Header()
    header.set_data_shape(stored.T.shape)  # (x, y, z[, t])
    header.set_data_dtype(np.dtype(dtype))
    header.set_qform(affine, code=1)
    header.set_sform(affine, code=1)
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = descrip.encode()[:79]
    header["aux_file"] = aux_file.encode()[:23]
    header["vox_offset"] = 352
    header["scl_slope"] = slope if slope is not None else np.nan
    header["scl_inter"] = intercept if slope is not None else np.nan
    raw = header.binaryblock + b"\0" * 4 + np.ascontiguousarray(stored.T).tobytes(order="F")
    if path.name.endswith(".gz"):
        raw = gzip.compress(raw, mtime=0)
    path.write_bytes(raw)
    return NiftiVolume(path=path, data=data, affine=np.asarray(affine, float), descrip=descrip)


class MedicalFileServer(FakeService):
    """Serves bytes at ``/files/<name>`` (any query string) on 127.0.0.1.

    ``token`` makes every request need ``Authorization: Bearer <token>`` (401 else)::

        with MedicalFileServer({"study.zip": dicom_series_zip(n_series=2)}) as server:
            url = f"{server.url}/files/study.zip?format=zip"
            server.requests_to("/files/*")      # the request log
    """

    name = "medical-files"

    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        *,
        token: str | None = None,
        ranges: bool = True,
    ):
        super().__init__()
        self.files: dict[str, bytes] = dict(files or {})
        self.token = token
        self.ranges = ranges  # answer ``Range: bytes=a-b`` with 206, as static hosts do

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/files/{name:.+}", self._get)

    async def _get(self, request: web.Request) -> web.Response:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"message": "missing or wrong token"}, status=401)
        body = self.files.get(request.match_info["name"])
        if body is None:
            return web.json_response({"message": "no such file"}, status=404)
        wanted = request.headers.get("Range", "")
        if self.ranges and wanted.startswith("bytes="):
            first, _, last = wanted[len("bytes=") :].partition("-")
            if not first:  # a suffix: the last N bytes
                start, end = max(0, len(body) - int(last)), len(body) - 1
            else:
                start, end = int(first), min(int(last or len(body) - 1), len(body) - 1)
            return web.Response(
                status=206,
                body=body[start : end + 1],
                headers={"Content-Range": f"bytes {start}-{end}/{len(body)}"},
                content_type="application/octet-stream",
            )
        headers = {"Accept-Ranges": "bytes"} if self.ranges else {}
        return web.Response(body=body, headers=headers, content_type="application/octet-stream")
