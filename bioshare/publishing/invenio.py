"""A small InvenioRDM client (Zenodo runs InvenioRDM): drafts, files, DOIs, versions.

Only what publishing needs, following the InvenioRDM REST API
(``/api/records/{id}/draft``, ``.../draft/files``, ``.../draft/pids/doi``,
``.../draft/actions/publish``, ``/api/records/{id}/versions``). Uploads stream from disk
with ``Content-Type: application/octet-stream`` and an explicit ``Content-Length``, and
every file's md5 is compared with the checksum the server computed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from bioshare._http import ApiClient, ApiError
from bioshare.errors import BioshareError
from bioshare.publishing.package import BLOCK, PackedFile

__all__ = ["ChecksumError", "InvenioClient"]

JSON = {"Content-Type": "application/json", "Accept": "application/json"}
NATIVE = {"Accept": "application/vnd.inveniordm.v1+json"}


class ChecksumError(BioshareError):
    """The server stored a file whose md5 differs from the local one."""


class InvenioClient:
    """Drafts, files, DOIs and versions of one InvenioRDM instance.

    Parameters
    ----------
    base_url
        The instance (``https://zenodo.org``, ``https://sandbox.zenodo.org``...).
    token
        A personal access token, sent only in the ``Authorization`` header.
    name
        For messages (``"Zenodo sandbox"``).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        name: str = "InvenioRDM",
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.5,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.api = ApiClient(
            self.base_url,
            name=name,
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            headers={"Authorization": f"Bearer {token}"},
        )

    def __repr__(self) -> str:  # never the token
        return f"InvenioClient({self.base_url!r})"

    # -- drafts -------------------------------------------------------------------------------

    def create_draft(self, body: dict[str, Any]) -> dict[str, Any]:
        """A new draft from ``body`` (``metadata``, ``access``, ``files``); returns it."""
        return self._json("POST", "/api/records", json=body, headers=JSON)

    def draft(self, record_id: str) -> dict[str, Any] | None:
        """The draft of ``record_id``, or None when there is none (published or deleted)."""
        try:
            return self._json("GET", f"/api/records/{record_id}/draft", headers=JSON)
        except ApiError as exc:
            if exc.status in (404, 410):
                return None
            raise

    def update_draft(self, record_id: str, draft: dict[str, Any]) -> dict[str, Any]:
        """Replace the draft's metadata (and access) with those of ``draft``."""
        body = {k: draft[k] for k in ("metadata", "access", "files", "pids") if k in draft}
        return self._json("PUT", f"/api/records/{record_id}/draft", json=body, headers=JSON)

    def reserve_doi(self, record_id: str, draft: dict[str, Any]) -> str:
        """The draft's DOI, reserved now if it has none yet."""
        doi = ((draft.get("pids") or {}).get("doi") or {}).get("identifier")
        if doi:
            return str(doi)
        reserved = self._json("POST", f"/api/records/{record_id}/draft/pids/doi", headers=JSON)
        return str(reserved["pids"]["doi"]["identifier"])

    def publish(self, record_id: str) -> dict[str, Any]:
        """Publish the draft (202); returns the published record."""
        self.api.request("POST", f"/api/records/{record_id}/draft/actions/publish", headers=JSON)
        return self.record(record_id)

    def record(self, record_id: str) -> dict[str, Any]:
        """The published record (native InvenioRDM JSON)."""
        return self._json("GET", f"/api/records/{record_id}", headers=NATIVE)

    def is_published(self, record_id: str) -> bool:
        try:
            record = self.record(record_id)
        except ApiError as exc:
            if exc.status in (404, 410):
                return False
            raise
        return not record.get("is_draft", False) and record.get("status") != "draft"

    def new_version(self, record_id: str) -> dict[str, Any]:
        """A new version draft of a published record, with its files imported."""
        draft = self._json("POST", f"/api/records/{record_id}/versions", headers=JSON)
        self._json("POST", f"/api/records/{draft['id']}/draft/actions/files-import", headers=JSON)
        return draft

    # -- files --------------------------------------------------------------------------------

    def files(self, record_id: str) -> dict[str, dict[str, Any]]:
        """The draft's files by key."""
        listing = self._json("GET", f"/api/records/{record_id}/draft/files", headers=JSON)
        return {str(e["key"]): e for e in listing.get("entries") or []}

    def delete_file(self, record_id: str, key: str) -> None:
        self.api.request("DELETE", f"/api/records/{record_id}/draft/files/{key}")

    def upload(
        self,
        record_id: str,
        packed: PackedFile,
        progress: Callable[[int], object] | None = None,
        *,
        attempts: int = 2,
    ) -> dict[str, Any]:
        """Upload one file and check the server's md5; retry once on a mismatch."""
        base = f"/api/records/{record_id}/draft/files"
        for attempt in range(attempts):
            if packed.name in self.files(record_id):
                self.delete_file(record_id, packed.name)
            self._json("POST", base, json=[{"key": packed.name}], headers=JSON)
            self.api.request(
                "PUT",
                f"{base}/{packed.name}/content",
                content=lambda: _blocks(packed.path, progress),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(packed.size),
                },
            )
            entry = self._json("POST", f"{base}/{packed.name}/commit", headers=JSON)
            if _md5(entry) == packed.md5:
                return entry
            if attempt + 1 == attempts:
                raise ChecksumError(
                    f"{self.name} stored {packed.name} with md5 {_md5(entry)}, but the local "
                    f"file's md5 is {packed.md5} (tried {attempts} times); the upload was "
                    "corrupted on the way: try again later"
                )
        raise AssertionError("unreachable")

    # -- helpers ------------------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.api.request(method, path, **kwargs)
        if not response.content:
            return {}
        body = response.json()
        return body if isinstance(body, dict) else {"entries": body}


def _md5(entry: dict[str, Any]) -> str:
    checksum = str(entry.get("checksum") or "")
    return checksum.removeprefix("md5:")


def _blocks(path: Path, progress: Callable[[int], object] | None) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(BLOCK):
            yield block
            if progress is not None:
                progress(len(block))
