"""A fake EBI Ontology Lookup Service (OLS4 v1 API) under ``/ols4``.

It answers as www.ebi.ac.uk/ols4 does (EBISPOT/ols4 ``V1SearchController`` and
``V1OntologyTermController``):

- ``GET /ols4/api/search?q=&ontology=&type=&exact=&obsoletes=&rows=&start=`` -> Solr-like
  ``{"responseHeader": {"status": 0, "QTime", "params"}, "response": {"numFound", "start",
  "docs": [{"id", "iri", "short_form", "obo_id", "label", "description", "ontology_name",
  "ontology_prefix", "type": "class"}]}, "facet_counts": {...}}``. ``ontology`` may be a
  comma list; a term imported by other ontologies appears once per ontology (defining
  ontology first), as in OLS. Without ``exact`` every word of ``q`` must occur in the label,
  a synonym, the short form or the CURIE; ``exact=true`` matches the whole label, a synonym,
  the short form, the CURIE or the IRI, ignoring case. ``rows`` is capped at 1000.
- ``GET /ols4/api/ontologies/{onto}/terms?obo_id=|iri=|short_form=|id=`` -> a HAL page
  ``{"_embedded": {"terms": [...]}, "_links", "page"}``; an unknown term or ontology is 404
  with Spring's ``{"timestamp", "status", "error", "path"}`` body. Without an id it pages
  through the ontology's terms (``page``, ``size``).

Missing ``q`` or a non-numeric ``rows`` is a 400 with the same Spring body. Faults come from
`FakeService.inject`.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from aiohttp import web
from fakes.service import FakeService

__all__ = ["FakeOLS", "OLSTerm", "seed"]

MAX_ROWS = 1000
PREFIXES = {"fbbi": "FBbi", "ncbitaxon": "NCBITaxon", "efo": "EFO", "cl": "CL", "uberon": "UBERON"}
ONTOLOGY_IRIS = {
    "fbbi": "http://purl.obolibrary.org/obo/fbbi.owl",
    "ncbitaxon": "http://purl.obolibrary.org/obo/ncbitaxon.owl",
    "efo": "http://www.ebi.ac.uk/efo/efo.owl",
    "cl": "http://purl.obolibrary.org/obo/cl.owl",
    "uberon": "http://purl.obolibrary.org/obo/uberon.owl",
}


@dataclass
class OLSTerm:
    """One class of an ontology, as OLS knows it."""

    obo_id: str
    label: str
    synonyms: list[str] = field(default_factory=list)
    description: str = ""
    imported_by: list[str] = field(default_factory=list)  # other ontologies listing it
    obsolete: bool = False
    has_children: bool = False

    @property
    def prefix(self) -> str:
        return self.obo_id.split(":", 1)[0]

    @property
    def ontology(self) -> str:
        return self.prefix.lower()

    @property
    def short_form(self) -> str:
        return self.obo_id.replace(":", "_", 1)

    @property
    def iri(self) -> str:
        if self.prefix == "EFO":
            return f"http://www.ebi.ac.uk/efo/{self.short_form}"
        return f"http://purl.obolibrary.org/obo/{self.short_form}"

    def ontologies(self) -> list[str]:
        """The defining ontology first, then those importing the term."""
        return [self.ontology, *self.imported_by]


def seed() -> list[OLSTerm]:
    """Three dozen real terms; some (Ciona, Caco-2, osteoblast, pancreas...) are not bundled."""
    return [
        # FBbi
        OLSTerm("FBbi:00000222", "imaging method", has_children=True),
        OLSTerm("FBbi:00000241", "microscopy", has_children=True),
        OLSTerm("FBbi:00000345", "light microscopy", ["mode of light microscopy"]),
        OLSTerm("FBbi:00000246", "fluorescence microscopy", has_children=True),
        OLSTerm("FBbi:00000251", "confocal microscopy", [], "Confocal imaging.", has_children=True),
        OLSTerm("FBbi:00000253", "spinning disk confocal microscopy"),
        OLSTerm("FBbi:00000254", "two-photon laser scanning microscopy"),
        OLSTerm("FBbi:00000369", "SPIM", [], "single (or selective) plane illumination."),
        OLSTerm("FBbi:00000364", "light-sheet illumination"),
        OLSTerm("FBbi:00000617", "evanescent wave microscopy", ["total internal reflection"]),
        OLSTerm("FBbi:00000256", "electron microscopy", ["mode of electron microscopy"]),
        OLSTerm("FBbi:00000257", "scanning electron microscopy (SEM)"),
        OLSTerm("FBbi:00000258", "transmission electron microscopy (TEM)"),
        OLSTerm("FBbi:00000000", "dummy term", obsolete=True),
        # NCBITaxon
        OLSTerm("NCBITaxon:9606", "Homo sapiens", ["human"], "", ["efo", "uberon", "cl"]),
        OLSTerm("NCBITaxon:10090", "Mus musculus", ["house mouse", "mouse"], "", ["efo"]),
        OLSTerm("NCBITaxon:7955", "Danio rerio", ["zebrafish", "zebra fish"]),
        OLSTerm("NCBITaxon:7227", "Drosophila melanogaster", ["fruit fly"]),
        OLSTerm("NCBITaxon:6239", "Caenorhabditis elegans"),
        OLSTerm("NCBITaxon:4932", "Saccharomyces cerevisiae", ["baker's yeast"]),
        OLSTerm("NCBITaxon:7719", "Ciona intestinalis", ["transparent sea squirt", "sea squirt"]),
        # EFO
        OLSTerm("EFO:0001185", "HeLa", ["HeLa cell"], "A cervical adenocarcinoma cell line."),
        OLSTerm("EFO:0001182", "HEK293", ["HEK 293"], "Human embryonic kidney cell line."),
        OLSTerm("EFO:0002067", "K562", [], "Chronic myelogenous leukemia cell line."),
        OLSTerm("EFO:0002869", "U2OS", ["U-2 OS"]),
        OLSTerm("EFO:0001099", "Caco-2", ["Caco2"], "Colorectal adenocarcinoma cell line."),
        # CL
        OLSTerm("CL:0000000", "cell", has_children=True),
        OLSTerm("CL:0000540", "neuron", ["nerve cell"], "", ["efo", "uberon"]),
        OLSTerm("CL:0000127", "astrocyte", [], "", ["efo"]),
        OLSTerm("CL:0000057", "fibroblast"),
        OLSTerm("CL:0000062", "osteoblast", [], "A bone-forming cell.", ["efo"]),
        # Uberon
        OLSTerm("UBERON:0000955", "brain", ["encephalon"], "", ["efo", "cl"]),
        OLSTerm("UBERON:0000948", "heart"),
        OLSTerm("UBERON:0002107", "liver"),
        OLSTerm("UBERON:0001264", "pancreas", [], "An endoderm-derived gland.", ["efo"]),
        OLSTerm("UBERON:0000059", "large intestine"),
    ]


class FakeOLS(FakeService):
    """OLS4's v1 search and term lookup on 127.0.0.1 (see the module docstring)."""

    name = "fake OLS"

    def __init__(self, terms: list[OLSTerm] | None = None, *, port: int = 0) -> None:
        super().__init__(port=port)
        self.terms = terms if terms is not None else seed()

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/ols4/api/search", self._search)
        app.router.add_get("/ols4/api/ontologies/{onto}/terms", self._terms)

    # -- search -------------------------------------------------------------------------------

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query
        q = query.get("q", "").strip()
        if not q:
            return spring_error(request, 400, "Required request parameter 'q' is not present")
        try:
            rows = min(int(query.get("rows", "10")), MAX_ROWS)
            start = int(query.get("start", "0"))
        except ValueError:
            return spring_error(request, 400, "rows and start must be integers")
        hits = self.search(
            q,
            ontologies=_list(query.getall("ontology", [])),
            types=_list(query.getall("type", [])),
            exact=query.get("exact", "false").lower() == "true",
            obsoletes=query.get("obsoletes", "false").lower() == "true",
        )
        docs = [search_doc(term, ontology) for term, ontology in hits[start : start + rows]]
        return web.json_response(
            {
                "responseHeader": {"status": 0, "QTime": 1, "params": dict(query)},
                "response": {"numFound": len(hits), "start": start, "docs": docs},
                "facet_counts": {"facet_fields": _facets(hits)},
            }
        )

    def search(
        self,
        q: str,
        *,
        ontologies: list[str] | None = None,
        types: list[str] | None = None,
        exact: bool = False,
        obsoletes: bool = False,
    ) -> list[tuple[OLSTerm, str]]:
        """(term, listing ontology) pairs matching ``q``, best first."""
        if types and "class" not in types:
            return []
        wanted = {o.lower() for o in ontologies or []}
        ranked = []
        for order, term in enumerate(self.terms):
            if term.obsolete and not obsoletes:
                continue
            rank = _exact_rank(term, q) if exact else _rank(term, q)
            if rank is None:
                continue
            for depth, ontology in enumerate(term.ontologies()):
                if not wanted or ontology in wanted:
                    ranked.append(((depth, rank, order), term, ontology))
        ranked.sort(key=lambda item: item[0])
        return [(term, ontology) for _, term, ontology in ranked]

    # -- terms --------------------------------------------------------------------------------

    async def _terms(self, request: web.Request) -> web.Response:
        onto = request.match_info["onto"].lower()
        listed = [t for t in self.terms if onto in t.ontologies()]
        if not listed:
            return spring_error(request, 404, f"Ontology {onto} not found")
        query = request.query
        wanted = query.get("id") or query.get("iri") or query.get("short_form")
        wanted = wanted or query.get("obo_id")
        if wanted is None:
            return self._page(request, onto, listed)
        for term in listed:
            if wanted in (term.iri, term.short_form, term.obo_id):
                return web.json_response(self._hal(request, onto, [term], 0, 1))
        return spring_error(request, 404, f"No resource with {wanted} in {onto}")

    def _page(self, request: web.Request, onto: str, terms: list[OLSTerm]) -> web.Response:
        try:
            page = int(request.query.get("page", "0"))
            size = min(int(request.query.get("size", "20")), MAX_ROWS)
        except ValueError:
            return spring_error(request, 400, "page and size must be integers")
        chunk = terms[page * size : (page + 1) * size]
        return web.json_response(self._hal(request, onto, chunk, page, size, len(terms)))

    def _hal(
        self,
        request: web.Request,
        onto: str,
        terms: list[OLSTerm],
        number: int,
        size: int,
        total: int | None = None,
    ) -> dict[str, Any]:
        total = len(terms) if total is None else total
        base = f"{self.url}/ols4/api/ontologies/{onto}"
        body: dict[str, Any] = {
            "_links": {"self": {"href": str(request.url)}},
            "page": {
                "size": size,
                "totalElements": total,
                "totalPages": -(-total // size) if size else 0,
                "number": number,
            },
        }
        if terms:  # Spring HATEOAS leaves out "_embedded" for an empty page
            body["_embedded"] = {"terms": [term_doc(term, onto, base) for term in terms]}
        return body


# -- documents -------------------------------------------------------------------------------


def search_doc(term: OLSTerm, ontology: str) -> dict[str, Any]:
    """A search document, as V1SearchController writes one (default fieldList)."""
    return {
        "id": f"{ontology}:class:{term.iri}",
        "iri": term.iri,
        "short_form": term.short_form,
        "obo_id": term.obo_id,
        "label": term.label,
        "description": [term.description] if term.description else [],
        "ontology_name": ontology,
        "ontology_prefix": PREFIXES.get(ontology, ontology.upper()),
        "type": "class",
    }


def term_doc(term: OLSTerm, ontology: str, base: str) -> dict[str, Any]:
    """A V1 term as ``/api/ontologies/{onto}/terms`` embeds it."""
    href = f"{base}/terms/{quote(quote(term.iri, safe=''), safe='')}"
    return {
        "iri": term.iri,
        "lang": "en",
        "description": [term.description] if term.description else [],
        "synonyms": list(term.synonyms),
        "annotation": {},
        "label": term.label,
        "ontology_name": ontology,
        "ontology_prefix": PREFIXES.get(ontology, ontology.upper()),
        "ontology_iri": ONTOLOGY_IRIS.get(ontology, ""),
        "is_obsolete": term.obsolete,
        "term_replaced_by": None,
        "is_defining_ontology": ontology == term.ontology,
        "has_children": term.has_children,
        "is_root": False,
        "short_form": term.short_form,
        "obo_id": term.obo_id,
        "in_subset": None,
        "obo_definition_citation": None,
        "obo_xref": None,
        "obo_synonym": None,
        "is_preferred_root": False,
        "_links": {
            "self": {"href": href},
            "parents": {"href": f"{href}/parents"},
            "ancestors": {"href": f"{href}/ancestors"},
            "children": {"href": f"{href}/children"},
            "descendants": {"href": f"{href}/descendants"},
        },
    }


def spring_error(request: web.Request, status: int, message: str = "") -> web.Response:
    """Spring Boot's default error body, as OLS answers 400 and 404."""
    reasons = {400: "Bad Request", 404: "Not Found"}
    body = {
        "timestamp": datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        "status": status,
        "error": reasons.get(status, "Error"),
        "path": request.path,
    }
    if message:
        body["message"] = message
    return web.json_response(body, status=status)


# -- matching --------------------------------------------------------------------------------


def _names(term: OLSTerm) -> list[str]:
    return [term.label.lower(), *(s.lower() for s in term.synonyms)]


def _exact_rank(term: OLSTerm, q: str) -> int | None:
    text = q.lower()
    if text == term.label.lower():
        return 0
    if text in _names(term)[1:]:
        return 1
    if text in (term.short_form.lower(), term.obo_id.lower(), term.iri.lower()):
        return 2
    return None


def _rank(term: OLSTerm, q: str) -> int | None:
    """Roughly Solr's edismax with label^5 synonym^3: every word must occur somewhere."""
    text = q.lower()
    names = _names(term)
    fields = [*names, term.short_form.lower(), term.obo_id.lower(), term.description.lower()]
    if not all(any(word in f for f in fields) for word in text.split()):
        return None
    if text == names[0]:
        return 0
    if text in names[1:]:
        return 1
    if names[0].startswith(text):
        return 2
    if all(word in names[0] for word in text.split()):
        return 3
    return 4


def _list(values: list[str]) -> list[str]:
    """Spring binds ``a,b`` and repeated parameters alike to a collection."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _facets(hits: list[tuple[OLSTerm, str]]) -> dict[str, list[str]]:
    counts: dict[str, int] = {}
    for _, ontology in hits:
        counts[ontology] = counts.get(ontology, 0) + 1
    flat = [str(item) for name, count in sorted(counts.items()) for item in (name, count)]
    return {"ontologyId": flat, "type": ["class", str(len(hits))]}
