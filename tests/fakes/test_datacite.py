"""Self-tests of the fake DataCite REST API, with plain httpx."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import pytest
from fakes.datacite_api import JSONAPI, RESOURCE_TYPES_GENERAL, FakeDataCite

AUTH = ("BIOSHARE.TEST", "secret-password")
HEADERS = {"Content-Type": JSONAPI}
BAD_CREDENTIALS = {"errors": [{"status": "401", "title": "Bad credentials."}]}
NOT_FOUND = {
    "errors": [{"status": "404", "title": "The resource you are looking for doesn't exist."}]
}
SUFFIX = re.compile(r"[0-9a-hjkmnp-tv-z]{4}-[0-9a-hjkmnp-tv-z]{3}[0-9a-hjkmnp-tv-z*~$=u]")


def metadata(**changes: Any) -> dict[str, Any]:
    """Complete DataCite 4.5 metadata (reference metadata-standards section 5)."""
    attributes = {
        "creators": [
            {
                "name": "Carberry, Josiah",
                "nameType": "Personal",
                "givenName": "Josiah",
                "familyName": "Carberry",
                "nameIdentifiers": [
                    {
                        "nameIdentifier": "https://orcid.org/0000-0002-1825-0097",
                        "nameIdentifierScheme": "ORCID",
                        "schemeUri": "https://orcid.org",
                    }
                ],
                "affiliation": [
                    {
                        "name": "EMBL",
                        "affiliationIdentifier": "https://ror.org/03mstc592",
                        "affiliationIdentifierScheme": "ROR",
                    }
                ],
            }
        ],
        "titles": [{"title": "HeLa cells stained for nuclei, OME-Zarr"}],
        "publisher": {
            "name": "EMBL-EBI",
            "publisherIdentifier": "https://ror.org/02catss52",
            "publisherIdentifierScheme": "ROR",
        },
        "publicationYear": 2025,
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Bioimage dataset"},
        "subjects": [{"subject": "confocal microscopy", "subjectScheme": "FBbi"}],
        "descriptions": [{"description": "Two channels.", "descriptionType": "Abstract"}],
        "url": "https://example.org/datasets/hela",
    }
    attributes.update(changes)
    return attributes


def body(**attributes: Any) -> dict[str, Any]:
    return {"data": {"type": "dois", "attributes": attributes}}


@pytest.fixture
def datacite() -> Iterator[FakeDataCite]:
    with FakeDataCite() as fake:
        yield fake


@pytest.fixture
def client(datacite: FakeDataCite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=datacite.url, auth=AUTH, headers=HEADERS, timeout=10) as c:
        yield c


@pytest.fixture
def anonymous(datacite: FakeDataCite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=datacite.url, timeout=10) as c:
        yield c


def create(client: httpx.Client, **attributes: Any) -> dict[str, Any]:
    response = client.post("/dois", json=body(**attributes))
    assert response.status_code == 201, response.text
    return response.json()["data"]


def put(client: httpx.Client, doi: str, **attributes: Any) -> httpx.Response:
    return client.put(f"/dois/{doi}", json=body(**attributes))


def sources(response: httpx.Response) -> list[str]:
    return [error["source"] for error in response.json()["errors"]]


# -- creating --------------------------------------------------------------------------------


def test_create_draft_with_prefix(datacite, client):
    response = client.post("/dois", json=body(prefix="10.80001"))
    assert response.status_code == 201
    assert response.headers["Content-Type"].startswith(JSONAPI)
    assert response.headers["X-Credential-Username"] == "bioshare.test"
    data = response.json()["data"]
    doi = data["id"]
    assert response.headers["Location"] == f"{datacite.url}/dois/{doi}"
    assert data["type"] == "dois"
    prefix, suffix = doi.split("/")
    assert prefix == "10.80001"
    assert SUFFIX.fullmatch(suffix), suffix
    attributes = data["attributes"]
    assert (attributes["doi"], attributes["prefix"], attributes["suffix"]) == (doi, prefix, suffix)
    assert (attributes["state"], attributes["isActive"]) == ("draft", False)
    assert attributes["registered"] is None
    assert attributes["created"].endswith("Z")
    assert data["relationships"]["client"]["data"] == {"id": "bioshare.test", "type": "clients"}
    assert datacite.state(doi) == "draft"
    assert datacite.records[doi].attributes == {}
    assert datacite.state("10.80001/unknown") is None


def test_two_drafts_get_different_suffixes_and_a_shoulder(client):
    first = create(client, prefix="10.80001")["id"]
    second = create(client, prefix="10.80001")["id"]
    assert first != second
    shouldered = create(client, prefix="10.80001/bioshare")["id"]
    assert shouldered.startswith("10.80001/bioshare-")


def test_draft_accepts_incomplete_metadata(datacite, client):
    data = create(client, doi="10.80001/partial", titles=[{"title": "Only a title"}])
    assert data["attributes"]["titles"] == [{"title": "Only a title"}]
    assert data["attributes"]["creators"] == []
    assert datacite.records["10.80001/partial"].attributes["titles"] == [{"title": "Only a title"}]


def test_publish_on_create_is_findable_and_public(datacite, client, anonymous):
    data = create(client, doi="10.80001/hela", event="publish", **metadata())
    attributes = data["attributes"]
    assert (attributes["state"], attributes["isActive"]) == ("findable", True)
    assert attributes["registered"] is not None
    assert attributes["published"] == "2025"
    assert attributes["publisher"] == "EMBL-EBI"  # a string unless ?publisher=true
    assert attributes["creators"][0]["affiliation"] == ["EMBL"]
    response = anonymous.get("/dois/10.80001/hela")
    assert response.status_code == 200
    assert response.headers["X-Anonymous-Consumer"] == "true"
    assert response.json()["data"]["attributes"]["titles"] == metadata()["titles"]


def test_register_on_create(client):
    data = create(client, doi="10.80001/registered", event="register", **metadata())
    assert (data["attributes"]["state"], data["attributes"]["isActive"]) == ("registered", False)


def test_lifecycle_draft_register_publish_hide_show(datacite, client):
    doi = create(client, prefix="10.80001", **metadata())["id"]
    response = put(client, doi, event="register")
    assert response.status_code == 200
    registered = response.json()["data"]["attributes"]
    assert registered["state"] == "registered"
    assert registered["registered"] is not None
    response = put(client, doi, event="publish")
    assert response.json()["data"]["attributes"]["state"] == "findable"
    assert response.json()["data"]["attributes"]["isActive"] is True
    response = put(client, doi, event="hide")
    assert response.json()["data"]["attributes"]["state"] == "registered"
    assert datacite.state(doi) == "registered"
    response = put(client, doi, event="show")
    assert response.json()["data"]["attributes"]["state"] == "findable"
    assert response.json()["data"]["attributes"]["registered"] == registered["registered"]


def test_draft_straight_to_findable_by_put(client):
    doi = create(client, prefix="10.80001")["id"]
    response = put(client, doi, event="publish", **metadata())
    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["state"] == "findable"


def test_update_merges_attributes_and_null_removes(datacite, client):
    doi = create(client, doi="10.80001/merge", event="publish", **metadata())["id"]
    response = put(client, doi, version="2", descriptions=None)
    assert response.status_code == 200
    attributes = response.json()["data"]["attributes"]
    assert attributes["version"] == "2"
    assert attributes["descriptions"] == []
    assert attributes["titles"] == metadata()["titles"]
    assert attributes["metadataVersion"] == 2
    response = client.patch(f"/dois/{doi}", json=body(language="en"))
    assert response.json()["data"]["attributes"]["language"] == "en"


def test_put_on_unknown_doi_creates_it(datacite, client):
    response = put(client, "10.80001/made-by-put", event="publish", **metadata())
    assert response.status_code == 201
    assert datacite.state("10.80001/made-by-put") == "findable"
    assert put(client, "not-a-doi", event="publish").status_code == 404


# -- invalid transitions -----------------------------------------------------------------------


def test_events_that_do_not_apply_are_ignored(datacite, client):
    draft = create(client, doi="10.80001/draft")["id"]
    response = put(client, draft, event="hide")
    assert response.status_code == 200
    assert response.json()["data"]["attributes"]["state"] == "draft"
    findable = create(client, doi="10.80001/findable", event="publish", **metadata())["id"]
    for event in ("register", "publish", "draft", "withdraw"):
        response = put(client, findable, event=event)
        assert response.status_code == 200
        assert response.json()["data"]["attributes"]["state"] == "findable"
    response = put(client, findable, state="draft")  # read-only: ignored
    assert response.json()["data"]["attributes"]["state"] == "findable"
    assert datacite.state(findable) == "findable"


def test_strict_events_answer_422():
    with (
        FakeDataCite(strict_events=True) as fake,
        httpx.Client(base_url=fake.url, auth=AUTH, headers=HEADERS) as client,
    ):
        doi = create(client, doi="10.80001/strict", event="publish", **metadata())["id"]
        response = put(client, doi, event="register")
        assert response.status_code == 422
        assert response.json()["errors"][0]["source"] == "event"
        assert put(client, doi, event="hide").status_code == 200
        response = client.post("/dois", json=body(doi="10.80001/x", event="hide"))
        assert response.status_code == 422
        assert fake.state("10.80001/x") is None


# -- 422, 403, 409 ---------------------------------------------------------------------------


def test_taken_doi_is_422(client):
    create(client, doi="10.80001/taken")
    response = client.post("/dois", json=body(doi="10.80001/TAKEN"))
    assert response.status_code == 422
    assert response.json() == {
        "errors": [
            {
                "source": "doi",
                "title": "This DOI has already been taken",
                "uid": "10.80001/taken",
            }
        ]
    }


def test_doi_outside_the_prefix_is_403(datacite, client):
    forbidden = {
        "errors": [{"status": "403", "title": "You are not authorized to access this resource."}]
    }
    for attributes in ({"doi": "10.5072/abc"}, {"prefix": "10.5072"}, {"doi": "10.aaaa03"}, {}):
        response = client.post("/dois", json=body(**attributes))
        assert response.status_code == 403, attributes
        assert response.json() == forbidden
    assert datacite.records == {}


def test_malformed_doi_is_422(client):
    response = client.post("/dois", json=body(doi="10.80001/has space"))
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"source": "doi", "title": "Is invalid", "uid": "10.80001/has space"}
    ]


def test_publish_without_mandatory_properties_is_422(datacite, client):
    response = client.post(
        "/dois", json=body(doi="10.80001/bare", event="publish", titles=[{"title": "T"}])
    )
    assert response.status_code == 422
    assert response.headers["Content-Type"].startswith(JSONAPI)
    assert sources(response) == [
        "url",
        "creators",
        "publisher",
        "publication_year",
        "resourceType",
    ]
    errors = {e["source"]: e for e in response.json()["errors"]}
    assert errors["url"]["title"] == "Can't be blank"
    assert errors["creators"]["title"] == (
        "DOI 10.80001/bare: Missing child element(s). Expected is "
        "( {http://datacite.org/schema/kernel-4}creator ). at line 4, column 0"
    )
    assert all(e["uid"] == "10.80001/bare" for e in errors.values())
    assert datacite.state("10.80001/bare") is None


def test_publish_with_bad_values_is_422(client):
    response = client.post(
        "/dois",
        json=body(
            doi="10.80001/bad",
            event="publish",
            **metadata(
                publicationYear="25",
                types={"resourceTypeGeneral": "Microscopy"},
                creators=[{"givenName": "Jane"}],
                titles=[],
                publisher="",
                url="not a url",
            ),
        ),
    )
    assert response.status_code == 422
    assert set(sources(response)) == {
        "url",
        "creator",
        "titles",
        "publisher",
        "publication_year",
        "resourceType', attribute 'resourceTypeGeneral",
    }
    errors = {e["source"]: e["title"] for e in response.json()["errors"]}
    assert errors["url"] == "URL is not valid"
    assert "The value '25' is not accepted by the pattern" in errors["publication_year"]
    assert (
        "The value 'Microscopy' is not an element of the set"
        in errors["resourceType', attribute 'resourceTypeGeneral"]
    )


@pytest.mark.parametrize("general", ["Instrument", "StudyRegistration", "Dataset", "Image"])
def test_resource_types_of_schema_45_are_accepted(client, general):
    data = create(
        client,
        prefix="10.80001",
        event="publish",
        **metadata(types={"resourceTypeGeneral": general}, publicationYear="2024"),
    )
    assert data["attributes"]["publicationYear"] == 2024
    assert data["attributes"]["types"]["resourceTypeGeneral"] == general


def test_resource_types_match_the_datacite_package():
    schema = resources.files("datacite") / "schemas" / "datacite-v4.5.json"
    enum = json.loads(schema.read_text())["definitions"]["resourceTypeGeneral"]["enum"]
    assert tuple(enum) == RESOURCE_TYPES_GENERAL


def test_register_and_publish_need_a_url(client):
    doi = create(client, prefix="10.80001", **metadata(url=None))["id"]
    for event in ("register", "publish"):
        response = put(client, doi, event=event)
        assert response.status_code == 422
        assert response.json()["errors"] == [
            {"source": "url", "title": "Can't be blank", "uid": doi}
        ]


def test_findable_metadata_stays_valid(datacite, client):
    doi = create(client, doi="10.80001/keep", event="publish", **metadata())["id"]
    response = put(client, doi, titles=[], creators=None)
    assert response.status_code == 422
    assert sources(response) == ["creators", "titles"]
    assert datacite.records[doi].attributes["titles"] == metadata()["titles"]


def test_shapes_are_checked_on_drafts_too(client):
    response = client.post("/dois", json=body(doi="10.80001/shape", titles=["A string"]))
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "source": "titles",
        "title": "Title 'A string' should be an object instead of a string.",
        "uid": "10.80001/shape",
    }


def test_conflict_mode_answers_409_and_stores(datacite, client):
    datacite.conflict()
    response = client.post("/dois", json=body(doi="10.80001/race", **metadata()))
    assert response.status_code == 409
    assert response.json() == {
        "errors": [{"status": "409", "title": "The resource already exists."}]
    }
    assert datacite.state("10.80001/race") == "draft"
    assert client.post("/dois", json=body(doi="10.80001/race")).status_code == 422
    assert client.post("/dois", json=body(doi="10.80001/calm")).status_code == 201


# -- authentication and payloads ---------------------------------------------------------------


def test_writes_need_credentials(datacite, client, anonymous):
    doi = create(client, doi="10.80001/mine")["id"]
    wrong = httpx.BasicAuth("BIOSHARE.TEST", "wrong")
    requests = [
        ("POST", "/dois", body(prefix="10.80001")),
        ("PUT", f"/dois/{doi}", body(event="publish")),
        ("DELETE", f"/dois/{doi}", None),
    ]
    for method, path, payload in requests:
        for auth in (None, wrong):
            response = anonymous.request(
                method, path, json=payload, headers=HEADERS, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
            assert response.status_code == 401, (method, auth)
            assert response.json() == BAD_CREDENTIALS
    assert datacite.state(doi) == "draft"
    assert len(datacite.records) == 1


def test_wrong_credentials_fail_reads_too(client, anonymous):
    create(client, doi="10.80001/open", event="publish", **metadata())
    response = anonymous.get("/dois/10.80001/open", auth=("BIOSHARE.TEST", "nope"))
    assert response.status_code == 401
    assert anonymous.get("/dois", auth=("OTHER.REPO", "secret-password")).status_code == 401


def test_username_is_case_insensitive(datacite):
    with httpx.Client(base_url=datacite.url, auth=("bioshare.test", "secret-password")) as c:
        response = c.post("/dois", json=body(prefix="10.80001"), headers=HEADERS)
        assert response.status_code == 201


def test_payload_must_be_jsonapi(datacite, client):
    no_payload = {
        "errors": [
            {"status": "400", "title": "You need to provide a payload following the JSONAPI spec"}
        ]
    }
    text = client.post(
        "/dois", content=json.dumps(body(prefix="10.80001")), headers={"Content-Type": "text/plain"}
    )
    assert text.status_code == 400
    assert text.json() == no_payload
    form = client.post(
        "/dois",
        content=b"prefix=10.80001",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400
    assert client.post("/dois", json={"prefix": "10.80001"}).json() == no_payload
    broken = client.post("/dois", content=b'{"data": {', headers=HEADERS)
    assert broken.status_code == 400
    plain_json = client.post(
        "/dois", json=body(prefix="10.80001"), headers={"Content-Type": "application/json"}
    )
    assert plain_json.status_code == 201
    assert len(datacite.records) == 1


# -- reading -----------------------------------------------------------------------------------


def test_reads_with_and_without_credentials(client, anonymous):
    create(client, doi="10.80001/draft")
    create(client, doi="10.80001/hidden", event="register", **metadata())
    create(client, doi="10.80001/public", event="publish", **metadata())
    for doi in ("10.80001/draft", "10.80001/hidden"):
        response = anonymous.get(f"/dois/{doi}")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        assert client.get(f"/dois/{doi}").status_code == 200
    for accept in (JSONAPI, "application/json"):
        response = anonymous.get("/dois/10.80001/public", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.json()["data"]["id"] == "10.80001/public"
    response = client.get("/dois/10.80001/nothing")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)


def test_publisher_and_affiliation_forms(client):
    create(client, doi="10.80001/forms", event="publish", **metadata(publisher="EMBL-EBI"))
    attributes = client.get("/dois/10.80001/forms").json()["data"]["attributes"]
    assert attributes["publisher"] == "EMBL-EBI"
    assert attributes["creators"][0]["affiliation"] == ["EMBL"]
    query = {"publisher": "true", "affiliation": "true"}
    attributes = client.get("/dois/10.80001/forms", params=query).json()["data"]["attributes"]
    assert attributes["publisher"] == {"name": "EMBL-EBI"}
    assert attributes["creators"][0]["affiliation"][0]["affiliationIdentifierScheme"] == "ROR"
    response = client.put("/dois/10.80001/forms", params=query, json=body(version="1.1"))
    assert response.json()["data"]["attributes"]["publisher"] == {"name": "EMBL-EBI"}


def test_other_repositories_dois(datacite, client, anonymous):
    datacite.add("10.5281/zenodo.1", client_id="cern.zenodo", **metadata())
    datacite.add("10.5281/zenodo.2", state="draft", client_id="cern.zenodo")
    assert anonymous.get("/dois/10.5281/ZENODO.1").status_code == 200
    assert client.get("/dois/10.5281/zenodo.2").status_code == 404
    assert put(client, "10.5281/zenodo.1", version="2").status_code == 403
    assert client.delete("/dois/10.5281/zenodo.2").status_code == 403


def test_list_dois(datacite, client, anonymous):
    create(client, doi="10.80001/draft", titles=[{"title": "Nuclei draft"}])
    create(client, doi="10.80001/hidden", event="register", **metadata())
    create(client, doi="10.80001/public", event="publish", **metadata())
    datacite.add("10.5281/zenodo.7", client_id="cern.zenodo", **metadata(titles=[{"title": "Z"}]))
    public = anonymous.get("/dois", params={"state": "draft"}).json()
    assert [d["id"] for d in public["data"]] == ["10.5281/zenodo.7", "10.80001/public"]
    assert public["meta"] == {"total": 2, "totalPages": 1, "page": 1}
    mine = client.get("/dois", params={"client-id": "BIOSHARE.TEST"}).json()
    assert {d["id"] for d in mine["data"]} == {
        "10.80001/draft",
        "10.80001/hidden",
        "10.80001/public",
    }
    drafts = client.get("/dois", params={"state": "draft"}).json()
    assert [d["id"] for d in drafts["data"]] == ["10.80001/draft"]
    found = client.get("/dois", params={"query": "nuclei"}).json()
    assert {d["id"] for d in found["data"]} == {
        "10.80001/draft",
        "10.80001/hidden",
        "10.80001/public",
    }
    datasets = anonymous.get("/dois", params={"resource-type-id": "dataset", "prefix": "10.5281"})
    assert [d["id"] for d in datasets.json()["data"]] == ["10.5281/zenodo.7"]


def test_list_pages(client, anonymous):
    for n in range(5):
        create(client, doi=f"10.80001/p{n}", event="publish", **metadata())
    first = anonymous.get("/dois", params={"page[size]": 2, "sort": "name"}).json()
    assert [d["id"] for d in first["data"]] == ["10.80001/p0", "10.80001/p1"]
    assert first["meta"] == {"total": 5, "totalPages": 3, "page": 1}
    third = anonymous.get(first["links"]["next"].replace("page%5Bnumber%5D=2", "page[number]=3"))
    assert [d["id"] for d in third.json()["data"]] == ["10.80001/p4"]
    assert "next" not in third.json()["links"]
    second = anonymous.get(first["links"]["next"]).json()
    assert [d["id"] for d in second["data"]] == ["10.80001/p2", "10.80001/p3"]
    latest = anonymous.get("/dois", params={"page[size]": 1}).json()
    assert latest["data"][0]["id"] == "10.80001/p4"  # default sort: -updated


# -- deleting and DOI case ---------------------------------------------------------------------


def test_delete_draft_only(datacite, client):
    create(client, doi="10.80001/draft")
    create(client, doi="10.80001/registered", event="register", **metadata())
    create(client, doi="10.80001/findable", event="publish", **metadata())
    response = client.delete("/dois/10.80001/draft")
    assert (response.status_code, response.content) == (204, b"")
    assert datacite.state("10.80001/draft") is None
    assert client.delete("/dois/10.80001/draft").json() == NOT_FOUND
    for doi in ("10.80001/registered", "10.80001/findable"):
        response = client.delete(f"/dois/{doi}")
        assert response.status_code == 405
        assert response.headers["Allow"] == "HEAD, GET, POST, PATCH, PUT, OPTIONS"
        assert response.json() == {"errors": [{"status": "405", "title": "Method not allowed"}]}
        assert datacite.state(doi) is not None


def test_dois_are_case_insensitive(datacite, client, anonymous):
    data = create(client, doi="10.80001/MiXeD-Case", event="publish", **metadata())
    assert data["id"] == "10.80001/mixed-case"
    assert datacite.state("10.80001/MIXED-CASE") == "findable"
    assert anonymous.get("/dois/10.80001/MIXED-case").json()["data"]["id"] == "10.80001/mixed-case"
    assert put(client, "10.80001/MIXED-CASE", event="hide").status_code == 200
    assert datacite.state("10.80001/mixed-case") == "registered"
    create(client, doi="10.80001/Draft")
    assert client.delete("/dois/10.80001/DRAFT").status_code == 204
    encoded = anonymous.get("/dois/10.80001%2Fmixed-case", auth=AUTH)
    assert encoded.status_code == 200


def test_records_are_copies(datacite, client):
    create(client, doi="10.80001/copy", **metadata())
    records = datacite.records
    records["10.80001/copy"].attributes["titles"] = []
    records["10.80001/copy"].state = "findable"
    assert datacite.records["10.80001/copy"].attributes["titles"] == metadata()["titles"]
    assert datacite.state("10.80001/copy") == "draft"


# -- faults ------------------------------------------------------------------------------------


def test_429_with_retry_after_via_inject(datacite, client):
    datacite.inject("status", path="/dois*", status=429, headers={"Retry-After": "3"}, times=1)
    response = client.post("/dois", json=body(prefix="10.80001"))
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"
    assert datacite.records == {}
    assert client.post("/dois", json=body(prefix="10.80001")).status_code == 201
    assert [r.status for r in datacite.requests_to("/dois")] == [429, 201]


def test_rate_limit_helper_is_jsonapi(datacite, anonymous):
    datacite.rate_limit(times=2, retry_after=5)
    for _ in range(2):
        response = anonymous.get("/dois")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == "5"
        assert response.json()["errors"][0]["status"] == "429"
    assert anonymous.get("/dois").status_code == 200
    assert datacite.faults_triggered == 2


def test_5xx_burst_then_normal(datacite, client):
    datacite.inject("status", status=503, times=2)
    assert client.get("/heartbeat").status_code == 503
    assert client.get("/heartbeat").status_code == 503
    response = client.get("/heartbeat")
    assert (response.status_code, response.text) == (200, "OK")
