"""A fake EMPIAR: the entry API, EBI Search's EMPIAR domain and the entry files.

It answers in the shapes of reference/repositories-and-dois.md section 3 and EBI Search's
documented REST API:

- ``GET /empiar/api/entry/{number}`` (also with a trailing slash, and with ``EMPIAR-``
  before the number) -> ``{"EMPIAR-<n>": {title, status, release_date, entry_doi,
  dataset_size, experiment_type, scale, imagesets[{name, directory, category,
  header_format, data_format, num_images_or_tilt_series, frames_per_image, voxel_type,
  pixel_width, pixel_height, image_width, image_height, details}], authors[{author:
  {name, order_id, author_orcid}}], citation[{title, journal, year, doi, authors...}],
  cross_references[{name}], biostudies_references[{name}], idr_references[{name}]}}``;
  404 ``{"detail": "Not found."}`` for an unknown entry;
- ``GET /ebisearch/ws/rest/empiar?query=&format=json&size=&start=`` -> ``{"hitCount",
  "entries": [{"id", "source": "empiar"}], "facets": []}``: every query word must start a
  word of the entry (case-insensitive); title words rank before the rest (authors,
  citation, image sets, experiment type), then accession order; ``domain_source:empiar``
  matches every entry; ``size`` is 15 by default and more than 100 is a 400, as on EBI
  Search; ``format`` other than ``json`` is a 400 too;
- ``GET /files/{key}``: a folder served as an object store (404 for folders and absent
  keys, no listing), see `build_files`; entry files live under ``/files/<number>/``.

Faults come from `FakeService.inject`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from aiohttp import web
from fakes.service import FakeService, json_error

__all__ = ["FakeEMPIAR", "build_files", "seed"]

OME_ZARR_SET = "12001/data/hela_fibsem.ome.zarr"  # the one streamable image set
SEARCH_DEFAULT_SIZE = 15
SEARCH_MAX_SIZE = 100
_WORD = re.compile(r"[\w\-]+")


# -- the data ----------------------------------------------------------------------------------


def _authors(*names: str, order: list[int] | None = None) -> list[dict[str, Any]]:
    """``[{"author": {"name", "order_id", "author_orcid"}}]``, listed in ``order``."""
    items = [
        {"author": {"name": name, "order_id": i, "author_orcid": None}}
        for i, name in enumerate(names)
    ]
    return [items[i] for i in order] if order else items


def _refs(*names: str) -> list[dict[str, str]]:
    return [{"name": name} for name in names]


def _imageset(name: str, directory: str, **fields: Any) -> dict[str, Any]:
    imageset: dict[str, Any] = {
        "name": name,
        "directory": directory,
        "category": None,
        "header_format": None,
        "data_format": None,
        "num_images_or_tilt_series": None,
        "frames_per_image": 1,
        "voxel_type": None,
        "pixel_width": None,
        "pixel_height": None,
        "image_width": None,
        "image_height": None,
        "details": None,
    }
    imageset.update(fields)
    return imageset


def _entry(title: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "title": title,
        "status": "REL",
        "deposition_date": None,
        "release_date": None,
        "update_date": None,
        "entry_doi": None,
        "dataset_size": None,
        "experiment_type": None,
        "scale": None,
        "imagesets": [],
        "authors": [],
        "citation": [],
        "cross_references": [],
        "biostudies_references": [],
        "idr_references": [],
        "empiar_references": [],
    }
    entry.update(fields)
    return entry


def seed() -> dict[str, dict[str, Any]]:
    """Four EMPIAR-like entries by accession: SPA, tomography, SBF-SEM and FIB-SEM."""
    ribosome = _entry(
        "Plasmodium falciparum 80S ribosome bound to the anti-protozoan drug emetine",
        deposition_date="2014-06-05",
        release_date="2016-03-29",
        update_date="2016-04-12",
        entry_doi="10.6019/EMPIAR-10028",
        dataset_size="51.4 GB",
        experiment_type="EMDB",
        scale="molecule",
        imagesets=[
            _imageset(
                "Motion-corrected micrographs of Plasmodium falciparum 80S ribosomes",
                "data/Micrographs",
                category="micrographs - single frame",
                header_format="MRC",
                data_format="MRC",
                num_images_or_tilt_series=1081,
                voxel_type="32 BIT FLOAT",
                pixel_width=1.34,
                pixel_height=1.34,
                image_width="4096",
                image_height="4096",
                details="Averaged movie frames after whole-frame motion correction.",
            ),
            _imageset(
                "Polished particles",
                "data/Particles",
                category="picked particles - single frame - processed",
                header_format="MRCS",
                data_format="MRCS",
                num_images_or_tilt_series=105247,
                voxel_type="SIGNED 32 BIT FLOAT",
                image_width=360,
                image_height=360,
            ),
        ],
        # listed out of order: order_id decides
        authors=_authors(
            "Wong W",
            "Bai XC",
            "Brown A",
            "Fernandez IS",
            "Hanssen E",
            "Condron M",
            "Tan YH",
            "Baum J",
            "Scheres SHW",
            order=[2, 0, 1, 8, 3, 4, 5, 6, 7],
        ),
        citation=[
            {
                "title": "Cryo-EM structure of the Plasmodium falciparum 80S ribosome bound "
                "to the anti-protozoan drug emetine",
                "journal": "eLife",
                "year": "2014",
                "volume": "3",
                "doi": "10.7554/eLife.03080",
                "pubmedid": "24913268",
                "published": True,
                "j_or_nj_citation": True,
                "authors": [{"name": "Wong W", "order_id": 0, "author_orcid": None}],
            }
        ],
        cross_references=_refs("EMD-2660"),
    )
    tomography = _entry(
        "Cryo-electron tomography of purified yeast 80S ribosomes for subtomogram averaging",
        release_date="2016-02-15T00:00:00",
        entry_doi="10.6019/EMPIAR-10045",
        dataset_size="219.5 GB",
        experiment_type="EMDB",
        scale="molecule",
        imagesets=[
            _imageset(
                "Tilt series of purified ribosomes",
                "data/tomograms",
                category="tilt series",
                header_format="MRC",
                data_format="MRC",
                num_images_or_tilt_series=7,
                voxel_type="SIGNED 16 BIT INTEGER",
                image_width=3838,
                image_height=3710,
                details="Seven dose-symmetric tilt series, -60 to +60 degrees.",
            )
        ],
        authors=_authors("Bharat TAM", "Scheres SHW"),
        cross_references=_refs("EMD-3228"),
    )
    brain = _entry(
        "SBF-SEM of mouse cortex neuropil",
        release_date="2019-10-01",
        entry_doi="10.6019/EMPIAR-10391",
        dataset_size="1.2 TiB",
        experiment_type="SBF-SEM",
        scale="tissue",
        imagesets=[
            _imageset(
                "Aligned SBF-SEM stack",
                "data/stack",
                category="volume",
                data_format="TIFF",
                num_images_or_tilt_series=2000,
                voxel_type="UNSIGNED 16 BIT INTEGER",
                image_width=8192,
                image_height=8192,
                details="Serial sections through layer 4; synapses and mitochondria visible.",
            ),
            _imageset(
                "Membrane segmentation",
                "data/segmentation",
                category="segmentation",
                data_format="TIFF",
                num_images_or_tilt_series=1,
                voxel_type="BIT",
                image_width=8192,
                image_height=8192,
            ),
        ],
        authors=_authors("Doe J", "Roe R"),
    )
    hela = _entry(
        "FIB-SEM of mitochondria and ER in a HeLa cell",
        release_date="2024-05-17",
        entry_doi="10.6019/EMPIAR-12001",
        dataset_size=123456789,
        experiment_type="FIB-SEM",
        scale="cell",
        imagesets=[
            _imageset(
                "HeLa cell volume (OME-Zarr)",
                "data/hela_fibsem.ome.zarr",
                category="volume",
                data_format="OME-Zarr",
                num_images_or_tilt_series=8,
                voxel_type="UNSIGNED BYTE",
                pixel_width=5.0,
                pixel_height=5.0,
                image_width=16,
                image_height=16,
                details="Isotropic 5 nm FIB-SEM volume, converted to OME-Zarr.",
            ),
            _imageset(
                "Raw FIB-SEM slices",
                "data/raw",
                category="volume",
                data_format="TIFF",
                num_images_or_tilt_series=1200,
                voxel_type="UNSIGNED BYTE",
                image_width=6144,
                image_height=4096,
            ),
        ],
        authors=_authors("Moreau C", "Tanaka K", "Okafor E"),
        citation=[
            {
                "title": "Organelle contacts in a whole HeLa cell by FIB-SEM",
                "journal": "J Struct Biol",
                "year": 2024,
                "doi": "10.5555/empiar.12001.paper",
                "j_or_nj_citation": True,
            }
        ],
        biostudies_references=_refs("S-BIAD1234"),
        idr_references=_refs("idr0086"),
    )
    return {
        "EMPIAR-10028": ribosome,
        "EMPIAR-10045": tomography,
        "EMPIAR-10391": brain,
        "EMPIAR-12001": hela,
    }


def build_files(root: Path) -> Path:
    """Write the OME-Zarr image set of EMPIAR-12001 under ``root`` and return ``root``.

    ``root/12001/data/hela_fibsem.ome.zarr``: z, y, x = 8, 16, 16, uint8 values
    ``np.arange(8 * 16 * 16) % 256``, NGFF 0.4 (Zarr v2); served at ``/files/...``.
    """
    import numpy as np
    import xarray as xr

    import bioshare

    data = np.arange(8 * 16 * 16).reshape(8, 16, 16).astype("uint8")
    image = xr.DataArray(data, dims=("z", "y", "x"))
    bioshare.write_image(image, root / OME_ZARR_SET, ngff_version="0.4")
    return root


# -- the service -------------------------------------------------------------------------------


class FakeEMPIAR(FakeService):
    """EMPIAR and its EBI Search domain on 127.0.0.1: see the module docstring.

    Parameters
    ----------
    files_root
        Folder served at ``/files/`` (see `build_files`); None serves nothing.
    extra_entries
        Filler entries ``EMPIAR-20000``... titled "Filler FIB-SEM dataset <n>", to make
        searches span pages.
    """

    name = "empiar"

    def __init__(
        self, files_root: Path | None = None, *, extra_entries: int = 0, port: int = 0
    ) -> None:
        super().__init__(port=port)
        self.files_root = Path(files_root) if files_root is not None else None
        self.entries = seed()
        for n in range(extra_entries):
            self.entries[f"EMPIAR-{20000 + n}"] = _entry(
                f"Filler FIB-SEM dataset {n}",
                release_date="2025-01-01",
                experiment_type="FIB-SEM",
                authors=_authors("Filler A"),
                imagesets=[_imageset(f"Filler volume {n}", f"data/filler{n}", data_format="TIFF")],
            )

    # -- routes ---------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        r = app.router
        r.add_get(r"/empiar/api/entry/{id:(?:EMPIAR-)?\d+}", self.entry)
        r.add_get(r"/empiar/api/entry/{id:(?:EMPIAR-)?\d+}/", self.entry)
        r.add_get("/ebisearch/ws/rest/empiar", self.search)
        r.add_get("/files/{key:.*}", self.files)

    async def entry(self, request: web.Request) -> web.Response:
        accession = "EMPIAR-" + request.match_info["id"].removeprefix("EMPIAR-")
        entry = self.entries.get(accession)
        if entry is None:
            return web.json_response({"detail": "Not found."}, status=404)
        return web.json_response({accession: copy.deepcopy(entry)})

    async def search(self, request: web.Request) -> web.Response:
        query = request.query.get("query")
        if query is None:
            return json_error(400, "the parameter 'query' is required")
        if request.query.get("format", "xml") != "json":
            return json_error(400, "this fake answers format=json only")
        try:
            size = int(request.query.get("size", SEARCH_DEFAULT_SIZE))
            start = int(request.query.get("start", 0))
        except ValueError as exc:
            return json_error(400, f"size and start must be integers: {exc}")
        if not 0 <= size <= SEARCH_MAX_SIZE or start < 0:
            return json_error(400, f"size must be 0..{SEARCH_MAX_SIZE} and start >= 0")
        hits = self.ranked(query)
        page = [{"id": a, "source": "empiar"} for a in hits[start : start + size]]
        return web.json_response({"hitCount": len(hits), "entries": page, "facets": []})

    def ranked(self, query: str) -> list[str]:
        """Accessions matching ``query``, best first (as the search route orders them)."""
        words = [] if query.strip() == "domain_source:empiar" else _words(query)
        scored = []
        for accession, entry in self.entries.items():
            title, rest = _words(entry["title"]), _words(_other_text(entry))
            score = 0
            for word in words:
                in_title = any(w.startswith(word) for w in title)
                if not in_title and not any(w.startswith(word) for w in rest):
                    break
                score += 2 if in_title else 1
            else:
                scored.append((-score, int(accession.split("-")[1]), accession))
        return [accession for *_, accession in sorted(scored)]

    async def files(self, request: web.Request) -> web.StreamResponse:
        if self.files_root is None:
            return web.Response(status=404, text="NoSuchKey")
        root = self.files_root.resolve()
        path = (root / request.match_info["key"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return web.Response(status=404, text="NoSuchKey")  # folders too: no listing
        return web.FileResponse(path)


def _words(text: str) -> list[str]:
    return [w.casefold() for w in _WORD.findall(text)]


def _other_text(entry: dict[str, Any]) -> str:
    parts = [entry.get("experiment_type") or ""]
    parts += [a["author"]["name"] for a in entry["authors"]]
    parts += [c.get("title") or "" for c in entry["citation"]]
    for imageset in entry["imagesets"]:
        parts += [imageset.get("name") or "", imageset.get("details") or ""]
    for key in ("cross_references", "biostudies_references", "idr_references"):
        parts += [ref["name"] for ref in entry[key]]
    return " ".join(parts)
