"""Ontology terms the repositories speak of: NCBITaxon organisms and FBbi imaging methods.

A small table of common model organisms and imaging methods, with the names and synonyms
repositories write in free text, so that records from every repository carry the same
terms and filters match common names ("human" finds Homo sapiens).
"""

from __future__ import annotations

import re

from bioshare.repositories.base import Term

__all__ = ["imaging_method_term", "organism_term"]


_NCBI_IRI = "http://purl.obolibrary.org/obo/NCBITaxon_"
_FBBI_IRI = "http://purl.obolibrary.org/obo/FBbi_"

# taxon id -> scientific name, and the names (scientific and common) that mean it
_TAXA: dict[str, tuple[str, tuple[str, ...]]] = {
    "9606": ("Homo sapiens", ("human", "humans")),
    "10090": ("Mus musculus", ("mouse", "house mouse", "mice")),
    "10116": ("Rattus norvegicus", ("rat", "brown rat")),
    "4932": ("Saccharomyces cerevisiae", ("yeast", "baker's yeast", "budding yeast")),
    "4896": ("Schizosaccharomyces pombe", ("fission yeast",)),
    "7227": ("Drosophila melanogaster", ("fly", "fruit fly", "drosophila")),
    "7955": ("Danio rerio", ("zebrafish",)),
    "3702": ("Arabidopsis thaliana", ("arabidopsis", "thale cress")),
    "562": ("Escherichia coli", ("e. coli", "e.coli")),
    "6239": ("Caenorhabditis elegans", ("c. elegans", "nematode", "worm")),
    "8355": ("Xenopus laevis", ("african clawed frog",)),
    "8364": ("Xenopus tropicalis", ("tropical clawed frog",)),
    "9031": ("Gallus gallus", ("chicken",)),
}
_TAXON_BY_NAME: dict[str, str] = {
    name.casefold(): taxon
    for taxon, (scientific, common) in _TAXA.items()
    for name in (scientific, *common)
}
_PARENTHESES = re.compile(r"\s*\(([^)]*)\)\s*")
_TAXON_ID = re.compile(r"NCBI[ _]?Taxon(?:omy)?[:_ ]?\s*(\d+)", re.IGNORECASE)

# FBbi ids and labels (Imaging-semantics/fbbi 2020-11-06), and the names that mean them
_FBBI: dict[str, tuple[str, tuple[str, ...]]] = {
    "00000241": ("microscopy", ()),
    "00000345": ("light microscopy", ("mode of light microscopy",)),
    "00000243": ("bright-field microscopy", ("brightfield microscopy", "bright field microscopy")),
    "00000244": ("dark-field microscopy", ()),
    "00000245": ("differential interference contrast microscopy", ("dic", "nomarski")),
    "00000246": ("fluorescence microscopy", ("wide-field fluorescence microscopy",)),
    "00000247": ("phase contrast microscopy", ("phase-contrast microscopy",)),
    "00000249": ("time lapse microscopy", ("time-lapse microscopy",)),
    "00000251": ("confocal microscopy", ("laser scanning confocal microscopy",)),
    "00000253": ("spinning disk confocal microscopy", ("spinning-disk confocal microscopy",)),
    "00000254": ("two-photon laser scanning microscopy", ("two-photon microscopy",)),
    "00000255": ("multi-photon microscopy", ("multiphoton microscopy",)),
    "00000369": (
        "SPIM",
        (
            "light sheet fluorescence microscopy",
            "light-sheet fluorescence microscopy",
            "light sheet microscopy",
            "light sheet fluorescence microscopy (spim)",
            "selective plane illumination microscopy",
        ),
    ),
    "00000617": ("evanescent wave microscopy", ("tirf", "total internal reflection fluorescence")),
    "00000368": ("FLIM", ("fluorescence lifetime imaging microscopy",)),
    "00000332": ("structured illumination microscopy (SIM)", ("structured illumination",)),
    "00000334": ("stimulated emission depletion (STED)", ("sted microscopy",)),
    "00000256": ("electron microscopy", ("mode of electron microscopy",)),
    "00000257": ("scanning electron microscopy (SEM)", ("scanning electron microscopy",)),
    "00000258": ("transmission electron microscopy (TEM)", ("transmission electron microscopy",)),
    "00000585": (
        "serial block face SEM (SBFSEM)",
        ("serial block face scanning electron microscopy",),
    ),
    "00050000": ("focussed ion beam scanning electron microscopy (FIB-SEM)", ("fib-sem",)),
    "00000260": ("X-ray microscopy", ()),
}
_FBBI_BY_NAME: dict[str, str] = {
    name.casefold(): fbbi
    for fbbi, (label, synonyms) in _FBBI.items()
    for name in (label, *synonyms)
}


def organism_term(value: str) -> Term:
    """The NCBITaxon term for an organism annotation value.

    Recognises an explicit taxon id (``"NCBITaxon:10090"``, ``"Mus musculus
    (NCBITaxon_10090)"``) and the scientific or common names of common model organisms;
    anything else becomes a term with an empty CURIE and the value as label.
    """
    text = value.strip()
    match = _TAXON_ID.search(text)
    if match:
        taxon = match.group(1)
        label = _TAXON_ID.sub("", text).strip(" ()[],;:-") or _TAXA.get(taxon, (text, ()))[0]
        return Term(f"NCBITaxon:{taxon}", label, f"{_NCBI_IRI}{taxon}")
    # "Mus musculus (house mouse)", as BioStudies writes them: either part may be known
    names = [text, *_PARENTHESES.sub(" ", text).split("  "), *_PARENTHESES.findall(text)]
    taxon = next((t for n in names if (t := _TAXON_BY_NAME.get(n.strip().casefold()))), None)
    if taxon is None:
        return Term("", text)
    return Term(f"NCBITaxon:{taxon}", _TAXA[taxon][0], f"{_NCBI_IRI}{taxon}")


def imaging_method_term(value: str) -> Term:
    """The FBbi term for an imaging-method annotation value (empty CURIE when unknown)."""
    text = value.strip()
    fbbi = _FBBI_BY_NAME.get(text.casefold())
    if fbbi is None:
        return Term("", text)
    return Term(f"FBbi:{fbbi}", _FBBI[fbbi][0], f"{_FBBI_IRI}{fbbi}")
