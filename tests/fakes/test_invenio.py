"""Self-tests of the fake InvenioRDM / Zenodo deposition server, with plain httpx."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fakes.invenio import FakeInvenio

TOKEN = "secret-token"
DATA = bytes(range(256)) * 8  # 2048 bytes
MD5 = hashlib.md5(DATA).hexdigest()
OCTETS = {"Content-Type": "application/octet-stream"}
NATIVE = {"Accept": "application/vnd.inveniordm.v1+json"}
MISSING = "Missing data for required field."


def metadata(title: str = "HeLa cells, OME-Zarr") -> dict[str, Any]:
    return {
        "resource_type": {"id": "dataset"},
        "title": title,
        "publication_date": "2024-05-01",
        "description": "Two-channel fluorescence microscopy of HeLa cells.",
        "creators": [
            {
                "person_or_org": {"type": "personal", "family_name": "Doe", "given_name": "Jane"},
                "affiliations": [{"name": "EMBL"}],
            }
        ],
    }


LEGACY_METADATA = {
    "upload_type": "image",
    "image_type": "photo",
    "title": "Zebrafish fin regeneration",
    "description": "Light sheet time-lapse.",
    "publication_date": "2023-11-20",
    "creators": [{"name": "Rossi, Maria", "affiliation": "IIT", "orcid": "0000-0002-1825-0097"}],
    "keywords": ["zebrafish"],
    "license": "cc-by-4.0",
    "related_identifiers": [{"identifier": "S-BIAD634", "relation": "isIdenticalTo"}],
    "communities": [{"identifier": "bioimaging"}],
}


@pytest.fixture(params=["zenodo", "invenio"])
def fake(request: pytest.FixtureRequest, tmp_path) -> Iterator[FakeInvenio]:
    with FakeInvenio(flavour=request.param, store_root=tmp_path / "store") as server:
        yield server


@pytest.fixture
def zenodo(tmp_path) -> Iterator[FakeInvenio]:
    with FakeInvenio(flavour="zenodo", store_root=tmp_path / "store") as server:
        yield server


def client_for(fake: FakeInvenio, token: str | None = TOKEN) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=fake.url, headers=headers, timeout=10)


@pytest.fixture
def client(fake: FakeInvenio) -> Iterator[httpx.Client]:
    with client_for(fake) as c:
        yield c


@pytest.fixture
def zclient(zenodo: FakeInvenio) -> Iterator[httpx.Client]:
    with client_for(zenodo) as c:
        yield c


def create_draft(client: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("metadata", metadata())
    response = client.post("/api/records", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def upload(client: httpx.Client, draft: dict[str, Any], key: str, data: bytes = DATA) -> dict:
    """Start, send and commit one file; the commit's answer."""
    response = client.post(draft["links"]["files"], json=[{"key": key}])
    assert response.status_code == 201, response.text
    links = next(e for e in response.json()["entries"] if e["key"] == key)["links"]
    response = client.put(links["content"], content=data, headers=OCTETS)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    response = client.post(links["commit"])
    assert response.status_code == 200, response.text
    return response.json()


def published(client: httpx.Client, key: str = "cells.zip") -> dict[str, Any]:
    draft = create_draft(client)
    upload(client, draft, key)
    response = client.post(draft["links"]["publish"])
    assert response.status_code == 202, response.text
    return response.json()


def legacy_deposit(client: httpx.Client, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    response = client.post("/api/deposit/depositions", json={"metadata": meta} if meta else {})
    assert response.status_code == 201, response.text
    return response.json()


def bucket_put(client: httpx.Client, deposit: dict, key: str, data: bytes = DATA):
    return client.put(f"{deposit['links']['bucket']}/{key}", content=data, headers=OCTETS)


# -- InvenioRDM API ----------------------------------------------------------------------------


def test_full_invenio_flow(fake: FakeInvenio, client: httpx.Client) -> None:
    draft = create_draft(client)
    assert draft["status"] == "draft"
    assert draft["is_draft"] is True
    assert draft["is_published"] is False
    assert "errors" not in draft
    assert draft["files"]["enabled"] is True
    assert draft["parent"]["id"] != draft["id"]
    assert draft["pids"] == {}
    expected_links = {"self", "self_html", "files", "publish", "versions", "reserve_doi"}
    assert expected_links <= draft["links"].keys()
    if fake.flavour == "zenodo":
        assert draft["id"].isdigit()
    else:
        assert re.fullmatch(r"[0-9a-z]{5}-[0-9a-z]{5}", draft["id"])

    response = client.post(draft["links"]["reserve_doi"])
    assert response.status_code == 201
    doi = response.json()["pids"]["doi"]
    suffix = f"zenodo.{draft['id']}" if fake.flavour == "zenodo" else draft["id"]
    assert doi == {
        "identifier": f"{fake.doi_prefix}/{suffix}",
        "provider": "datacite",
        "client": "datacite",
    }

    committed = upload(client, draft, "cells.ome.zarr.zip")
    assert committed["status"] == "completed"
    assert committed["checksum"] == f"md5:{MD5}"
    assert committed["size"] == len(DATA)
    assert committed["mimetype"] == "application/zip"
    assert {"file_id", "bucket_id", "version_id"} <= committed.keys()
    assert fake.stored_path(draft["id"], "cells.ome.zarr.zip").read_bytes() == DATA

    response = client.post(draft["links"]["publish"])
    assert response.status_code == 202
    record = response.json()
    assert record["status"] == "published"
    assert record["is_published"] is True
    assert record["pids"]["doi"] == doi
    assert record["parent"]["pids"]["doi"]["identifier"].endswith(record["parent"]["id"])
    assert draft["id"] in fake.records
    assert draft["id"] not in fake.drafts

    response = client.get(f"/api/records/{draft['id']}", headers=NATIVE)
    assert response.status_code == 200
    assert response.json()["metadata"]["title"] == "HeLa cells, OME-Zarr"
    assert response.json()["files"]["entries"]["cells.ome.zarr.zip"]["checksum"] == f"md5:{MD5}"

    content = f"{fake.url}/api/records/{draft['id']}/files/cells.ome.zarr.zip/content"
    with httpx.Client(timeout=10) as anonymous:  # public records need no token
        response = anonymous.get(content, headers={"Range": "bytes=100-199"})
        assert response.status_code == 206
        assert response.content == DATA[100:200]
        full = anonymous.get(content)
        assert full.content == DATA
        assert full.headers["Content-Type"] == "application/zip"


def test_zenodo_flavour_answers_legacy_json_for_plain_accept(
    fake: FakeInvenio, client: httpx.Client
) -> None:
    record = published(client)
    body = client.get(f"/api/records/{record['id']}").json()
    if fake.flavour == "invenio":
        assert body["pids"]["doi"]["identifier"] == record["pids"]["doi"]["identifier"]
        return
    assert body["recid"] == record["id"]
    assert body["id"] == int(record["id"])
    assert body["doi"] == record["pids"]["doi"]["identifier"]
    assert body["conceptrecid"] == record["parent"]["id"]
    assert body["metadata"]["creators"] == [{"name": "Doe, Jane", "affiliation": "EMBL"}]
    assert body["metadata"]["resource_type"]["type"] == "dataset"
    (entry,) = body["files"]
    assert entry["checksum"] == f"md5:{MD5}"
    assert entry["links"]["self"] == (
        f"{fake.url}/api/records/{record['id']}/files/cells.zip/content"
    )
    assert client.get(entry["links"]["self"]).content == DATA


def test_invalid_drafts_are_saved_and_publish_validates(client: httpx.Client) -> None:
    draft = create_draft(client, metadata={"creators": [{"person_or_org": {"name": "X"}}]})
    fields = {e["field"]: e["messages"] for e in draft["errors"]}
    assert fields == {
        "metadata.resource_type": [MISSING],
        "metadata.title": [MISSING],
        "metadata.publication_date": [MISSING],
        "metadata.creators.0.person_or_org.type": [MISSING],
    }
    upload(client, draft, "a.txt")
    response = client.post(draft["links"]["publish"])
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert body["message"] == "A validation error occurred."
    assert {"field": "metadata.title", "messages": [MISSING]} in body["errors"]

    fixed = metadata()
    fixed["creators"] = [{"person_or_org": {"type": "personal", "given_name": "Jane"}}]
    response = client.put(draft["links"]["self"], json={"metadata": fixed})
    assert response.status_code == 200
    assert response.json()["errors"] == [
        {
            "field": "metadata.creators.0.person_or_org.family_name",
            "messages": ["Family name must be filled."],
        }
    ]
    response = client.put(draft["links"]["self"], json={"metadata": metadata()})
    assert "errors" not in response.json()
    assert client.post(draft["links"]["publish"]).status_code == 202


def test_publish_needs_committed_files_unless_metadata_only(client: httpx.Client) -> None:
    draft = create_draft(client)
    response = client.post(draft["links"]["publish"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "files.enabled"

    client.post(draft["links"]["files"], json=[{"key": "late.bin"}])
    response = client.post(draft["links"]["publish"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "files"

    metadata_only = create_draft(client, files={"enabled": False})
    assert client.post(metadata_only["links"]["publish"]).status_code == 202


def test_publishing_twice_is_404(client: httpx.Client) -> None:
    record = published(client)
    publish = f"/api/records/{record['id']}/draft/actions/publish"
    response = client.post(publish)
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_reserve_and_drop_doi(client: httpx.Client) -> None:
    draft = create_draft(client)
    reserve = draft["links"]["reserve_doi"]
    assert client.post(reserve).status_code == 201
    assert client.post(reserve).status_code == 400
    assert client.delete(reserve).status_code == 204
    assert client.get(draft["links"]["self"]).json()["pids"] == {}
    assert client.delete(reserve).status_code == 404


def test_errors_for_auth_content_type_length_and_unknown_ids(
    fake: FakeInvenio, client: httpx.Client
) -> None:
    with client_for(fake, token=None) as anonymous:
        response = anonymous.post("/api/records", json={"metadata": metadata()})
        assert response.status_code == 403
        assert response.json()["status"] == 403
        assert response.json()["message"]
    with client_for(fake, token="wrong") as intruder:
        assert intruder.get("/api/user/records").status_code == 403
    response = client.get("/api/user/records", params={"access_token": TOKEN})
    assert response.status_code == 400

    response = client.post("/api/records", content=b'{"metadata": {}}')
    assert response.status_code == 415
    response = client.post(
        "/api/records", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400

    draft = create_draft(client)
    content = f"{draft['links']['files']}/a.bin/content"
    client.post(draft["links"]["files"], json=[{"key": "a.bin"}])
    assert client.put(content, content=DATA).status_code == 415  # no Content-Type
    response = client.put(content, content=DATA, headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    chunked = client.put(content, content=iter([DATA[:10], DATA[10:]]), headers=OCTETS)
    assert chunked.status_code == 411
    assert client.post(f"{draft['links']['files']}/a.bin/commit").status_code == 400

    response = client.get("/api/records/999/draft")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "message": "The persistent identifier does not exist.",
    }
    response = client.get(f"/api/records/{draft['id']}")  # a draft is not a record yet
    assert response.status_code == 404
    assert response.json()["message"] == "The persistent identifier is not registered."
    response = client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_edit_published_record_keeps_doi_and_locks_files(client: httpx.Client) -> None:
    record = published(client)
    response = client.post(f"/api/records/{record['id']}/draft")
    assert response.status_code == 201
    draft = response.json()
    assert draft["id"] == record["id"]
    assert draft["is_published"] is True
    assert client.post(f"/api/records/{record['id']}/draft").json()["id"] == record["id"]
    response = client.post(draft["links"]["files"], json=[{"key": "more.txt"}])
    assert response.status_code == 403

    response = client.put(draft["links"]["self"], json={"metadata": metadata("New title")})
    assert response.status_code == 200
    response = client.post(draft["links"]["publish"])
    assert response.status_code == 202
    again = response.json()
    assert again["metadata"]["title"] == "New title"
    assert again["pids"]["doi"] == record["pids"]["doi"]
    assert again["revision_id"] > record["revision_id"]
    assert list(again["files"]["entries"]) == ["cells.zip"]


def test_new_version_and_files_import(fake: FakeInvenio, client: httpx.Client) -> None:
    first = published(client)
    created = fake.drafts_created
    response = client.post(f"/api/records/{first['id']}/versions")
    assert response.status_code == 201
    draft = response.json()
    assert draft["id"] != first["id"]
    assert draft["parent"]["id"] == first["parent"]["id"]
    assert draft["versions"]["index"] == 2
    assert draft["status"] == "new_version_draft"
    assert "publication_date" not in draft["metadata"]
    assert draft["pids"] == {}
    assert client.get(draft["links"]["files"]).json()["entries"] == []
    assert fake.drafts_created == created + 1
    same = client.post(f"/api/records/{first['id']}/versions").json()
    assert same["id"] == draft["id"]  # one open new-version draft per concept
    assert fake.drafts_created == created + 1

    files_import = f"/api/records/{draft['id']}/draft/actions/files-import"
    response = client.post(files_import)
    assert response.status_code == 201
    (entry,) = response.json()["entries"]
    assert (entry["key"], entry["checksum"]) == ("cells.zip", f"md5:{MD5}")
    response = client.post(files_import)
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "files.enabled", "messages": ["Please remove all files first."]}
    ]

    client.put(draft["links"]["self"], json={"metadata": metadata("Version 2")})
    second = client.post(draft["links"]["publish"]).json()
    assert second["pids"]["doi"] != first["pids"]["doi"]
    assert second["parent"]["pids"] == first["parent"]["pids"]
    versions = client.get(f"/api/records/{first['id']}/versions", headers=NATIVE).json()
    assert versions["hits"]["total"] == 2
    assert [h["id"] for h in versions["hits"]["hits"]] == [second["id"], first["id"]]
    latest = client.get(f"/api/records/{first['id']}/versions/latest", headers=NATIVE)
    assert latest.status_code == 302
    assert latest.headers["Location"].endswith(f"/api/records/{second['id']}")


def test_delete_draft_and_draft_files(fake: FakeInvenio, client: httpx.Client) -> None:
    draft = create_draft(client)
    upload(client, draft, "a.txt")
    upload(client, draft, "b.txt", b"bee")
    file_url = f"{draft['links']['files']}/a.txt"
    assert client.get(file_url).json()["checksum"] == f"md5:{MD5}"
    assert client.get(f"{file_url}/content").content == DATA
    assert client.delete(file_url).status_code == 204
    assert [e["key"] for e in client.get(draft["links"]["files"]).json()["entries"]] == ["b.txt"]
    assert client.delete(draft["links"]["self"]).status_code == 204
    assert client.get(draft["links"]["self"]).status_code == 404
    assert draft["id"] not in fake.drafts


def test_search_records_and_user_records(fake: FakeInvenio, client: httpx.Client) -> None:
    record = published(client)
    other = create_draft(client, metadata=metadata("Zebrafish fins"))
    upload(client, other, "fin.tif")
    client.post(other["links"]["publish"])
    open_draft = create_draft(client, metadata=metadata("Unpublished nuclei"))

    with client_for(fake, token=None) as anonymous:
        body = anonymous.get("/api/records", params={"q": "zarr"}).json()
        assert body["hits"]["total"] == 1
        hit = body["hits"]["hits"][0]
        if fake.flavour == "zenodo":
            assert hit["recid"] == record["id"]
        else:
            assert hit["id"] == record["id"]
        assert anonymous.get("/api/records", params={"size": 26}).status_code == 400
        assert anonymous.get("/api/records", params={"q": '"open'}).status_code == 400
        everything = anonymous.get("/api/records", headers=NATIVE).json()
        assert {h["id"] for h in everything["hits"]["hits"]} == {record["id"], other["id"]}
        doi = record["pids"]["doi"]["identifier"]
        by_doi = anonymous.get("/api/records", params={"q": f'doi:"{doi}"'}, headers=NATIVE)
        assert [h["id"] for h in by_doi.json()["hits"]["hits"]] == [record["id"]]

    mine = client.get("/api/user/records", params={"q": "nuclei"}).json()
    assert [h["id"] for h in mine["hits"]["hits"]] == [open_draft["id"]]
    assert mine["hits"]["hits"][0]["is_draft"] is True


# -- legacy deposition API ---------------------------------------------------------------------


def test_legacy_flow(zenodo: FakeInvenio, zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient)
    assert deposit["state"] == "unsubmitted"
    assert deposit["submitted"] is False
    assert isinstance(deposit["id"], int)
    assert deposit["record_id"] == deposit["id"]
    assert deposit["conceptrecid"] == str(deposit["id"] - 1)
    assert deposit["title"] == ""
    assert "doi" not in deposit
    assert deposit["metadata"]["prereserve_doi"] == {
        "doi": f"10.5072/zenodo.{deposit['id']}",
        "recid": deposit["id"],
    }
    links = deposit["links"]
    expected = {"self", "html", "bucket", "files", "publish", "edit", "discard", "newversion"}
    assert expected | {"latest_draft"} <= links.keys()

    response = bucket_put(zclient, deposit, "data.csv", b"1, 2, 3")
    assert response.status_code == 201
    stored = response.json()
    assert stored["checksum"] == f"md5:{hashlib.md5(b'1, 2, 3').hexdigest()}"
    assert (stored["key"], stored["size"], stored["mimetype"]) == ("data.csv", 7, "text/csv")
    assert (stored["is_head"], stored["delete_marker"]) == (True, False)
    assert {"self", "version", "uploads"} <= stored["links"].keys()
    response = bucket_put(zclient, deposit, "data.csv", DATA)  # same key replaces
    assert response.status_code == 201
    (listed,) = zclient.get(links["files"]).json()
    assert (listed["filename"], listed["filesize"], listed["checksum"]) == (
        "data.csv",
        len(DATA),
        MD5,
    )
    assert zclient.get(f"{links['bucket']}/data.csv").content == DATA

    response = zclient.put(links["self"], json={"metadata": LEGACY_METADATA})
    assert response.status_code == 200
    assert response.json()["title"] == "Zebrafish fin regeneration"

    response = zclient.post(links["publish"])
    assert response.status_code == 202
    done = response.json()
    assert (done["state"], done["submitted"]) == ("done", True)
    assert done["doi"] == deposit["metadata"]["prereserve_doi"]["doi"]
    assert done["links"]["self"] == f"{zenodo.url}/api/records/{deposit['id']}"
    assert zclient.post(links["publish"]).status_code == 404

    record = zclient.get(done["links"]["self"]).json()
    assert record["doi"] == done["doi"]
    assert record["metadata"]["keywords"] == ["zebrafish"]
    assert record["metadata"]["license"] == {"id": "cc-by-4.0"}

    response = zclient.post(links["newversion"])
    assert response.status_code == 201
    new = response.json()
    assert new["id"] != deposit["id"]
    assert new["conceptrecid"] == deposit["conceptrecid"]
    assert new["state"] == "unsubmitted"
    assert new["links"]["latest_draft"] == f"{zenodo.url}/api/deposit/depositions/{new['id']}"
    assert [f["filename"] for f in new["files"]] == ["data.csv"]  # files come along
    latest = zclient.get(new["links"]["latest_draft"]).json()
    assert latest["id"] == new["id"]
    assert "publication_date" not in latest["metadata"]

    response = zclient.post(links["newversion"])  # a draft with files is still open
    assert response.status_code == 400
    assert response.json()["errors"][0]["messages"] == ["Please remove all files first."]

    assert zclient.delete(new["links"]["self"]).status_code == 204
    assert zclient.get(new["links"]["self"]).status_code == 404
    assert zclient.delete(new["links"]["self"]).status_code == 404


def test_legacy_and_invenio_views_share_drafts(zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient, LEGACY_METADATA)
    draft = zclient.get(f"/api/records/{deposit['id']}/draft").json()
    assert draft["metadata"]["title"] == "Zebrafish fin regeneration"
    assert draft["metadata"]["resource_type"]["id"] == "image-photo"
    (creator,) = draft["metadata"]["creators"]
    assert creator["person_or_org"]["family_name"] == "Rossi"
    assert creator["person_or_org"]["identifiers"][0]["identifier"] == "0000-0002-1825-0097"
    assert "errors" not in draft

    upload(zclient, draft, "fin.tif")
    again = zclient.get(f"/api/deposit/depositions/{deposit['id']}").json()
    legacy = again["metadata"]
    assert legacy["upload_type"] == "image"
    assert legacy["image_type"] == "photo"
    assert legacy["creators"] == LEGACY_METADATA["creators"]
    assert legacy["related_identifiers"][0]["relation"] == "isIdenticalTo"
    assert legacy["communities"] == [{"identifier": "bioimaging"}]
    assert [f["filename"] for f in again["files"]] == ["fin.tif"]


def test_legacy_create_without_metadata_is_saved_but_cannot_publish(
    zclient: httpx.Client,
) -> None:
    deposit = legacy_deposit(zclient)
    bucket_put(zclient, deposit, "a.txt")
    response = zclient.post(deposit["links"]["publish"])
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"metadata.title", "metadata.resource_type", "metadata.creators"} <= fields
    meta = {k: v for k, v in LEGACY_METADATA.items() if k != "publication_date"}
    zclient.put(deposit["links"]["self"], json={"metadata": meta})  # date defaults to today
    assert zclient.post(deposit["links"]["publish"]).status_code == 202


def test_legacy_rejects_bad_metadata_at_once(zclient: httpx.Client) -> None:
    response = zclient.post(
        "/api/deposit/depositions", json={"metadata": {"upload_type": "cake", "creators": [{}]}}
    )
    assert response.status_code == 400
    errors = {e["field"]: e["messages"] for e in response.json()["errors"]}
    assert set(errors) == {"metadata.upload_type", "metadata.creators.0.name"}


def test_legacy_multipart_upload(zenodo: FakeInvenio, zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient)
    files = {"file": ("my first file.csv", b"1, 2, 3")}
    response = zclient.post(deposit["links"]["files"], files=files)
    assert response.status_code == 201
    body = response.json()
    assert body["checksum"] == "66ce05ea43c73b8e33c74c12d0371bc9"  # bare hex here
    assert (body["filename"], body["filesize"]) == ("my_first_file.csv", 7)
    assert {"self", "download"} <= body["links"].keys()
    assert zclient.get(body["links"]["self"]).json()["id"] == body["id"]
    response = zclient.post(deposit["links"]["files"], data={"name": "x.bin"}, files=files)
    assert response.json()["filename"] == "x.bin"
    assert zclient.delete(body["links"]["self"]).status_code == 204

    zenodo.multipart_limit = 1000
    response = zclient.post(deposit["links"]["files"], files={"file": ("big.bin", DATA)})
    assert response.status_code == 413


def test_legacy_bucket_needs_octet_stream_and_length(zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient)
    url = f"{deposit['links']['bucket']}/a.bin"
    response = zclient.put(url, content=DATA, headers={"Content-Type": "application/json"})
    assert response.status_code == 415
    assert zclient.put(url, content=DATA).status_code == 415
    chunked = zclient.put(url, content=iter([DATA[:10], DATA[10:]]), headers=OCTETS)
    assert chunked.status_code == 415
    response = zclient.post("/api/deposit/depositions", content=b"{}")
    assert response.status_code == 415


def test_legacy_edit_discard_and_locked_bucket(zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient, LEGACY_METADATA)
    bucket_put(zclient, deposit, "a.txt")
    links = zclient.post(deposit["links"]["publish"]).json()["links"]
    assert bucket_put(zclient, deposit, "b.txt").status_code == 403
    response = zclient.post(links["edit"])
    assert response.status_code == 201
    assert response.json()["state"] == "inprogress"
    assert zclient.post(links["discard"]).status_code == 204
    assert zclient.get(links["latest_draft"]).json()["state"] == "done"
    assert zclient.post(links["discard"]).status_code == 404


def test_legacy_doi_copied_from_sandbox_prereserve_becomes_external(
    zenodo: FakeInvenio, zclient: httpx.Client
) -> None:
    deposit = legacy_deposit(zclient)
    bucket_put(zclient, deposit, "a.txt")
    meta = {**LEGACY_METADATA, "doi": deposit["metadata"]["prereserve_doi"]["doi"]}
    zclient.put(deposit["links"]["self"], json={"metadata": meta})
    zclient.post(deposit["links"]["publish"])
    assert zenodo.records[str(deposit["id"])].pids["doi"]["provider"] == "external"


def test_legacy_list(zclient: httpx.Client) -> None:
    assert zclient.get("/api/deposit/depositions").json() == []
    first = legacy_deposit(zclient, LEGACY_METADATA)
    second = legacy_deposit(zclient)
    listed = zclient.get("/api/deposit/depositions").json()
    assert {d["id"] for d in listed} == {first["id"], second["id"]}
    found = zclient.get("/api/deposit/depositions", params={"q": "zebrafish"}).json()
    assert [d["id"] for d in found] == [first["id"]]


def test_invenio_flavour_has_no_legacy_api(tmp_path) -> None:
    with FakeInvenio(flavour="invenio") as fake, client_for(fake) as c:
        assert fake.doi_prefix == "10.1234"
        response = c.post("/api/deposit/depositions", json={})
        assert response.status_code == 404
        assert response.json()["status"] == 404


# -- faults, limits, counters ------------------------------------------------------------------


def test_corrupt_checksum_then_retry(fake: FakeInvenio, client: httpx.Client) -> None:
    draft = create_draft(client)
    fake.corrupt_checksum()
    bad = upload(client, draft, "a.bin")
    assert bad["checksum"] != f"md5:{MD5}"
    stored = fake.stored_path(draft["id"], "a.bin").read_bytes()
    assert stored != DATA
    assert bad["checksum"] == f"md5:{hashlib.md5(stored).hexdigest()}"

    assert client.delete(f"{draft['links']['files']}/a.bin").status_code == 204
    assert upload(client, draft, "a.bin")["checksum"] == f"md5:{MD5}"
    assert fake.stored_path(draft["id"], "a.bin").read_bytes() == DATA


def test_corrupt_checksum_on_legacy_bucket(zenodo: FakeInvenio, zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient)
    zenodo.corrupt_checksum()
    assert bucket_put(zclient, deposit, "a.bin").json()["checksum"] != f"md5:{MD5}"
    assert bucket_put(zclient, deposit, "a.bin").json()["checksum"] == f"md5:{MD5}"


def test_drop_mid_upload_then_resume(fake: FakeInvenio, client: httpx.Client) -> None:
    big = DATA * 512  # 1 MiB
    draft = create_draft(client)
    client.post(draft["links"]["files"], json=[{"key": "big.bin"}])
    content = f"{draft['links']['files']}/big.bin/content"
    fake.drop_mid_upload()
    with pytest.raises(httpx.TransportError):
        client.put(content, content=big, headers=OCTETS)
    entry = client.get(f"{draft['links']['files']}/big.bin").json()
    assert entry["status"] == "pending"
    assert fake.stored_path(draft["id"], "big.bin") is None
    assert fake.requests_to("*/big.bin/content")[-1].status == 0

    assert client.put(content, content=big, headers=OCTETS).status_code == 200
    response = client.post(f"{draft['links']['files']}/big.bin/commit")
    assert response.json()["checksum"] == f"md5:{hashlib.md5(big).hexdigest()}"


def test_drop_mid_upload_on_legacy_bucket(zenodo: FakeInvenio, zclient: httpx.Client) -> None:
    deposit = legacy_deposit(zclient)
    zenodo.drop_mid_upload()
    with pytest.raises(httpx.TransportError):
        bucket_put(zclient, deposit, "big.bin", DATA * 512)
    assert "files" not in zclient.get(deposit["links"]["self"]).json()
    assert bucket_put(zclient, deposit, "big.bin", DATA * 512).status_code == 201


def test_rate_limit_headers_and_throttling(fake: FakeInvenio, client: httpx.Client) -> None:
    first = client.get("/api/user/records")
    second = client.get("/api/user/records")
    for response in (first, second):
        assert response.headers["X-RateLimit-Limit"] == "100"
        assert int(response.headers["X-RateLimit-Reset"]) > 0
    remaining = int(first.headers["X-RateLimit-Remaining"])
    assert int(second.headers["X-RateLimit-Remaining"]) == remaining - 1
    assert client.get("/api/nowhere").headers["X-RateLimit-Limit"] == "100"

    fake.throttle(times=1, retry_after=3)
    response = client.post("/api/records", json={"metadata": metadata()})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert fake.drafts_created == 0
    assert client.post("/api/records", json={"metadata": metadata()}).status_code == 201

    fake.enforce_rate_limit = True
    fake.rate_limits["guest"] = 3
    with client_for(fake, token=None) as anonymous:
        answers = [anonymous.get("/api/records") for _ in range(8)]
    throttled = [a for a in answers if a.status_code == 429]
    assert throttled
    assert throttled[0].headers["X-RateLimit-Limit"] == "3"
    assert throttled[0].headers["X-RateLimit-Remaining"] == "0"
    assert int(throttled[0].headers["Retry-After"]) >= 1


def test_5xx_burst_then_success(fake: FakeInvenio, client: httpx.Client) -> None:
    fake.inject("status", path="/api/records", status=503, times=2)
    statuses = [client.post("/api/records", json={}).status_code for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert fake.drafts_created == 1


def test_max_files(tmp_path) -> None:
    with FakeInvenio(max_files=2, store_root=tmp_path) as fake, client_for(fake) as c:
        draft = create_draft(c)
        response = c.post(draft["links"]["files"], json=[{"key": k} for k in "abc"])
        assert response.status_code == 400
        assert "max amount per record" in response.json()["message"]
        upload(c, draft, "a")
        upload(c, draft, "b")
        assert c.post(draft["links"]["files"], json=[{"key": "c"}]).status_code == 400

        deposit = legacy_deposit(c)
        assert bucket_put(c, deposit, "a").status_code == 201
        assert bucket_put(c, deposit, "b").status_code == 201
        assert bucket_put(c, deposit, "b").status_code == 201  # a replacement is no new file
        assert bucket_put(c, deposit, "c").status_code == 400


def test_max_file_size(tmp_path) -> None:
    with FakeInvenio(max_file_size=1000, store_root=tmp_path) as fake, client_for(fake) as c:
        draft = create_draft(c)
        c.post(draft["links"]["files"], json=[{"key": "a"}])
        response = c.put(f"{draft['links']['files']}/a/content", content=DATA, headers=OCTETS)
        assert response.status_code == 400


def test_redirect_drops_authorization(tmp_path) -> None:
    with (
        FakeInvenio(store_root=tmp_path / "a") as www,
        FakeInvenio(store_root=tmp_path / "b") as real,
    ):
        www.redirect_to(real.url)
        with client_for(www) as c:
            response = c.get("/api/deposit/depositions", follow_redirects=True)
        assert response.status_code == 403
        assert response.history[0].status_code == 301
        assert "Authorization" in www.log[-1].headers
        (arrived,) = real.requests_to("/api/deposit/depositions")
        assert "Authorization" not in arrived.headers


def test_drafts_created_counter_and_seeded_records(fake: FakeInvenio, client: httpx.Client) -> None:
    seeded = fake.seed_record(files={"old.txt": b"old"})
    assert fake.drafts_created == 0
    assert client.get(f"/api/records/{seeded.id}", headers=NATIVE).status_code == 200
    draft = client.post(f"/api/records/{seeded.id}/versions").json()
    client.post(f"/api/records/{draft['id']}/draft/actions/files-import")
    assert fake.stored_path(draft["id"], "old.txt").read_bytes() == b"old"
    create_draft(client)
    assert fake.drafts_created == 2
