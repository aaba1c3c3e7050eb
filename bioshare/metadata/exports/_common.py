"""Helpers shared by the exporters: licences, names, ontology terms, files and protocols."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from bioshare.errors import MetadataError
from bioshare.metadata import checks
from bioshare.metadata.models import (
    Annotation,
    Contributor,
    FileReference,
    FundingBody,
    ImageAcquisition,
    ImageAnalysis,
    ImageCorrelation,
    Specimen,
)
from bioshare.metadata.ontology import OntologyTerm
from bioshare.metadata.study import Study

__all__ = [
    "CC0",
    "CC_BY",
    "Licence",
    "PersonName",
    "acquisition_text",
    "analysis_text",
    "annotation_text",
    "author_name",
    "bare_doi",
    "biological_terms",
    "correlation_text",
    "description_html",
    "doi_url",
    "formats",
    "funder_identifier",
    "imaging_methods",
    "licence_of",
    "methods_html",
    "methods_text",
    "notes_text",
    "organisms",
    "protocol_sections",
    "require_authors",
    "ror_id",
    "sentences",
    "size_summary",
    "specimen_text",
    "split_name",
    "study_files",
]

ORCID_URL = "https://orcid.org/"
ROR_URL = "https://ror.org/"
DOI_URL = "https://doi.org/"
CROSSREF_FUNDER_PREFIX = "10.13039/"


# -- licences ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Licence:
    """One licence as each target names it.

    Attributes
    ----------
    url
        The licence deed (what `Study.licence` holds).
    spdx
        SPDX identifier (``CC-BY-4.0``).
    name
        Short name (``CC BY 4.0``).
    title
        Full title.
    invenio
        InvenioRDM rights vocabulary id (lower-case SPDX).
    zenodo
        Zenodo legacy deposit ``license`` id.
    """

    url: str
    spdx: str
    name: str
    title: str
    invenio: str
    zenodo: str


CC_BY = Licence(
    url="https://creativecommons.org/licenses/by/4.0/",
    spdx="CC-BY-4.0",
    name="CC BY 4.0",
    title="Creative Commons Attribution 4.0 International",
    invenio="cc-by-4.0",
    zenodo="cc-by-4.0",
)
# Zenodo's legacy API maps "cc-zero" (its historic id) and "cc0-1.0" both to CC0 1.0, and
# answers "cc-zero" when a deposition is read back; "cc-by" would mean CC BY *1.0* there.
CC0 = Licence(
    url="https://creativecommons.org/publicdomain/zero/1.0/",
    spdx="CC0-1.0",
    name="CC0 1.0",
    title="Creative Commons Zero v1.0 Universal",
    invenio="cc0-1.0",
    zenodo="cc-zero",
)
_LICENCES = {CC_BY.url: CC_BY, CC0.url: CC0}


def licence_of(study: Study, target: str) -> Licence:
    """The study's licence, or a `MetadataError` naming ``study.licence`` for ``target``."""
    if not study.licence:
        raise MetadataError(f"{target} needs a licence: set study.licence (CC BY 4.0 or CC0)")
    try:
        return _LICENCES[study.licence]
    except KeyError:
        known = ", ".join(_LICENCES)
        raise MetadataError(
            f"study.licence {study.licence!r} cannot be exported to {target}; expected one of "
            f"{known}"
        ) from None


# -- people and organisations -----------------------------------------------------------------

_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "das", "dos", "du"}
    | {"la", "le", "ten", "ter", "zu", "bin", "ibn"}
)


@dataclass(frozen=True)
class PersonName:
    """A personal name split into given and family names (when it can be)."""

    full: str
    given: str | None
    family: str | None

    @property
    def inverted(self) -> str:
        """``"Family, Given"`` as citations list names (the full name when not split)."""
        if self.family and self.given:
            return f"{self.family}, {self.given}"
        return self.family or self.full


def split_name(display_name: str) -> PersonName:
    """Split ``"Josiah Carberry"`` (or ``"Carberry, Josiah"``) into given and family names.

    The family name is the last word, with lower-case particles before it ("Ludwig van
    Beethoven" -> "van Beethoven"); a name with a comma is read as "Family, Given"; a single
    word is a family name only.
    """
    full = " ".join(display_name.split())
    if "," in full:
        family, _, given = (part.strip() for part in full.partition(","))
        return PersonName(full, given or None, family or None)
    words = full.split(" ")
    if len(words) == 1:
        return PersonName(full, None, full)
    start = len(words) - 1
    while start > 1 and words[start - 1].lower() in _PARTICLES:
        start -= 1
    return PersonName(full, " ".join(words[:start]), " ".join(words[start:]))


def author_name(study: Study, index: int, target: str) -> PersonName:
    """The split name of ``study.author[index]``, or a `MetadataError` naming the field."""
    author = study.author[index]
    if not author.display_name:
        raise MetadataError(
            f"{target} needs a name for every author: set study.author[{index}].display_name"
        )
    return split_name(author.display_name)


def require_authors(study: Study, target: str) -> list[Contributor]:
    """The study's authors, or a `MetadataError` when there are none."""
    if not study.author:
        raise MetadataError(f"{target} needs at least one creator: add an author to study.author")
    return study.author


def ror_id(rorid: str) -> str:
    """``"https://ror.org/05gq02987"`` -> ``"05gq02987"``."""
    return rorid.rstrip("/").rsplit("/", 1)[-1]


def doi_url(doi: str) -> str:
    """``"10.5281/zenodo.1"`` -> ``"https://doi.org/10.5281/zenodo.1"``."""
    return DOI_URL + doi


def bare_doi(value: str) -> str | None:
    """The DOI in ``value`` (a DOI, doi: or doi.org URL), or None."""
    match = re.search(r"(10\.\d{4,9}/\S+)$", value.strip())
    return match.group(1) if match else None


def funder_identifier(funder: FundingBody) -> tuple[str, str] | None:
    """The funder's identifier and its DataCite type: ROR, Crossref Funder ID or Other."""
    if not funder.id:
        return None
    text = funder.id.strip()
    try:
        return checks.normalize_ror(text), "ROR"
    except ValueError:
        pass
    doi = bare_doi(text)
    if doi and doi.startswith(CROSSREF_FUNDER_PREFIX):
        return doi_url(doi), "Crossref Funder ID"
    return text, "Other"


# -- ontology terms ---------------------------------------------------------------------------


def _unique(terms: Iterable[OntologyTerm]) -> list[OntologyTerm]:
    return list(dict.fromkeys(terms))


def organisms(study: Study) -> list[OntologyTerm]:
    """Every NCBITaxon term of the study's biosamples, once, in order."""
    return _unique(t for b in study.biosample for t in b.organism_classification)


def biological_terms(study: Study) -> list[OntologyTerm]:
    """Every biological entity term (EFO, CL, UBERON) of the study's biosamples, once."""
    return _unique(t for b in study.biosample for t in b.biological_entity)


def imaging_methods(study: Study) -> list[OntologyTerm]:
    """Every FBbi imaging method of the study's image acquisitions, once."""
    return _unique(t for a in study.image_acquisition for t in a.imaging_method)


# -- files ------------------------------------------------------------------------------------


def study_files(study: Study) -> list[FileReference]:
    """Every file of every study component, once per path (first listing wins)."""
    seen: dict[str, FileReference] = {}
    for component in study.study_component:
        for file in component.files:
            if file.file_path and file.file_path not in seen:
                seen[file.file_path] = file
    return list(seen.values())


def size_summary(study: Study) -> tuple[int, int | None]:
    """File count, and total bytes when every file's size is known (else None)."""
    files = study_files(study)
    sizes = [f.size_in_bytes for f in files]
    known = [s for s in sizes if s is not None]
    total = sum(known) if files and len(known) == len(sizes) else None
    return len(files), total


def formats(study: Study) -> list[str]:
    """The distinct file formats named in the file lists and image data."""
    names = [f.format for c in study.study_component for f in c.files]
    names += [d.image_format for c in study.study_component for d in c.image_data]
    return list(dict.fromkeys(n for n in names if n))


# -- protocols --------------------------------------------------------------------------------


def sentences(*parts: str | None) -> str:
    text = [p.strip().rstrip(".") + "." for p in parts if p and p.strip()]
    return " ".join(text)


def _terms_text(terms: Iterable[OntologyTerm]) -> str | None:
    names = [str(t) for t in terms]
    return ", ".join(names) if names else None


def _labelled(label: str, value: str | None) -> str | None:
    return f"{label}: {value}" if value else None


def specimen_text(s: Specimen) -> str:
    """How a specimen was prepared, as sentences."""
    channels = "; ".join(
        " ".join(p for p in (c.channel_label, _paren(c.channel_content_description)) if p)
        for c in s.signal_channel_information
    )
    return sentences(
        s.protocol_description,
        _labelled("Growth protocol", s.growth_protocol),
        _labelled("Channels", channels),
    )


def acquisition_text(a: ImageAcquisition) -> str:
    """How images were acquired, as sentences."""
    return sentences(
        a.protocol_description,
        _labelled("Instrument", a.imaging_instrument_description),
        _labelled("Imaging method", _terms_text(a.imaging_method)),
    )


def correlation_text(c: ImageCorrelation) -> str:
    """How images were aligned, as sentences."""
    return sentences(
        c.protocol_description,
        _labelled("Fiducials", c.fiducials_used),
        _labelled("Transformation", c.transformation_matrix),
    )


def analysis_text(n: ImageAnalysis) -> str:
    """How images were analysed, as sentences."""
    return sentences(n.protocol_description, _labelled("Features", n.features_analysed))


def annotation_text(m: Annotation) -> str:
    """How images were annotated (MIFA), as sentences."""
    kinds = ", ".join(t.value.replace("_", " ") for t in m.method_type)
    return sentences(
        m.protocol_description,
        _labelled("Annotation types", kinds),
        _labelled("Method", m.annotation_method),
        _labelled("Criteria", m.annotation_criteria),
        _labelled("Coverage", m.annotation_coverage),
        _labelled("Confidence", m.annotation_confidence_level),
    )


def protocol_sections(study: Study) -> Iterator[tuple[str, str]]:
    """(heading, text) for every protocol of the study: how samples were made and imaged."""
    groups: list[tuple[str, list[Any], Callable[[Any], str]]] = [
        ("Specimen preparation", study.specimen, specimen_text),
        ("Image acquisition", study.image_acquisition, acquisition_text),
        ("Image correlation", study.image_correlation, correlation_text),
        ("Image analysis", study.image_analysis, analysis_text),
        ("Annotation", study.annotation, annotation_text),
    ]
    for heading, items, text in groups:
        for item in items:
            yield f"{heading} ({item.title or 'untitled'})", text(item)


def _paren(text: str | None) -> str | None:
    return f"({text})" if text else None


def methods_text(study: Study) -> str | None:
    """The protocols as plain text paragraphs, or None when there are none."""
    parts = [f"{head}: {text}" for head, text in protocol_sections(study) if text]
    return "\n\n".join(parts) or None


def _paragraphs(text: str) -> str:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    return "".join(f"<p>{html.escape(b)}</p>" for b in blocks)


def methods_html(study: Study) -> str:
    """The protocols as simple HTML (``<p><strong>heading</strong>: text</p>``)."""
    return "".join(
        f"<p><strong>{html.escape(head)}</strong>: {html.escape(text)}</p>"
        for head, text in protocol_sections(study)
        if text
    )


def description_html(study: Study, *, methods: bool = True) -> str:
    """The description (and the protocols), as the limited HTML Zenodo and InvenioRDM show."""
    body = _paragraphs(study.description or "")
    protocols = methods_html(study) if methods else ""
    if protocols:
        body += "<h3>Methods</h3>" + protocols
    return body


def notes_text(study: Study) -> str | None:
    """The funding statement and acknowledgements as one text, or None."""
    parts = [
        _labelled("Funding", study.funding_statement),
        _labelled("Acknowledgements", study.acknowledgement),
    ]
    return "\n\n".join(p for p in parts if p) or None


def publication_ids(study: Study) -> list[tuple[str, str]]:
    """``(identifier, "doi" | "pmid")`` of each related publication that has one."""
    found = []
    for publication in study.related_publication:
        if publication.doi:
            found.append((publication.doi, "doi"))
        elif publication.pubmed_id:
            found.append((publication.pubmed_id, "pmid"))
    return found
