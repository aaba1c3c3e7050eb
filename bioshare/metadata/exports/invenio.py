"""A study as deposit metadata for Zenodo (legacy deposit API) and InvenioRDM.

`to_zenodo` gives the ``metadata`` of ``POST/PUT /api/deposit/depositions``; `to_invenio`
gives the body of ``POST /api/records`` on any InvenioRDM (zenodo.org included):
``metadata``, ``access`` and ``files``.

Licences: InvenioRDM uses its rights vocabulary (lower-case SPDX: ``cc-by-4.0``,
``cc0-1.0``). Zenodo's legacy API maps its historic ids onto that vocabulary
(``zenodo_rdm/legacy/vocabularies``): CC0 is ``cc-zero`` there (``cc0-1.0`` is accepted too,
and a deposition reads back as ``cc-zero``), and CC BY 4.0 must be ``cc-by-4.0``, since the
bare legacy ``cc-by`` now means CC BY 1.0.
"""

from __future__ import annotations

from typing import Any

from bioshare.errors import MetadataError
from bioshare.metadata.exports import _common as common
from bioshare.metadata.models import Affiliation, Contributor, Grant
from bioshare.metadata.study import Study

__all__ = ["ZENODO_DOI_PREFIX", "to_invenio", "to_zenodo"]

ZENODO_DOI_PREFIX = "10.5281/"


def _put(node: dict[str, Any], key: str, value: Any) -> None:
    if value:
        node[key] = value


def _require_basics(study: Study, target: str) -> None:
    if not study.title:
        raise MetadataError(f"{target} needs a title: set study.title")
    if not study.release_date:
        raise MetadataError(f"{target} needs a publication date: set study.release_date")
    common.require_authors(study, target)


def _keywords(study: Study) -> list[str]:
    """Keywords, then the organisms, biological entities and imaging methods by label."""
    terms = [
        *common.organisms(study),
        *common.biological_terms(study),
        *common.imaging_methods(study),
    ]
    return list(dict.fromkeys([*study.keyword, *(t.label for t in terms)]))


# -- Zenodo legacy ----------------------------------------------------------------------------


def to_zenodo(study: Study) -> dict[str, Any]:
    """The study as Zenodo legacy deposit ``metadata``.

    ``grants`` are written only for funders with a Crossref Funder ID (Zenodo's
    ``<funder DOI>::<award number>`` form; Zenodo must know the award); other grants, the
    funding statement and acknowledgements go to ``notes``. A ``doi`` is written only when
    the study already has a DOI outside Zenodo's ``10.5281`` prefix (Zenodo then records it
    as external instead of minting one).

    Parameters
    ----------
    study
        The REMBI study; it needs a title, release date, licence and authors.

    Returns
    -------
    dict
        ``upload_type`` ``"dataset"``, ``publication_date``, ``title``, ``creators``
        (``"Family, Given"``, ``orcid``, ``affiliation``), ``description`` (HTML with the
        protocols), ``access_right`` ``"open"``, ``license``, ``keywords``,
        ``related_identifiers``, and ``grants``, ``notes``, ``doi`` when they apply.

    Raises
    ------
    MetadataError
        A field Zenodo requires is missing (the message names the Study field).
    """
    _require_basics(study, "Zenodo")
    assert study.release_date is not None  # checked above
    licence = common.licence_of(study, "Zenodo")
    metadata: dict[str, Any] = {
        "upload_type": "dataset",
        "publication_date": study.release_date.isoformat(),
        "title": study.title,
        "creators": [_zenodo_creator(study, a, i) for i, a in enumerate(study.author)],
        "description": common.description_html(study) or f"<p>{study.title}</p>",
        "access_right": "open",
        "license": licence.zenodo,
    }
    _put(metadata, "keywords", _keywords(study))
    _put(metadata, "related_identifiers", _zenodo_related(study))
    grants, unmapped = _zenodo_grants(study)
    _put(metadata, "grants", grants)
    notes = [common.notes_text(study) or "", *unmapped]
    _put(metadata, "notes", "\n\n".join(n for n in notes if n))
    if study.doi and not study.doi.startswith(ZENODO_DOI_PREFIX):
        metadata["doi"] = study.doi
    return metadata


def _zenodo_creator(study: Study, author: Contributor, index: int) -> dict[str, Any]:
    creator: dict[str, Any] = {"name": common.author_name(study, index, "Zenodo").inverted}
    names = [a.display_name for a in author.affiliation if a.display_name]
    _put(creator, "affiliation", "; ".join(names))
    _put(creator, "orcid", author.orcid)
    return creator


def _zenodo_related(study: Study) -> list[dict[str, Any]]:
    related = [
        {
            "identifier": identifier,
            "relation": "isSupplementTo",
            "resource_type": "publication-article",
            "scheme": scheme,
        }
        for identifier, scheme in common.publication_ids(study)
    ]
    related += [
        {"identifier": r.link, "relation": "references", "scheme": "url"}
        for r in study.see_also
        if r.link
    ]
    return related


def _zenodo_grants(study: Study) -> tuple[list[dict[str, str]], list[str]]:
    """Zenodo ``grants`` (``<Crossref funder DOI>::<award>``) and texts for the others."""
    grants: list[dict[str, str]] = []
    unmapped: list[str] = []
    for grant in study.grant:
        if not grant.id:
            continue
        ids = [common.funder_identifier(f) for f in grant.funder]
        crossref = [i[0] for i in ids if i and i[1] == "Crossref Funder ID"]
        if crossref:
            doi = crossref[0].removeprefix(common.DOI_URL)
            grants.append({"id": f"{doi}::{grant.id}"})
        else:
            unmapped.append(_grant_text(grant))
    return grants, unmapped


def _grant_text(grant: Grant) -> str:
    funders = ", ".join(f.display_name or f.id or "" for f in grant.funder)
    return f"Grant {grant.id}" + (f" ({funders})" if funders else "")


# -- InvenioRDM -------------------------------------------------------------------------------


def to_invenio(study: Study) -> dict[str, Any]:
    """The study as the body of an InvenioRDM draft: ``metadata``, ``access``, ``files``.

    Parameters
    ----------
    study
        The REMBI study; it needs a title, release date, licence and authors.

    Returns
    -------
    dict
        ``{"access": {"record": "public", "files": "public"}, "files": {"enabled": True},
        "metadata": {...}}``, with ``resource_type`` ``{"id": "dataset"}``, ``creators``
        (``person_or_org`` of type ``personal`` with ORCID ``identifiers``, and
        ``affiliations`` with bare ROR ``id``), ``title``, ``publication_date``,
        ``description``, ``additional_descriptions``, ``rights``, ``subjects``,
        ``funding``, ``related_identifiers`` and ``dates``; plus ``pids``
        when the study already has a DOI outside Zenodo (registered as external).

    Raises
    ------
    MetadataError
        A field InvenioRDM requires is missing (the message names the Study field).
    """
    _require_basics(study, "InvenioRDM")
    assert study.release_date is not None  # checked above
    licence = common.licence_of(study, "InvenioRDM")
    metadata: dict[str, Any] = {
        "resource_type": {"id": "dataset"},
        "creators": [_invenio_creator(study, a, i) for i, a in enumerate(study.author)],
        "title": study.title,
        "publication_date": study.release_date.isoformat(),
        "rights": [{"id": licence.invenio}],
    }
    _put(metadata, "description", common.description_html(study, methods=False))
    _put(metadata, "additional_descriptions", _invenio_descriptions(study))
    _put(metadata, "subjects", [{"subject": k} for k in _keywords(study)])
    _put(metadata, "funding", _invenio_funding(study))
    _put(metadata, "related_identifiers", _invenio_related(study))
    metadata["dates"] = [{"date": study.release_date.isoformat(), "type": {"id": "available"}}]
    body: dict[str, Any] = {
        "access": {"record": "public", "files": "public"},
        "files": {"enabled": True},
        "metadata": metadata,
    }
    if study.doi and not study.doi.startswith(ZENODO_DOI_PREFIX):
        body["pids"] = {"doi": {"identifier": study.doi, "provider": "external"}}
    return body


def _invenio_creator(study: Study, author: Contributor, index: int) -> dict[str, Any]:
    name = common.author_name(study, index, "InvenioRDM")
    person: dict[str, Any] = {"type": "personal", "family_name": name.family or name.full}
    _put(person, "given_name", name.given)
    person["name"] = name.inverted
    if author.orcid:
        person["identifiers"] = [{"scheme": "orcid", "identifier": author.orcid}]
    creator: dict[str, Any] = {"person_or_org": person}
    _put(creator, "affiliations", [_invenio_affiliation(a) for a in author.affiliation])
    return creator


def _invenio_affiliation(affiliation: Affiliation) -> dict[str, Any]:
    node: dict[str, Any] = {}
    if affiliation.rorid:
        node["id"] = common.ror_id(affiliation.rorid)
    _put(node, "name", affiliation.display_name)
    return node


def _invenio_descriptions(study: Study) -> list[dict[str, Any]]:
    descriptions = []
    methods = common.methods_html(study)
    if methods:
        descriptions.append({"description": methods, "type": {"id": "methods"}})
    notes = common.notes_text(study)
    if notes:
        descriptions.append({"description": notes, "type": {"id": "other"}})
    return descriptions


def _invenio_funding(study: Study) -> list[dict[str, Any]]:
    funding = []
    for grant in study.grant:
        award = {"title": {"en": _grant_text(grant)}, "number": grant.id} if grant.id else None
        for body in grant.funder or []:
            identifier = common.funder_identifier(body)
            if identifier and identifier[1] == "ROR":
                funder = {"id": common.ror_id(identifier[0])}
            else:
                funder = {"name": body.display_name or body.id or ""}
            entry: dict[str, Any] = {"funder": funder}
            _put(entry, "award", award)
            funding.append(entry)
    return funding


def _invenio_related(study: Study) -> list[dict[str, Any]]:
    related = [
        {
            "identifier": identifier,
            "scheme": scheme,
            "relation_type": {"id": "issupplementto"},
            "resource_type": {"id": "publication-article"},
        }
        for identifier, scheme in common.publication_ids(study)
    ]
    related += [
        {"identifier": r.link, "scheme": "url", "relation_type": {"id": "references"}}
        for r in study.see_also
        if r.link
    ]
    return related
