"""The I/O planner: fetch NGFF metadata in as few sequential round trips as possible.

Nothing here lists keys or probes for what was not asked for. A group costs one round
(``zarr.json`` and ``.zattrs`` together while the Zarr format is unknown, one of them once
it is known); the array metadata of every level needed costs one more round, fetched
concurrently, and the zarr arrays are built from those bytes without fetching them again.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from zarr.abc.store import Store
from zarr.core.buffer import default_buffer_prototype

from bioshare.errors import MetadataError, NotOMEZarrError

T = TypeVar("T")

# Requests in flight at once: one wave for a 96-well plate, bounded for huge plates.
MAX_CONCURRENT_REQUESTS = 128


@dataclass(frozen=True)
class Group:
    """A group's attributes and the Zarr format they were found in."""

    path: str
    zarr_format: int
    attrs: dict[str, Any]
    consolidated: dict[str, Any] | None = None  # zarr v3 consolidated metadata, if any


def join(*parts: str) -> str:
    """Join store paths, ignoring empty parts."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


async def gather_bounded(
    coros: Iterable[Awaitable[T]], limit: int = MAX_CONCURRENT_REQUESTS
) -> list[T]:
    """Like `asyncio.gather`, with at most ``limit`` awaitables in flight."""
    semaphore = asyncio.Semaphore(limit)

    async def run(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(run(c) for c in coros))


async def get_json(store: Store, key: str, url: str) -> dict[str, Any] | None:
    """Fetch and decode one JSON document; None when the key does not exist."""
    buffer = await store.get(key, prototype=default_buffer_prototype())
    if buffer is None:
        return None
    try:
        value = json.loads(buffer.to_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MetadataError(f"{url}/{key} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MetadataError(f"{url}/{key} holds {type(value).__name__}; expected a JSON object")
    return value


async def read_group(store: Store, path: str, url: str, zarr_format: int | None = None) -> Group:
    """Read a group's attributes in one round trip.

    With ``zarr_format`` unknown, ``zarr.json`` and ``.zattrs`` are requested together;
    once known, only the one document of that format is requested.
    """
    where = f"{url}/{path}" if path else url
    if zarr_format == 3:
        v3, v2 = await get_json(store, join(path, "zarr.json"), url), None
    elif zarr_format == 2:
        v3, v2 = None, await get_json(store, join(path, ".zattrs"), url)
    else:
        v3, v2 = await asyncio.gather(
            get_json(store, join(path, "zarr.json"), url),
            get_json(store, join(path, ".zattrs"), url),
        )
    if v3 is not None:
        if v3.get("node_type") != "group":
            raise NotOMEZarrError(
                f"{where} is a Zarr {v3.get('node_type', 'node')}, not a group; "
                "expected the root group of an OME-Zarr"
            )
        consolidated = v3.get("consolidated_metadata") or None
        return Group(path, 3, v3.get("attributes", {}), consolidated)
    if v2 is not None:
        return Group(path, 2, v2)
    expected = {3: "zarr.json", 2: ".zattrs"}.get(zarr_format or 0, "zarr.json or .zattrs")
    raise NotOMEZarrError(
        f"no OME-Zarr metadata at {where}: {expected} not found; expected an OME-Zarr group "
        "(NGFF 0.5: zarr.json with attributes.ome; 0.4: .zattrs with multiscales)"
    )


async def read_array_metadata(
    store: Store, paths: list[str], url: str, zarr_format: int, group: Group | None = None
) -> dict[str, dict[str, Any]]:
    """Fetch the metadata documents of several arrays concurrently (one round trip).

    Arrays found in the group's consolidated metadata are not fetched at all.
    """
    known: dict[str, dict[str, Any]] = {}
    if group is not None and group.consolidated:
        entries = group.consolidated.get("metadata", {})
        for path in paths:
            relative = path[len(group.path) :].strip("/") if group.path else path
            if relative in entries:
                known[path] = entries[relative]
    missing = [p for p in paths if p not in known]
    name = "zarr.json" if zarr_format == 3 else ".zarray"
    docs = await gather_bounded(get_json(store, join(p, name), url) for p in missing)
    for path, doc in zip(missing, docs, strict=True):
        if doc is None:
            raise MetadataError(
                f"{url}/{join(path, name)} not found: the multiscales metadata lists the "
                f"dataset {path!r} but there is no Zarr array there"
            )
        known[path] = doc
    return known
