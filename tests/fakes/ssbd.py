"""A fake SSBD: the django-tastypie REST API v3 ``data`` resource and an OME-Zarr store.

It answers in the shapes of SSBD's API (reference/repositories-and-dois.md section 3 and
the examples of openssbd's Py_SSBDapi and OpenSSBD):

- ``GET /SSBD/api/v3/data/?format=json&limit=&offset=`` -> ``{"meta": {"limit", "next",
  "offset", "previous", "total_count"}, "objects": [...]}``; ``limit`` defaults to 20, and
  0 or more than ``max_limit`` (1000, tastypie's default) means ``max_limit``; ``next`` and
  ``previous`` are paths (``/SSBD/api/v3/data/?format=json&limit=20&offset=20``) or null;
  400 ``{"error"}`` for a bad ``limit``/``offset``, a filter on an unknown field or a
  ``format`` other than json (no ``format`` means json, as for a client accepting */*);
- filters ``<field>=``, ``<field>__exact=``, ``<field>__iexact=``, ``<field>__contains=``
  and ``<field>__icontains=`` on the string fields, AND-ed;
- ``GET /SSBD/api/v3/data/<id>/?format=json`` -> one object; 404 with an empty body for
  unknown ids;
- ``GET /zarr/<key>``: a folder served as an object store (404 for folders and absent
  keys, no listing), see `build_zarr_tree`.

Data objects carry ``id``, ``resource_uri`` and the fields `bioshare.repositories.ssbd`
reads (see `bioshare.repositories.ssbd.Fields`); ``{base}`` in a string value is replaced
by the fake's own URL when served, so OME-Zarr URLs point back at it.

Faults come from `FakeService.inject`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from fakes.service import FakeService

__all__ = ["ZARR_IMAGE", "FakeSSBD", "build_zarr_tree", "seed"]

API = "/SSBD/api/v3"
ZARR_IMAGE = "ssbd-1/wt_N2_030131_01.ome.zarr"
"""The key, under ``/zarr/``, of the OME-Zarr image of dataset 1 (see `build_zarr_tree`)."""
_LOOKUPS = ("exact", "iexact", "contains", "icontains")
_PAGING = {"format", "limit", "offset", "callback", "username", "api_key"}


def build_zarr_tree(root: Path) -> Path:
    """Write the OME-Zarr image of dataset 1 under ``root`` (served at ``/zarr/``).

    ``root/ssbd-1/wt_N2_030131_01.ome.zarr``: t, z, y, x = 2, 8, 16, 16, uint16 values
    ``np.arange(4096)``, NGFF 0.4 (Zarr v2). Returns ``root``.
    """
    import numpy as np
    import xarray as xr

    import bioshare

    data = np.arange(2 * 8 * 16 * 16, dtype="uint16").reshape(2, 8, 16, 16)
    image = xr.DataArray(data, dims=("t", "z", "y", "x"))
    bioshare.write_image(image, root / ZARR_IMAGE, ngff_version="0.4")
    return root


def seed() -> list[dict[str, Any]]:
    """Four SSBD-like datasets: C. elegans (with OME-Zarr), zebrafish, mouse, human cells."""
    worm = {
        "id": 1,
        "bdmlID": "203b5c86-2280-437b-8807-d97c8126f79a",
        "localID": "wt(N2)030131_01",
        "title": "Nuclear division dynamics in wild-type C. elegans embryos",
        "description": (
            "Quantitative information about nuclear division dynamics in wild-type embryos, "
            "from 4D time-lapse imaging of the first cell cycles."
        ),
        "method_summary": "See details in Kyoda et al. (2013) Nucleic Acids Res 41, D732-D737.",
        "organism": "C. elegans",
        "strain": "N2",
        "gene": None,
        "orf": None,
        "datatype": "nuclear division dynamics",
        "basedon": "Experiment",
        "imaging_method": "differential interference contrast microscopy",
        "license": "CC BY-SA",
        "release": "2017-12-20",
        "doi": "https://doi.org/10.24631/ssbd.repos.2017.12.001",
        "dblink": "http://so.qbic.riken.jp/wddd/",
        "contributors": "Kyoda, K., Adachi, E., Masuda, E. and Onami, S.",
        "schema_ver": "3.000",
        "ome_zarr": ["{base}/zarr/" + ZARR_IMAGE],
        "size": 8192,
    }
    fish = {
        "id": 2,
        "bdmlID": "bb7f643a-f50b-4552-bd23-a7f267e2475d",
        "localID": "zebrafish_animal_a.mat",
        "title": "Zebrafish embryo development by light sheet microscopy",
        "description": (
            "Nuclear positions from the reconstruction of the zebrafish animal hemisphere "
            "imaged by digital scanned laser light sheet fluorescence microscopy."
        ),
        "method_summary": "See details in Keller et al. (2008) Science 322, 1065-1069.",
        "organism": "zebrafish",
        "gene": None,
        "orf": None,
        "datatype": "nuclear positions",
        "basedon": "Measurement",
        "imaging_method": "light sheet fluorescence microscopy",
        "license": "CC BY-NC-SA",
        "release": "2008-09-01",
        "contributors": "Keller, P.J., Schmidt, A.D., Wittbrodt, J. and Stelzer, E.H.K.",
        "schema_ver": "0.180",
        "files": ["zebrafish_animal_a.tif", {"name": "zebrafish_animal_b.tif", "size": 2048}],
    }
    mouse = {
        "id": 3,
        "bdmlID": "5a0c2e8e-5d33-4f0b-9d4e-4f6f1c3a9b21",
        "localID": "oocyte_aged_young",
        "title": "Chromosome dynamics in aged and young mouse oocytes",
        "description": (
            "Time-lapse imaging of chromosome segregation during meiosis I in oocytes from "
            "young and aged mice."
        ),
        "method_summary": "Confocal live imaging of H2B-mCherry labelled oocytes.",
        "organism": "Mus musculus",
        "strain": "C57BL/6J",
        "gene": "H2B",
        "datatype": "chromosome dynamics",
        "basedon": "Experiment",
        "imaging_method": "confocal microscopy",
        "license": "CC BY 4.0",
        "release": "2023-03-14T09:00:00",
        "contact": {"name": "Takenouchi, O.", "organization": "RIKEN BDR"},
    }
    human = {
        "id": 4,
        "bdmlID": "e1d4a0f2-7c1b-4b8e-a0d2-3f9c6e5b7a10",
        "localID": "HeLa_H2B-GFP",
        "title": "Mitosis of HeLa cells expressing H2B-GFP",
        "description": (
            "Spinning disk confocal time-lapse of human HeLa cells: nuclear envelope "
            "breakdown and chromosome segregation."
        ),
        "organism": "Homo sapiens",
        "gene": "H2B",
        "datatype": "cell division",
        "basedon": "Experiment",
        "imaging_method": "spinning disk confocal microscopy",
        "license": "CC0",
        "release": "2021-06-01",
        "contact": [{"name": "Sato, Y."}, {"name": "Ito, K."}],
        "files": ["hela_001.tif", "hela_002.tif", "hela_003.tif"],
        "image_count": 3,
        "size": 123456789,
    }
    return [worm, fish, mouse, human]


class FakeSSBD(FakeService):
    """SSBD on 127.0.0.1: see the module docstring for what it answers.

    Parameters
    ----------
    zarr_root
        Folder served at ``/zarr/`` (see `build_zarr_tree`); None serves nothing.
    max_limit
        Largest page (tastypie's ``max_limit``, 1000 by default); ``limit=0`` means it.
    default_limit
        ``limit`` when none is given (tastypie's 20).
    extra_datasets
        Filler datasets (ids from 1001, titles ``Filler time-lapse <n>``) for paging.
    datasets
        The datasets to serve instead of `seed`.
    """

    name = "ssbd"

    def __init__(
        self,
        zarr_root: Path | None = None,
        *,
        max_limit: int = 1000,
        default_limit: int = 20,
        extra_datasets: int = 0,
        datasets: list[dict[str, Any]] | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.zarr_root = Path(zarr_root) if zarr_root is not None else None
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.datasets = seed() if datasets is None else datasets
        for n in range(extra_datasets):
            self.datasets.append(_filler(1001 + n, n))

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get(f"{API}/data/", self.list_data)
        r.add_get(f"{API}/data/{{id:\\d+}}/", self.get_data)
        r.add_get("/zarr/{key:.*}", self.zarr)

    async def list_data(self, request: web.Request) -> web.Response:
        error = _bad_format(request)
        if error is not None:
            return error
        try:
            limit, offset = self._paging(request)
            matches = [d for d in self.datasets if _passes(d, self._filters(request))]
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        page = matches[offset : offset + limit] if limit else []
        meta = {
            "limit": limit,
            "next": self._link(request, limit, offset + limit, offset + limit < len(matches)),
            "offset": offset,
            "previous": self._link(request, limit, max(0, offset - limit), offset > 0),
            "total_count": len(matches),
        }
        return web.json_response({"meta": meta, "objects": [self._object(d) for d in page]})

    async def get_data(self, request: web.Request) -> web.Response:
        error = _bad_format(request)
        if error is not None:
            return error
        oid = int(request.match_info["id"])
        for dataset in self.datasets:
            if dataset.get("id") == oid:
                return web.json_response(self._object(dataset))
        return web.Response(status=404)  # tastypie's HttpNotFound: no body

    async def zarr(self, request: web.Request) -> web.StreamResponse:
        if self.zarr_root is None:
            return web.Response(status=404, text="NoSuchKey")
        root = self.zarr_root.resolve()
        path = (root / request.match_info["key"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(status=404, text="NoSuchKey")  # folders too: no listing
        return web.FileResponse(path)

    # -- helpers --------------------------------------------------------------------------------

    def _object(self, dataset: dict[str, Any]) -> dict[str, Any]:
        obj = _fill(copy.deepcopy(dataset), self.url)
        if "id" in obj:
            obj.setdefault("resource_uri", f"{API}/data/{obj['id']}/")
        return obj

    def _paging(self, request: web.Request) -> tuple[int, int]:
        raw_limit = request.query.get("limit", str(self.default_limit))
        raw_offset = request.query.get("offset", "0")
        try:
            limit = int(raw_limit)
        except ValueError:
            raise ValueError(f"Invalid limit '{raw_limit}' provided.") from None
        try:
            offset = int(raw_offset)
        except ValueError:
            raise ValueError(f"Invalid offset '{raw_offset}' provided.") from None
        if limit < 0:
            raise ValueError(
                f"Invalid limit '{raw_limit}' provided. Please provide an integer >= 0."
            )
        if offset < 0:
            raise ValueError(
                f"Invalid offset '{raw_offset}' provided. Please provide an integer >= 0."
            )
        if limit == 0 or limit > self.max_limit:
            limit = self.max_limit
        return limit, offset

    def _filters(self, request: web.Request) -> list[tuple[str, str, str]]:
        filters = []
        fields = {k for d in self.datasets for k in d}
        for key, value in request.query.items():
            if key in _PAGING:
                continue
            field, _, lookup = key.partition("__")
            lookup = lookup or "exact"
            if field not in fields:
                raise ValueError(f"The '{field}' field does not allow filtering.")
            if lookup not in _LOOKUPS:
                raise ValueError(f"Lookup '{lookup}' not allowed on the '{field}' field.")
            filters.append((field, lookup, value))
        return filters

    def _link(self, request: web.Request, limit: int, offset: int, exists: bool) -> str | None:
        if not exists:
            return None
        query = {k: v for k, v in request.query.items() if k not in ("limit", "offset")}
        query.setdefault("format", "json")
        query.update({"limit": str(limit), "offset": str(offset)})
        return f"{request.path}?{urlencode(query)}"


def _filler(oid: int, n: int) -> dict[str, Any]:
    return {
        "id": oid,
        "bdmlID": f"00000000-0000-4000-8000-{oid:012d}",
        "localID": f"filler_{n}",
        "title": f"Filler time-lapse {n}",
        "description": "A filler dataset that makes the listing span pages.",
        "organism": "Drosophila melanogaster",
        "datatype": "cell tracking",
        "basedon": "Experiment",
        "imaging_method": "bright-field microscopy",
        "license": "CC BY 4.0",
        "release": "2024-01-01",
    }


def _fill(value: Any, base: str) -> Any:
    """``value`` with ``{base}`` replaced by the fake's URL in every string."""
    if isinstance(value, str):
        return value.replace("{base}", base)
    if isinstance(value, list):
        return [_fill(v, base) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, base) for k, v in value.items()}
    return value


def _passes(dataset: dict[str, Any], filters: list[tuple[str, str, str]]) -> bool:
    for field, lookup, wanted in filters:
        value = dataset.get(field)
        if value is None:
            return False
        text = str(value)
        if lookup == "exact" and text != wanted:
            return False
        if lookup == "iexact" and text.casefold() != wanted.casefold():
            return False
        if lookup == "contains" and wanted not in text:
            return False
        if lookup == "icontains" and wanted.casefold() not in text.casefold():
            return False
    return True


def _bad_format(request: web.Request) -> web.Response | None:
    fmt = request.query.get("format", "json")
    if fmt != "json":
        return web.json_response(
            {"error": f"The format indicated '{fmt}' had no available serialization method."},
            status=400,
        )
    return None
