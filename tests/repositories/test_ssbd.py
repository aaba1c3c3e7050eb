"""The SSBD adapter against a local fake SSBD (tastypie REST API v3 and OME-Zarr storage)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pytest
from fakes.ssbd import ZARR_IMAGE, FakeSSBD, build_zarr_tree

from bioshare._http import ApiError
from bioshare.repositories import DatasetRecord, RecordNotFoundError, RepositoryError, Term
from bioshare.repositories.registry import get_repository
from bioshare.repositories.ssbd import SSBD

FAST: dict[str, Any] = {"timeout": 2.0, "retries": 2, "backoff": 0.01}
DATA = "/SSBD/api/v3/data/"


@pytest.fixture(scope="module")
def zarr_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_zarr_tree(tmp_path_factory.mktemp("ssbd-zarr"))


@pytest.fixture(scope="module")
def server(zarr_root: Path) -> Iterator[FakeSSBD]:
    with FakeSSBD(zarr_root) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSSBD) -> Iterator[FakeSSBD]:
    server.clear_faults()
    server.clear_log()
    yield server
    server.clear_faults()


@pytest.fixture
def ssbd(fake: FakeSSBD) -> SSBD:
    return SSBD(f"{fake.url}/SSBD", **FAST)


def _query(request: object) -> dict[str, list[str]]:
    return parse_qs(request.query)  # type: ignore[attr-defined]


def _ids(records: list[DatasetRecord]) -> list[str]:
    return [r.id for r in records]


# -- search ------------------------------------------------------------------------------------


def test_search_ranks_title_before_terms_before_description(ssbd: SSBD) -> None:
    records = ssbd.search("nuclear division")
    assert _ids(records) == ["1", "4", "2"]
    # both words in the title; "division" in a keyword and "nuclear" in the description;
    # "nuclear" in a keyword only
    assert [r.score for r in records] == [1.0, 0.5, 0.3333]
    assert all(isinstance(r, DatasetRecord) and r.repository == "ssbd" for r in records)


def test_search_honours_limit_and_returns_nothing_unmatched(ssbd: SSBD) -> None:
    assert len(ssbd.search("")) == 4
    assert _ids(ssbd.search("", limit=2)) == ["3", "4"]  # no query: by title
    assert _ids(ssbd.search("chromosome", limit=1)) == ["3"]
    assert ssbd.search("xylophone") == []
    assert ssbd.search("embryo", limit=0) == []


def test_search_reads_the_listing_in_pages_of_the_server_maximum(zarr_root: Path) -> None:
    with FakeSSBD(zarr_root, extra_datasets=1001) as fake:
        ssbd = SSBD(f"{fake.url}/SSBD", **FAST)
        records = ssbd.search("filler", limit=1500)
        assert len(records) == 1001
        assert {r.id for r in records} == {str(1001 + n) for n in range(1001)}
        pages = [_query(r) for r in fake.requests_to(DATA)]
        assert [p["offset"] for p in pages] == [["0"], ["1000"]]
        assert all(p["limit"] == ["1000"] and p["format"] == ["json"] for p in pages)
        fake.clear_log()
        top = ssbd.search("filler time-lapse 7", limit=3)  # ranked over every page first
        assert top[0].title == "Filler time-lapse 7"
        assert len(top) == 3
        assert len(fake.requests_to(DATA)) == 2


def test_search_follows_a_smaller_server_cap(zarr_root: Path) -> None:
    with FakeSSBD(zarr_root, max_limit=3) as fake:
        records = SSBD(f"{fake.url}/SSBD", **FAST).search("", limit=10)
        assert sorted(_ids(records)) == ["1", "2", "3", "4"]
        pages = [_query(r) for r in fake.requests_to(DATA)]
        assert [p["offset"] for p in pages] == [["0"], ["3"]]


def test_listing_without_next_goes_on_by_total_count(ssbd: SSBD, fake: FakeSSBD) -> None:
    body = {"meta": {"total_count": 4}, "objects": [{"id": 9, "title": "Injected page"}]}
    fake.inject("status", path=DATA, status=200, body=body, times=1)
    records = ssbd.search("")
    assert sorted(_ids(records)) == ["2", "3", "4", "9"]  # then the fake's from offset 1
    assert [_query(r)["offset"] for r in fake.requests_to(DATA)] == [["0"], ["1"]]


def test_organism_filter_matches_common_names_and_curies(ssbd: SSBD) -> None:
    assert _ids(ssbd.search("", organism="C. elegans")) == ["1"]
    assert _ids(ssbd.search("", organism="nematode")) == ["1"]
    assert _ids(ssbd.search("", organism="NCBITaxon:6239")) == ["1"]
    assert _ids(ssbd.search("", organism="mouse")) == ["3"]
    assert _ids(ssbd.search("embryo", organism="zebrafish")) == ["2"]
    assert ssbd.search("oocytes", organism="human") == []


def test_imaging_method_and_other_filters(ssbd: SSBD) -> None:
    assert _ids(ssbd.search("", imaging_method="confocal microscopy")) == ["3", "4"]
    assert _ids(ssbd.search("chromosome", imaging_method="confocal")) == ["3", "4"]
    assert _ids(ssbd.search("", imaging_method="light sheet microscopy")) == ["2"]
    assert _ids(ssbd.search("", imaging_method="DIC")) == ["1"]
    assert _ids(ssbd.search("", has_ome_zarr=True)) == ["1"]
    assert _ids(ssbd.search("", license="CC-BY-4.0")) == ["3"]
    assert _ids(ssbd.search("", organism="mouse", imaging_method="confocal")) == ["3"]


def test_search_rejects_unknown_filters(ssbd: SSBD) -> None:
    with pytest.raises(TypeError, match="unknown search filters"):
        ssbd.search("x", year=2020)


# -- get ---------------------------------------------------------------------------------------


def test_get_maps_every_field(ssbd: SSBD) -> None:
    record = ssbd.get("1")
    assert record.repository == "ssbd"
    assert record.id == "1"
    assert record.title == "Nuclear division dynamics in wild-type C. elegans embryos"
    assert record.description.startswith("Quantitative information about nuclear division")
    assert record.url == "https://ssbd.riken.jp/database/dataset/1/"
    assert record.doi == "10.24631/ssbd.repos.2017.12.001"
    assert record.license == "CC BY-SA"
    assert record.authors == ("Kyoda, K.", "Adachi, E.", "Masuda, E.", "Onami, S.")
    assert record.release_date == "2017-12-20"
    assert record.organisms == (
        Term(
            "NCBITaxon:6239",
            "Caenorhabditis elegans",
            "http://purl.obolibrary.org/obo/NCBITaxon_6239",
        ),
    )
    assert record.imaging_methods == (
        Term(
            "FBbi:00000245",
            "differential interference contrast microscopy",
            "http://purl.obolibrary.org/obo/FBbi_00000245",
        ),
    )
    assert record.keywords == ("nuclear division dynamics", "Experiment", "N2")
    assert record.image_count == 1
    assert record.size_bytes == 8192
    assert record.has_ome_zarr is True
    assert record.accessions == ("203b5c86-2280-437b-8807-d97c8126f79a",)
    assert record.score == 0.0
    assert DatasetRecord.from_dict(record.to_dict()) == record


def test_get_other_datasets(ssbd: SSBD) -> None:
    fish = ssbd.get("2")
    assert fish.authors == ("Keller, P.J.", "Schmidt, A.D.", "Wittbrodt, J.", "Stelzer, E.H.K.")
    assert fish.organisms[0].curie == "NCBITaxon:7955"
    assert fish.imaging_methods[0] == Term(
        "FBbi:00000369", "SPIM", "http://purl.obolibrary.org/obo/FBbi_00000369"
    )
    assert fish.license == "CC BY-NC-SA"
    assert fish.image_count == 2  # the listed files
    assert fish.size_bytes is None
    assert fish.doi is None
    assert fish.has_ome_zarr is False
    mouse = ssbd.get(" 3 ")
    assert mouse.authors == ("Takenouchi, O.",)  # the embedded contact
    assert mouse.organisms[0].label == "Mus musculus"
    assert mouse.release_date == "2023-03-14"
    assert mouse.license == "CC-BY-4.0"
    assert mouse.keywords == ("chromosome dynamics", "Experiment", "C57BL/6J", "H2B")
    assert mouse.image_count is None
    human = ssbd.get("4")
    assert human.authors == ("Sato, Y.", "Ito, K.")
    assert human.license == "CC0-1.0"
    assert human.image_count == 3
    assert human.size_bytes == 123456789
    assert human.imaging_methods[0].curie == "FBbi:00000253"


def test_get_asks_for_one_object_only(ssbd: SSBD, fake: FakeSSBD) -> None:
    ssbd.get("2")
    (request,) = fake.log
    assert request.path == f"{DATA}2/"
    assert _query(request) == {"format": ["json"]}


def test_get_unknown_ids(ssbd: SSBD) -> None:
    with pytest.raises(RecordNotFoundError, match="SSBD has no dataset 999") as info:
        ssbd.get("999")
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "SSBD has no dataset 999"
    with pytest.raises(RecordNotFoundError, match="ids are numbers"):
        ssbd.get("dataset-12")
    with pytest.raises(RecordNotFoundError, match="SSBD has no dataset 77"):
        ssbd.images("77")


def test_older_nested_layout_and_resource_uri_ids(zarr_root: Path) -> None:
    v1 = {
        "resource_uri": "/SSBD/api/v1/data/510/",
        "release": "2008-09-01",
        "meta_data": {
            "title": "BDML file for reconstruction of the zebrafish animal hemisphere (A)",
            "description": "reconstruction of the zebrafish animal hemisphere (A)",
            "contributors": "Keller, P.J., Schmidt, A.D. and Stelzer, E.H.K.",
            "organism": "zebrafish",
            "license": "CC BY-NC-SA",
            "datatype": "nuclear positions",
        },
    }
    untitled = {"id": "7", "datatype": "cell tracking", "localID": "run_7", "name": "Ito, K."}
    with FakeSSBD(zarr_root, datasets=[v1, untitled]) as fake:
        records = SSBD(f"{fake.url}/SSBD", **FAST).search("")
    first, second = sorted(records, key=lambda r: r.id)
    assert first.id == "510"
    assert first.title.startswith("BDML file for reconstruction")
    assert first.authors == ("Keller, P.J.", "Schmidt, A.D.", "Stelzer, E.H.K.")
    assert first.organisms[0].label == "Danio rerio"
    assert first.release_date == "2008-09-01"
    assert second.id == "7"
    assert second.title == "cell tracking (run_7)"
    assert second.authors == ("Ito, K.",)


# -- images ------------------------------------------------------------------------------------


def test_ome_zarr_image_streams_from_the_store(ssbd: SSBD, fake: FakeSSBD) -> None:
    (image,) = ssbd.images("1")
    assert image.repository == "ssbd"
    assert image.id == image.name == "wt_N2_030131_01.ome.zarr"
    assert image.zarr_url == f"{fake.url}/zarr/{ZARR_IMAGE}"
    assert image.dataset_id == "1"
    data = image.open()
    assert data.dims == ("t", "z", "y", "x")
    assert data.shape == (2, 8, 16, 16)
    expected = np.arange(2 * 8 * 16 * 16, dtype="uint16").reshape(2, 8, 16, 16)
    np.testing.assert_array_equal(data.isel(t=1).values, expected[1])
    assert data.dtype == np.uint16
    assert fake.requests_to(f"/zarr/{ZARR_IMAGE}/*")


def test_file_only_datasets_list_files_without_zarr_url(ssbd: SSBD) -> None:
    images = ssbd.images("2")
    assert [i.name for i in images] == ["zebrafish_animal_a.tif", "zebrafish_animal_b.tif"]
    assert all(i.zarr_url is None and i.dataset_id == "2" for i in images)
    with pytest.raises(RepositoryError, match="has no OME-Zarr URL"):
        images[0].open()
    assert len(ssbd.images("4")) == 3
    assert ssbd.images("3") == []


def test_zarr_store_answers_404_for_folders_and_absent_keys(fake: FakeSSBD) -> None:
    import httpx

    assert httpx.get(f"{fake.url}/zarr/{ZARR_IMAGE}/.zattrs").status_code == 200
    assert httpx.get(f"{fake.url}/zarr/{ZARR_IMAGE}").status_code == 404
    assert httpx.get(f"{fake.url}/zarr/nothing/here").status_code == 404
    assert httpx.get(f"{fake.url}/zarr/../../etc/passwd").status_code == 404


def test_async_twins(ssbd: SSBD) -> None:
    async def main() -> tuple[list[DatasetRecord], DatasetRecord, int]:
        found, record, images = await asyncio.gather(
            ssbd.asearch("zebrafish embryo"), ssbd.aget("3"), ssbd.aimages("4")
        )
        return found, record, len(images)

    found, record, count = asyncio.run(main())
    assert found[0].id == "2"
    assert record.title == "Chromosome dynamics in aged and young mouse oocytes"
    assert count == 3


# -- configuration -----------------------------------------------------------------------------


def test_registry_and_environment(fake: FakeSSBD, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_SSBD_URL", f"{fake.url}/SSBD/")
    ssbd = get_repository("ssbd", **FAST)
    assert isinstance(ssbd, SSBD)
    assert ssbd.base_url == f"{fake.url}/SSBD"
    assert ssbd.get("4").title == "Mitosis of HeLa cells expressing H2B-GFP"
    monkeypatch.delenv("BIOSHARE_SSBD_URL")
    assert SSBD().base_url == "https://ssbd.qbic.riken.jp/SSBD"  # no request is made
    assert repr(SSBD("http://127.0.0.1:1/SSBD")) == "SSBD('http://127.0.0.1:1/SSBD')"


# -- the fake's own tastypie behaviour ---------------------------------------------------------


def test_fake_pages_and_filters_like_tastypie(fake: FakeSSBD) -> None:
    import httpx

    body = httpx.get(f"{fake.url}{DATA}", params={"format": "json", "limit": 2}).json()
    assert body["meta"] == {
        "limit": 2,
        "next": f"{DATA}?format=json&limit=2&offset=2",
        "offset": 0,
        "previous": None,
        "total_count": 4,
    }
    assert [o["resource_uri"] for o in body["objects"]] == [f"{DATA}1/", f"{DATA}2/"]
    hits = httpx.get(f"{fake.url}{DATA}", params={"description__icontains": "CONFOCAL"}).json()
    assert [o["id"] for o in hits["objects"]] == [4]
    assert hits["meta"]["limit"] == 20
    capped = httpx.get(f"{fake.url}{DATA}", params={"limit": 0}).json()
    assert capped["meta"]["limit"] == 1000
    assert httpx.get(f"{fake.url}{DATA}", params={"nope__icontains": "x"}).status_code == 400
    assert httpx.get(f"{fake.url}{DATA}", params={"limit": -1}).status_code == 400
    assert httpx.get(f"{fake.url}{DATA}", params={"format": "xml"}).status_code == 400
    assert httpx.get(f"{fake.url}{DATA}999/").status_code == 404


# -- faults ------------------------------------------------------------------------------------


def test_5xx_burst_is_retried(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("status", path=f"{DATA}1/", status=503, times=2)
    assert ssbd.get("1").id == "1"
    assert [r.status for r in fake.requests_to(f"{DATA}1/")] == [503, 503, 200]


def test_429_retry_after_is_honoured(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("status", path=DATA, status=429, headers={"Retry-After": "0"}, times=1)
    assert ssbd.search("oocytes")[0].id == "3"
    assert [r.status for r in fake.requests_to(DATA)] == [429, 200]


def test_dropped_connection_is_retried(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("drop", path=DATA, times=1)
    assert _ids(ssbd.search("HeLa")) == ["4"]
    assert len(fake.requests_to(DATA)) == 2


def test_malformed_json_names_the_url(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("malformed", path=f"{DATA}2/", times=1)
    with pytest.raises(ApiError, match=rf"SSBD: {fake.url}{DATA}2/ answered with invalid JSON"):
        ssbd.get("2")


def test_persistent_503_names_ssbd_and_url(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("status", path=f"{DATA}1/", status=503)
    with pytest.raises(ApiError) as info:
        ssbd.get("1")
    assert str(info.value).startswith(f"SSBD: HTTP 503 from GET {fake.url}{DATA}1/")
    assert info.value.status == 503
    assert len(fake.requests_to(f"{DATA}1/")) == 3  # 1 + 2 retries


def test_hang_times_out_in_bounded_time(fake: FakeSSBD) -> None:
    ssbd = SSBD(f"{fake.url}/SSBD", timeout=0.3, retries=1, backoff=0.01)
    fake.inject("hang", path=f"{DATA}3/")
    started = time.monotonic()
    with pytest.raises(ApiError, match=rf"SSBD: could not reach .*{DATA}3/ after 2 attempt"):
        ssbd.get("3")
    assert time.monotonic() - started < 3


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (DATA, {"meta": {}}, r"/SSBD/api/v3/data/ answered without the field 'objects'"),
        (DATA, {"objects": []}, r"/SSBD/api/v3/data/ answered without the field 'meta'"),
        (DATA, [1, 2], r"/SSBD/api/v3/data/ answered list; expected a JSON object"),
        (
            DATA,
            {"meta": {"next": None}, "objects": ["x"]},
            r"/SSBD/api/v3/data/ objects\[0\] is str; expected a data object",
        ),
        (
            DATA,
            {"meta": {"next": None}, "objects": [{"title": "no id"}]},
            r"/SSBD/api/v3/data/: a data object has no field 'id'",
        ),
        (f"{DATA}1/", ["x"], r"/SSBD/api/v3/data/1/ answered list; expected a JSON object"),
    ],
)
def test_wrong_shapes_name_url_and_field(
    ssbd: SSBD, fake: FakeSSBD, path: str, body: Any, message: str
) -> None:
    fake.inject("status", path=path, status=200, body=body, times=1)
    with pytest.raises(RepositoryError, match=message):
        ssbd.search("") if path == DATA else ssbd.get("1")


def test_wrong_image_fields_name_url_and_field(ssbd: SSBD, fake: FakeSSBD) -> None:
    fake.inject("status", path=f"{DATA}1/", status=200, body={"id": 1, "ome_zarr": 5}, times=1)
    with pytest.raises(RepositoryError, match=r"data/1/: field 'ome_zarr' is 5; expected an"):
        ssbd.images("1")
    fake.inject("status", path=f"{DATA}2/", status=200, body={"id": 2, "files": "a.tif"}, times=1)
    with pytest.raises(RepositoryError, match=r"data/2/: field 'files' is str; expected a list"):
        ssbd.images("2")
