"""A fake TCIA: the public NBIA search REST API, serving synthetic DICOM series.

It answers under ``/nbia-api/services/v1/`` in the documented shapes (TCIA REST API
guide, "NBIA Search REST API"): JSON lists of objects, the query keys matched exactly
(collection names are case-sensitive), an empty answer as HTTP 204 with no body:

- ``getCollectionValues`` -> ``[{"Collection"}]``;
- ``getModalityValues?Collection=&BodyPartExamined=`` -> ``[{"Modality"}]``;
- ``getBodyPartValues?Collection=&Modality=`` -> ``[{"BodyPartExamined"}]``;
- ``getPatient?Collection=`` -> ``[{"PatientId", "PatientName", "PatientSex", "Collection"}]``;
- ``getPatientStudy?Collection=&PatientID=&StudyInstanceUID=`` -> ``[{"StudyInstanceUID",
  "StudyDate", "StudyDescription", "PatientID", "PatientName", "PatientSex", "Collection",
  "SeriesCount"}]``;
- ``getSeries?Collection=&PatientID=&StudyInstanceUID=&Modality=`` -> series objects
  (``SeriesInstanceUID``, ``Modality``, ``BodyPartExamined``, ``ImageCount``, ``FileSize``,
  ``LicenseName``, ``LicenseURI``, ``CollectionURI``...);
- ``getSeriesSize?SeriesInstanceUID=`` -> ``[{"TotalSizeInBytes", "ObjectCount"}]``;
- ``getSeriesMetaData?SeriesInstanceUID=`` -> ``[{"Collection", "Patient ID", "Modality",
  "Number of Images", "License Name", ...}]`` (spaced names, as documented);
- ``getImage?SeriesInstanceUID=`` -> a zip of the series' DICOM files (``1-01.dcm``...);
- ``getCollectionDescriptions`` -> ``[{"collectionName", "description", "descriptionURI",
  "lastUpdated"}]`` (an advanced endpoint: ``descriptions=False`` refuses it with 500, as
  the public server may).

The DICOM files come from `fakes.medical.write_dicom_series`, with its made-up patient
data (`fakes.medical.FAKE_PATIENT`) in every header. Faults come from `FakeService.inject`.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.medical import DicomSeries, make_uid, write_dicom_series
from fakes.service import FakeService, json_error

__all__ = [
    "API",
    "FakeTCIA",
    "TCIACollection",
    "TCIAPatient",
    "TCIASeries",
    "seed",
]

API = "/nbia-api/services/v1"
CC_BY = (
    "Creative Commons Attribution 4.0 International License",
    "https://creativecommons.org/licenses/by/4.0/",
)


@dataclass
class TCIASeries:
    uid: str
    study_uid: str
    modality: str
    body_part: str
    description: str
    dicom: DicomSeries
    manufacturer: str = "bioshare-tests"

    @property
    def files(self) -> list[Path]:
        return list(self.dicom.files)


@dataclass
class TCIAPatient:
    id: str
    sex: str
    series: list[TCIASeries] = field(default_factory=list)


@dataclass
class TCIACollection:
    name: str
    description: str
    doi: str
    license: tuple[str, str] = CC_BY
    patients: list[TCIAPatient] = field(default_factory=list)

    def all_series(self) -> list[TCIASeries]:
        return [s for p in self.patients for s in p.series]


def _series(
    root: Path, collection: str, patient: str, index: int, modality: str, part: str, **kw: Any
) -> TCIASeries:
    uid = make_uid("tcia", collection, patient, index)
    study = make_uid("tcia-study", collection, patient)
    description = kw.pop("description", f"{part.title()} {modality}")
    dicom = write_dicom_series(
        root / collection / patient / str(index),
        modality=modality,
        series_uid=uid,
        study_uid=study,
        description=description,
        series_number=index + 1,
        seed=index,
        **kw,
    )
    return TCIASeries(uid, study, modality, part, description, dicom)


def seed(root: Path) -> list[TCIACollection]:
    """Three small collections: lung CT (2 patients), brain MR, and a PET/CT one."""
    lung = TCIACollection(
        "Lung-CT-Demo",
        "<p>Thoracic <b>CT</b> scans of patients with non-small cell lung cancer, "
        "with tumour annotations.</p>",
        "10.7937/TCIA.DEMO.LUNG",
    )
    lung.patients = [
        TCIAPatient("LUNG-001", "F", [_series(root, lung.name, "LUNG-001", 0, "CT", "CHEST")]),
        TCIAPatient(
            "LUNG-002",
            "M",
            [
                _series(root, lung.name, "LUNG-002", 1, "CT", "CHEST", n_slices=6),
                _series(root, lung.name, "LUNG-002", 2, "CT", "CHEST", n_slices=4),
            ],
        ),
    ]
    brain = TCIACollection(
        "Brain-MR-Demo",
        "Brain MRI of glioma patients before surgery: T1 and FLAIR sequences.",
        "10.7937/TCIA.DEMO.BRAIN",
        (
            "Creative Commons Attribution-NonCommercial 4.0 International License",
            "https://creativecommons.org/licenses/by-nc/4.0/",
        ),
    )
    brain.patients = [
        TCIAPatient(
            "GLIOMA-01",
            "M",
            [_series(root, brain.name, "GLIOMA-01", 3, "MR", "BRAIN", description="AX T1")],
        )
    ]
    petct = TCIACollection(
        "Head-Neck-PET-CT-Demo",
        "FDG PET/CT of head and neck cancer patients before radiotherapy.",
        "10.7937/TCIA.DEMO.HNPETCT",
    )
    petct.patients = [
        TCIAPatient(
            "HN-01",
            "F",
            [
                _series(root, petct.name, "HN-01", 4, "CT", "HEADNECK", n_slices=4),
                _series(root, petct.name, "HN-01", 5, "PT", "HEADNECK", n_slices=4),
            ],
        )
    ]
    return [lung, brain, petct]


class FakeTCIA(FakeService):
    """TCIA's NBIA search API on 127.0.0.1 (``api_url`` is the ``BIOSHARE_TCIA_URL``)."""

    name = "fake TCIA"

    def __init__(
        self, collections: list[TCIACollection], *, descriptions: bool = True, port: int = 0
    ) -> None:
        super().__init__(port=port)
        self.collections = collections
        self.descriptions = descriptions
        self._zips: dict[str, bytes] = {}

    @property
    def api_url(self) -> str:
        return f"{self.url}{API}"

    def series_by_uid(self, uid: str) -> tuple[TCIACollection, TCIAPatient, TCIASeries]:
        for collection in self.collections:
            for patient in collection.patients:
                for series in patient.series:
                    if series.uid == uid:
                        return collection, patient, series
        raise KeyError(uid)

    def zip_of(self, uid: str) -> bytes:
        """The bytes ``getImage`` sends for a series (built once)."""
        if uid not in self._zips:
            _, _, series = self.series_by_uid(uid)
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as zf:
                for index, path in enumerate(sorted(series.files)):
                    zf.write(path, f"1-{index + 1:02d}.dcm")
            self._zips[uid] = buffer.getvalue()
        return self._zips[uid]

    def setup(self, app: web.Application) -> None:
        routes = {
            "getCollectionValues": self._collections,
            "getModalityValues": self._modalities,
            "getBodyPartValues": self._body_parts,
            "getPatient": self._patients,
            "getPatientStudy": self._studies,
            "getSeries": self._series,
            "getSeriesSize": self._size,
            "getSeriesMetaData": self._metadata,
            "getImage": self._image,
            "getCollectionDescriptions": self._descriptions,
        }
        for endpoint, handler in routes.items():
            app.router.add_get(f"{API}/{endpoint}", handler)

    # -- selection ------------------------------------------------------------------------------

    def _rows(self, query: Any) -> list[tuple[TCIACollection, TCIAPatient, TCIASeries]]:
        """Every (collection, patient, series) matching the documented query keys."""
        keys = {
            "Collection": lambda c, p, s: c.name,
            "PatientID": lambda c, p, s: p.id,
            "StudyInstanceUID": lambda c, p, s: s.study_uid,
            "SeriesInstanceUID": lambda c, p, s: s.uid,
            "Modality": lambda c, p, s: s.modality,
            "BodyPartExamined": lambda c, p, s: s.body_part,
        }
        rows = [(c, p, s) for c in self.collections for p in c.patients for s in p.series]
        for key, get in keys.items():
            if key in query:
                rows = [r for r in rows if get(*r) == query[key]]
        return rows

    @staticmethod
    def _answer(rows: list[dict[str, Any]]) -> web.Response:
        if not rows:
            return web.Response(status=204)
        return web.json_response(rows)

    # -- handlers -------------------------------------------------------------------------------

    async def _collections(self, request: web.Request) -> web.Response:
        return self._answer([{"Collection": c.name} for c in self.collections])

    async def _modalities(self, request: web.Request) -> web.Response:
        values = dict.fromkeys(s.modality for _, _, s in self._rows(request.query))
        return self._answer([{"Modality": v} for v in values])

    async def _body_parts(self, request: web.Request) -> web.Response:
        values = dict.fromkeys(s.body_part for _, _, s in self._rows(request.query))
        return self._answer([{"BodyPartExamined": v} for v in values])

    async def _patients(self, request: web.Request) -> web.Response:
        seen: dict[str, dict[str, Any]] = {}
        for c, p, _ in self._rows(request.query):
            seen.setdefault(
                p.id,
                {"PatientId": p.id, "PatientName": p.id, "PatientSex": p.sex, "Collection": c.name},
            )
        return self._answer(list(seen.values()))

    async def _studies(self, request: web.Request) -> web.Response:
        studies: dict[str, dict[str, Any]] = {}
        for c, p, s in self._rows(request.query):
            study = studies.setdefault(
                s.study_uid,
                {
                    "StudyInstanceUID": s.study_uid,
                    "StudyDate": "01-15-2000",
                    "StudyDescription": f"{s.body_part.title()} study",
                    "PatientID": p.id,
                    "PatientName": p.id,
                    "PatientSex": p.sex,
                    "Collection": c.name,
                    "SeriesCount": 0,
                },
            )
            study["SeriesCount"] += 1
        return self._answer(list(studies.values()))

    async def _series(self, request: web.Request) -> web.Response:
        rows = []
        for c, p, s in self._rows(request.query):
            rows.append(
                {
                    "SeriesInstanceUID": s.uid,
                    "StudyInstanceUID": s.study_uid,
                    "Modality": s.modality,
                    "ProtocolName": s.description,
                    "SeriesDate": "2000-01-15 00:00:00.0",
                    "SeriesDescription": s.description,
                    "BodyPartExamined": s.body_part,
                    "SeriesNumber": len(rows) + 1,
                    "Collection": c.name,
                    "PatientID": p.id,
                    "Manufacturer": s.manufacturer,
                    "ManufacturerModelName": "Synthetic",
                    "ImageCount": len(s.files),
                    "TimeStamp": "2024-01-01 00:00:00.0",
                    "LicenseName": c.license[0],
                    "LicenseURI": c.license[1],
                    "CollectionURI": f"https://doi.org/{c.doi}",
                    "FileSize": sum(f.stat().st_size for f in s.files),
                    "DateReleased": "2024-01-01 00:00:00.0",
                    "StudyDesc": f"{s.body_part.title()} study",
                    "StudyDate": "2000-01-15 00:00:00.0",
                    "ThirdPartyAnalysis": "NO",
                }
            )
        return self._answer(rows)

    async def _size(self, request: web.Request) -> web.Response:
        rows = self._rows(request.query) if "SeriesInstanceUID" in request.query else []
        if not rows:
            return json_error(400, "SeriesInstanceUID is required and must name a series")
        files = rows[0][2].files
        size = sum(f.stat().st_size for f in files)
        return web.json_response([{"TotalSizeInBytes": f"{size:.1f}", "ObjectCount": len(files)}])

    async def _metadata(self, request: web.Request) -> web.Response:
        rows = self._rows(request.query) if "SeriesInstanceUID" in request.query else []
        return self._answer(
            [
                {
                    "Collection": c.name,
                    "Patient ID": p.id,
                    "Study UID": s.study_uid,
                    "Series UID": s.uid,
                    "Modality": s.modality,
                    "Body Part Examined": s.body_part,
                    "Series Description": s.description,
                    "Number of Images": str(len(s.files)),
                    "License Name": c.license[0],
                    "License URL": c.license[1],
                    "Data Description URI": f"https://doi.org/{c.doi}",
                }
                for c, p, s in rows
            ]
        )

    async def _image(self, request: web.Request) -> web.Response:
        uid = request.query.get("SeriesInstanceUID", "")
        try:
            body = self.zip_of(uid)
        except KeyError:
            return json_error(404, f"no series {uid!r}")
        return web.Response(
            body=body,
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{uid}.zip"'},
        )

    async def _descriptions(self, request: web.Request) -> web.Response:
        if not self.descriptions:
            return web.Response(status=500, text="Internal Server Error")
        return web.json_response(
            [
                {
                    "collectionName": c.name,
                    "description": c.description,
                    "descriptionURI": f"https://doi.org/{c.doi}",
                    "lastUpdated": "2024-01-01",
                }
                for c in self.collections
            ]
        )
