"""A fake BioImage Archive: search, the v2 integrator API, BioStudies and OME-Zarr storage.

It answers in the shapes of reference/repositories-and-dois.md section 2 and of the
bia-integrator sources (``api/api/{public,search}.py``, ``bia-search/api/search.py``):

- ``GET /bioimage-archive/api/v1/search/fts?query=&pagination.page=&pagination.page_size=``
  (repeatable ``organism`` and ``imaging_method`` filters) ->
  ``{"hits": {"total": {"value", "relation"}, "max_score", "hits": [{"_index", "_id",
  "_score", "_source": <study document with nested "dataset" list>}]}, "facets": {...},
  "pagination": {"page", "page_size", "total_pages"}}``; ``query`` must have 1-100
  characters, ``page_size`` at most 100 and ``page`` at most 1000 (else 422 with FastAPI's
  ``{"detail": [{"type", "loc", "msg", "input"}]}``);
- ``GET /bioimage-archive/api/v2/search/study/accession?accession_id=`` -> a Study or
  ``null``; ``GET /v2/study/{uuid}`` (404 ``{"detail": "..."}`` when unknown);
- reverse links ``/v2/study/{uuid}/dataset``, ``/v2/dataset/{uuid}/image``,
  ``/v2/image/{uuid}/image_representation``: ``page_size`` required (422 when missing or
  below 1), sorted by uuid, paged with ``start_from_uuid`` (excluded from the page);
- ``GET /biostudies/api/v1/studies/{accession}``: the BioStudies submission (attributes and
  REMBI sections), for studies the integrator has not converted yet;
- ``GET /bioimaging-integrator-data/<acc>/<image>/<rep>.ome.zarr/0/...``: a folder served as
  an object store (404 for folders and absent keys, no listing). Representation URIs point
  at the public host, as the real API's do; clients rewrite them to their storage host.
"""

from __future__ import annotations

import math
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.service import FakeService

__all__ = ["FakeBIA", "FakeBIAImage", "FakeBIAStudy", "build_bia_zarr", "seed_studies"]

PUBLIC_HOST = "https://livingobjects.ebi.ac.uk/bioimaging-integrator-data"
OLD_HOST = "https://uk1s3.embassy.ebi.ac.uk/bia-integrator-data"
API = "/bioimage-archive/api"


def _uuid(name: str) -> str:
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"bia-fake:{name}"))


@dataclass
class FakeBIAImage:
    name: str
    shape: tuple[int, ...]  # t, c, z, y, x as the integrator records them
    ome_zarr: bool = True
    old_host: bool = False  # representation URI on the former storage host

    @property
    def uuid(self) -> str:
        return _uuid(f"image:{self.name}")

    @property
    def rep_uuid(self) -> str:
        return _uuid(f"representation:{self.name}")


@dataclass
class FakeBIAStudy:
    accession: str
    title: str
    description: str
    organisms: list[tuple[str, str]]  # (common name, scientific name)
    methods: list[str]
    release_date: str = "2024-01-15"
    licence: str = "https://creativecommons.org/licenses/by/4.0/"
    doi: str | None = None
    keywords: list[str] = field(default_factory=list)
    authors: list[tuple[str, str | None]] = field(default_factory=list)  # name, ORCID
    images: list[FakeBIAImage] = field(default_factory=list)
    in_integrator: bool = True  # False: only BioStudies knows it

    @property
    def uuid(self) -> str:
        return _uuid(f"study:{self.accession}")

    @property
    def dataset_uuid(self) -> str:
        return _uuid(f"dataset:{self.accession}")


def seed_studies() -> list[FakeBIAStudy]:
    """Four BIA-like studies, one the re-hosted IDR study idr0062 (same DOI)."""
    return [
        FakeBIAStudy(
            "S-BIAD634",
            "Nuclear segmentation in fluorescence microscopy of human cells",
            "Annotated nuclei in HeLa cells imaged by wide-field fluorescence microscopy, "
            "with ground-truth masks for training segmentation models.",
            [("human", "Homo sapiens")],
            ["fluorescence microscopy"],
            keywords=["nuclei", "segmentation", "AI-ready"],
            authors=[("Jane Doe", "0000-0002-1825-0097"), ("Ali Khan", None)],
            images=[
                FakeBIAImage("hela-nuclei-01", (1, 1, 1, 24, 32)),
                FakeBIAImage("hela-nuclei-02", (1, 1, 1, 24, 32), old_host=True),
                FakeBIAImage("hela-raw-tiff", (1, 1, 1, 24, 32), ome_zarr=False),
            ],
        ),
        FakeBIAStudy(
            "S-BIAD1556",
            "Light sheet imaging of zebrafish heart development",
            "Time-lapse light sheet fluorescence microscopy of the developing zebrafish heart.",
            [("zebrafish", "Danio rerio")],
            ["light sheet fluorescence microscopy"],
            release_date="2025-03-02",
            licence="https://creativecommons.org/publicdomain/zero/1.0/",
            keywords=["heart", "development"],
            authors=[("Maria Rossi", None)],
            images=[FakeBIAImage("heart-01", (1, 2, 4, 24, 32))],
        ),
        FakeBIAStudy(
            "S-BIAD9062",
            "3D nuclear segmentation of human cells (IDR idr0062)",
            "The IDR study idr0062 re-hosted in the BioImage Archive: confocal images and "
            "curated nuclear masks.",
            [("human", "Homo sapiens")],
            ["confocal microscopy"],
            doi="10.17867/10000130",
            keywords=["nuclei", "3D"],
            authors=[("Jean Blin", None)],
            images=[FakeBIAImage("idr0062-6001240", (1, 2, 4, 32, 30))],
        ),
        FakeBIAStudy(
            "S-BSST999",
            "Mouse brain slices stained for astrocytes",
            "Confocal microscopy of mouse brain slices; not yet converted to OME-Zarr.",
            [("house mouse", "Mus musculus")],
            ["confocal microscopy"],
            release_date="2023-06-30",
            keywords=["brain", "astrocytes"],
            authors=[("Tom Smith", None)],
            in_integrator=False,
        ),
    ]


def build_bia_zarr(root: Path, studies: list[FakeBIAStudy]) -> Path:
    """Write the OME-Zarr representations of ``studies`` under ``root`` (as the bucket)."""
    import numpy as np
    import xarray as xr

    import bioshare

    dims = ("t", "c", "z", "y", "x")
    for study in studies:
        for image in study.images:
            if not image.ome_zarr:
                continue
            data = np.arange(math.prod(image.shape), dtype="uint16").reshape(image.shape)
            array = xr.DataArray(data, dims=dims).squeeze(
                [d for d, n in zip(dims, image.shape, strict=True) if n == 1 and d != "c"]
            )
            path = root / study.accession / image.uuid / f"{image.rep_uuid}.ome.zarr" / "0"
            bioshare.write_image(array, path, ngff_version="0.4")
    return root


class FakeBIA(FakeService):
    """The BioImage Archive on 127.0.0.1: see the module docstring for what it answers."""

    name = "fake BIA"

    def __init__(
        self,
        zarr_root: Path | None = None,
        *,
        studies: list[FakeBIAStudy] | None = None,
        extra_studies: int = 0,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.studies = studies if studies is not None else seed_studies()
        for n in range(extra_studies):
            self.studies.append(
                FakeBIAStudy(
                    f"S-BIAD{90000 + n}",
                    f"Filler study {n} of tissue sections",
                    "Bright-field microscopy of stained tissue sections.",
                    [("mouse", "Mus musculus")],
                    ["bright-field microscopy"],
                    authors=[("Filler Author", None)],
                    images=[FakeBIAImage(f"filler-{n}", (1, 1, 1, 8, 8))],
                )
            )
        self.zarr_root = zarr_root

    # -- documents ------------------------------------------------------------------------------

    def _integrated(self) -> list[FakeBIAStudy]:
        return [s for s in self.studies if s.in_integrator]

    @staticmethod
    def _model(type_name: str, version: int = 1) -> dict[str, Any]:
        return {"type_name": type_name, "version": version}

    def _study(self, s: FakeBIAStudy) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "object_creator": "bia_ingest",
            "uuid": s.uuid,
            "version": 0,
            "model": self._model("Study", 3),
            "additional_metadata": [],
            "accession_id": s.accession,
            "licence": s.licence,
            "author": [
                {
                    "rorid": None,
                    "address": None,
                    "website": None,
                    "orcid": orcid,
                    "display_name": name,
                    "affiliation": [{"display_name": "EMBL-EBI", "rorid": None}],
                    "contact_email": None,
                    "role": ["investigator"],
                }
                for name, orcid in s.authors
            ],
            "title": s.title,
            "release_date": s.release_date,
            "description": s.description,
            "keyword": s.keywords,
            "acknowledgement": "",
            "see_also": [],
            "related_publication": [],
            "grant": [],
            "funding_statement": None,
        }
        if s.doi:
            doc["doi"] = s.doi
        return doc

    def _dataset(self, s: FakeBIAStudy) -> dict[str, Any]:
        return {
            "object_creator": "bia_ingest",
            "uuid": s.dataset_uuid,
            "version": 0,
            "model": self._model("Dataset", 2),
            "additional_metadata": [],
            "title": f"{s.title}: images",
            "description": s.description,
            "analysis_method": [],
            "correlation_method": [],
            "example_image_uri": [self._thumbnail(s, s.images[0])] if s.images else [],
            "submitted_in_study_uuid": s.uuid,
        }

    def _thumbnail(self, s: FakeBIAStudy, image: FakeBIAImage) -> str:
        return f"{PUBLIC_HOST}/{s.accession}/{image.uuid}/{image.rep_uuid}.png"

    def _search_document(self, s: FakeBIAStudy) -> dict[str, Any]:
        dataset = self._dataset(s) | {
            "image_count": len(s.images),
            "file_reference_count": len(s.images),
            "file_reference_size_bytes": 1000 * len(s.images),
            "file_type_counts": {"file": len(s.images)},
            "acquisition_process": [
                {
                    "title": f"Image acquisition {method}",
                    "fbbi_id": [],
                    "imaging_method_name": [method],
                    "model": self._model("ImageAcquisitionProtocol", 3),
                }
                for method in s.methods
            ],
            "biological_entity": [
                {
                    "title": "biosample",
                    "model": self._model("BioSample", 4),
                    "organism_classification": [
                        {"common_name": common, "scientific_name": scientific, "ncbi_id": None}
                        for common, scientific in s.organisms
                    ],
                }
            ],
            "image": [
                {
                    "uuid": image.uuid,
                    "model": self._model("Image", 2),
                    "submission_dataset_uuid": s.dataset_uuid,
                    "additional_metadata": [
                        {
                            "provenance": "bia_image_assignment",
                            "name": "thumbnail_uri",
                            "value": {"thumbnail_uri": [self._thumbnail(s, image)]},
                        }
                    ]
                    + (
                        [
                            {
                                "provenance": "bia_image_assignment",
                                "name": "recommended_vizarr_representation",
                                "value": {"recommended_vizarr_representation": image.rep_uuid},
                            }
                        ]
                        if image.ome_zarr
                        else []
                    ),
                }
                for image in s.images
            ],
        }
        return self._study(s) | {"dataset": [dataset]}

    def _image(self, s: FakeBIAStudy, image: FakeBIAImage) -> dict[str, Any]:
        return {
            "object_creator": "bia_image_assignment",
            "uuid": image.uuid,
            "version": 1,
            "model": self._model("Image", 2),
            "additional_metadata": [
                {
                    "provenance": "bia_image_assignment",
                    "name": "file_pattern",
                    "value": {"file_pattern": f"{image.name}.tif"},
                }
            ],
            "label": image.name,
            "submission_dataset_uuid": s.dataset_uuid,
            "creation_process_uuid": _uuid(f"process:{image.name}"),
            "original_file_reference_uuid": [_uuid(f"file:{image.name}")],
        }

    def _representation(self, s: FakeBIAStudy, image: FakeBIAImage) -> dict[str, Any]:
        host = OLD_HOST if image.old_host else PUBLIC_HOST
        t, c, z, y, x = image.shape
        fmt = ".ome.zarr" if image.ome_zarr else ".tif"
        uri = (
            f"{host}/{s.accession}/{image.uuid}/{image.rep_uuid}.ome.zarr/0"
            if image.ome_zarr
            else f"https://www.ebi.ac.uk/biostudies/files/{s.accession}/{image.name}.tif"
        )
        return {
            "object_creator": "bia_converter",
            "uuid": image.rep_uuid if image.ome_zarr else _uuid(f"tif:{image.name}"),
            "version": 0,
            "model": self._model("ImageRepresentation", 4),
            "additional_metadata": [],
            "image_format": fmt,
            "file_uri": [uri],
            "total_size_in_bytes": 2 * t * c * z * y * x,
            "physical_size_x": None,
            "voxel_physical_size_x": 0.5,
            "voxel_physical_size_y": 0.5,
            "voxel_physical_size_z": 1.0 if z > 1 else None,
            "size_x": x,
            "size_y": y,
            "size_z": z,
            "size_c": c,
            "size_t": t,
            "image_viewer_setting": [],
            "representation_of_uuid": image.uuid,
        }

    def _biostudies(self, s: FakeBIAStudy) -> dict[str, Any]:
        def attrs(**values: str) -> list[dict[str, str]]:
            return [{"name": k.replace("_", " "), "value": v} for k, v in values.items()]

        return {
            "accno": s.accession,
            "attributes": attrs(Title=s.title, ReleaseDate=s.release_date, AttachTo="BioImages"),
            "section": {
                "type": "Study",
                "accno": f"{s.accession}-study",
                "attributes": attrs(Title=s.title, Description=s.description, License="CC BY 4.0")
                + [{"name": "Keyword", "value": k} for k in s.keywords],
                "subsections": [
                    {"type": "Author", "attributes": attrs(Name=name)} for name, _ in s.authors
                ]
                + [
                    {
                        "type": "Biosample",
                        "attributes": [
                            {"name": "Organism", "value": f"{scientific} ({common})"}
                            for common, scientific in s.organisms
                        ],
                    },
                    {
                        "type": "Image acquisition",
                        "attributes": [{"name": "Imaging method", "value": m} for m in s.methods],
                    },
                ],
            },
        }

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.router.add_get(f"{API}/v1/search/fts", self.fts)
        app.router.add_get(f"{API}/v2/search/study/accession", self.by_accession)
        app.router.add_get(f"{API}/v2/study/{{uuid}}", self.get_study)
        app.router.add_get(f"{API}/v2/study/{{uuid}}/dataset", self.study_datasets)
        app.router.add_get(f"{API}/v2/dataset/{{uuid}}/image", self.dataset_images)
        app.router.add_get(
            f"{API}/v2/image/{{uuid}}/image_representation", self.image_representations
        )
        app.router.add_get("/biostudies/api/v1/studies/{accession}", self.biostudies)
        app.router.add_get("/bioimaging-integrator-data/{key:.+}", self.zarr)

    @staticmethod
    def _invalid(loc: list[str], msg: str, value: Any) -> web.Response:
        return web.json_response(
            {"detail": [{"type": "value_error", "loc": loc, "msg": msg, "input": value}]},
            status=422,
        )

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response({"detail": f"{what} not found"}, status=404)

    def _int_param(
        self, request: web.Request, name: str, default: int | None, low: int, high: int
    ) -> int | web.Response:
        raw = request.query.get(name)
        if raw is None:
            if default is None:
                return self._invalid(["query", name], "Field required", None)
            return default
        try:
            value = int(raw)
        except ValueError:
            return self._invalid(["query", name], "Input should be a valid integer", raw)
        if not low <= value <= high:
            return self._invalid(["query", name], f"Input should be in [{low}, {high}]", value)
        return value

    async def fts(self, request: web.Request) -> web.Response:
        query = request.query.get("query", "")
        if not 1 <= len(query) <= 100:
            return self._invalid(
                ["query", "query"], "String should have 1 to 100 characters", query
            )
        page = self._int_param(request, "pagination.page", 1, 1, 1000)
        size = self._int_param(request, "pagination.page_size", 10, 1, 100)
        if isinstance(page, web.Response):
            return page
        if isinstance(size, web.Response):
            return size
        organisms = request.query.getall("organism", [])
        methods = request.query.getall("imaging_method", [])
        words = [] if query.strip() == "*" else re.findall(r"\w+", query.casefold())
        scored = []
        for study in self._integrated():
            if organisms and not {sci for _, sci in study.organisms} & set(organisms):
                continue
            if methods and not set(study.methods) & set(methods):
                continue
            text = " ".join(
                [study.accession, study.title, study.description, *study.keywords, *study.methods]
                + [f"{c} {s}" for c, s in study.organisms]
            ).casefold()
            found = sum(1 for w in words if w in text)
            if words and not found:
                continue
            title_hits = sum(1 for w in words if w in study.title.casefold())
            scored.append((found + title_hits + 1.0, study))
        scored.sort(key=lambda item: (-item[0], item[1].accession))
        start = (page - 1) * size
        hits = [
            {
                "_index": "bia-study-metadata",
                "_id": study.uuid,
                "_score": score,
                "_source": self._search_document(study),
            }
            for score, study in scored[start : start + size]
        ]
        return web.json_response(
            {
                "hits": {
                    "total": {"value": len(scored), "relation": "eq"},
                    "max_score": scored[0][0] if scored else None,
                    "hits": hits,
                },
                "facets": {
                    "scientific_name": {
                        "buckets": [
                            {"key": sci, "doc_count": 1}
                            for _, s in scored
                            for _, sci in s.organisms
                        ]
                    }
                },
                "pagination": {
                    "page": page,
                    "page_size": size,
                    "total_pages": math.ceil(len(scored) / size),
                },
            }
        )

    async def by_accession(self, request: web.Request) -> web.Response:
        if "accession_id" not in request.query:
            return self._invalid(["query", "accession_id"], "Field required", None)
        wanted = request.query["accession_id"]
        study = next((s for s in self._integrated() if s.accession == wanted), None)
        return web.json_response(self._study(study) if study else None)

    def _find(self, uuid: str) -> FakeBIAStudy | None:
        return next((s for s in self._integrated() if s.uuid == uuid), None)

    async def get_study(self, request: web.Request) -> web.Response:
        study = self._find(request.match_info["uuid"])
        return web.json_response(self._study(study)) if study else self._not_found("Study")

    def _page(self, request: web.Request, documents: list[dict[str, Any]]) -> web.Response:
        size = self._int_param(request, "page_size", None, 1, 10_000)
        if isinstance(size, web.Response):
            return size
        documents = sorted(documents, key=lambda d: d["uuid"])
        start = request.query.get("start_from_uuid")
        if start:
            documents = [d for d in documents if d["uuid"] > start]
        return web.json_response(documents[:size])

    async def study_datasets(self, request: web.Request) -> web.Response:
        study = self._find(request.match_info["uuid"])
        if study is None:
            return self._not_found("Study")
        return self._page(request, [self._dataset(study)])

    async def dataset_images(self, request: web.Request) -> web.Response:
        wanted = request.match_info["uuid"]
        study = next((s for s in self._integrated() if s.dataset_uuid == wanted), None)
        if study is None:
            return self._not_found("Dataset")
        return self._page(request, [self._image(study, image) for image in study.images])

    async def image_representations(self, request: web.Request) -> web.Response:
        wanted = request.match_info["uuid"]
        for study in self._integrated():
            for image in study.images:
                if image.uuid == wanted:
                    return self._page(request, [self._representation(study, image)])
        return self._not_found("Image")

    async def biostudies(self, request: web.Request) -> web.Response:
        wanted = request.match_info["accession"]
        study = next((s for s in self.studies if s.accession == wanted), None)
        if study is None:
            return web.json_response(
                {"status": "FAIL", "log": {"level": "ERROR", "message": f"{wanted} not found"}},
                status=404,
            )
        return web.json_response(self._biostudies(study))

    async def zarr(self, request: web.Request) -> web.StreamResponse:
        if self.zarr_root is None:
            return web.Response(status=404, text="NoSuchKey")
        root = self.zarr_root.resolve()
        path = (root / request.match_info["key"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(status=404, text="NoSuchKey")
        return web.FileResponse(path)
