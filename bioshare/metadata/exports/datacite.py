"""A study as DataCite metadata: the ``data.attributes`` of the DataCite REST API.

The attributes are checked against the DataCite 4.5 JSON schema shipped with the
``datacite`` package before they are returned. The REST JSON and that schema differ a
little (REST takes alternate identifiers as ``identifiers`` and ``publicationYear`` as a
number, and does not need ``schemaVersion``); `validate_datacite` converts to the schema's
shape for the check only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bioshare.errors import MetadataError
from bioshare.metadata import checks
from bioshare.metadata.exports import _common as common
from bioshare.metadata.models import Affiliation, Contributor
from bioshare.metadata.ontology import OntologyTerm
from bioshare.metadata.study import Study

if TYPE_CHECKING:  # jsonschema is slow to import: only when validating
    from jsonschema.exceptions import ValidationError

__all__ = ["RESOURCE_TYPE", "SCHEMA_VERSION", "to_datacite", "validate_datacite"]

SCHEMA_VERSION = "http://datacite.org/schema/kernel-4"
RESOURCE_TYPE = {"resourceTypeGeneral": "Dataset", "resourceType": "Bioimage dataset"}
SPDX_URL = "https://spdx.org/licenses/"
ORCID_SCHEME = "https://orcid.org"
ROR_SCHEME = "https://ror.org"
_SUBJECT_SCHEMES = {  # ontology id -> (subjectScheme, schemeUri)
    "fbbi": ("FBbi", "http://purl.obolibrary.org/obo/fbbi.owl"),
    "ncbitaxon": ("NCBI Taxonomy", "http://purl.obolibrary.org/obo/ncbitaxon.owl"),
    "efo": ("EFO", "http://www.ebi.ac.uk/efo/efo.owl"),
    "cl": ("Cell Ontology", "http://purl.obolibrary.org/obo/cl.owl"),
    "uberon": ("Uberon", "http://purl.obolibrary.org/obo/uberon.owl"),
}
_MAX_ERRORS = 5


def to_datacite(
    study: Study,
    *,
    doi: str | None = None,
    prefix: str | None = None,
    url: str | None = None,
    publisher: str = "bioshare",
) -> dict[str, Any]:
    """The study as DataCite REST ``data.attributes``, validated against DataCite 4.5.

    Parameters
    ----------
    study
        The REMBI study.
    doi
        The DOI to register (default: ``study.doi``).
    prefix
        A DataCite prefix (``"10.5438"``) to have DataCite draw a DOI suffix; used only
        when there is no DOI.
    url
        The landing page (needed by DataCite to register or publish, not for a draft).
    publisher
        The publisher's name (DataCite 4.5 ``publisher`` object).

    Returns
    -------
    dict
        ``creators``, ``titles``, ``publisher``, ``publicationYear``, ``types``,
        ``subjects``, ``descriptions``, ``rightsList``, ``relatedIdentifiers``,
        ``fundingReferences``, ``sizes``, ``formats``, ``dates`` and the identifiers, as
        far as the study has them. Send as ``{"data": {"type": "dois", "attributes": ...}}``.

    Raises
    ------
    MetadataError
        A mandatory property is missing (the message names the Study field to fill), or
        the result does not validate (the message names the JSON path).
    """
    attributes: dict[str, Any] = {}
    doi = checks.normalize_doi(doi) if doi else study.doi
    if doi:
        attributes["doi"] = doi
    elif prefix:
        attributes["prefix"] = prefix
    attributes.update(_mandatory(study, publisher))
    _put(attributes, "subjects", _subjects(study))
    _put(attributes, "contributors", _contributors(study))
    assert study.release_date is not None  # checked by _mandatory
    attributes["dates"] = [{"date": study.release_date.isoformat(), "dateType": "Issued"}]
    _put(attributes, "descriptions", _descriptions(study))
    _put(attributes, "rightsList", _rights(study))
    _put(attributes, "relatedIdentifiers", _related(study))
    _put(attributes, "fundingReferences", _funding(study))
    _put(attributes, "sizes", _sizes(study))
    _put(attributes, "formats", common.formats(study))
    if study.accession_id:
        attributes["identifiers"] = [
            {"identifier": study.accession_id, "identifierType": "Accession"}
        ]
    if url:
        attributes["url"] = url
    validate_datacite(attributes)
    return attributes


def _put(node: dict[str, Any], key: str, value: Any) -> None:
    if value:
        node[key] = value


def _mandatory(study: Study, publisher: str) -> dict[str, Any]:
    """creators, titles, publisher, publicationYear, types: or a MetadataError."""
    if not study.title:
        raise MetadataError("DataCite needs a title: set study.title")
    if not study.release_date:
        raise MetadataError("DataCite needs a publication year: set study.release_date")
    if not publisher or not publisher.strip():
        raise MetadataError("DataCite needs a publisher: pass publisher='<repository name>'")
    authors = common.require_authors(study, "DataCite")
    return {
        "creators": [_creator(study, a, i) for i, a in enumerate(authors)],
        "titles": [{"title": study.title}],
        "publisher": {"name": publisher.strip()},
        "publicationYear": study.release_date.year,
        "types": dict(RESOURCE_TYPE),
    }


# -- people -----------------------------------------------------------------------------------


def _creator(study: Study, author: Contributor, index: int) -> dict[str, Any]:
    name = common.author_name(study, index, "DataCite")
    creator: dict[str, Any] = {"name": name.inverted, "nameType": "Personal"}
    _put(creator, "givenName", name.given)
    _put(creator, "familyName", name.family)
    if author.orcid_url:
        creator["nameIdentifiers"] = [
            {
                "nameIdentifier": author.orcid_url,
                "nameIdentifierScheme": "ORCID",
                "schemeUri": ORCID_SCHEME,
            }
        ]
    _put(creator, "affiliation", _unique(_affiliation(a) for a in author.affiliation))
    return creator


def _affiliation(affiliation: Affiliation) -> dict[str, Any]:
    node: dict[str, Any] = {"name": affiliation.display_name or affiliation.rorid or ""}
    if affiliation.rorid:
        node.update(
            affiliationIdentifier=affiliation.rorid,
            affiliationIdentifierScheme="ROR",
            schemeUri=ROR_SCHEME,
        )
    return node


def _contributors(study: Study) -> list[dict[str, Any]]:
    """Corresponding authors (by role) as DataCite ``ContactPerson`` contributors."""
    contacts = []
    for index, author in enumerate(study.author):
        roles = " ".join(author.role).lower()
        if "corresponding" in roles or "contact" in roles:
            creator = _creator(study, author, index)
            contacts.append({**creator, "contributorType": "ContactPerson"})
    return contacts


# -- subjects, descriptions, rights -----------------------------------------------------------


def _subjects(study: Study) -> list[dict[str, Any]]:
    subjects: list[dict[str, Any]] = [{"subject": k} for k in study.keyword]
    terms = [
        *common.imaging_methods(study),
        *common.organisms(study),
        *common.biological_terms(study),
    ]
    subjects += [_term_subject(t) for t in terms]
    return _unique(subjects)


def _term_subject(term: OntologyTerm) -> dict[str, Any]:
    scheme, scheme_uri = _SUBJECT_SCHEMES.get(term.ontology, (term.curie.split(":")[0], None))
    subject = {
        "subject": term.label,
        "subjectScheme": scheme,
        "valueUri": term.iri,
        "classificationCode": term.curie,
    }
    if scheme_uri:
        subject["schemeUri"] = scheme_uri
    return subject


def _descriptions(study: Study) -> list[dict[str, Any]]:
    descriptions = []
    if study.description:
        descriptions.append({"description": study.description, "descriptionType": "Abstract"})
    methods = common.methods_text(study)
    if methods:
        descriptions.append({"description": methods, "descriptionType": "Methods"})
    notes = common.notes_text(study)
    if notes:
        descriptions.append({"description": notes, "descriptionType": "Other"})
    return descriptions


def _rights(study: Study) -> list[dict[str, Any]]:
    if not study.licence:
        return []
    licence = common.licence_of(study, "DataCite")
    return [
        {
            "rights": licence.title,
            "rightsUri": licence.url,
            "rightsIdentifier": licence.invenio,
            "rightsIdentifierScheme": "SPDX",
            "schemeUri": SPDX_URL,
        }
    ]


# -- relations, funding, sizes ----------------------------------------------------------------


def _related(study: Study) -> list[dict[str, Any]]:
    related = [
        {
            "relatedIdentifier": identifier,
            "relatedIdentifierType": scheme.upper(),
            "relationType": "IsSupplementTo",
            "resourceTypeGeneral": "JournalArticle",
        }
        for identifier, scheme in common.publication_ids(study)
    ]
    related += [
        {"relatedIdentifier": r.link, "relatedIdentifierType": "URL", "relationType": "References"}
        for r in study.see_also
        if r.link
    ]
    return _unique(related)


def _funding(study: Study) -> list[dict[str, Any]]:
    references = []
    for grant in study.grant:
        for body in grant.funder:
            if not body.display_name:
                continue
            reference: dict[str, Any] = {"funderName": body.display_name}
            identifier = common.funder_identifier(body)
            if identifier:
                reference["funderIdentifier"], reference["funderIdentifierType"] = identifier
            _put(reference, "awardNumber", grant.id)
            references.append(reference)
    return _unique(references)


def _sizes(study: Study) -> list[str]:
    count, total = common.size_summary(study)
    sizes = [f"{count} files"] if count else []
    return sizes + ([f"{total} bytes"] if total is not None else [])


def _unique(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated items (DataCite's lists are ``uniqueItems``), keeping the order."""
    seen: list[dict[str, Any]] = []
    for item in items:
        if item not in seen:
            seen.append(item)
    return seen


# -- validation -------------------------------------------------------------------------------


def validate_datacite(attributes: Mapping[str, Any]) -> None:
    """Check DataCite REST attributes against the DataCite 4.5 JSON schema.

    Parameters
    ----------
    attributes
        ``data.attributes`` of a DataCite REST request.

    Raises
    ------
    MetadataError
        Naming the JSON path of each problem (``$.creators[0].nameType``) and what the
        schema expected there.
    """
    from datacite import schema45  # imported here: it loads and checks the schema file

    document = _schema_shape(attributes)
    errors = sorted(schema45.validator.iter_errors(document), key=_error_key)
    if not errors:
        return
    lines = [f"{_json_path(e)}: {_expected(e)}" for e in errors[:_MAX_ERRORS]]
    more = len(errors) - _MAX_ERRORS
    if more > 0:
        lines.append(f"... and {more} more")
    raise MetadataError("DataCite 4.5 metadata is invalid:\n  " + "\n  ".join(lines))


def _schema_shape(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The REST attributes in the DataCite 4.5 JSON schema's shape."""
    document = copy.deepcopy(dict(attributes))
    document.setdefault("schemaVersion", SCHEMA_VERSION)
    year = document.get("publicationYear")
    if isinstance(year, int) and not isinstance(year, bool):
        document["publicationYear"] = str(year)
    if isinstance(document.get("publisher"), str):
        document["publisher"] = {"name": document["publisher"]}
    identifiers = document.pop("identifiers", None)
    if isinstance(identifiers, list):
        document["alternateIdentifiers"] = [
            {
                "alternateIdentifier": i.get("identifier"),
                "alternateIdentifierType": i.get("identifierType"),
            }
            if isinstance(i, dict)
            else i
            for i in identifiers
        ]
    elif identifiers is not None:
        document["identifiers"] = identifiers  # let the schema report it
    return document


def _error_key(error: ValidationError) -> list[str]:
    return [str(p) for p in error.absolute_path]


def _json_path(error: ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _expected(error: ValidationError) -> str:
    """What the schema expected, in words, with the schema's own message."""
    hints = {
        "required": "a required property is missing",
        "enum": f"expected one of {error.validator_value}",
        "type": f"expected a {error.validator_value}",
        "pattern": f"expected text matching {error.validator_value}",
        "minItems": f"expected at least {error.validator_value} item(s)",
        "additionalProperties": "unknown property",
        "unevaluatedProperties": "unknown property",
        "uniqueItems": "expected no repeated items",
        "const": f"expected {error.validator_value!r}",
    }
    hint = hints.get(str(error.validator))
    return f"{error.message} ({hint})" if hint else error.message
