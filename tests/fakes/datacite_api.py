"""A fake DataCite REST API (api.test.datacite.org): DOIs with states, events and validation.

It answers as DataCite's API server (datacite/lupo) does, JSON:API with
``Content-Type: application/vnd.api+json`` (reference section 5):

- ``POST /dois`` with ``{"data": {"type": "dois", "attributes": {...}}}``: ``doi`` names the
  DOI, or ``prefix`` (optionally ``prefix/shoulder``) gets a random ``xxxx-xxxx`` suffix with
  a check character, as DataCite mints them. No ``event`` makes a ``draft``,
  ``"event": "register"`` a ``registered`` and ``"event": "publish"`` a ``findable`` DOI.
  201 with the record and a ``Location`` header;
- ``PUT`` / ``PATCH /dois/{doi}``: merge the attributes given (``null`` removes one), fire
  ``event`` (``register``, ``publish``, ``hide``, ``show``); 200. A PUT on an unknown but
  well-formed DOI creates it (201), as DataCite does;
- ``GET /dois/{doi}``: findable DOIs are public, drafts and registered DOIs are shown to
  their repository only (404 for everyone else);
- ``GET /dois?query=&client-id=&prefix=&state=&resource-type-id=&sort=&page[size]=&page[number]=``:
  ``{"data": [...], "meta": {"total", "totalPages", "page"}, "links": {"self", "next"}}``;
  without credentials only findable DOIs (``state`` is then ignored), with them also the
  repository's own drafts and registered DOIs; ``page[size]`` defaults to 25, at most 1000;
- ``DELETE /dois/{doi}``: 204 for drafts; 405 ``Method not allowed`` (with ``Allow``) for
  registered and findable DOIs;
- ``GET /heartbeat``: ``OK``.

State machine (lupo's ``aasm`` block, ``whiny_transitions: false``)::

    draft --register--> registered --show/publish--> findable --hide--> registered
    draft --publish---> findable

An event that does not apply to the current state (``hide`` on a draft, ``register`` on a
findable DOI, any unknown name) is ignored: 200, state unchanged. ``state`` in the attributes
is read-only and ignored, so nothing ever returns to ``draft``. ``FakeDataCite(strict_events=
True)`` answers such events with a 422 ``{"source": "event"}`` instead (not DataCite).

Errors, all JSON:API:

- 401 ``{"errors": [{"status": "401", "title": "Bad credentials."}]}``: a write without Basic
  credentials, or any request with wrong ones;
- 403 ``You are not authorized to access this resource.``: a DOI outside the account's prefix,
  or another repository's DOI;
- 404 ``The resource you are looking for doesn't exist.``;
- 400 ``You need to provide a payload following the JSONAPI spec``: a write whose body is not
  a JSON object with ``data`` (DataCite only parses ``application/json`` and
  ``application/vnd.api+json`` bodies, so another content type ends here too: DataCite answers
  400, not 415);
- 422 ``{"errors": [{"source", "title", "uid"}]}``, one per source: ``doi`` ``Is invalid`` /
  ``This DOI has already been taken``; ``url`` ``Can't be blank`` (register/publish) /
  ``URL is not valid``; shape errors (``Title '...' should be an object instead of a
  string.``); and, for registered and findable DOIs, the mandatory properties the XML schema
  checks: ``creators``, ``creator`` (a creator without ``name``), ``titles``, ``publisher``,
  ``publication_year`` (four digits), ``resourceType`` (``types.resourceTypeGeneral``
  missing) and ``resourceType', attribute 'resourceTypeGeneral`` (a value outside the 4.5
  list), titled ``DOI <doi>: <libxml2 message> at line N, column 0`` as DataCite does (line
  numbers are indicative);
- 409 ``The resource already exists.``: what DataCite answers when a concurrent request
  created the same DOI first; switch it on with `FakeDataCite.conflict`;
- 429 and 5xx, slow, dropped, malformed and hanging answers: `FakeService.inject`, or
  `FakeDataCite.rate_limit` for a JSON:API 429 with ``Retry-After``.

Reads return ``publisher`` as a string and creators' ``affiliation`` as names unless asked
for ``?publisher=true`` / ``?affiliation=true`` (objects), on writes too. DOIs are matched
case-insensitively and returned in lower case. Not served: the ``xml`` attribute (neither read
nor written), ``types`` derivatives (``schemaOrg``, ``citeproc``...), facets, cursors, JWT
tokens.

For tests: ``fake.records`` (a copy, lower-case DOI -> `DataCiteRecord` with ``state`` and
``attributes``), ``fake.state(doi)``, ``fake.add(doi, state=..., client_id=..., **metadata)``
to seed DOIs (another repository's too), ``fake.conflict(times)``, ``fake.rate_limit(...)``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from fakes.service import FakeService

__all__ = ["JSONAPI", "RESOURCE_TYPES_GENERAL", "DataCiteRecord", "FakeDataCite"]

JSONAPI = "application/vnd.api+json"
# the body types Rails parses into params in lupo (config/initializers/mime_types.rb)
JSON_TYPES = frozenset({"application/json", JSONAPI, "text/x-json", "application/jsonrequest"})
# DataCite Metadata Schema 4.5 (datacite/schemas/datacite-v4.5.json in the `datacite` package)
RESOURCE_TYPES_GENERAL = (
    "Audiovisual", "Book", "BookChapter", "Collection", "ComputationalNotebook",
    "ConferencePaper", "ConferenceProceeding", "DataPaper", "Dataset", "Dissertation", "Event",
    "Image", "Instrument", "InteractiveResource", "Journal", "JournalArticle", "Model",
    "OutputManagementPlan", "PeerReview", "PhysicalObject", "Preprint", "Report", "Service",
    "Software", "Sound", "Standard", "StudyRegistration", "Text", "Workflow", "Other",
)  # fmt: skip
KERNEL = "http://datacite.org/schema/kernel-4"
DOI_PATTERN = re.compile(r"10\.\d{4,5}/[-._;()/:a-zA-Z0-9*~$=]+")
URL_PATTERN = re.compile(r"(ftp|http|https)://\S+")
# events and the transitions they fire (lupo app/models/doi.rb)
EVENTS = {
    "register": {"draft": "registered"},
    "publish": {"draft": "findable", "registered": "findable"},
    "hide": {"findable": "registered"},
    "show": {"registered": "findable"},
}
# attributes kept from a request; others (read-only or unknown) are dropped silently
METADATA_KEYS = (
    "url", "creators", "titles", "publisher", "publicationYear", "subjects", "contributors",
    "dates", "language", "types", "identifiers", "relatedIdentifiers", "relatedItems", "sizes",
    "formats", "version", "rightsList", "descriptions", "geoLocations", "fundingReferences",
    "container", "contentUrl", "schemaVersion", "source", "reason",
)  # fmt: skip
LIST_KEYS = (
    "creators", "titles", "subjects", "contributors", "dates", "identifiers",
    "relatedIdentifiers", "relatedItems", "sizes", "formats", "rightsList", "descriptions",
    "geoLocations", "fundingReferences",
)  # fmt: skip
# lupo's check_* validations: elements that must be objects, error source and label
SHAPE_CHECKS = (
    ("creators", "creators", "Creator"),
    ("titles", "titles", "Title"),
    ("descriptions", "descriptions", "Description"),
    ("subjects", "subjects", "Subject"),
    ("contributors", "contributors", "Contributor"),
    ("dates", "dates", "Date"),
    ("rightsList", "rights_list", "Rights"),
    ("identifiers", "identifiers", "Identifier"),
    ("relatedIdentifiers", "related_identifiers", "Related identifier"),
    ("relatedItems", "related_items", "Related item"),
    ("fundingReferences", "funding_references", "Funding reference"),
    ("geoLocations", "geo_locations", "Geolocation"),
)
XSD_LINES = {
    "creators": 4,
    "creator": 5,
    "creatorName": 6,
    "titles": 8,
    "title": 9,
    "publisher": 11,
    "publication_year": 12,
    "resourceType": 13,
}
NOT_FOUND = "The resource you are looking for doesn't exist."
FORBIDDEN = "You are not authorized to access this resource."
NO_PAYLOAD = "You need to provide a payload following the JSONAPI spec"
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
CHECK_SYMBOLS = CROCKFORD + "*~$=u"


@dataclass
class DataCiteRecord:
    """One DOI as the fake stores it; ``attributes`` holds the metadata in camelCase."""

    doi: str
    state: str
    attributes: dict[str, Any]
    client_id: str
    created: str
    updated: str
    registered: str | None = None
    metadata_version: int = 0
    seq: int = 0

    @property
    def prefix(self) -> str:
        return self.doi.split("/", 1)[0]

    @property
    def suffix(self) -> str:
        return self.doi.split("/", 1)[1] if "/" in self.doi else ""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _listify(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _errors(status: int, title: str, headers: dict[str, str] | None = None) -> web.Response:
    body = {"errors": [{"status": str(status), "title": title}]}
    return web.json_response(body, status=status, content_type=JSONAPI, headers=headers)


def _invalid(uid: str, errors: list[tuple[str, str]]) -> web.Response:
    """lupo's serialize_errors: one error per source, first message wins."""
    seen: dict[str, str] = {}
    for source, title in errors:
        seen.setdefault(source, title[:1].upper() + title[1:])
    body = {"errors": [{"source": s, "title": t, "uid": uid} for s, t in seen.items()]}
    return web.json_response(body, status=422, content_type=JSONAPI)


def _random_suffix() -> str:
    """A DataCite-style suffix: 7 Crockford base32 characters and a mod-37 check character."""
    number = secrets.randbelow(32**7)
    digits = ""
    n = number
    for _ in range(7):
        n, rest = divmod(n, 32)
        digits = CROCKFORD[rest] + digits
    encoded = digits + CHECK_SYMBOLS[number % 37]
    return f"{encoded[:4]}-{encoded[4:]}"


def _normalise(attributes: dict[str, Any]) -> dict[str, Any]:
    """Keep the writable metadata of a request, in the forms DataCite stores."""
    kept = {key: copy.deepcopy(attributes[key]) for key in METADATA_KEYS if key in attributes}
    if "identifiers" not in kept and "alternateIdentifiers" in attributes:
        kept["identifiers"] = [
            {
                "identifier": item.get("alternateIdentifier"),
                "identifierType": item.get("alternateIdentifierType"),
            }
            if isinstance(item, dict)
            else item
            for item in _listify(attributes["alternateIdentifiers"])
        ]
    if isinstance(kept.get("publisher"), str):
        kept["publisher"] = {"name": kept["publisher"]}
    for key in ("creators", "contributors"):
        if key in kept and kept[key] is not None:
            kept[key] = [_person_in(person) for person in _listify(kept[key])]
    year = kept.get("publicationYear")
    if isinstance(year, str) and re.fullmatch(r"\d{4}", year.strip()):
        kept["publicationYear"] = int(year)
    if any(key not in ("url", "source", "reason") for key in kept):
        kept.setdefault("schemaVersion", KERNEL)
    return kept


def _person_in(person: Any) -> Any:
    if not isinstance(person, dict):
        return person
    affiliations = []
    for affiliation in _listify(person.get("affiliation")):
        affiliations.append({"name": affiliation} if isinstance(affiliation, str) else affiliation)
    return {
        **person,
        "affiliation": affiliations,
        "nameIdentifiers": _listify(person.get("nameIdentifiers")),
    }


def _person_out(person: Any, affiliation_objects: bool) -> Any:
    if not isinstance(person, dict):
        return person
    affiliations = _listify(person.get("affiliation"))
    if not affiliation_objects:
        affiliations = [a.get("name") if isinstance(a, dict) else a for a in affiliations]
        affiliations = [a for a in affiliations if a is not None]
    return {**person, "affiliation": affiliations}


def _xsd(uid: str, source: str, message: str) -> tuple[str, str]:
    line = XSD_LINES.get(source.split("'", 1)[0], 3)
    return source, f"DOI {uid}: {message} at line {line}, column 0"


def _min_length(value: str = "") -> str:
    return (
        f"[facet 'minLength'] The value '{value}' has a length of '{len(value)}'; this underruns "
        "the allowed minimum length of '1'."
    )


def _missing_child(element: str) -> str:
    return f"Missing child element(s). Expected is ( {{{KERNEL}}}{element} )."


def validate(uid: str, attributes: dict[str, Any], state: str) -> list[tuple[str, str]]:
    """(source, title) pairs for what DataCite would reject in ``attributes`` at ``state``."""
    errors: list[tuple[str, str]] = []
    url = attributes.get("url")
    if state in ("registered", "findable") and not url:
        errors.append(("url", "can't be blank"))
    if url and not (isinstance(url, str) and URL_PATTERN.fullmatch(url)):
        errors.append(("url", "URL is not valid"))
    if state in ("registered", "findable"):
        errors += _schema_errors(uid, attributes)
    for key, source, label in SHAPE_CHECKS:
        for item in _listify(attributes.get(key)):
            if not isinstance(item, dict):
                errors.append(
                    (source, f"{label} '{item}' should be an object instead of a string.")
                )
    types = attributes.get("types")
    if types is not None and not isinstance(types, dict):
        errors.append(("types", f"Types '{types}' should be an object instead of a string."))
    return errors


def _schema_errors(uid: str, attributes: dict[str, Any]) -> list[tuple[str, str]]:
    """The mandatory properties, as the DataCite XML schema reports them."""
    errors = []
    creators = [c for c in _listify(attributes.get("creators")) if isinstance(c, dict)]
    if not _listify(attributes.get("creators")):
        errors.append(_xsd(uid, "creators", _missing_child("creator")))
    for creator in creators:
        name = creator.get("name")
        if name is None:
            errors.append(_xsd(uid, "creator", _missing_child("creatorName")))
        elif not str(name).strip():
            errors.append(_xsd(uid, "creatorName", _min_length()))
    titles = _listify(attributes.get("titles"))
    if not titles:
        errors.append(_xsd(uid, "titles", _missing_child("title")))
    for title in titles:
        if isinstance(title, dict) and not str(title.get("title") or "").strip():
            errors.append(_xsd(uid, "title", _min_length()))
    publisher = attributes.get("publisher")
    name = publisher.get("name") if isinstance(publisher, dict) else publisher
    if not isinstance(name, str) or not name.strip():
        errors.append(_xsd(uid, "publisher", _min_length()))
    year = attributes.get("publicationYear")
    if isinstance(year, bool) or not re.fullmatch(r"\d{4}", str(year if year is not None else "")):
        shown = "" if year is None else str(year)
        message = (
            f"[facet 'pattern'] The value '{shown}' is not accepted by the pattern '[\\d]{{4}}'."
        )
        errors.append(_xsd(uid, "publication_year", message))
    types = attributes.get("types")
    general = types.get("resourceTypeGeneral") if isinstance(types, dict) else None
    if general is None:
        message = "The attribute 'resourceTypeGeneral' is required but missing."
        errors.append(_xsd(uid, "resourceType", message))
    elif general not in RESOURCE_TYPES_GENERAL:
        allowed = ", ".join(f"'{value}'" for value in RESOURCE_TYPES_GENERAL)
        message = (
            f"[facet 'enumeration'] The value '{general}' is not an element of the set "
            f"{{{allowed}}}."
        )
        errors.append(_xsd(uid, "resourceType', attribute 'resourceTypeGeneral", message))
    return errors


class FakeDataCite(FakeService):
    """DataCite's REST API for DOIs on 127.0.0.1 (see the module docstring)."""

    name = "fake DataCite"

    def __init__(
        self,
        *,
        username: str = "BIOSHARE.TEST",
        password: str = "secret-password",
        prefix: str = "10.80001",
        port: int = 0,
        strict_events: bool = False,
    ) -> None:
        super().__init__(port=port)
        self.username = username
        self.password = password
        self.prefix = prefix.lower()
        self.client_id = username.lower()
        self.provider_id = self.client_id.split(".", 1)[0]
        self.strict_events = strict_events
        self._db_lock = threading.Lock()
        self._records: dict[str, DataCiteRecord] = {}
        self._seq = 0
        self._conflicts = 0

    # -- helpers for tests --------------------------------------------------------------------

    @property
    def records(self) -> dict[str, DataCiteRecord]:
        """A copy of the stored DOIs, by lower-case DOI."""
        with self._db_lock:
            return copy.deepcopy(self._records)

    def state(self, doi: str) -> str | None:
        """``draft``, ``registered``, ``findable``, or None for an unknown DOI."""
        with self._db_lock:
            record = self._records.get(doi.lower())
            return record.state if record else None

    def add(
        self, doi: str, *, state: str = "findable", client_id: str | None = None, **attributes: Any
    ) -> DataCiteRecord:
        """Store a DOI directly, without validation (``client_id`` for another repository's)."""
        if state not in ("draft", "registered", "findable"):
            raise ValueError(f"unknown state {state!r}")
        now = _now()
        with self._db_lock:
            self._seq += 1
            record = DataCiteRecord(
                doi.lower(),
                state,
                _normalise(attributes),
                (client_id or self.client_id).lower(),
                now,
                now,
                registered=None if state == "draft" else now,
                metadata_version=1,
                seq=self._seq,
            )
            self._records[record.doi] = record
            return copy.deepcopy(record)

    def conflict(self, times: int = 1) -> None:
        """The next ``times`` creations (POST, or PUT of a new DOI) answer 409, as DataCite
        does when a concurrent request created the same DOI first: the DOI is stored."""
        with self._db_lock:
            self._conflicts += times

    def rate_limit(self, *, times: int = 1, retry_after: int = 1, path: str = "/dois*") -> None:
        """The next ``times`` requests to ``path`` answer 429 with ``Retry-After``."""
        title = (
            "Your request has been rate limited. See https://support.datacite.org/docs/rate-limit."
        )
        self.inject(
            "status",
            path=path,
            times=times,
            status=429,
            headers={"Retry-After": str(retry_after)},
            body={"errors": [{"status": "429", "title": title}]},
        )

    # -- routes -------------------------------------------------------------------------------

    def setup(self, app: web.Application) -> None:
        app.middlewares.append(self._consumer_headers)
        app.router.add_get("/heartbeat", self.heartbeat)
        app.router.add_get("/dois", self.list_dois)
        app.router.add_post("/dois", self.create)
        app.router.add_get("/dois/{doi:.+}", self.show)
        app.router.add_put("/dois/{doi:.+}", self.update)
        app.router.add_patch("/dois/{doi:.+}", self.update)
        app.router.add_delete("/dois/{doi:.+}", self.delete)

    @web.middleware
    async def _consumer_headers(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if self._auth(request):
            response.headers["X-Credential-Username"] = self.client_id
        else:
            response.headers["X-Anonymous-Consumer"] = "true"
        return response

    def _auth(self, request: web.Request) -> bool | None:
        """None without credentials, True for the account's, False for any others."""
        header = request.headers.get("Authorization")
        if not header:
            return None
        kind, _, token = header.partition(" ")
        if kind.lower() != "basic":
            return False
        try:
            user, _, password = (
                base64.b64decode(token.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return False
        return user.lower() == self.client_id and password == self.password

    @staticmethod
    async def _payload(request: web.Request) -> dict[str, Any] | web.Response:
        """The ``data.attributes`` of a write, or the 400 DataCite answers."""
        if request.content_type not in JSON_TYPES:
            return _errors(400, NO_PAYLOAD)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _errors(400, "Error occurred while parsing request parameters")
        data = body.get("data") if isinstance(body, dict) else None
        if not data or not isinstance(data, dict):
            return _errors(400, NO_PAYLOAD)
        attributes = data.get("attributes") or {}
        if not isinstance(attributes, dict):
            return _errors(400, NO_PAYLOAD)
        return attributes

    @staticmethod
    def _doi_from(request: web.Request) -> str:
        return unquote(request.match_info["doi"]).strip().lower()

    def _transition(self, state: str, event: Any) -> tuple[str, bool]:
        """(new state, whether ``event`` applied); no event applies trivially."""
        if event is None:
            return state, True
        target = EVENTS.get(event, {}).get(state) if isinstance(event, str) else None
        return (target, True) if target else (state, False)

    def _document(self, record: DataCiteRecord, request: web.Request) -> dict[str, Any]:
        a = record.attributes
        affiliation_objects = request.query.get("affiliation") == "true"
        publisher = a.get("publisher")
        if request.query.get("publisher") != "true" and isinstance(publisher, dict):
            publisher = publisher.get("name")
        year = a.get("publicationYear")
        issued = next(
            (
                d.get("date")
                for d in _listify(a.get("dates"))
                if isinstance(d, dict) and d.get("dateType") == "Issued"
            ),
            None,
        )
        identifiers = [
            i
            for i in _listify(a.get("identifiers"))
            if not isinstance(i, dict) or i.get("identifier") not in (record.doi, a.get("url"))
        ]
        attributes = {
            "doi": record.doi,
            "prefix": record.prefix,
            "suffix": record.suffix,
            "identifiers": identifiers,
            "alternateIdentifiers": [
                {
                    "alternateIdentifierType": i.get("identifierType"),
                    "alternateIdentifier": i.get("identifier"),
                }
                for i in identifiers
                if isinstance(i, dict)
            ],
            "creators": [_person_out(c, affiliation_objects) for c in _listify(a.get("creators"))],
            "titles": _listify(a.get("titles")),
            "publisher": publisher,
            "container": a.get("container") or {},
            "publicationYear": year,
            "subjects": _listify(a.get("subjects")),
            "contributors": [
                _person_out(c, affiliation_objects) for c in _listify(a.get("contributors"))
            ],
            "dates": _listify(a.get("dates")),
            "language": a.get("language"),
            "types": a.get("types") or {},
            "relatedIdentifiers": _listify(a.get("relatedIdentifiers")),
            "relatedItems": _listify(a.get("relatedItems")),
            "sizes": _listify(a.get("sizes")),
            "formats": _listify(a.get("formats")),
            "version": a.get("version"),
            "rightsList": _listify(a.get("rightsList")),
            "descriptions": _listify(a.get("descriptions")),
            "geoLocations": _listify(a.get("geoLocations")),
            "fundingReferences": _listify(a.get("fundingReferences")),
            "url": a.get("url"),
            "contentUrl": a.get("contentUrl"),
            "metadataVersion": record.metadata_version,
            "schemaVersion": a.get("schemaVersion"),
            "source": a.get("source"),
            "isActive": record.state == "findable",
            "state": record.state,
            "reason": a.get("reason"),
            "viewCount": 0,
            "viewsOverTime": [],
            "downloadCount": 0,
            "downloadsOverTime": [],
            "referenceCount": 0,
            "citationCount": 0,
            "citationsOverTime": [],
            "partCount": 0,
            "partOfCount": 0,
            "versionCount": 0,
            "versionOfCount": 0,
            "created": record.created,
            "registered": record.registered,
            "published": issued or (str(year) if year is not None else None),
            "updated": record.updated,
        }
        empty: dict[str, Any] = {"data": []}
        return {
            "id": record.doi,
            "type": "dois",
            "attributes": copy.deepcopy(attributes),
            "relationships": {
                "client": {"data": {"id": record.client_id, "type": "clients"}},
                "provider": {
                    "data": {"id": record.client_id.split(".", 1)[0], "type": "providers"}
                },
                "media": dict(empty),
                "references": dict(empty),
                "citations": dict(empty),
                "parts": dict(empty),
                "partOf": dict(empty),
                "versions": dict(empty),
                "versionOf": dict(empty),
            },
        }

    def _respond(
        self, record: DataCiteRecord, request: web.Request, status: int = 200
    ) -> web.Response:
        headers = {"Location": f"{self.url}/dois/{record.doi}"} if status == 201 else None
        return web.json_response(
            {"data": self._document(record, request)},
            status=status,
            content_type=JSONAPI,
            headers=headers,
        )

    # -- handlers -----------------------------------------------------------------------------

    async def heartbeat(self, request: web.Request) -> web.Response:
        return web.Response(text="OK")

    async def create(self, request: web.Request) -> web.Response:
        if not self._auth(request):
            return _errors(401, "Bad credentials.")
        attributes = await self._payload(request)
        if isinstance(attributes, web.Response):
            return attributes
        doi = str(attributes.get("doi") or "").strip().lower()
        prefix = str(attributes.get("prefix") or "").strip().lower()
        if not doi and prefix:
            doi = self._mint(prefix)
        return self._create(request, doi, attributes, status=201)

    def _mint(self, prefix: str) -> str:
        prefix, _, shoulder = prefix.partition("/")
        start = f"{prefix}/{shoulder}-" if shoulder else f"{prefix}/"
        with self._db_lock:
            while True:
                doi = start + _random_suffix()
                if doi not in self._records:
                    return doi

    def _create(
        self, request: web.Request, doi: str, attributes: dict[str, Any], *, status: int
    ) -> web.Response:
        if doi.split("/", 1)[0] != self.prefix:
            return _errors(403, FORBIDDEN)
        errors: list[tuple[str, str]] = []
        if not DOI_PATTERN.fullmatch(doi):
            errors.append(("doi", "is invalid"))
        with self._db_lock:
            if doi in self._records:
                errors.append(("doi", "This DOI has already been taken"))
        event = attributes.get("event")
        state, applied = self._transition("draft", event)
        if self.strict_events and not applied:
            errors.append(("event", f"Event '{event}' is not allowed from state 'draft'."))
        metadata = _normalise(attributes)
        errors += validate(doi, metadata, state)
        if errors:
            return _invalid(doi, errors)
        now = _now()
        with self._db_lock:
            if doi in self._records:  # created meanwhile
                return _invalid(doi, [("doi", "This DOI has already been taken")])
            self._seq += 1
            record = DataCiteRecord(
                doi,
                state,
                metadata,
                self.client_id,
                now,
                now,
                registered=None if state == "draft" else now,
                metadata_version=1 if metadata else 0,
                seq=self._seq,
            )
            self._records[doi] = record
            conflict = self._conflicts > 0
            self._conflicts -= conflict
        if conflict:
            return _errors(409, "The resource already exists.")
        return self._respond(record, request, status=status)

    async def show(self, request: web.Request) -> web.Response:
        auth = self._auth(request)
        if auth is False:
            return _errors(401, "Bad credentials.")
        with self._db_lock:
            record = copy.deepcopy(self._records.get(self._doi_from(request)))
        if record is None or (
            record.state != "findable" and not (auth and record.client_id == self.client_id)
        ):
            return _errors(404, NOT_FOUND)
        return self._respond(record, request)

    async def update(self, request: web.Request) -> web.Response:
        if not self._auth(request):
            return _errors(401, "Bad credentials.")
        doi = self._doi_from(request)
        with self._db_lock:
            existing = copy.deepcopy(self._records.get(doi))
        if existing is None:
            if not DOI_PATTERN.fullmatch(doi):
                return _errors(404, NOT_FOUND)
            attributes = await self._payload(request)
            if isinstance(attributes, web.Response):
                return attributes
            return self._create(request, doi, attributes, status=201)
        if existing.client_id != self.client_id:
            return _errors(403, FORBIDDEN)
        attributes = await self._payload(request)
        if isinstance(attributes, web.Response):
            return attributes
        event = attributes.get("event")
        state, applied = self._transition(existing.state, event)
        errors: list[tuple[str, str]] = []
        if self.strict_events and not applied:
            message = f"Event '{event}' is not allowed from state '{existing.state}'."
            errors.append(("event", message))
        changes = _normalise(attributes)
        merged = {**existing.attributes, **changes}
        merged = {key: value for key, value in merged.items() if value is not None}
        errors += validate(doi, merged, state)
        if errors:
            return _invalid(doi, errors)
        with self._db_lock:
            record = self._records.get(doi)
            if record is None:  # deleted meanwhile
                return _errors(404, NOT_FOUND)
            now = _now()
            if record.state == "draft" and state != "draft":
                record.registered = now
            record.state = state
            record.attributes = merged
            record.metadata_version += 1 if set(changes) - {"url"} else 0
            record.updated = now
            self._seq += 1
            record.seq = self._seq
            answer = copy.deepcopy(record)
        return self._respond(answer, request)

    async def delete(self, request: web.Request) -> web.Response:
        if not self._auth(request):
            return _errors(401, "Bad credentials.")
        doi = self._doi_from(request)
        with self._db_lock:
            record = self._records.get(doi)
            if record is None:
                return _errors(404, NOT_FOUND)
            if record.client_id != self.client_id:
                return _errors(403, FORBIDDEN)
            if record.state != "draft":
                return _errors(
                    405,
                    "Method not allowed",
                    headers={"Allow": "HEAD, GET, POST, PATCH, PUT, OPTIONS"},
                )
            del self._records[doi]
        return web.Response(status=204)

    async def list_dois(self, request: web.Request) -> web.Response:
        auth = self._auth(request)
        if auth is False:
            return _errors(401, "Bad credentials.")
        q = request.query
        try:
            size = min(int(q.get("page[size]", "25")), 1000)
            number = max(int(q.get("page[number]", "1")), 1)
        except ValueError:
            return _errors(400, "Invalid page parameters.")
        size = max(size, 0)
        number = min(number, 10_000 // size if size > 0 else 1)
        wanted_states = set(q.get("state", "").split(",")) - {""} if auth else {"findable"}
        words = re.findall(r"\w+", q.get("query", "").casefold())
        with self._db_lock:
            records = copy.deepcopy(list(self._records.values()))
        found = []
        for record in records:
            if record.state != "findable" and not (auth and record.client_id == self.client_id):
                continue
            if wanted_states and record.state not in wanted_states:
                continue
            if not self._matches(record, q, words):
                continue
            found.append(record)
        sort = q.get("sort", "-updated")
        found.sort(key=_sort_key(sort.lstrip("-")), reverse=sort.startswith("-"))
        total = len(found)
        start = (number - 1) * size
        page = found[start : start + size]
        links = {"self": str(request.url)}
        total_pages = math.ceil(total / size) if size else 0
        if size and start + size < total:
            links["next"] = str(request.url.update_query({"page[number]": str(number + 1)}))
        return web.json_response(
            {
                "data": [self._document(record, request) for record in page],
                "meta": {"total": total, "totalPages": total_pages, "page": number},
                "links": links,
            },
            content_type=JSONAPI,
        )

    @staticmethod
    def _matches(record: DataCiteRecord, q: Any, words: list[str]) -> bool:
        a = record.attributes
        if q.get("client-id") and record.client_id != q["client-id"].lower():
            return False
        if q.get("prefix") and record.prefix != q["prefix"].lower():
            return False
        types = a.get("types") if isinstance(a.get("types"), dict) else {}
        general = re.sub(r"(?<!^)(?=[A-Z])", "-", str(types.get("resourceTypeGeneral", ""))).lower()
        if q.get("resource-type-id") and general != q["resource-type-id"].lower():
            return False
        if not words:
            return True
        texts = [record.doi, json.dumps(a.get("publisher"))]
        for key in ("titles", "creators", "descriptions", "subjects", "contributors"):
            texts.append(json.dumps(a.get(key), ensure_ascii=False))
        text = " ".join(texts).casefold()
        return all(word in text for word in words)


def _sort_key(field: str) -> Any:
    """A sort key for ``sort=name|created|updated`` (``-`` for descending, applied outside)."""
    if field == "name":
        return lambda record: record.doi
    if field == "created":
        return lambda record: (record.created, record.doi)
    return lambda record: record.seq  # updated, the default
