"""Ontology terms for bioimage metadata: find, check and resolve them, online or offline.

REMBI and the BioImage Archive describe imaging methods with FBbi, organisms with NCBITaxon
and biological entities with EFO (cell lines), CL (cell types) and Uberon (anatomy). This
module answers from two sources:

- a bundled offline subset (``data/*.json``): every non-obsolete FBbi term, and the common
  organisms, cell lines, cell types and organs, with synonyms and common names ("human",
  "light sheet microscopy", "HeLa");
- the EBI Ontology Lookup Service, OLS4 (``BIOSHARE_OLS_URL``, by default
  ``https://www.ebi.ac.uk/ols4``): ``/api/search`` and ``/api/ontologies/{onto}/terms``.
  Its answers are cached on disk under ``cache_dir()/ols`` for 30 days.

OLS is a convenience, never a requirement: when it is slow, down or answers nonsense the
functions log a warning and answer from the bundled terms (and skip OLS for a minute, so a
notebook does not wait on every call). ``BIOSHARE_OFFLINE=1`` or ``offline=True`` never
touches the network.

>>> str(resolve_term("human"))
'Homo sapiens (NCBITaxon:9606)'
>>> str(resolve_term("FBbi_00000369"))
'SPIM (FBbi:00000369)'
"""

from __future__ import annotations

import difflib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.errors import BioshareError, RemoteAccessError

__all__ = [
    "ONTOLOGIES",
    "OntologyTerm",
    "TermNotFoundError",
    "bundled_term",
    "get_term",
    "lookup_term",
    "resolve_term",
]

log = logging.getLogger(__name__)

ONTOLOGIES = ("fbbi", "ncbitaxon", "efo", "cl", "uberon")
"""The ontologies bioshare bundles terms of (OLS ontology ids)."""

PREFIXES = {"fbbi": "FBbi", "ncbitaxon": "NCBITaxon", "efo": "EFO", "cl": "CL", "uberon": "UBERON"}
OBO_PURL = "http://purl.obolibrary.org/obo/"
EFO_NAMESPACE = "http://www.ebi.ac.uk/efo/"

OLS_TIMEOUT = 10.0  # seconds at most per OLS request, whatever BIOSHARE_TIMEOUT says
OLS_RETRIES = 1  # retries at most: the bundled terms are a good enough answer meanwhile
OLS_PAUSE = 60.0  # seconds OLS is skipped after it failed
CACHE_SECONDS = 30 * 24 * 3600.0
FUZZY_CUTOFF = 0.8

_CURIE = re.compile(r"^([A-Za-z][A-Za-z0-9]*)[:_](\d+)$")
_LABELLED = re.compile(r"^.*\(\s*([A-Za-z][A-Za-z0-9]*[:_]\d+)\s*\)$")  # str(term)
_ONTOLOGY_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_paused_until: dict[str, float] = {}  # OLS base URL -> time.monotonic() when to try again


# -- public types ----------------------------------------------------------------------------


class OntologyTerm(BaseModel):
    """One ontology term: CURIE, IRI, label and the (lower-case) id of its ontology.

    Equal terms have equal fields; terms are immutable and hashable. ``str(term)`` gives
    ``"confocal microscopy (FBbi:00000251)"``.
    """

    model_config = ConfigDict(frozen=True)

    curie: str = Field(pattern=r"^[A-Za-z][\w.-]*:\S+$", examples=["FBbi:00000251"])
    iri: str = Field(examples=["http://purl.obolibrary.org/obo/FBbi_00000251"])
    label: str = Field(min_length=1, examples=["confocal microscopy"])
    ontology: str = Field(pattern=r"^[a-z][a-z0-9_]*$", examples=["fbbi"])

    def __str__(self) -> str:
        return f"{self.label} ({self.curie})"

    @classmethod
    def from_curie(cls, curie: str, label: str) -> OntologyTerm:
        """Build a term from its CURIE and label; the IRI and ontology follow from the CURIE.

        Parameters
        ----------
        curie
            ``"FBbi:00000251"`` (``"FBbi_00000251"`` is accepted too).
        label
            The term's label.

        Raises
        ------
        ValueError
            ``curie`` is not a CURIE.
        """
        prefix, local = _split_id(curie)
        return cls(
            curie=f"{prefix}:{local}",
            iri=_iri(prefix, local),
            label=label,
            ontology=prefix.lower(),
        )


class TermNotFoundError(BioshareError, LookupError):
    """No ontology term matches; the message suggests the closest bundled terms.

    Attributes
    ----------
    text
        What was looked up.
    ontologies
        The ontologies searched (empty: any).
    suggestions
        The closest bundled terms, best first.
    """

    def __init__(
        self,
        text: str,
        ontologies: Sequence[str] = (),
        suggestions: Sequence[OntologyTerm] = (),
        reason: str = "",
    ) -> None:
        self.text = text
        self.ontologies = tuple(ontologies)
        self.suggestions = tuple(suggestions)
        super().__init__(_not_found_message(text, self.ontologies, self.suggestions, reason))


# -- public functions ------------------------------------------------------------------------


def lookup_term(
    text: str,
    ontology: str | Sequence[str] | None = None,
    *,
    limit: int = 10,
    offline: bool | None = None,
) -> list[OntologyTerm]:
    """Search ontology terms by label, synonym or common name, best match first.

    Online, OLS4 ranks the results; offline (or when OLS fails) the bundled terms are ranked:
    exact label or synonym first, then names starting with ``text``, then names containing
    its words, then close spellings. An empty list means nothing matched.

    Parameters
    ----------
    text
        Free text: ``"light sheet"``, ``"human"``, ``"confocal"``.
    ontology
        An OLS ontology id (``"fbbi"``), several, or None for all of `ONTOLOGIES`.
    limit
        The most terms to return.
    offline
        True: never use the network (cached OLS answers and bundled terms only); None:
        ``BIOSHARE_OFFLINE`` decides.

    Examples
    --------
    >>> lookup_term("light sheet", "fbbi", offline=True)[0].label
    'SPIM'
    """
    query = _clean_text(text)
    scope = _scope(ontology)
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    params = {"q": query, "ontology": ",".join(scope), "type": "class", "start": 0, "rows": limit}
    cached = _read_cache("search", params)
    if cached is not None:
        return cached[:limit]
    if config.offline() if offline is None else offline:
        return _search_offline(query, scope, limit)
    try:
        terms = _search_online(params)
    except _OLSUnavailableError as exc:
        _log_fallback(exc, f"answering {query!r} from bioshare's bundled ontology terms")
        return _search_offline(query, scope, limit)
    _write_cache("search", params, terms)
    return terms


def get_term(curie_or_iri: str) -> OntologyTerm:
    """The term with this CURIE or IRI: from the bundled terms, else from OLS4 (cached).

    Parameters
    ----------
    curie_or_iri
        ``"FBbi:00000251"``, ``"NCBITaxon_9606"`` or
        ``"http://purl.obolibrary.org/obo/FBbi_00000251"``.

    Raises
    ------
    ValueError
        ``curie_or_iri`` is neither a CURIE nor a term IRI.
    TermNotFoundError
        The term is not bundled and OLS does not know it (or could not be asked).
    """
    prefix, local = _split_id(curie_or_iri)
    curie = f"{prefix}:{local}"
    entry = _index().by_curie.get(curie)
    if entry is not None:
        return entry.term
    return _get_term_online(curie, prefix.lower())


def resolve_term(
    value: OntologyTerm | Mapping[str, Any] | str,
    ontology: str | Sequence[str] | None = None,
) -> OntologyTerm:
    """Turn what a user wrote into one ontology term, accepting exact matches only.

    Accepted: an `OntologyTerm`; a mapping with ``curie`` (or ``iri``) and ``label``; a
    CURIE (``"NCBITaxon:9606"``, ``"NCBITaxon_9606"``); a term IRI; ``str(term)``
    (``"Homo sapiens (NCBITaxon:9606)"``); or a label, synonym or common name, in any case
    (``"human"``, ``"Homo sapiens"``, ``"light sheet fluorescence microscopy"``). Bundled
    terms answer first, without any request; other names are looked up in OLS4 with
    ``exact=true``.

    Parameters
    ----------
    value
        The term, its identifier or its name.
    ontology
        Restrict to this OLS ontology id (or these); None accepts any.

    Raises
    ------
    TermNotFoundError
        No term matches exactly; the message suggests close ones.
    ValueError
        The value is empty, a malformed identifier, or a term of another ontology.
    """
    scope = _scope(ontology) if ontology is not None else ()
    if isinstance(value, OntologyTerm):
        term = value
    elif isinstance(value, Mapping):
        term = _term_from_mapping(value, scope)
    elif isinstance(value, str):
        term = _resolve_text(_clean_text(value), scope)
    else:
        raise TypeError(
            f"cannot read an ontology term from {type(value).__name__}; give a CURIE, an IRI, "
            "a label or a mapping with 'curie' and 'label'"
        )
    return _check_scope(term, scope)


# -- resolving -------------------------------------------------------------------------------


def _resolve_text(text: str, scope: tuple[str, ...]) -> OntologyTerm:
    labelled = _LABELLED.match(text)
    if labelled:
        return get_term(labelled.group(1))
    if _looks_like_id(text):
        return get_term(text)
    term = _exact_offline(text, scope or ONTOLOGIES)
    if term is not None:
        return term
    terms, reason = _exact_online(text, scope or ONTOLOGIES)
    terms = [term for term in terms if _in_scope(term, scope)]
    if terms:
        return terms[0]
    raise TermNotFoundError(text, scope, _suggest(text, scope or ONTOLOGIES), reason)


def _term_from_mapping(value: Mapping[str, Any], scope: tuple[str, ...]) -> OntologyTerm:
    curie = value.get("curie") or value.get("obo_id")
    iri, label = value.get("iri"), value.get("label")
    if not (curie or iri):
        if label:
            return _resolve_text(_clean_text(str(label)), scope)
        raise ValueError(f"an ontology term needs a 'curie' (or 'iri') and a 'label'; got {value}")
    if not label:
        return get_term(str(curie or iri))
    term = OntologyTerm.from_curie(str(curie or iri), str(label))
    return term.model_copy(update={"iri": str(iri)}) if iri else term


def _in_scope(term: OntologyTerm, scope: tuple[str, ...]) -> bool:
    return not scope or term.ontology in scope


def _check_scope(term: OntologyTerm, scope: tuple[str, ...]) -> OntologyTerm:
    if not _in_scope(term, scope):
        expected = _or(scope)
        raise ValueError(f"{term} is a {term.ontology} term; expected a term of {expected}")
    return term


def bundled_term(text: str, ontology: str) -> OntologyTerm | None:
    """The bundled term with this CURIE, label or synonym (any case), or None; no network.

    For mapping free text from repositories (``"mouse"``, ``"confocal microscopy"``,
    ``"NCBITaxon:10090"``) to terms quickly and offline.
    """
    entry = _index().by_curie.get(text.strip())
    if entry is not None:
        return entry.term if entry.term.ontology == ontology else None
    return _exact_offline(text, (ontology,))


def _exact_offline(text: str, scope: Iterable[str]) -> OntologyTerm | None:
    allowed = set(scope)
    for entry in _index().by_name.get(_norm(text), ()):
        if entry.term.ontology in allowed:
            return entry.term
    return None


def _exact_online(text: str, scope: tuple[str, ...]) -> tuple[list[OntologyTerm], str]:
    """Terms OLS matches exactly, and why none were asked for (offline, OLS down)."""
    params: dict[str, Any] = {"q": text, "ontology": ",".join(scope), "type": "class"}
    params |= {"exact": "true", "start": 0, "rows": 10}
    cached = _read_cache("exact", params)
    if cached is not None:
        return _label_first(cached, text), ""
    if config.offline():
        return [], "bioshare is offline (BIOSHARE_OFFLINE), so only bundled terms were searched"
    try:
        terms = _search_online(params)
    except _OLSUnavailableError as exc:
        _log_fallback(exc, f"resolving {text!r} from bioshare's bundled ontology terms only")
        return [], f"{exc}, so only bundled terms were searched"
    _write_cache("exact", params, terms)
    return _label_first(terms, text), ""


def _label_first(terms: list[OntologyTerm], text: str) -> list[OntologyTerm]:
    """OLS's exact matches, those whose label (not synonym) matches first."""
    key = _norm(text)
    return sorted(terms, key=lambda term: _norm(term.label) != key)


# -- identifiers -----------------------------------------------------------------------------


def _split_id(value: str) -> tuple[str, str]:
    """(prefix, local id) of a CURIE or term IRI, the prefix in its canonical case."""
    text = str(value).strip()
    tail = re.split(r"[/#]", text.rstrip("/"))[-1] if _is_iri(text) else text
    match = _CURIE.match(tail)
    if match is None:
        raise ValueError(
            f"{value!r} is not an ontology term identifier: expected a CURIE like "
            f"'FBbi:00000251' (or 'FBbi_00000251') or an IRI like '{OBO_PURL}FBbi_00000251'"
        )
    prefix, local = match.groups()
    return PREFIXES.get(prefix.lower(), prefix), local


def _iri(prefix: str, local: str) -> str:
    base = EFO_NAMESPACE if prefix == "EFO" else OBO_PURL
    return f"{base}{prefix}_{local}"


def _is_iri(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _looks_like_id(text: str) -> bool:
    return _is_iri(text) or _CURIE.match(text) is not None


# -- bundled terms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    term: OntologyTerm
    names: tuple[str, ...]  # normalised; the label first
    common: bool  # a commonly used term, ranked before others in its tier


@dataclass(frozen=True)
class _Index:
    by_curie: dict[str, _Entry]
    by_name: dict[str, tuple[_Entry, ...]]  # normalised name -> entries, label matches first
    by_ontology: dict[str, tuple[_Entry, ...]]


@cache
def _index() -> _Index:
    """The bundled terms, indexed once per process."""
    entries = [entry for ontology in ONTOLOGIES for entry in _load(ontology)]
    by_name: dict[str, list[_Entry]] = {}
    for rank in (0, 1):  # labels first, then synonyms
        for entry in entries:
            for name in entry.names[:1] if rank == 0 else entry.names[1:]:
                by_name.setdefault(name, []).append(entry)
    return _Index(
        by_curie={entry.term.curie: entry for entry in entries},
        by_name={name: tuple(found) for name, found in by_name.items()},
        by_ontology={o: tuple(e for e in entries if e.term.ontology == o) for o in ONTOLOGIES},
    )


def _load(ontology: str) -> list[_Entry]:
    resource = files("bioshare.metadata") / "data" / f"{ontology}.json"
    data = json.loads(resource.read_text(encoding="utf-8"))
    return [_entry(item) for item in data["terms"]]


def _entry(item: Mapping[str, Any]) -> _Entry:
    term = OntologyTerm.from_curie(item["curie"], item["label"])
    names = [term.label, *item.get("synonyms", ()), *item.get("added_synonyms", ())]
    normalised = tuple(dict.fromkeys(_norm(name) for name in names))
    return _Entry(term, normalised, bool(item.get("common")))


def _norm(text: str) -> str:
    """Case-, hyphen- and space-insensitive form of a name."""
    return " ".join(text.casefold().replace("-", " ").replace("_", " ").split())


# -- offline ranking -------------------------------------------------------------------------


def _search_offline(text: str, scope: Iterable[str], limit: int) -> list[OntologyTerm]:
    return [term for _, term in _ranked(text, scope)[:limit]]


def _ranked(
    text: str, scope: Iterable[str]
) -> list[tuple[tuple[int, bool, float, int], OntologyTerm]]:
    """Bundled terms of ``scope`` matching ``text``, with their sort keys, best first."""
    query = _norm(text)
    index = _index()
    ranked = []
    for ontology in scope:
        for entry in index.by_ontology.get(ontology, ()):
            rank = _rank(query, entry)
            if rank is not None:
                ranked.append((rank, entry.term.label.casefold(), entry.term.curie, entry.term))
    ranked.sort(key=lambda item: item[:3])
    return [(item[0], item[3]) for item in ranked]


def _rank(query: str, entry: _Entry) -> tuple[int, bool, float, int] | None:
    """Sort key of a bundled term for a query (lower is better); None: no match."""
    tier = min(_tier(query, name, i == 0) for i, name in enumerate(entry.names))
    score = 0.0
    if tier == _FUZZY:
        score = max(_similarity(query, name) for name in entry.names)
        if score < FUZZY_CUTOFF:
            return None
    return tier, not entry.common, -score, len(entry.term.label)


_FUZZY = 6


def _tier(query: str, name: str, is_label: bool) -> int:
    if name == query:
        return 0 if is_label else 1
    if name.startswith(query):
        return 2
    words, name_words = query.split(), name.split()
    if all(word in name_words for word in words):
        return 3
    if all(any(nw.startswith(word) for nw in name_words) for word in words):
        return 4
    if query in name:
        return 5
    return _FUZZY


def _similarity(query: str, name: str) -> float:
    """How close a (mistyped) query is to a name, or to the name's start of the same length."""
    if len(query) < 3:
        return 0.0
    score = _ratio(difflib.SequenceMatcher(None, query, name))
    if len(query) >= 6 and len(name) > len(query):
        score = max(score, _ratio(difflib.SequenceMatcher(None, query, name[: len(query)])))
    return score


def _ratio(matcher: difflib.SequenceMatcher[str]) -> float:
    if matcher.real_quick_ratio() < FUZZY_CUTOFF or matcher.quick_ratio() < FUZZY_CUTOFF:
        return 0.0
    return matcher.ratio()


def _suggest(text: str, scope: Iterable[str], count: int = 3) -> list[OntologyTerm]:
    """The closest bundled terms: those as good as the best match (fuzzy: nearly as good)."""
    ranked = _ranked(text, scope)
    if not ranked:
        return []
    best = ranked[0][0]
    close = [term for rank, term in ranked if rank[0] == best[0] and rank[2] <= best[2] + 0.05]
    return close[:count]


def _not_found_message(
    text: str, ontologies: Sequence[str], suggestions: Sequence[OntologyTerm], reason: str
) -> str:
    which = f"{_or(ontologies)} term" if ontologies else "ontology term"
    message = f"no {which} matches {text!r}"
    if reason:
        message += f"; {reason}"
    if suggestions:
        names = [f"{term.label!r} ({term.curie})" for term in suggestions]
        return f"{message}; did you mean {_or(names)}?"
    if _looks_like_id(text):
        return message
    return f"{message}; lookup_term({text!r}) lists partial matches"


def _or(items: Sequence[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


# -- OLS4 ------------------------------------------------------------------------------------


class _OLSUnavailableError(Exception):
    """OLS could not answer (network, 5xx, malformed answer): fall back to bundled terms.

    ``quiet``: OLS is paused after a failure that was already logged.
    """

    def __init__(self, message: str, *, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


def _log_fallback(exc: _OLSUnavailableError, what: str) -> None:
    log.log(logging.DEBUG if exc.quiet else logging.WARNING, "%s; %s", exc, what)


def _search_online(params: Mapping[str, Any]) -> list[OntologyTerm]:
    body = _ols_json("api/search", params)
    try:
        docs = body["response"]["docs"]
        if not isinstance(docs, list):
            raise TypeError(f"docs is a {type(docs).__name__}")
    except (KeyError, TypeError) as exc:
        raise _OLSUnavailableError(
            f"OLS answered a search with an unexpected document ({exc})"
        ) from exc
    return _unique(_term_from_doc(doc) for doc in docs)


def _get_term_online(curie: str, ontology: str) -> OntologyTerm:
    params = {"ontology": ontology, "obo_id": curie}
    cached = _read_cache("term", params)
    if cached:
        return cached[0]
    if config.offline():
        reason = "it is not among the bundled terms and bioshare is offline (BIOSHARE_OFFLINE)"
        raise TermNotFoundError(curie, (ontology,), reason=reason)
    try:
        body = _ols_json(f"api/ontologies/{ontology}/terms", {"obo_id": curie}, missing_ok=True)
        terms = [] if body is None else _terms_from_page(body)
    except _OLSUnavailableError as exc:
        _log_fallback(exc, f"{curie} is not among bioshare's bundled ontology terms")
        reason = f"it is not among the bundled terms and {exc}"
        raise TermNotFoundError(curie, (ontology,), reason=reason) from exc
    found = [term for term in terms if term.curie == curie]
    if not found:
        raise TermNotFoundError(curie, (ontology,), reason=f"OLS does not know {curie}")
    _write_cache("term", params, found[:1])
    return found[0]


def _terms_from_page(body: Any) -> list[OntologyTerm]:
    """Terms of a HAL page (``{"_embedded": {"terms": [...]}, "page": ...}``)."""
    if not isinstance(body, dict):
        raise _OLSUnavailableError(f"OLS answered a term lookup with a {type(body).__name__}")
    if "_embedded" not in body and isinstance(body.get("page"), dict):
        return []  # an empty page has no "_embedded"
    embedded = body.get("_embedded")
    terms = embedded.get("terms") if isinstance(embedded, dict) else None
    if not isinstance(terms, list):
        raise _OLSUnavailableError("OLS answered a term lookup without _embedded.terms")
    return _unique(_term_from_doc(term) for term in terms)


def _term_from_doc(doc: Any) -> OntologyTerm | None:
    """A term from an OLS search document or term; None for non-terms (no CURIE, no label)."""
    if not isinstance(doc, dict):
        return None
    label, iri = doc.get("label"), doc.get("iri")
    identifier = doc.get("obo_id") or doc.get("short_form")
    if not isinstance(label, str) or not label or not isinstance(identifier, str):
        return None
    try:
        term = OntologyTerm.from_curie(identifier, label)
    except ValueError:
        return None
    return term.model_copy(update={"iri": iri}) if isinstance(iri, str) and iri else term


def _unique(terms: Iterable[OntologyTerm | None]) -> list[OntologyTerm]:
    """Terms in order without repeats (OLS lists a term once per ontology importing it)."""
    seen: dict[str, OntologyTerm] = {}
    for term in terms:
        if term is not None and term.curie not in seen:
            seen[term.curie] = term
    return list(seen.values())


def _ols_json(path: str, params: Mapping[str, Any], *, missing_ok: bool = False) -> Any:
    """GET an OLS document (None for a 404 when ``missing_ok``); raise when OLS fails."""
    base = config.service_url("ols")
    if time.monotonic() < _paused_until.get(base, 0.0):
        raise _OLSUnavailableError(
            f"OLS at {base} failed less than {OLS_PAUSE:.0f} s ago", quiet=True
        )
    client = ApiClient(
        base,
        name="OLS",
        timeout=min(config.timeout(), OLS_TIMEOUT),
        retries=min(config.retries(), OLS_RETRIES),
    )
    try:
        return client.get_json(path, params)
    except ApiError as exc:
        if exc.status == 404 and missing_ok:
            return None
        if exc.status is None or exc.status >= 500 or exc.status in (200, 429):
            _paused_until[base] = time.monotonic() + OLS_PAUSE
        raise _OLSUnavailableError(f"OLS could not answer ({exc})") from exc
    except (RemoteAccessError, httpx.HTTPError) as exc:
        raise _OLSUnavailableError(f"OLS could not answer ({exc})") from exc


# -- disk cache ------------------------------------------------------------------------------


def _cache_path(kind: str, params: Mapping[str, Any]) -> Path:
    key = json.dumps([kind, config.service_url("ols"), dict(params)], sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return config.cache_dir() / "ols" / f"{kind}-{digest}.json"


def _read_cache(kind: str, params: Mapping[str, Any]) -> list[OntologyTerm] | None:
    """Cached OLS answer (None when absent, expired or unreadable)."""
    path = _cache_path(kind, params)
    try:
        if time.time() - path.stat().st_mtime > CACHE_SECONDS:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        return [OntologyTerm(**item) for item in data["terms"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(kind: str, params: Mapping[str, Any], terms: list[OntologyTerm]) -> None:
    """Store an OLS answer atomically; a cache that cannot be written is skipped."""
    path = _cache_path(kind, params)
    record = {"params": dict(params), "terms": [term.model_dump() for term in terms]}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{kind}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.debug("could not cache an OLS answer in %s: %s", path.parent, exc)


# -- arguments -------------------------------------------------------------------------------


def _clean_text(text: Any) -> str:
    if not isinstance(text, str):
        raise TypeError(f"expected text, got {type(text).__name__}")
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError("an ontology term cannot be empty")
    return cleaned


def _scope(ontology: str | Sequence[str] | None) -> tuple[str, ...]:
    """Lower-case OLS ontology ids to search (all of `ONTOLOGIES` for None)."""
    if ontology is None:
        return ONTOLOGIES
    items = ontology.split(",") if isinstance(ontology, str) else list(ontology)
    scope = tuple(dict.fromkeys(str(item).strip().lower() for item in items if str(item).strip()))
    bad = [item for item in scope if not _ONTOLOGY_ID.match(item)]
    if not scope or bad:
        raise ValueError(
            f"{ontology!r} is not an ontology id; expected an OLS id such as "
            f"{', '.join(map(repr, ONTOLOGIES))}"
        )
    return scope
