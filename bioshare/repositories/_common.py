"""Helpers that the REST adapters (OMERO, TCIA, XNAT) share: values, filters, JSON reads."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bioshare._http import ApiClient, ApiError
from bioshare.repositories.base import DatasetRecord, RecordNotFoundError, RepositoryError

__all__ = ["aget_json", "check_filters", "passes_filters", "stripped"]

_RAISE: Any = object()


def stripped(value: Any) -> str:
    """``value`` stripped if it is a string, else ``""`` (for fields of unknown shape)."""
    return value.strip() if isinstance(value, str) else ""


def check_filters(filters: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The filters that are set (not None nor ``""``); a `TypeError` names unknown ones."""
    known = tuple(known)
    unknown = set(filters) - set(known)
    if unknown:
        raise TypeError(f"unknown search filters {sorted(unknown)}; expected some of {known}")
    return {k: v for k, v in filters.items() if v is not None and v != ""}


def passes_filters(
    record: DatasetRecord, filters: Mapping[str, Any], keywords: Iterable[str] = ()
) -> bool:
    """Whether ``record`` passes ``filters``.

    The filters named in ``keywords`` (such as ``modality``: ``"CT"``) must be one of the
    record's keywords, in any case; the others are the common ones of
    `bioshare.catalog.matching.matches_filters`.
    """
    from bioshare.catalog.matching import matches_filters

    keywords = tuple(keywords)
    have = {k.casefold() for k in record.keywords}
    for key in keywords:
        wanted = str(filters.get(key, "")).strip().casefold()
        if wanted and wanted not in have:
            return False
    return matches_filters(record, **{k: v for k, v in filters.items() if k not in keywords})


async def aget_json(
    client: ApiClient,
    path: str,
    params: Mapping[str, Any] | None = None,
    *,
    label: str,
    missing: str | None = None,
    empty: Any = _RAISE,
) -> Any:
    """GET JSON with the adapters' errors.

    A 404 means ``missing`` (``"project 'X'"``) does not exist: `RecordNotFoundError`
    ("<label> has no <missing>"); a successful answer whose body is not JSON is a
    `RepositoryError`; ``empty``, when given, is the value of an empty body or HTTP 204.
    Other errors (`bioshare._http.ApiError`, `bioshare.errors.AccessDeniedError`) pass.
    """
    try:
        if empty is _RAISE:
            return await client.aget_json(path, params)
        return await client.aget_json(path, params, empty=empty)
    except ApiError as exc:
        if exc.status == 404 and missing:
            raise RecordNotFoundError(f"{label} has no {missing}") from exc
        if exc.status is not None and exc.status < 400:  # 2xx with a body that is not JSON
            raise RepositoryError(str(exc)) from exc
        raise
