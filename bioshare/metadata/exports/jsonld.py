"""A study as schema.org ``Dataset`` JSON-LD, in the shape of the GIDE search profile.

The GIDE search profile (BioImage-Archive/gide-search, ``profile.md`` v0.2) harmonises
study metadata across the BioImage Archive, IDR and SSBD: a ``Dataset`` with ``author``
(``Person``, ORCID ``@id``), ``about`` (``Taxon``, ``BioSample``, ``DefinedTerm``: the
biology), ``measurementMethod`` (``DefinedTerm`` FBbi terms and ``LabProtocol``: the
imaging), ``funder`` (``Grant``), ``seeAlso`` (``ScholarlyArticle``) and ``size``
(``QuantitativeValue`` file count and bytes). `to_jsonld` writes that shape nested, ready to
embed in a landing page; `bioshare.metadata.exports.to_rocrate` writes the same nodes
flattened into an RO-Crate.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bioshare.metadata.exports import _common as common
from bioshare.metadata.models import (
    Affiliation,
    Biosample,
    Contributor,
    ExternalReference,
    FundingBody,
    Grant,
    ImageAcquisition,
    Publication,
)
from bioshare.metadata.ontology import OntologyTerm
from bioshare.metadata.study import Study

__all__ = ["SCHEMA_ORG_CONTEXT", "to_jsonld"]

SCHEMA_ORG_CONTEXT = "https://schema.org/"
OBO = "http://purl.obolibrary.org/obo/"
FILE_COUNT_UNIT = OBO + "UO_0000189"
BYTES_UNIT = OBO + "UO_0000233"
PUBMED_URL = "https://pubmed.ncbi.nlm.nih.gov/"

Node = dict[str, Any]


def to_jsonld(study: Study, *, publisher: str | None = None) -> dict[str, Any]:
    """The study as schema.org ``Dataset`` JSON-LD (GIDE search profile shape).

    Missing values are left out rather than refused: use `Study.validate` to find them.

    Parameters
    ----------
    study
        The REMBI study.
    publisher
        Name of the repository that publishes the data (the profile's ``publisher``
        ``Organization``); None leaves ``publisher`` out.

    Returns
    -------
    dict
        JSON-LD with ``"@context": "https://schema.org/"``: ``name``, ``description``,
        ``datePublished``, ``license`` (URL), ``author``, ``about`` (``Taxon``,
        ``DefinedTerm``, ``BioSample``), ``measurementMethod`` (FBbi ``DefinedTerm``,
        ``LabProtocol``), ``keywords``, ``identifier``, ``funder`` (``Grant``), ``seeAlso``
        (``ScholarlyArticle``, ``WebPage``) and ``size`` (``QuantitativeValue``), when known.

    Examples
    --------
    >>> doc = to_jsonld(Study(title="Mitosis", licence="CC0"), publisher="Zenodo")
    >>> doc["@type"], doc["license"], doc["publisher"]["name"]
    ('Dataset', 'https://creativecommons.org/publicdomain/zero/1.0/', 'Zenodo')
    """
    graph = build_graph(study, publisher=publisher)
    root: Node = {"@context": SCHEMA_ORG_CONTEXT}
    if study.doi:
        root["@id"] = common.doi_url(study.doi)
    root.update(graph.root)
    if study.licence:
        root["license"] = study.licence
    identifiers = [common.doi_url(study.doi)] if study.doi else []
    identifiers += [study.accession_id] if study.accession_id else []
    _put(root, "identifier", identifiers[0] if len(identifiers) == 1 else identifiers)
    _put(root, "funder", graph.grants)
    return root


# -- the graph shared with the RO-Crate -------------------------------------------------------


@dataclass
class StudyGraph:
    """schema.org nodes of a study, nested; every node has an ``@id``.

    Attributes
    ----------
    root
        The ``Dataset`` properties, without ``@id``, ``license``, ``identifier`` and
        funding (which JSON-LD and RO-Crate write differently).
    grants
        ``Grant`` nodes, each with its ``funder`` ``Organization`` nodes.
    protocols
        ``LabProtocol`` nodes by the REMBI collection and title they come from
        (``("specimen", "Fixed cells")``), for the study components to point at.
    biosamples
        ``BioSample`` nodes by title.
    """

    root: Node
    grants: list[Node] = field(default_factory=list)
    protocols: dict[tuple[str, str], Node] = field(default_factory=dict)
    biosamples: dict[str, Node] = field(default_factory=dict)


def build_graph(study: Study, *, publisher: str | None = None) -> StudyGraph:
    """The study's schema.org nodes (see `StudyGraph`)."""
    graph = StudyGraph(root={"@type": "Dataset"})
    root = graph.root
    _put(root, "name", study.title)
    _put(root, "description", study.description)
    _put(root, "datePublished", study.release_date.isoformat() if study.release_date else None)
    _put(root, "author", [person(a, i) for i, a in enumerate(study.author)])
    if publisher:
        root["publisher"] = {"@id": "#publisher", "@type": "Organization", "name": publisher}
    _put(root, "keywords", list(study.keyword))
    _add_biology(study, graph)
    _add_methods(study, graph)
    graph.grants = [grant(g, i) for i, g in enumerate(study.grant) if g.id]
    references = [article(p, i) for i, p in enumerate(study.related_publication) if p.title]
    references += [web_page(r) for r in study.see_also if r.link]
    _put(root, "seeAlso", references)
    _put(root, "size", sizes(study))
    return graph


def _put(node: Node, key: str, value: Any) -> None:
    """Set ``node[key]`` unless ``value`` is None or empty."""
    if value is None or value == "" or value == []:
        return
    node[key] = value


def slug(text: str) -> str:
    """``"Wellcome Trust"`` -> ``"wellcome-trust"``, for local ``#`` identifiers."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


# -- people, organisations, funding -----------------------------------------------------------


def person(author: Contributor, index: int) -> Node:
    """A ``Person``: ORCID URL as ``@id`` when known, else ``#person-<n>``."""
    node: Node = {"@id": author.orcid_url or f"#person-{index + 1}", "@type": "Person"}
    _put(node, "name", author.display_name)
    if author.display_name:
        name = common.split_name(author.display_name)
        _put(node, "givenName", name.given)
        _put(node, "familyName", name.family)
    _put(node, "email", author.contact_email)
    _put(node, "affiliation", [organization(a) for a in author.affiliation])
    if author.contact_email:
        node["contactPoint"] = {
            "@id": f"mailto:{author.contact_email}",
            "@type": "ContactPoint",
            "name": f"Contact: {author.display_name or author.contact_email}",
            "contactType": author.role[0] if author.role else "author",
            "email": author.contact_email,
        }
    return node


def organization(affiliation: Affiliation) -> Node:
    """An ``Organization``: ROR URL as ``@id`` when known, else ``#organization-<name>``."""
    name = affiliation.display_name or affiliation.rorid or "unnamed organisation"
    node: Node = {
        "@id": affiliation.rorid or f"#organization-{slug(name)}",
        "@type": "Organization",
        "name": name,
    }
    _put(node, "address", affiliation.address)
    _put(node, "url", affiliation.website)
    return node


def funder(body: FundingBody) -> Node:
    """A funding ``Organization``: its ROR or Crossref Funder ID URL as ``@id`` when known."""
    name = body.display_name or body.id or "unnamed funder"
    identifier = common.funder_identifier(body)
    node_id = identifier[0] if identifier and identifier[1] != "Other" else None
    node: Node = {
        "@id": node_id or f"#funder-{slug(name)}",
        "@type": "Organization",
        "name": name,
    }
    if identifier and identifier[1] == "Other":
        node["identifier"] = identifier[0]
    return node


def grant(item: Grant, index: int) -> Node:
    """A ``Grant`` with its funders."""
    funders = [funder(f) for f in item.funder]
    names = ", ".join(f["name"] for f in funders)
    label = f"{names} grant {item.id}" if names else f"Grant {item.id}"
    node: Node = {
        "@id": f"#grant-{slug(item.id or str(index + 1))}",
        "@type": "Grant",
        "name": label,
        "identifier": item.id,
    }
    _put(node, "funder", funders)
    return node


# -- references -------------------------------------------------------------------------------


def article(publication: Publication, index: int) -> Node:
    """A ``ScholarlyArticle``: its DOI URL as ``@id`` when known."""
    doi = common.doi_url(publication.doi) if publication.doi else None
    node: Node = {"@id": doi or f"#publication-{index + 1}", "@type": "ScholarlyArticle"}
    _put(node, "name", publication.title)
    _put(node, "creditText", publication.authors_name)
    if publication.publication_year:
        node["datePublished"] = str(publication.publication_year)
    _put(node, "identifier", doi)
    if publication.pubmed_id:
        node["sameAs"] = f"{PUBMED_URL}{publication.pubmed_id}/"
    return node


def web_page(reference: ExternalReference) -> Node:
    """A ``WebPage`` for a related link."""
    return {
        "@id": reference.link,
        "@type": "WebPage",
        "name": reference.description or reference.link,
    }


def sizes(study: Study) -> list[Node]:
    """File count and total bytes as ``QuantitativeValue`` nodes (bytes: when all known)."""
    count, total = common.size_summary(study)
    if not count:
        return []
    values = [("#size-file-count", count, FILE_COUNT_UNIT, "file count")]
    if total is not None:
        values.append(("#size-bytes", total, BYTES_UNIT, "bytes"))
    return [
        {
            "@id": i,
            "@type": "QuantitativeValue",
            "name": f"{v} {t}",
            "value": v,
            "unitCode": u,
            "unitText": t,
        }
        for i, v, u, t in values
    ]


# -- biology and methods ----------------------------------------------------------------------


def taxon(term: OntologyTerm) -> Node:
    """A ``Taxon``: NCBITaxon IRI as ``@id``, ``scientificName`` (Darwin Core)."""
    return {
        "@id": term.iri,
        "@type": "Taxon",
        "name": term.label,
        "scientificName": term.label,
        "identifier": term.curie,
    }


def defined_term(term: OntologyTerm) -> Node:
    """A ``DefinedTerm``: term IRI as ``@id``, label as ``name``, CURIE as ``termCode``."""
    return {"@id": term.iri, "@type": "DefinedTerm", "name": term.label, "termCode": term.curie}


def _variables(sample: Biosample, node_id: str) -> list[Node]:
    groups = [
        ("experimental variable", sample.experimental_variable_description),
        ("extrinsic variable", sample.extrinsic_variable_description),
        ("intrinsic variable", sample.intrinsic_variable_description),
    ]
    values = [(name, text) for name, texts in groups for text in texts]
    return [
        {"@id": f"{node_id}-variable-{k + 1}", "@type": "PropertyValue", "name": n, "value": v}
        for k, (n, v) in enumerate(values)
    ]


def biosample(sample: Biosample, index: int) -> Node:
    """A ``BioSample`` (Bioschemas draft) with ``taxonomicRange`` and ``hasCellLine``."""
    node_id = f"#biosample-{index + 1}"
    node: Node = {"@id": node_id, "@type": "BioSample"}
    _put(node, "name", sample.title)
    text = common.sentences(sample.biological_entity_description, sample.description)
    _put(node, "description", text or sample.title)
    _put(node, "taxonomicRange", [taxon(t) for t in sample.organism_classification])
    _put(
        node,
        "hasCellLine",
        [defined_term(t) for t in sample.biological_entity if t.ontology == "efo"],
    )
    others = [
        {
            "@id": f"{node_id}-entity-{k + 1}",
            "@type": "PropertyValue",
            "name": "biological entity",
            "value": t.label,
            "valueReference": defined_term(t),
        }
        for k, t in enumerate(t for t in sample.biological_entity if t.ontology != "efo")
    ]
    _put(node, "additionalProperty", others + _variables(sample, node_id))
    return node


def lab_protocol(kind: str, index: int, title: str | None, text: str) -> Node:
    """A ``LabProtocol`` (Bioschemas draft) ``#<kind>-<n>``."""
    node: Node = {"@id": f"#{kind}-{index + 1}", "@type": "LabProtocol"}
    _put(node, "name", title or f"{kind.replace('-', ' ')} {index + 1}")
    _put(node, "description", text or title)
    return node


def acquisition(item: ImageAcquisition, index: int) -> Node:
    """An image acquisition as a ``LabProtocol`` with ``labEquipment`` and FBbi terms."""
    node = lab_protocol("image-acquisition", index, item.title, common.acquisition_text(item))
    _put(node, "labEquipment", item.imaging_instrument_description)
    _put(node, "measurementTechnique", [defined_term(t) for t in item.imaging_method])
    return node


def _add_biology(study: Study, graph: StudyGraph) -> None:
    """``about``: taxa, biological entity terms and biosamples (terms listed directly too)."""
    samples = [biosample(b, i) for i, b in enumerate(study.biosample)]
    graph.biosamples = {
        b.title: n for b, n in zip(study.biosample, samples, strict=True) if b.title
    }
    about = [taxon(t) for t in common.organisms(study)]
    about += [defined_term(t) for t in common.biological_terms(study)]
    _put(graph.root, "about", about + samples)


_PROTOCOLS: list[tuple[str, Callable[[Any], str]]] = [
    ("specimen", common.specimen_text),
    ("image_correlation", common.correlation_text),
    ("image_analysis", common.analysis_text),
    ("annotation", common.annotation_text),
]


def _add_methods(study: Study, graph: StudyGraph) -> None:
    """``measurementMethod``: FBbi terms, acquisitions and specimens; ``mentions``: the rest."""
    nodes = {
        "image_acquisition": [acquisition(a, i) for i, a in enumerate(study.image_acquisition)]
    }
    for collection, text in _PROTOCOLS:
        kind = collection.replace("_", "-")
        items = getattr(study, collection)
        nodes[collection] = [lab_protocol(kind, i, x.title, text(x)) for i, x in enumerate(items)]
    for collection, built in nodes.items():
        for item, node in zip(getattr(study, collection), built, strict=True):
            if item.title:
                graph.protocols[(collection, item.title)] = node
    terms = [defined_term(t) for t in common.imaging_methods(study)]
    measured = terms + nodes["image_acquisition"] + nodes["specimen"]
    _put(graph.root, "measurementMethod", measured)
    others = nodes["image_correlation"] + nodes["image_analysis"] + nodes["annotation"]
    _put(graph.root, "mentions", others)
