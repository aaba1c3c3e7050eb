"""The EMPIAR adapter against a local fake EMPIAR (entry API, EBI Search, entry files)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import numpy as np
import pytest
from fakes.empiar import FakeEMPIAR, build_files

from bioshare._http import ApiError
from bioshare.repositories import DatasetRecord, RecordNotFoundError, RepositoryError, Term
from bioshare.repositories.empiar import EMPIAR, empiar_accession
from bioshare.repositories.registry import get_repository

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}
EM = Term("FBbi:00000256", "electron microscopy", "http://purl.obolibrary.org/obo/FBbi_00000256")
SEARCH = "/ebisearch/ws/rest/empiar"


@pytest.fixture(scope="module")
def files_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_files(tmp_path_factory.mktemp("empiar-files"))


@pytest.fixture(scope="module")
def server(files_root: Path) -> Iterator[FakeEMPIAR]:
    with FakeEMPIAR(files_root) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeEMPIAR) -> Iterator[FakeEMPIAR]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


def _empiar(fake: FakeEMPIAR, **kwargs: Any) -> EMPIAR:
    options = {**FAST, **kwargs}
    return EMPIAR(
        f"{fake.url}/empiar/api",
        search_url=f"{fake.url}/ebisearch/ws/rest",
        files_url=f"{fake.url}/files",
        **options,
    )


@pytest.fixture
def empiar(fake: FakeEMPIAR) -> EMPIAR:
    return _empiar(fake)


def _query(request: object) -> dict[str, list[str]]:
    return parse_qs(request.query)  # type: ignore[attr-defined]


# -- search ------------------------------------------------------------------------------------


def test_search_keeps_the_search_engine_order(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    # The best hit answers last: the records still come in EBI Search's order.
    fake.inject("latency", path="/empiar/api/entry/12001*", seconds=0.3)
    records = empiar.search("mitochondria")
    assert [r.id for r in records] == ["EMPIAR-12001", "EMPIAR-10391"]  # title before details
    assert [r.score for r in records] == [1.0, 0.5]
    assert all(isinstance(r, DatasetRecord) and r.repository == "empiar" for r in records)
    (call,) = [_query(r) for r in fake.requests_to(SEARCH)]
    assert call["query"] == ["mitochondria"]
    assert call["format"] == ["json"]
    assert call["start"] == ["0"]
    assert call["size"] == ["20"]


def test_search_every_word_and_ties_in_engine_order(empiar: EMPIAR) -> None:
    assert [r.id for r in empiar.search("ribosome")] == ["EMPIAR-10028", "EMPIAR-10045"]
    assert [r.id for r in empiar.search("Plasmodium EMETINE")] == ["EMPIAR-10028"]
    assert [r.id for r in empiar.search("Scheres tomography")] == ["EMPIAR-10045"]


def test_search_honours_limit_and_returns_nothing_unmatched(
    empiar: EMPIAR, fake: FakeEMPIAR
) -> None:
    assert [r.id for r in empiar.search("ribosome", limit=1)] == ["EMPIAR-10028"]
    assert _query(fake.requests_to(SEARCH)[-1])["size"] == ["1"]
    assert len(fake.requests_to("/empiar/api/entry/*")) == 1  # only the entry returned
    assert empiar.search("xylophone") == []
    fake.clear_log()
    assert empiar.search("ribosome", limit=0) == []
    assert fake.log == []


def test_empty_query_lists_every_entry(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    records = empiar.search("")
    assert [r.id for r in records] == [
        "EMPIAR-10028",
        "EMPIAR-10045",
        "EMPIAR-10391",
        "EMPIAR-12001",
    ]
    assert _query(fake.requests_to(SEARCH)[0])["query"] == ["domain_source:empiar"]


def test_search_pages_past_one_page_of_100(files_root: Path) -> None:
    with FakeEMPIAR(files_root, extra_entries=250) as fake:
        empiar = _empiar(fake)
        records = empiar.search("filler", limit=230)
        assert [r.id for r in records] == [f"EMPIAR-{20000 + n}" for n in range(230)]
        pages = [_query(r) for r in fake.requests_to(SEARCH)]
        assert [(p["start"], p["size"]) for p in pages] == [
            (["0"], ["100"]),
            (["100"], ["100"]),
            (["200"], ["30"]),
        ]
        assert len(fake.requests_to("/empiar/api/entry/*")) == 230
        fake.clear_log()
        everything = empiar.search("filler", limit=1000)
        assert len(everything) == 250
        starts = [_query(r)["start"][0] for r in fake.requests_to(SEARCH)]
        assert starts == ["0", "100", "200"]  # stops at hitCount


def test_search_filters_on_the_full_records(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    assert [r.id for r in empiar.search("", has_ome_zarr=True)] == ["EMPIAR-12001"]
    assert [r.id for r in empiar.search("", imaging_method="FIB-SEM")] == ["EMPIAR-12001"]
    sbf = empiar.search("", imaging_method="serial block face scanning electron microscopy")
    assert [r.id for r in sbf] == ["EMPIAR-10391"]
    assert len(empiar.search("", imaging_method="electron microscopy")) == 4
    assert len(empiar.search("", license="cc0")) == 4
    assert empiar.search("", organism="human") == []
    fake.clear_log()
    assert len(empiar.search("", has_ome_zarr=False, limit=1)) == 1
    assert _query(fake.requests_to(SEARCH)[0])["size"] == ["100"]  # filters need more hits
    with pytest.raises(TypeError, match="unknown search filters"):
        empiar.search("x", year=2020)


def test_search_skips_entries_gone_from_the_archive(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path="/empiar/api/entry/10028*", status=404, body={"detail": "gone"})
    assert [r.id for r in empiar.search("ribosome")] == ["EMPIAR-10045"]


# -- get ---------------------------------------------------------------------------------------


def test_get_maps_every_field(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    record = empiar.get("EMPIAR-10028")
    assert record.repository == "empiar"
    assert record.id == "EMPIAR-10028"
    assert record.title == (
        "Plasmodium falciparum 80S ribosome bound to the anti-protozoan drug emetine"
    )
    assert record.description.splitlines() == [
        "Cryo-EM structure of the Plasmodium falciparum 80S ribosome bound to the "
        "anti-protozoan drug emetine. eLife (2014).",
        "Motion-corrected micrographs of Plasmodium falciparum 80S ribosomes: "
        "Averaged movie frames after whole-frame motion correction.",
    ]
    assert record.url == "https://www.ebi.ac.uk/empiar/EMPIAR-10028/"
    assert record.doi == "10.6019/EMPIAR-10028"
    assert record.license == "CC0-1.0"
    assert record.authors == (
        "Wong W",
        "Bai XC",
        "Brown A",
        "Fernandez IS",
        "Hanssen E",
        "Condron M",
        "Tan YH",
        "Baum J",
        "Scheres SHW",
    )  # by order_id, not as listed
    assert record.release_date == "2016-03-29"
    assert record.organisms == ()
    assert record.imaging_methods == (EM,)
    assert record.keywords == (
        "EMDB",
        "micrographs - single frame",
        "picked particles - single frame - processed",
    )
    assert record.image_count == 2
    assert record.size_bytes == 51_400_000_000
    assert record.has_ome_zarr is False
    assert record.accessions == ("EMPIAR-10028", "EMD-2660")
    assert record.thumbnail_url is None
    assert DatasetRecord.from_dict(record.to_dict()) == record
    assert [r.path for r in fake.log] == ["/empiar/api/entry/10028/"]


@pytest.mark.parametrize("record_id", ["EMPIAR-10028", "empiar-10028", " 10028 ", 10028])
def test_get_accepts_accessions_and_numbers(empiar: EMPIAR, record_id: Any) -> None:
    assert empiar.get(record_id).id == "EMPIAR-10028"
    assert empiar_accession(record_id) == "EMPIAR-10028"


def test_get_volume_em_entries(empiar: EMPIAR) -> None:
    hela = empiar.get("12001")
    assert hela.has_ome_zarr is True
    assert hela.accessions == ("EMPIAR-12001", "S-BIAD1234", "idr0086")
    assert hela.imaging_methods == (
        EM,
        Term(
            "FBbi:00050000",
            "focussed ion beam scanning electron microscopy (FIB-SEM)",
            "http://purl.obolibrary.org/obo/FBbi_00050000",
        ),
    )
    assert hela.keywords == ("FIB-SEM", "volume")
    assert hela.size_bytes == 123456789
    assert hela.description.startswith("Organelle contacts in a whole HeLa cell by FIB-SEM. ")
    brain = empiar.get("EMPIAR-10391")
    assert brain.imaging_methods[1].curie == "FBbi:00000585"
    assert brain.size_bytes == int(1.2 * 1024**4)
    assert brain.accessions == ("EMPIAR-10391",)
    tomo = empiar.get("10045")
    assert tomo.release_date == "2016-02-15"
    assert tomo.description == (
        "Tilt series of purified ribosomes: Seven dose-symmetric tilt series, -60 to +60 degrees."
    )


def test_get_unknown_entry(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    with pytest.raises(RecordNotFoundError, match=r"^EMPIAR has no entry EMPIAR-99999$") as info:
        empiar.get("EMPIAR-99999")
    assert isinstance(info.value, KeyError)
    assert [r.status for r in fake.log] == [404]  # a 404 is not retried
    with pytest.raises(RecordNotFoundError, match="EMPIAR has no entry EMPIAR-99999"):
        empiar.images("99999")


def test_get_rejects_ids_that_are_not_empiar_ids(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    with pytest.raises(RecordNotFoundError, match=r"EMPIAR ids look like EMPIAR-<number>"):
        empiar.get("EMD-2660")
    assert fake.log == []


# -- images ------------------------------------------------------------------------------------


def test_images_shapes_and_dtypes(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    micrographs, particles = empiar.images("EMPIAR-10028")
    assert micrographs.repository == "empiar"
    assert micrographs.id == (
        "EMPIAR-10028/Motion-corrected micrographs of Plasmodium falciparum 80S ribosomes"
    )
    assert micrographs.name.startswith("Motion-corrected micrographs")
    assert micrographs.shape == (1081, 4096, 4096)  # sizes given as strings
    assert micrographs.dtype == "float32"
    assert micrographs.zarr_url is None
    assert micrographs.dataset_id == "EMPIAR-10028"
    assert particles.dtype == "float32"  # "SIGNED 32 BIT FLOAT"
    assert particles.shape == (105247, 360, 360)
    (tilts,) = empiar.images("10045")
    assert (tilts.shape, tilts.dtype) == ((7, 3710, 3838), "int16")
    stack, segmentation = empiar.images("10391")
    assert stack.dtype == "uint16"
    assert segmentation.shape == (8192, 8192)
    assert segmentation.dims == ("y", "x")
    assert segmentation.dtype is None  # "BIT" has no numpy dtype


def test_ome_zarr_image_set_streams(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    volume, raw = empiar.images("EMPIAR-12001")
    assert volume.zarr_url == f"{fake.url}/files/12001/data/hela_fibsem.ome.zarr"
    assert (volume.shape, volume.dtype) == ((8, 16, 16), "uint8")
    image = volume.open()
    assert image.dims == ("z", "y", "x")
    assert image.shape == volume.shape
    expected = np.arange(8 * 16 * 16).reshape(8, 16, 16).astype("uint8")
    np.testing.assert_array_equal(image.values, expected)
    assert fake.requests_to("/files/12001/data/hela_fibsem.ome.zarr/*")
    assert raw.zarr_url is None
    with pytest.raises(RepositoryError, match=r"EMPIAR-12001/Raw FIB-SEM slices.*no OME-Zarr"):
        raw.open()


def test_files_are_an_object_store(fake: FakeEMPIAR) -> None:
    base = f"{fake.url}/files/12001/data/hela_fibsem.ome.zarr"
    assert httpx.get(f"{base}/.zattrs").status_code == 200
    assert httpx.get(base).status_code == 404  # a folder: no listing
    assert httpx.get(f"{base}/nothing").status_code == 404


def test_async_twins(empiar: EMPIAR) -> None:
    async def main() -> tuple[list[DatasetRecord], DatasetRecord, int]:
        found, record, images = await asyncio.gather(
            empiar.asearch("emetine"), empiar.aget("10045"), empiar.aimages("12001")
        )
        return found, record, len(images)

    found, record, count = asyncio.run(main())
    assert [r.id for r in found] == ["EMPIAR-10028"]
    assert record.id == "EMPIAR-10045"
    assert count == 2


# -- configuration -----------------------------------------------------------------------------


def test_registry_and_environment(fake: FakeEMPIAR, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_EMPIAR_URL", f"{fake.url}/empiar/api/")
    monkeypatch.setenv("BIOSHARE_EBISEARCH_URL", f"{fake.url}/ebisearch/ws/rest")
    monkeypatch.setenv("BIOSHARE_EMPIAR_FILES_URL", f"{fake.url}/files")
    empiar = get_repository("empiar", **FAST)
    assert isinstance(empiar, EMPIAR)
    assert empiar.name == "empiar"
    assert empiar.base_url == f"{fake.url}/empiar/api"
    assert [r.id for r in empiar.search("emetine")] == ["EMPIAR-10028"]
    assert empiar.images("12001")[0].open().shape == (8, 16, 16)


def test_public_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EMPIAR", "EBISEARCH", "EMPIAR_FILES"):
        monkeypatch.delenv(f"BIOSHARE_{name}_URL", raising=False)
    empiar = EMPIAR()
    assert empiar.base_url == "https://www.ebi.ac.uk/empiar/api"
    assert empiar.search_url == "https://www.ebi.ac.uk/ebisearch/ws/rest"
    assert empiar.files_url == "https://ftp.ebi.ac.uk/empiar/world_availability"


# -- faults ------------------------------------------------------------------------------------


def test_5xx_burst_is_retried(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path="/empiar/api/entry/10028/", status=503, times=2)
    assert empiar.get("10028").id == "EMPIAR-10028"
    assert [r.status for r in fake.requests_to("/empiar/api/entry/10028/")] == [503, 503, 200]


def test_429_retry_after_is_honoured(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path=SEARCH, status=429, headers={"Retry-After": "0"}, times=1)
    assert [r.id for r in empiar.search("emetine")] == ["EMPIAR-10028"]
    assert [r.status for r in fake.requests_to(SEARCH)] == [429, 200]


def test_dropped_connection_is_retried(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("drop", path="/empiar/api/entry/*", times=1)
    assert empiar.get("EMPIAR-10045").title.startswith("Cryo-electron tomography")
    assert len(fake.requests_to("/empiar/api/entry/10045/")) == 2


def test_malformed_json_names_the_url(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("malformed", path="/empiar/api/entry/10028/", times=1)
    with pytest.raises(RepositoryError, match=r"/empiar/api/entry/10028/ answered with invalid"):
        empiar.get("10028")
    fake.inject("malformed", path=SEARCH, times=1)
    with pytest.raises(RepositoryError, match=r"/ebisearch/ws/rest/empiar answered with invalid"):
        empiar.search("ribosome")


def test_wrong_shapes_name_url_and_field(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    entry = "/empiar/api/entry/10028/"
    url = f"{fake.url}{entry}"
    fake.inject("status", path=entry, status=200, body={"EMPIAR-10029": {}}, times=1)
    with pytest.raises(RepositoryError, match=rf"{url} answered keys.*'EMPIAR-10028'"):
        empiar.get("10028")
    fake.inject("status", path=entry, status=200, body=[], times=1)
    with pytest.raises(RepositoryError, match=rf"{url} answered list; expected a JSON object"):
        empiar.get("10028")
    fake.inject("status", path=entry, status=200, body={"EMPIAR-10028": {"title": 7}}, times=1)
    with pytest.raises(RepositoryError, match=r"EMPIAR-10028\.title is int; expected a string"):
        empiar.get("10028")
    body = {"EMPIAR-10028": {"title": "T", "imagesets": "none"}}
    fake.inject("status", path=entry, status=200, body=body, times=1)
    with pytest.raises(RepositoryError, match=rf"{url}: field 'imagesets' is str; expected a list"):
        empiar.images("10028")
    body = {"EMPIAR-10028": {"title": "T", "authors": [{"author": {"name": "A"}}, "B"]}}
    fake.inject("status", path=entry, status=200, body=body, times=1)
    with pytest.raises(RepositoryError, match=r"field authors\[1\] is str; expected an object"):
        empiar.get("10028")


def test_wrong_search_shapes_name_url_and_field(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path=SEARCH, status=200, body={"hitCount": 1}, times=1)
    with pytest.raises(RepositoryError, match=r"/ebisearch/ws/rest/empiar answered without .*"):
        empiar.search("ribosome")
    body = {"hitCount": 1, "entries": [{"id": "EMD-2660", "source": "emdb"}]}
    fake.inject("status", path=SEARCH, status=200, body=body, times=1)
    with pytest.raises(RepositoryError, match=r"entries\[0\]\.id is 'EMD-2660'"):
        empiar.search("ribosome")


def test_persistent_503_names_empiar_and_url(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path="/empiar/api/entry/10028/", status=503)
    with pytest.raises(ApiError) as info:
        empiar.get("10028")
    assert str(info.value).startswith("EMPIAR: HTTP 503")
    assert f"{fake.url}/empiar/api/entry/10028/" in str(info.value)
    assert info.value.status == 503
    assert len(fake.requests_to("/empiar/api/entry/10028/")) == 3  # 1 + 2 retries


def test_search_engine_error_is_reported(empiar: EMPIAR, fake: FakeEMPIAR) -> None:
    fake.inject("status", path=SEARCH, status=400, body={"message": "bad query"}, times=1)
    with pytest.raises(ApiError, match=r"EMPIAR search \(EBI Search\): HTTP 400.*bad query"):
        empiar.search("(((")
    assert len(fake.requests_to(SEARCH)) == 1


def test_hang_times_out(fake: FakeEMPIAR) -> None:
    empiar = _empiar(fake, timeout=0.3, retries=1)
    fake.inject("hang", path="/empiar/api/entry/10045/")
    started = time.monotonic()
    with pytest.raises(ApiError, match=r"EMPIAR: could not reach .*/10045/ after 2 attempt"):
        empiar.get("10045")
    assert time.monotonic() - started < 3
