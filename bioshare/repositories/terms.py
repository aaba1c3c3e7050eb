"""Ontology terms the repositories speak of: NCBITaxon organisms and FBbi imaging methods.

Repositories write organisms and methods as free text ("Mus musculus (NCBITaxon_10090)",
"mouse", "light sheet fluorescence microscopy"). These functions map that text to the terms
bundled with `bioshare.metadata.ontology`, offline and without any request, so that records
from every repository carry the same terms and filters match common names ("human" finds
Homo sapiens).
"""

from __future__ import annotations

import re

from bioshare.metadata.ontology import OntologyTerm, bundled_term
from bioshare.repositories.base import Term

__all__ = ["imaging_method_term", "organism_term"]

_NCBI_IRI = "http://purl.obolibrary.org/obo/NCBITaxon_"
_TAXON_ID = re.compile(r"NCBI[ _]?Taxon(?:omy)?[:_ ]?\s*(\d+)", re.IGNORECASE)
_PARENTHESES = re.compile(r"\s*\(([^)]*)\)\s*")


def _term(found: OntologyTerm) -> Term:
    return Term(found.curie, found.label, found.iri)


def organism_term(value: str) -> Term:
    """The NCBITaxon term for an organism annotation value.

    Recognises an explicit taxon id (``"NCBITaxon:10090"``, ``"Mus musculus
    (NCBITaxon_10090)"``) and the scientific or common names of the bundled organisms,
    either part of ``"Mus musculus (house mouse)"``; anything else becomes a term with an
    empty CURIE and the value as label.
    """
    text = value.strip()
    match = _TAXON_ID.search(text)
    if match:
        taxon = match.group(1)
        label = _TAXON_ID.sub("", text).strip(" ()[],;:-") or _taxon_label(taxon, text)
        return Term(f"NCBITaxon:{taxon}", label, f"{_NCBI_IRI}{taxon}")
    names = [text, *_PARENTHESES.sub("  ", text).split("  "), *_PARENTHESES.findall(text)]
    for name in names:
        found = bundled_term(name.strip(), "ncbitaxon") if name.strip() else None
        if found is not None:
            return _term(found)
    return Term("", text)


def _taxon_label(taxon: str, default: str) -> str:
    known = bundled_term(f"NCBITaxon:{taxon}", "ncbitaxon")
    return known.label if known is not None else default


def imaging_method_term(value: str) -> Term:
    """The FBbi term for an imaging-method annotation value (empty CURIE when unknown)."""
    text = value.strip()
    found = bundled_term(text, "fbbi") if text else None
    return _term(found) if found is not None else Term("", text)
