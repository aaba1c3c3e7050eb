"""A fake IDR: OMERO JSON API, webclient annotations, search engine and OME-Zarr storage.

It answers in the documented shapes (reference/repositories-and-dois.md section 1):

- ``GET /api/`` and ``/api/v0/`` (discovery);
- ``GET /api/v0/m/{projects,datasets,images,screens,plates,wells}/`` and single objects,
  with the child listings ``projects/{id}/datasets/``, ``datasets/{id}/images/``,
  ``screens/{id}/plates/``, ``plates/{id}/wells/`` and the ``?project=``/``?dataset=``
  filters: ``{"data": [...], "meta": {"totalCount", "maxLimit", "limit", "offset"}}``,
  objects with ``@id``, ``@type`` (OME 2016-06 schema), ``Name``, ``Description``,
  ``omero:details``, ``url:*`` links and ``omero:childCount`` on ``childCount=true``;
  null fields omitted; header ``X-OMERO-ApiVersion``; ``limit`` above ``maxLimit`` is
  clamped; 400 ``{"message"}`` for a bad ``offset``/``limit``; 404 for unknown ids;
- ``GET /webclient/api/annotations/?type=map&project=1&project=2`` ->
  ``{"annotations": [{"id", "ns", "values": [[k, v]], "class", "link": {"parent":
  {"id", "class", "name"}}}], "experimenters": [...]}``;
- ``GET /webclient/render_thumbnail/{imageId}/`` -> a small JPEG;
- ``GET /searchengine/api/v1/resources/{resource}/search/?key&value&operator&bookmark``
  -> ``{"results": {"results": [{"id", "name", "key_values": [{"name", "value"}]}],
  "size", "total_pages", "bookmark": [lastId]}, "resource"}``, ``search_page_size`` hits
  per page (1000 on IDR), ``{"Error": ...}`` (status 200) for a bad request;
- ``GET /idr/zarr/...``: a folder served as an object store (404 for folders and absent
  keys, no listing), see `build_zarr_tree`.

Faults come from `FakeService.inject`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.service import FakeService

__all__ = [
    "FakeDataset",
    "FakeIDR",
    "FakeImage",
    "FakePlate",
    "FakeProject",
    "FakeScreen",
    "build_zarr_tree",
    "seed",
]

OME = "http://www.openmicroscopy.org/Schemas/OME/2016-06#"
API_VERSION = "0"
STUDY_NS = "idr.openmicroscopy.org/study/info"
# A 1x1 grey JPEG, as render_thumbnail would send (bigger on the real server).
_JPEG = bytes.fromhex(
    "ffd8ffe000104a46494600010100000100010000ffdb004300080606070605080707070909080a0c140d0c0b"
    "0b0c1912130f141d1a1f1e1d1a1c1c20242e2720222c231c1c2837292c30313434341f27393d38323c2e3334"
    "32ffc0000b080001000101011100ffc4001f0000010501010101010100000000000000000102030405060708"
    "090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114"
    "328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748"
    "494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999a"
    "a2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7"
    "e8e9eaf1f2f3f4f5f6f7f8f9faffda0008010100003f00fbd3ffd9"
)


# -- the data ----------------------------------------------------------------------------------


@dataclass
class FakeImage:
    id: int
    name: str
    size: tuple[int, int, int, int, int]  # t, c, z, y, x
    dtype: str = "uint16"
    physical_size: tuple[float, float, float] | None = (0.5, 0.36, 0.36)  # z, y, x (µm)


@dataclass
class FakeDataset:
    id: int
    name: str
    images: list[FakeImage] = field(default_factory=list)
    description: str | None = None


@dataclass
class FakeProject:
    id: int
    name: str
    description: str | None
    annotations: list[tuple[str, str]] = field(default_factory=list)
    datasets: list[FakeDataset] = field(default_factory=list)


@dataclass
class FakePlate:
    id: int
    name: str
    wells: list[tuple[int, int, list[FakeImage]]] = field(default_factory=list)  # row, col


@dataclass
class FakeScreen:
    id: int
    name: str
    description: str | None
    annotations: list[tuple[str, str]] = field(default_factory=list)
    plates: list[FakePlate] = field(default_factory=list)


def _study_annotations(**values: str) -> list[tuple[str, str]]:
    return [(key.replace("_", " "), value) for key, value in values.items()]


def seed() -> tuple[list[FakeProject], list[FakeScreen]]:
    """Three IDR-like projects (human, yeast, mouse) and one screen with a plate."""
    nuclei = FakeProject(
        101,
        "idr0062-blin-nuclearsegmentation/experimentA",
        "3D nuclear segmentation of human cells imaged by confocal microscopy: raw images "
        "and manually curated nuclear masks for training segmentation methods.",
        _study_annotations(
            Study_Title="Nuclear segmentation in 3D confocal images of human cells",
            Study_Type="3D nuclear segmentation",
            Organism="Homo sapiens",
            Imaging_Method="confocal microscopy",
            Publication_Title="A 3D nuclear segmentation ground truth",
            Publication_Authors="Blin G, Sadurska D, Portero Migueles R, Chen N, Lowell S",
            Publication_DOI="https://doi.org/10.5555/idr0062.paper",
            Data_DOI="https://doi.org/10.17867/10000130",
            Release_Date="2019-06-24",
            License="CC BY 4.0",
            BioStudies_Accession="S-BIAD9062",
        ),
        [
            FakeDataset(
                201,
                "Embryo 1",
                [
                    FakeImage(6001240, "B4_C3.tif", (1, 2, 4, 32, 30)),
                    FakeImage(6001241, "B4_C4.tif", (1, 2, 4, 32, 30)),
                ],
            ),
            FakeDataset(202, "Embryo 2", [FakeImage(6001247, "C2_D1.tif", (1, 2, 4, 32, 30))]),
        ],
    )
    yeast = FakeProject(
        102,
        "idr0145-demo-yeastautophagy/experimentA",
        "Time-lapse fluorescence microscopy of budding yeast during autophagy induction.",
        _study_annotations(
            Study_Type="time lapse imaging",
            Organism="Saccharomyces cerevisiae",
            Imaging_Method="fluorescence microscopy",
            Publication_Title="Autophagy dynamics in budding yeast",
            Publication_DOI="10.5555/idr0145.paper",
            License="CC BY 4.0",
        ),
        [FakeDataset(203, "Atg8 GFP", [FakeImage(7000001, "atg8_t0.dv", (5, 1, 1, 64, 64))])],
    )
    mouse = FakeProject(
        103,
        "idr0150-demo-mouseembryo/experimentB",
        "Light sheet imaging of whole mouse embryos at E8.5.",
        _study_annotations(
            Study_Title="Whole mouse embryo light sheet atlas",
            Organism="Mus musculus",
            Imaging_Method="light sheet fluorescence microscopy",
            License="CC0 1.0",
        ),
        [FakeDataset(204, "E8.5", [FakeImage(8000001, "embryo1.czi", (1, 3, 8, 48, 40))])],
    )
    screen = FakeScreen(
        3,
        "idr0001-graml-sysgro/screenA",
        "Genome-wide fission yeast deletion screen for cell shape phenotypes.",
        _study_annotations(
            Study_Type="high content screen",
            Organism="Schizosaccharomyces pombe",
            Imaging_Method="fluorescence microscopy",
            Publication_DOI="10.5555/idr0001.paper",
            License="CC BY 4.0",
        ),
        [
            FakePlate(
                2551,
                "JL_120731_S6A",
                [
                    (0, 0, [FakeImage(1230001, "A1 field 1", (1, 2, 16, 52, 68))]),
                    (0, 1, [FakeImage(1230002, "A2 field 1", (1, 2, 16, 52, 68))]),
                ],
            )
        ],
    )
    return [nuclei, yeast, mouse], [screen]


def build_zarr_tree(root: Path) -> Path:
    """Write small real OME-Zarr images as IDR lays them out, under ``root``.

    ``root/v0.4/idr0062A/6001240.zarr`` (c, z, y, x = 2, 4, 32, 30, uint16; Zarr v2) and
    ``root/v0.5/idr0062A/6001240.zarr`` (the same, Zarr v3), served by `FakeIDR` at
    ``/idr/zarr/...``. Returns ``root``.
    """
    import numpy as np
    import xarray as xr

    import bioshare

    data = np.arange(2 * 4 * 32 * 30, dtype="uint16").reshape(2, 4, 32, 30)
    image = xr.DataArray(
        data,
        dims=("c", "z", "y", "x"),
        coords={"z": np.arange(4) * 0.5, "y": np.arange(32) * 0.36, "x": np.arange(30) * 0.36},
    )
    for version in ("0.4", "0.5"):
        bioshare.write_image(
            image, root / f"v{version}/idr0062A/6001240.zarr", ngff_version=version
        )
    return root


# -- the service -------------------------------------------------------------------------------


class FakeIDR(FakeService):
    """IDR on 127.0.0.1: see the module docstring for what it answers.

    Parameters
    ----------
    zarr_root
        Folder served at ``/idr/zarr/`` (see `build_zarr_tree`); None serves nothing.
    max_limit
        ``meta.maxLimit`` (500 on IDR); larger ``limit`` values are clamped to it.
    default_limit
        ``limit`` when none is given (200 on OMERO).
    search_page_size
        Search-engine hits per page (1000 on IDR); more are paged with ``bookmark``.
    extra_projects
        Filler projects (ids from 1001, no description) to make listings span pages.
    """

    name = "idr"

    def __init__(
        self,
        zarr_root: Path | None = None,
        *,
        max_limit: int = 500,
        default_limit: int = 200,
        search_page_size: int = 1000,
        extra_projects: int = 0,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.zarr_root = Path(zarr_root) if zarr_root is not None else None
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.search_page_size = search_page_size
        self.projects, self.screens = seed()
        for n in range(extra_projects):
            self.projects.append(
                FakeProject(
                    1001 + n,
                    f"idr{9000 + n:04d}-filler-study{n}/experimentA",
                    None,
                    _study_annotations(
                        Organism="Danio rerio", Imaging_Method="bright-field microscopy"
                    ),
                )
            )

    # -- lookups --------------------------------------------------------------------------------

    def _datasets(self) -> dict[int, tuple[FakeDataset, FakeProject]]:
        return {d.id: (d, p) for p in self.projects for d in p.datasets}

    def _plates(self) -> dict[int, tuple[FakePlate, FakeScreen]]:
        return {pl.id: (pl, s) for s in self.screens for pl in s.plates}

    def _images(self) -> dict[int, FakeImage]:
        images = {i.id: i for d, _ in self._datasets().values() for i in d.images}
        for plate, _ in self._plates().values():
            for _, _, field_images in plate.wells:
                images.update({i.id: i for i in field_images})
        return images

    # -- JSON shapes ----------------------------------------------------------------------------

    def _api(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}/api/v0/m"

    def _details(self) -> dict[str, Any]:
        return {
            "@type": "TBD#Details",
            "owner": {
                "@id": 2,
                "@type": f"{OME}Experimenter",
                "FirstName": "Public",
                "LastName": "Data",
                "UserName": "public",
                "omero:details": {"@type": "TBD#Details"},
            },
            "group": {
                "@id": 3,
                "@type": f"{OME}ExperimenterGroup",
                "Name": "public",
                "omero:details": {"@type": "TBD#Details"},
            },
            "permissions": {
                "@type": "TBD#Permissions",
                "perm": "r-r---",
                "canAnnotate": False,
                "canDelete": False,
                "canEdit": False,
                "canLink": False,
                "isWorldRead": False,
                "isWorldWrite": False,
                "isGroupRead": True,
                "isGroupWrite": False,
                "isGroupAnnotate": False,
                "isUserRead": True,
                "isUserWrite": True,
            },
        }

    def _container(
        self, kind: str, oid: int, name: str, description: str | None, links: dict[str, str]
    ) -> dict[str, Any]:
        obj: dict[str, Any] = {"@id": oid, "@type": f"{OME}{kind}", "Name": name}
        if description is not None:  # null fields are omitted
            obj["Description"] = description
        obj["omero:details"] = self._details()
        obj.update(links)
        return obj

    def _project(self, request: web.Request, p: FakeProject, child_count: bool) -> dict[str, Any]:
        api = self._api(request)
        obj = self._container(
            "Project",
            p.id,
            p.name,
            p.description,
            {
                "url:project": f"{api}/projects/{p.id}/",
                "url:datasets": f"{api}/projects/{p.id}/datasets/",
            },
        )
        if child_count:
            obj["omero:childCount"] = len(p.datasets)
        return obj

    def _dataset(self, request: web.Request, d: FakeDataset, child_count: bool) -> dict[str, Any]:
        api = self._api(request)
        obj = self._container(
            "Dataset",
            d.id,
            d.name,
            d.description,
            {
                "url:dataset": f"{api}/datasets/{d.id}/",
                "url:images": f"{api}/datasets/{d.id}/images/",
            },
        )
        if child_count:
            obj["omero:childCount"] = len(d.images)
        return obj

    def _screen(self, request: web.Request, s: FakeScreen, child_count: bool) -> dict[str, Any]:
        api = self._api(request)
        obj = self._container(
            "Screen",
            s.id,
            s.name,
            s.description,
            {"url:screen": f"{api}/screens/{s.id}/", "url:plates": f"{api}/screens/{s.id}/plates/"},
        )
        if child_count:
            obj["omero:childCount"] = len(s.plates)
        return obj

    def _plate(self, request: web.Request, pl: FakePlate) -> dict[str, Any]:
        api = self._api(request)
        obj = self._container(
            "Plate",
            pl.id,
            pl.name,
            None,
            {"url:plate": f"{api}/plates/{pl.id}/", "url:wells": f"{api}/plates/{pl.id}/wells/"},
        )
        obj["Columns"] = 12
        obj["Rows"] = 8
        return obj

    def _image(self, request: web.Request, i: FakeImage, channels: bool = False) -> dict[str, Any]:
        t, c, z, y, x = i.size
        pixels: dict[str, Any] = {
            "@id": i.id + 10_000_000,
            "@type": f"{OME}Pixels",
            "SizeX": x,
            "SizeY": y,
            "SizeZ": z,
            "SizeC": c,
            "SizeT": t,
            "SignificantBits": 16 if i.dtype == "uint16" else 8,
            "Type": {"@type": "TBD#PixelsType", "value": i.dtype},
            "DimensionOrder": {"@type": "TBD#DimensionOrder", "value": "XYZCT"},
            "omero:details": {"@type": "TBD#Details"},
        }
        if i.physical_size is not None:
            for axis, value in zip("ZYX", i.physical_size, strict=True):
                pixels[f"PhysicalSize{axis}"] = {
                    "@type": "TBD#LengthI",
                    "Unit": "MICROMETER",
                    "Symbol": "µm",
                    "Value": value,
                }
        if channels:
            pixels["Channels"] = [
                {"@id": i.id * 10 + n, "@type": f"{OME}Channel", "Name": f"ch{n}", "Color": -1}
                for n in range(c)
            ]
        obj: dict[str, Any] = {
            "@id": i.id,
            "@type": f"{OME}Image",
            "Name": i.name,
            "omero:details": self._details(),
            "Pixels": pixels,
            "url:image": f"{self._api(request)}/images/{i.id}/",
        }
        return obj

    def _well(self, request: web.Request, plate: FakePlate, n: int) -> dict[str, Any]:
        row, col, images = plate.wells[n]
        wid = plate.id * 1000 + n
        return {
            "@id": wid,
            "@type": f"{OME}Well",
            "Column": col,
            "Row": row,
            "omero:details": self._details(),
            "WellSamples": [
                {
                    "@id": wid * 100 + k,
                    "@type": f"{OME}WellSample",
                    "Image": self._image(request, image),
                    "omero:details": {"@type": "TBD#Details"},
                }
                for k, image in enumerate(images)
            ],
            "url:well": f"{self._api(request)}/wells/{wid}/",
        }

    # -- responses ------------------------------------------------------------------------------

    @staticmethod
    def _json(body: Any, status: int = 200) -> web.Response:
        return web.json_response(body, status=status, headers={"X-OMERO-ApiVersion": API_VERSION})

    @staticmethod
    def _not_found(what: str) -> web.Response:
        return web.json_response(
            {"message": f"{what} not found"},
            status=404,
            headers={"X-OMERO-ApiVersion": API_VERSION},
        )

    def _page(self, request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            offset = int(request.query.get("offset", 0))
            limit = int(request.query.get("limit", self.default_limit))
        except ValueError as exc:
            return self._json({"message": str(exc)}, status=400)
        if offset < 0 or limit < 0:
            return self._json({"message": "offset and limit must be >= 0"}, status=400)
        limit = min(limit, self.max_limit)
        return self._json(
            {
                "data": items[offset : offset + limit],
                "meta": {
                    "offset": offset,
                    "limit": limit,
                    "maxLimit": self.max_limit,
                    "totalCount": len(items),
                },
            }
        )

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/", self.api_versions)
        r.add_get("/api/v0/", self.api_root)
        r.add_get("/api/v0/m/projects/", self.list_projects)
        r.add_get("/api/v0/m/projects/{id:\\d+}/", self.get_project)
        r.add_get("/api/v0/m/projects/{id:\\d+}/datasets/", self.project_datasets)
        r.add_get("/api/v0/m/datasets/", self.list_datasets)
        r.add_get("/api/v0/m/datasets/{id:\\d+}/", self.get_dataset)
        r.add_get("/api/v0/m/datasets/{id:\\d+}/images/", self.dataset_images)
        r.add_get("/api/v0/m/images/", self.list_images)
        r.add_get("/api/v0/m/images/{id:\\d+}/", self.get_image)
        r.add_get("/api/v0/m/screens/", self.list_screens)
        r.add_get("/api/v0/m/screens/{id:\\d+}/", self.get_screen)
        r.add_get("/api/v0/m/screens/{id:\\d+}/plates/", self.screen_plates)
        r.add_get("/api/v0/m/plates/{id:\\d+}/", self.get_plate)
        r.add_get("/api/v0/m/plates/{id:\\d+}/wells/", self.plate_wells)
        r.add_get("/webclient/api/annotations/", self.annotations)
        r.add_get("/webclient/render_thumbnail/{id:\\d+}/", self.thumbnail)
        r.add_get("/searchengine/api/v1/resources/{resource}/search/", self.search_engine)
        r.add_get("/idr/zarr/{key:.*}", self.zarr)

    async def api_versions(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}/api/v0/"
        return self._json({"data": [{"version": "0", "url:base": base}]})

    async def api_root(self, request: web.Request) -> web.Response:
        base = f"{request.scheme}://{request.host}/api/v0"
        links = ("projects", "datasets", "images", "screens", "plates")
        body = {f"url:{n}": f"{base}/m/{n}/" for n in links}
        body.update({"url:token": f"{base}/token/", "url:login": f"{base}/login/"})
        return self._json(body)

    @staticmethod
    def _child_count(request: web.Request) -> bool:
        return request.query.get("childCount", "").lower() == "true"

    async def list_projects(self, request: web.Request) -> web.Response:
        cc = self._child_count(request)
        return self._page(request, [self._project(request, p, cc) for p in self.projects])

    async def get_project(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        for p in self.projects:
            if p.id == oid:
                return self._json({"data": self._project(request, p, self._child_count(request))})
        return self._not_found(f"Project {oid}")

    def _find_project(self, oid: int) -> FakeProject | None:
        return next((p for p in self.projects if p.id == oid), None)

    async def project_datasets(self, request: web.Request) -> web.Response:
        project = self._find_project(int(request.match_info["id"]))
        if project is None:
            return self._not_found(f"Project {request.match_info['id']}")
        cc = self._child_count(request)
        return self._page(request, [self._dataset(request, d, cc) for d in project.datasets])

    async def list_datasets(self, request: web.Request) -> web.Response:
        cc = self._child_count(request)
        datasets = self._datasets().values()
        if "project" in request.query:
            wanted = int(request.query["project"])
            datasets = [(d, p) for d, p in datasets if p.id == wanted]  # type: ignore[assignment]
        return self._page(request, [self._dataset(request, d, cc) for d, _ in datasets])

    async def get_dataset(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        found = self._datasets().get(oid)
        if found is None:
            return self._not_found(f"Dataset {oid}")
        return self._json({"data": self._dataset(request, found[0], self._child_count(request))})

    async def dataset_images(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        found = self._datasets().get(oid)
        if found is None:
            return self._not_found(f"Dataset {oid}")
        return self._page(request, [self._image(request, i) for i in found[0].images])

    async def list_images(self, request: web.Request) -> web.Response:
        if "dataset" in request.query:
            found = self._datasets().get(int(request.query["dataset"]))
            images = found[0].images if found else []
        else:
            images = list(self._images().values())
        return self._page(request, [self._image(request, i) for i in images])

    async def get_image(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        image = self._images().get(oid)
        if image is None:
            return self._not_found(f"Image {oid}")
        return self._json({"data": self._image(request, image, channels=True)})

    async def list_screens(self, request: web.Request) -> web.Response:
        cc = self._child_count(request)
        return self._page(request, [self._screen(request, s, cc) for s in self.screens])

    async def get_screen(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        for s in self.screens:
            if s.id == oid:
                return self._json({"data": self._screen(request, s, self._child_count(request))})
        return self._not_found(f"Screen {oid}")

    async def screen_plates(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        screen = next((s for s in self.screens if s.id == oid), None)
        if screen is None:
            return self._not_found(f"Screen {oid}")
        return self._page(request, [self._plate(request, pl) for pl in screen.plates])

    async def get_plate(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        found = self._plates().get(oid)
        if found is None:
            return self._not_found(f"Plate {oid}")
        return self._json({"data": self._plate(request, found[0])})

    async def plate_wells(self, request: web.Request) -> web.Response:
        oid = int(request.match_info["id"])
        found = self._plates().get(oid)
        if found is None:
            return self._not_found(f"Plate {oid}")
        plate = found[0]
        return self._page(request, [self._well(request, plate, n) for n in range(len(plate.wells))])

    # -- webclient ------------------------------------------------------------------------------

    async def annotations(self, request: web.Request) -> web.Response:
        kinds: dict[str, tuple[list[Any], str]] = {
            "project": (self.projects, "ProjectI"),
            "screen": (self.screens, "ScreenI"),
        }
        annotations: list[dict[str, Any]] = []
        if request.query.get("type", "map") == "map":
            for kind, (objects, cls) in kinds.items():
                try:
                    wanted = {int(v) for v in request.query.getall(kind, [])}
                except ValueError:
                    return web.json_response({"message": f"invalid {kind} id"}, status=400)
                for obj in objects:
                    if obj.id in wanted and obj.annotations:
                        annotations.append(self._map_annotation(obj, cls))
        experimenters = (
            [{"id": 2, "firstName": "Public", "lastName": "Data"}] if annotations else []
        )
        return web.json_response({"annotations": annotations, "experimenters": experimenters})

    @staticmethod
    def _map_annotation(obj: FakeProject | FakeScreen, cls: str) -> dict[str, Any]:
        return {
            "id": 900_000 + obj.id,
            "ns": STUDY_NS,
            "description": None,
            "owner": {"id": 2},
            "date": "2019-06-24T10:00:00Z",
            "permissions": {
                "canAnnotate": False,
                "canEdit": False,
                "canDelete": False,
                "canLink": False,
            },
            "values": [[k, v] for k, v in obj.annotations],
            "class": "MapAnnotationI",
            "link": {
                "id": 800_000 + obj.id,
                "owner": {"id": 2},
                "parent": {"id": obj.id, "class": cls, "name": obj.name},
                "date": "2019-06-24T10:00:00Z",
                "permissions": {
                    "canAnnotate": False,
                    "canEdit": False,
                    "canDelete": False,
                    "canLink": False,
                },
            },
        }

    async def thumbnail(self, request: web.Request) -> web.Response:
        if int(request.match_info["id"]) not in self._images():
            return web.Response(status=404, text="Image not found")
        return web.Response(body=_JPEG, content_type="image/jpeg")

    # -- search engine --------------------------------------------------------------------------

    async def search_engine(self, request: web.Request) -> web.Response:
        resource = request.match_info["resource"]
        objects: dict[str, list[Any]] = {"project": self.projects, "screen": self.screens}
        if resource not in ("image", "project", "screen", "well", "plate"):
            return web.json_response({"Error": f"{resource} is not a valid resurce"})
        key, value = request.query.get("key"), request.query.get("value")
        if not key or value is None:
            return web.json_response({"Error": "key and value are required"})
        operator = request.query.get("operator", "equals")
        sensitive = request.query.get("case_sensitive", "false").lower() == "true"
        hits = [
            self._hit(obj)
            for obj in objects.get(resource, [])
            if _kv_match(obj.annotations, key, value, operator, sensitive)
        ]
        hits.sort(key=lambda h: h["id"])
        size = len(hits)
        if "bookmark" in request.query:
            after = int(request.query["bookmark"])
            hits = [h for h in hits if h["id"] > after]
        page = hits[: self.search_page_size]
        pages = max(1, -(-size // self.search_page_size))
        results = {
            "results": page,
            "total_pages": pages,
            "bookmark": [page[-1]["id"]] if page else None,
            "size": size,
        }
        return web.json_response(
            {
                "results": results,
                "resource": resource,
                "server_query_time": 0.01,
                "query_details": {
                    "and_filters": [{"name": key, "value": value, "operator": operator}]
                },
            }
        )

    @staticmethod
    def _hit(obj: FakeProject | FakeScreen) -> dict[str, Any]:
        return {
            "id": obj.id,
            "name": obj.name,
            "description": obj.description or "",
            "key_values": [
                {"name": k, "value": v, "index": n} for n, (k, v) in enumerate(obj.annotations)
            ],
            "owner_id": 2,
            "group_id": 3,
        }

    # -- object store ---------------------------------------------------------------------------

    async def zarr(self, request: web.Request) -> web.StreamResponse:
        if self.zarr_root is None:
            return web.Response(status=404, text="NoSuchKey")
        root = self.zarr_root.resolve()
        path = (root / request.match_info["key"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(status=404, text="NoSuchKey")  # folders too: no listing
        return web.FileResponse(path)


def _kv_match(
    pairs: list[tuple[str, str]], key: str, value: str, operator: str, sensitive: bool
) -> bool:
    def norm(text: str) -> str:
        return text if sensitive else text.casefold()

    values = [norm(v) for k, v in pairs if k.casefold() == key.casefold()]
    wanted = norm(value)
    if operator == "equals":
        return wanted in values
    if operator == "not_equals":
        return bool(values) and wanted not in values
    if operator == "contains":
        return any(wanted in v for v in values)
    if operator == "not_contains":
        return bool(values) and not any(wanted in v for v in values)
    if operator == "in":
        return any(v in {norm(w.strip()) for w in value.split(",")} for v in values)
    return False
