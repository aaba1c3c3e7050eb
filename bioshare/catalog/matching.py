"""Matching, scoring and de-duplicating records: shared by federated search and the index."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace

from bioshare.repositories.base import DatasetRecord, Term
from bioshare.repositories.terms import imaging_method_term, organism_term

__all__ = ["dedupe", "matches_filters", "normalize_license", "relevance", "tokens"]

_WORD = re.compile(r"[\w\-]+", re.UNICODE)
_LICENSE_ALIASES = {
    "cc0": "cc0-1.0",
    "cc-zero": "cc0-1.0",
    "publicdomain-zero-1.0": "cc0-1.0",
    "cc-by": "cc-by-4.0",
}


def tokens(text: str) -> list[str]:
    """Lower-case words of ``text``."""
    return [w.casefold() for w in _WORD.findall(text or "")]


def relevance(record: DatasetRecord, query_tokens: list[str]) -> float:
    """How well a record matches: title counts most, then keywords and terms, then text."""
    if not query_tokens:
        return 0.0
    fields = (
        (3.0, tokens(record.title)),
        (2.0, tokens(" ".join(record.keywords))),
        (2.0, tokens(" ".join(t.label for t in (*record.organisms, *record.imaging_methods)))),
        (1.0, tokens(record.description)),
        (1.0, [a.casefold() for a in (record.id, *record.accessions)]),
    )
    score = 0.0
    for token in query_tokens:
        for weight, words in fields:
            if any(word.startswith(token) for word in words):
                score += weight
    return score


def normalize_license(value: str | None) -> str:
    """``"CC-BY-4.0"``, ``"cc-by-4.0"`` and the Creative Commons URL all become ``"cc-by-4.0"``."""
    if not value:
        return ""
    text = value.strip().casefold()
    text = re.sub(r"^https?://(www\.)?creativecommons\.org/", "", text)
    text = re.sub(r"[^a-z0-9.]+", "-", text).strip("-")
    if text.startswith("licenses-"):  # a Creative Commons licence URL
        text = "cc-" + text.removeprefix("licenses-")
    return _LICENSE_ALIASES.get(text, text)


def _term_matches(terms: Iterable[Term], wanted: str, resolve: Callable[[str], Term]) -> bool:
    """Same CURIE (common names resolve: "human" is NCBITaxon:9606) or part of the label."""
    target = resolve(wanted)
    text = wanted.strip().casefold()
    return any(
        (target.curie and t.curie == target.curie)
        or t.curie.casefold() == text
        or text in t.label.casefold()
        for t in terms
    )


def matches_filters(
    record: DatasetRecord,
    *,
    organism: str | None = None,
    imaging_method: str | None = None,
    license: str | None = None,
    has_ome_zarr: bool | None = None,
) -> bool:
    """True when the record passes every filter that is set."""
    if organism and not _term_matches(record.organisms, organism, organism_term):
        return False
    if imaging_method and not _term_matches(
        record.imaging_methods, imaging_method, imaging_method_term
    ):
        return False
    if license and normalize_license(record.license) != normalize_license(license):
        return False
    return has_ome_zarr is None or record.has_ome_zarr == has_ome_zarr


def _identity_keys(record: DatasetRecord) -> set[str]:
    keys = {f"acc:{a.strip().upper()}" for a in record.accessions if a.strip()}
    if record.doi:
        doi = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", record.doi.strip().casefold())
        keys.add(f"doi:{doi}")
    return keys


def dedupe(records: Iterable[DatasetRecord]) -> list[DatasetRecord]:
    """Merge records of the same study (shared DOI or accession), keeping the first seen.

    The kept record lists the others in ``also_in``; when a later copy has OME-Zarr and the
    kept one does not, the copy takes its place (it is the one a user can stream).
    """
    kept: list[DatasetRecord] = []
    owner: dict[str, int] = {}
    for record in records:
        keys = _identity_keys(record)
        index = next((owner[k] for k in keys if k in owner), None)
        if index is None:
            owner.update(dict.fromkeys(keys, len(kept)))
            kept.append(record)
            continue
        first = kept[index]
        primary, other = (
            (record, first) if record.has_ome_zarr and not first.has_ome_zarr else (first, record)
        )
        kept[index] = replace(
            primary,
            accessions=tuple(dict.fromkeys((*primary.accessions, *other.accessions))),
            also_in=tuple(
                dict.fromkeys((*primary.also_in, f"{other.repository}:{other.id}", *other.also_in))
            ),
            score=max(first.score, record.score),
        )
        owner.update(dict.fromkeys(keys | _identity_keys(kept[index]), index))
    return kept
