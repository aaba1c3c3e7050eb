"""Register DOIs with the DataCite REST API: a draft first, then findable."""

from __future__ import annotations

from typing import Any

from bioshare._http import ApiClient, ApiError

__all__ = ["DataCiteClient"]

JSONAPI = {"Content-Type": "application/vnd.api+json", "Accept": "application/vnd.api+json"}
# DataCite returns publisher and affiliations as objects only when asked.
READ = {"publisher": "true", "affiliation": "true"}


class DataCiteClient:
    """DOIs of one DataCite repository account (Basic auth, JSON:API bodies)."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.5,
    ) -> None:
        import base64

        credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.base_url = base_url.rstrip("/")
        self.api = ApiClient(
            self.base_url,
            name="DataCite",
            timeout=timeout,
            retries=retries,
            backoff=backoff,
            headers={"Authorization": f"Basic {credentials}"},
        )

    def __repr__(self) -> str:
        return f"DataCiteClient({self.base_url!r})"

    def get(self, doi: str) -> dict[str, Any] | None:
        """The DOI's attributes (with its ``state``), or None when DataCite does not know it."""
        try:
            body = self.api.request("GET", f"/dois/{doi}", params=READ, headers=JSONAPI).json()
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        return dict(body["data"]["attributes"])

    def create_draft(self, attributes: dict[str, Any]) -> str:
        """A draft DOI (``doi`` or ``prefix`` in ``attributes``); returns the DOI."""
        draft = {k: v for k, v in attributes.items() if k != "event"}
        body = {"data": {"type": "dois", "attributes": draft}}
        response = self.api.request("POST", "/dois", params=READ, json=body, headers=JSONAPI)
        return str(response.json()["data"]["id"])

    def publish(self, doi: str, attributes: dict[str, Any]) -> dict[str, Any]:
        """Make the DOI findable with these attributes (its metadata and landing ``url``)."""
        data = {k: v for k, v in attributes.items() if k not in ("prefix", "event")}
        body = {"data": {"type": "dois", "attributes": {**data, "doi": doi, "event": "publish"}}}
        response = self.api.request("PUT", f"/dois/{doi}", params=READ, json=body, headers=JSONAPI)
        return dict(response.json()["data"]["attributes"])
