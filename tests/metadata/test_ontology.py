"""Ontology terms: bundled offline subsets, OLS4 lookups against a fake, caching, fallbacks."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from fakes.ols import FakeOLS
from pydantic import ValidationError

from bioshare.errors import BioshareError
from bioshare.metadata import ontology
from bioshare.metadata.ontology import (
    ONTOLOGIES,
    OntologyTerm,
    TermNotFoundError,
    get_term,
    lookup_term,
    resolve_term,
)

NETWORK_DOWN = "http://127.0.0.1:9"  # nothing listens on the discard port
LOGGER = "bioshare.metadata.ontology"


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache, OLS "down" unless a test points at the fake, fast failures."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(cache))
    monkeypatch.setenv("BIOSHARE_OLS_URL", NETWORK_DOWN)
    monkeypatch.setenv("BIOSHARE_TIMEOUT", "2")
    monkeypatch.setenv("BIOSHARE_RETRIES", "1")
    monkeypatch.delenv("BIOSHARE_OFFLINE", raising=False)
    monkeypatch.setattr(ontology, "_paused_until", {})
    return cache


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOLS]:
    """A fresh fake OLS as ``BIOSHARE_OLS_URL`` (fresh: a hung request never leaks over)."""
    with FakeOLS() as server:
        monkeypatch.setenv("BIOSHARE_OLS_URL", f"{server.url}/ols4")
        yield server


def query_of(fake: FakeOLS, index: int = -1) -> dict[str, list[str]]:
    return parse_qs(fake.log[index].query)


# -- OntologyTerm ----------------------------------------------------------------------------


def test_a_term_prints_as_label_and_curie() -> None:
    term = OntologyTerm.from_curie("FBbi:00000251", "confocal microscopy")
    assert str(term) == "confocal microscopy (FBbi:00000251)"
    assert term.iri == "http://purl.obolibrary.org/obo/FBbi_00000251"
    assert term.ontology == "fbbi"


@pytest.mark.parametrize(
    ("curie", "expected", "iri", "onto"),
    [
        (
            "NCBITaxon_9606",
            "NCBITaxon:9606",
            "http://purl.obolibrary.org/obo/NCBITaxon_9606",
            "ncbitaxon",
        ),
        (
            "ncbitaxon:9606",
            "NCBITaxon:9606",
            "http://purl.obolibrary.org/obo/NCBITaxon_9606",
            "ncbitaxon",
        ),
        ("EFO:0001185", "EFO:0001185", "http://www.ebi.ac.uk/efo/EFO_0001185", "efo"),
        ("CL_0000540", "CL:0000540", "http://purl.obolibrary.org/obo/CL_0000540", "cl"),
        ("GO:0005634", "GO:0005634", "http://purl.obolibrary.org/obo/GO_0005634", "go"),
    ],
)
def test_from_curie_builds_the_iri(curie: str, expected: str, iri: str, onto: str) -> None:
    term = OntologyTerm.from_curie(curie, "x")
    assert (term.curie, term.iri, term.ontology) == (expected, iri, onto)


def test_terms_are_frozen_hashable_and_compare_by_value() -> None:
    a = OntologyTerm.from_curie("UBERON:0000955", "brain")
    b = OntologyTerm(
        curie="UBERON:0000955",
        iri="http://purl.obolibrary.org/obo/UBERON_0000955",
        label="brain",
        ontology="uberon",
    )
    assert a == b
    assert len({a, b}) == 1
    with pytest.raises(ValidationError):
        a.label = "heart"  # type: ignore[misc]
    assert OntologyTerm.model_validate_json(a.model_dump_json()) == a


@pytest.mark.parametrize("bad", ["FBbi00000251", "confocal", "FBbi:", ":123", "FBbi:abc"])
def test_from_curie_rejects_what_is_not_a_curie(bad: str) -> None:
    with pytest.raises(ValueError, match="not an ontology term identifier"):
        OntologyTerm.from_curie(bad, "x")


def test_the_model_checks_its_fields() -> None:
    with pytest.raises(ValidationError):
        OntologyTerm(curie="no colon", iri="x", label="x", ontology="fbbi")
    with pytest.raises(ValidationError):
        OntologyTerm(curie="FBbi:1", iri="x", label="", ontology="fbbi")
    with pytest.raises(ValidationError):
        OntologyTerm(curie="FBbi:1", iri="x", label="x", ontology="FBbi")


# -- bundled data ----------------------------------------------------------------------------


def test_every_ontology_is_bundled_with_its_source() -> None:
    folder = files("bioshare.metadata") / "data"
    counts = {}
    for name in ONTOLOGIES:
        data = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        assert data["ontology"] == name
        assert data["source"]
        counts[name] = len(data["terms"])
    assert counts["fbbi"] > 500  # the whole FBbi release, not a sample
    assert all(counts[name] >= 10 for name in ONTOLOGIES)


def test_fbbi_keeps_its_synonyms_and_drops_obsolete_terms() -> None:
    data = json.loads((files("bioshare.metadata") / "data" / "fbbi.json").read_text())
    terms = {term["curie"]: term for term in data["terms"]}
    assert "FBbi:00000000" not in terms  # "dummy term", obsolete
    assert terms["FBbi:00000245"]["synonyms"] == ["DIC", "Nomarski"]
    assert terms["FBbi:00001002"]["parents"] == ["FBbi:00001003", "FBbi:00001005"]
    assert all(curie.startswith("FBbi:") for curie in terms)


# -- offline lookup --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ontology_id", "first"),
    [
        ("light sheet", None, "FBbi:00000369"),  # SPIM, through a synonym
        ("light sheet", "fbbi", "FBbi:00000369"),
        ("human", None, "NCBITaxon:9606"),
        ("Homo sapiens", "ncbitaxon", "NCBITaxon:9606"),
        ("confocal", "fbbi", "FBbi:00000251"),  # exact label before "spinning disk confocal..."
        ("confocla microscopy", "fbbi", "FBbi:00000251"),  # a typo
        ("huamn", None, "NCBITaxon:9606"),
        ("zebrafish", None, "NCBITaxon:7955"),
        ("mouse", "ncbitaxon", "NCBITaxon:10090"),
        ("yeast", "ncbitaxon", "NCBITaxon:4932"),
        ("TIRF", "fbbi", "FBbi:00000617"),
        ("DIC", "fbbi", "FBbi:00000245"),
        ("hela", "efo", "EFO:0001185"),
        ("cell", "cl", "CL:0000000"),
        ("brain", None, "UBERON:0000955"),
    ],
)
def test_offline_lookup_ranks_the_best_match_first(
    text: str, ontology_id: str | None, first: str
) -> None:
    found = lookup_term(text, ontology_id, offline=True)
    assert found, text
    assert found[0].curie == first


def test_offline_lookup_orders_exact_then_prefix_then_words() -> None:
    found = [t.label for t in lookup_term("confocal microscopy", "fbbi", offline=True)]
    assert found[0] == "confocal microscopy"
    assert set(found[1:4]) <= {
        "single-spot confocal microscopy",
        "spinning disk confocal microscopy",
        "slit-scan confocal microscopy",
        "array-scan confocal microscopy",
    }
    light = lookup_term("light sheet", "fbbi", offline=True)
    assert [t.curie for t in light[:2]] == ["FBbi:00000369", "FBbi:00000364"]


def test_offline_lookup_respects_the_ontology_and_limit() -> None:
    assert lookup_term("microscopy", "ncbitaxon", offline=True) == []
    found = lookup_term("microscopy", "fbbi", offline=True, limit=3)
    assert len(found) == 3
    assert all(term.ontology == "fbbi" for term in found)
    both = lookup_term("cell", ["cl", "efo"], offline=True, limit=50)
    assert {term.ontology for term in both} == {"cl", "efo"}


def test_nothing_matches_gives_an_empty_list() -> None:
    assert lookup_term("qwertyuiop", offline=True) == []


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "  "}, ValueError),
        ({"text": "cell", "limit": 0}, ValueError),
        ({"text": "cell", "ontology": "not an id!"}, ValueError),
        ({"text": "cell", "ontology": []}, ValueError),
        ({"text": 42}, TypeError),
    ],
)
def test_lookup_rejects_bad_arguments(kwargs: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        lookup_term(**kwargs, offline=True)


# -- resolve_term ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "curie"),
    [
        ("NCBITaxon:9606", "NCBITaxon:9606"),
        ("NCBITaxon_9606", "NCBITaxon:9606"),
        ("ncbitaxon:9606", "NCBITaxon:9606"),
        ("http://purl.obolibrary.org/obo/NCBITaxon_9606", "NCBITaxon:9606"),
        ("https://purl.obolibrary.org/obo/FBbi_00000251", "FBbi:00000251"),
        ("http://www.ebi.ac.uk/efo/EFO_0001185", "EFO:0001185"),
        ("Homo sapiens (NCBITaxon:9606)", "NCBITaxon:9606"),  # str(term)
        ("scanning electron microscopy (SEM)", "FBbi:00000257"),  # a label with parentheses
        ("human", "NCBITaxon:9606"),
        ("Homo sapiens", "NCBITaxon:9606"),
        ("  HOMO   SAPIENS ", "NCBITaxon:9606"),
        ("house mouse", "NCBITaxon:10090"),
        ("budding yeast", "NCBITaxon:4932"),
        ("fruit fly", "NCBITaxon:7227"),
        ("E. coli", "NCBITaxon:562"),
        ("confocal microscopy", "FBbi:00000251"),
        ("light sheet fluorescence microscopy", "FBbi:00000369"),
        ("light-sheet microscopy", "FBbi:00000369"),
        ("SPIM", "FBbi:00000369"),
        ("Nomarski", "FBbi:00000245"),
        ("FIB-SEM", "FBbi:00050000"),
        ("HeLa", "EFO:0001185"),
        ("HEK 293", "EFO:0001182"),
        ("T-cell", "CL:0000084"),
        ("neuron", "CL:0000540"),
        ("skin", "UBERON:0002097"),
    ],
)
def test_resolve_accepts_identifiers_labels_and_common_names(
    value: str, curie: str, fake: FakeOLS
) -> None:
    assert resolve_term(value).curie == curie
    assert fake.log == []  # bundled terms never need a request


def test_resolve_returns_the_bundled_label_and_iri() -> None:
    term = resolve_term("light sheet fluorescence microscopy", "fbbi")
    assert term == OntologyTerm.from_curie("FBbi:00000369", "SPIM")
    assert resolve_term("human", "ncbitaxon").label == "Homo sapiens"


def test_resolve_accepts_terms_and_mappings() -> None:
    term = OntologyTerm.from_curie("CL:0000540", "neuron")
    assert resolve_term(term) is term
    assert resolve_term(term.model_dump()) == term
    assert resolve_term({"curie": "CL:0000540", "label": "neuron"}) == term
    assert resolve_term({"curie": "CL:0000540"}) == term  # label from the bundled terms
    assert resolve_term({"label": "nerve cell"}) == term
    custom = resolve_term({"curie": "GO:0005634", "label": "nucleus"})
    assert custom.iri == "http://purl.obolibrary.org/obo/GO_0005634"


def test_resolve_restricted_to_an_ontology() -> None:
    assert resolve_term("human", ontology="ncbitaxon").curie == "NCBITaxon:9606"
    with pytest.raises(ValueError, match="is a ncbitaxon term; expected a term of fbbi"):
        resolve_term("NCBITaxon:9606", ontology="fbbi")
    with pytest.raises(TermNotFoundError):
        resolve_term("human", ontology="fbbi")


def test_resolve_suggests_close_terms_for_a_typo() -> None:
    with pytest.raises(TermNotFoundError) as info:
        resolve_term("confocla microscopy", ontology="fbbi")
    error = info.value
    assert isinstance(error, LookupError)
    assert isinstance(error, BioshareError)
    assert "no fbbi term matches 'confocla microscopy'" in str(error)
    assert "did you mean 'confocal microscopy' (FBbi:00000251)?" in str(error)
    assert error.suggestions[0].curie == "FBbi:00000251"
    assert error.ontologies == ("fbbi",)


def test_resolve_accepts_exact_matches_only() -> None:
    with pytest.raises(TermNotFoundError, match="did you mean 'Homo sapiens'"):
        resolve_term("huamn")
    with pytest.raises(TermNotFoundError):
        resolve_term("light sheet")  # a prefix is a search, not a term


def test_resolve_without_any_suggestion() -> None:
    with pytest.raises(TermNotFoundError, match=r"lookup_term\('qwertyuiop'\) lists partial"):
        resolve_term("qwertyuiop")


@pytest.mark.parametrize(
    ("value", "error"),
    [("", ValueError), ("   ", ValueError), (42, TypeError), ({"foo": 1}, ValueError)],
)
def test_resolve_rejects_what_is_not_a_term(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        resolve_term(value)  # type: ignore[arg-type]


# -- get_term --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "FBbi:00000251",
        "FBbi_00000251",
        "http://purl.obolibrary.org/obo/FBbi_00000251",
        " FBbi:00000251 ",
    ],
)
def test_get_term_answers_bundled_terms_without_a_request(value: str, fake: FakeOLS) -> None:
    assert get_term(value) == OntologyTerm.from_curie("FBbi:00000251", "confocal microscopy")
    assert fake.log == []


@pytest.mark.parametrize(
    "bad", ["confocal microscopy", "FBbi00000251", "http://example.org/terms/x", "FBbi:"]
)
def test_get_term_rejects_malformed_identifiers(bad: str, fake: FakeOLS) -> None:
    with pytest.raises(ValueError, match="expected a CURIE like 'FBbi:00000251'"):
        get_term(bad)
    assert fake.log == []


def test_get_term_asks_ols_for_other_terms_and_caches_them(
    fake: FakeOLS, private_cache: Path
) -> None:
    term = get_term("NCBITaxon:7719")
    assert term == OntologyTerm.from_curie("NCBITaxon:7719", "Ciona intestinalis")
    [request] = fake.requests_to("/ols4/api/ontologies/ncbitaxon/terms")
    assert parse_qs(request.query) == {"obo_id": ["NCBITaxon:7719"]}
    assert get_term("http://purl.obolibrary.org/obo/NCBITaxon_7719") == term
    assert resolve_term("NCBITaxon_7719") == term
    assert len(fake.log) == 1  # the disk cache answered
    assert [p.name.startswith("term-") for p in (private_cache / "ols").iterdir()] == [True]


def test_get_term_keeps_the_iri_ols_gives(fake: FakeOLS) -> None:
    term = get_term("EFO:0001099")
    assert term.iri == "http://www.ebi.ac.uk/efo/EFO_0001099"
    assert term.label == "Caco-2"
    assert term.ontology == "efo"


def test_get_term_unknown_to_ols(fake: FakeOLS) -> None:
    with pytest.raises(TermNotFoundError) as info:
        get_term("NCBITaxon:999999999")
    assert str(info.value) == (
        "no ncbitaxon term matches 'NCBITaxon:999999999'; OLS does not know NCBITaxon:999999999"
    )
    with pytest.raises(TermNotFoundError):
        get_term("NOSUCH:123")  # an ontology OLS does not have: 404 too
    assert [r.status for r in fake.log] == [404, 404]


# -- online lookup ---------------------------------------------------------------------------


def test_lookup_online_finds_terms_that_are_not_bundled(fake: FakeOLS) -> None:
    assert lookup_term("sea squirt", "ncbitaxon", offline=True) == []
    found = lookup_term("sea squirt", "ncbitaxon")
    assert [str(t) for t in found] == ["Ciona intestinalis (NCBITaxon:7719)"]
    [request] = fake.requests_to("/ols4/api/search")
    assert parse_qs(request.query) == {
        "q": ["sea squirt"],
        "ontology": ["ncbitaxon"],
        "type": ["class"],
        "start": ["0"],
        "rows": ["10"],
    }


def test_lookup_online_searches_the_five_ontologies_and_drops_duplicates(fake: FakeOLS) -> None:
    found = lookup_term("Homo sapiens")
    assert query_of(fake)["ontology"] == ["fbbi,ncbitaxon,efo,cl,uberon"]
    assert [t.curie for t in found] == ["NCBITaxon:9606"]  # listed by 4 ontologies in OLS
    assert found[0].ontology == "ncbitaxon"


def test_lookup_online_passes_the_limit_as_rows(fake: FakeOLS) -> None:
    found = lookup_term("microscopy", "fbbi", limit=3)
    assert len(found) == 3
    assert query_of(fake)["rows"] == ["3"]


def test_a_second_identical_lookup_makes_no_request(fake: FakeOLS, private_cache: Path) -> None:
    first = lookup_term("pancreas", "uberon")
    assert [t.curie for t in first] == ["UBERON:0001264"]
    assert lookup_term("pancreas", "uberon") == first
    assert len(fake.log) == 1
    lookup_term("pancreas", "uberon", limit=5)  # another question: asked
    assert len(fake.log) == 2
    cached = sorted((private_cache / "ols").iterdir())
    assert len(cached) == 2
    assert not [p for p in cached if p.name.startswith(".")]  # no temporary files left
    record = json.loads(cached[0].read_text())
    assert record["terms"][0]["label"] == "pancreas"


def test_offline_lookups_use_cached_ols_answers(
    fake: FakeOLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    online = lookup_term("osteoblast", "cl")
    monkeypatch.setenv("BIOSHARE_OLS_URL", f"{fake.url}/ols4")
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")
    assert lookup_term("osteoblast", "cl") == online
    assert len(fake.log) == 1


def test_a_corrupt_cache_file_is_ignored(fake: FakeOLS, private_cache: Path) -> None:
    lookup_term("liver", "uberon")
    [path] = (private_cache / "ols").iterdir()
    path.write_text("{not json")
    assert [t.curie for t in lookup_term("liver", "uberon")] == ["UBERON:0002107"]
    assert len(fake.log) == 2


def test_an_unwritable_cache_does_not_break_lookups(
    fake: FakeOLS, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("BIOSHARE_CACHE_DIR", str(blocker))  # a file: no folder inside
    assert [t.curie for t in lookup_term("liver", "uberon")] == ["UBERON:0002107"]


def test_resolve_asks_ols_for_exact_matches(fake: FakeOLS) -> None:
    term = resolve_term("Ciona intestinalis")
    assert term.curie == "NCBITaxon:7719"
    query = query_of(fake)
    assert query["exact"] == ["true"]
    assert query["q"] == ["Ciona intestinalis"]
    assert resolve_term("transparent sea squirt", "ncbitaxon") == term  # an OLS synonym
    assert resolve_term("CACO-2", "efo").curie == "EFO:0001099"
    calls = len(fake.log)
    assert resolve_term("Ciona intestinalis") == term
    assert len(fake.log) == calls  # cached


def test_resolve_online_keeps_to_the_ontology(fake: FakeOLS) -> None:
    # OLS lists osteoblast under efo too (imported), but it is a CL term
    with pytest.raises(TermNotFoundError, match="no efo term matches 'osteoblast'"):
        resolve_term("osteoblast", "efo")
    assert resolve_term("osteoblast", ["cl", "efo"]).curie == "CL:0000062"


def test_resolve_unknown_online(fake: FakeOLS) -> None:
    with pytest.raises(TermNotFoundError) as info:
        resolve_term("sea squir")
    assert "OLS" not in str(info.value)  # OLS answered: simply nothing matches
    assert fake.requests_to("/ols4/api/search")


# -- faults and offline mode -----------------------------------------------------------------

FAULTS = [
    pytest.param("status", {"status": 503}, id="503"),
    pytest.param("status", {"status": 500, "body": {"error": "boom"}}, id="500"),
    pytest.param("drop", {}, id="drop"),
    pytest.param("malformed", {}, id="malformed"),
    pytest.param("hang", {}, id="hang"),
]


@pytest.mark.parametrize(("kind", "options"), FAULTS)
def test_lookup_falls_back_to_bundled_terms_when_ols_fails(
    kind: str,
    options: dict,
    fake: FakeOLS,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BIOSHARE_TIMEOUT", "0.3")
    fake.inject(kind, **options)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        found = lookup_term("light sheet", "fbbi")
    assert found[0].curie == "FBbi:00000369"
    assert fake.requests_to("/ols4/api/search") or kind == "hang"
    assert fake.faults_triggered >= 1
    [record] = [r for r in caplog.records if r.name == LOGGER]
    assert record.levelno == logging.WARNING
    assert "bundled ontology terms" in record.getMessage()


@pytest.mark.parametrize(("kind", "options"), FAULTS)
def test_resolve_and_get_term_survive_every_fault(
    kind: str, options: dict, fake: FakeOLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIOSHARE_TIMEOUT", "0.3")
    fake.inject(kind, **options)
    assert resolve_term("human").curie == "NCBITaxon:9606"
    with pytest.raises(TermNotFoundError, match="only bundled terms were searched"):
        resolve_term("Ciona intestinalis")
    with pytest.raises(TermNotFoundError, match="not among the bundled terms and OLS"):
        get_term("NCBITaxon:7719")


def test_an_empty_ols_page_means_not_found(fake: FakeOLS) -> None:
    fake.inject(
        "status", path="/ols4/api/ontologies/*", status=200, body={"page": {"size": 0}}, times=1
    )
    with pytest.raises(TermNotFoundError, match="OLS does not know CL:0000062"):
        get_term("CL:0000062")


def test_a_failing_ols_is_skipped_for_a_while(
    fake: FakeOLS, caplog: pytest.LogCaptureFixture
) -> None:
    fake.inject("status", status=503)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        lookup_term("confocal")
        tried = len(fake.log)
        assert tried == 2  # one retry at most
        lookup_term("microscopy")
        with pytest.raises(TermNotFoundError, match="failed less than 60 s ago"):
            resolve_term("Ciona intestinalis")
    assert len(fake.log) == tried  # paused: no new request
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1  # the pause is logged at debug level only


def test_network_down_falls_back(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert lookup_term("human")[0].curie == "NCBITaxon:9606"
    assert "could not reach http://127.0.0.1:9/api/search" in caplog.text
    with pytest.raises(TermNotFoundError, match=r"not among the bundled terms|OLS"):
        get_term("NCBITaxon:7719")


def test_offline_true_never_touches_the_network(fake: FakeOLS) -> None:
    assert lookup_term("sea squirt", offline=True) == []
    assert lookup_term("human", offline=True)[0].curie == "NCBITaxon:9606"
    assert fake.log == []


def test_bioshare_offline_never_touches_the_network(
    fake: FakeOLS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")
    assert lookup_term("light sheet")[0].curie == "FBbi:00000369"
    with pytest.raises(TermNotFoundError, match="offline"):
        resolve_term("Ciona intestinalis")
    with pytest.raises(TermNotFoundError, match="offline"):
        get_term("NCBITaxon:7719")
    assert resolve_term("human").curie == "NCBITaxon:9606"
    assert fake.log == []
    assert lookup_term("sea squirt", offline=False)[0].curie == "NCBITaxon:7719"  # explicit


# -- the fake itself -------------------------------------------------------------------------


def test_the_fake_answers_like_ols(fake: FakeOLS) -> None:
    base = f"{fake.url}/ols4/api"
    missing = httpx.get(f"{base}/ontologies/cl/terms", params={"obo_id": "CL:9999999"})
    assert missing.status_code == 404
    assert set(missing.json()) >= {"timestamp", "status", "error", "path"}
    assert missing.json()["error"] == "Not Found"
    page = httpx.get(f"{base}/ontologies/cl/terms", params={"obo_id": "CL:0000540"}).json()
    [term] = page["_embedded"]["terms"]
    assert term["label"] == "neuron"
    assert term["is_defining_ontology"] is True
    assert page["page"] == {"size": 1, "totalElements": 1, "totalPages": 1, "number": 0}
    search = httpx.get(f"{base}/search", params={"q": "cell", "rows": 5000}).json()
    assert search["responseHeader"]["status"] == 0
    assert search["response"]["numFound"] == len(search["response"]["docs"])
    assert httpx.get(f"{base}/search").status_code == 400
    exact = httpx.get(f"{base}/search", params={"q": "HUMAN", "exact": "true"}).json()
    names = [(d["obo_id"], d["ontology_name"]) for d in exact["response"]["docs"]]
    assert names[0] == ("NCBITaxon:9606", "ncbitaxon")
    assert len(names) == 4  # also listed by efo, uberon and cl
