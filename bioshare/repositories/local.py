"""The local repository: the JSON API of a `bioshare serve` server (the demo's default)."""

from __future__ import annotations

from typing import Any

from bioshare import config
from bioshare._http import ApiClient, ApiError
from bioshare.repositories.base import (
    DatasetRecord,
    ImageRef,
    RecordNotFoundError,
    Repository,
    RepositoryError,
)

__all__ = ["LocalRepository"]

_PAGE = 1000  # the server's largest page


class LocalRepository(Repository):
    """Datasets served by ``bioshare serve`` (``BIOSHARE_LOCAL_URL`` by default).

    Record ids are the dataset names the server gives (``v0.5/cells.ome.zarr``); each
    dataset is one OME-Zarr image or plate.
    """

    name = "local"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        retries: int | None = None,
        backoff: float = 0.25,
    ) -> None:
        self.base_url = (base_url or config.service_url("local")).rstrip("/")
        self.client = ApiClient(
            self.base_url,
            name="local repository",
            timeout=timeout,
            retries=retries,
            backoff=backoff,
        )

    async def asearch(self, query: str, *, limit: int = 20, **filters: Any) -> list[DatasetRecord]:
        records: list[DatasetRecord] = []
        offset = 0
        while len(records) < limit:
            size = min(_PAGE, limit - len(records))
            page = await self.client.aget_json(
                "/api/datasets", params={"q": query, "limit": size, "offset": offset}
            )
            results = _field(page, "results", list, "/api/datasets")
            records += [self._record(summary) for summary in results]
            offset += len(results)
            if not results or offset >= int(page.get("total", 0)):
                break
        return records[:limit]

    async def aget(self, record_id: str) -> DatasetRecord:
        return self._record(await self._summary(record_id))

    async def aimages(self, record_id: str) -> list[ImageRef]:
        summary = await self._summary(record_id)
        shape = summary.get("shape")
        return [
            ImageRef(
                repository=self.name,
                id=str(summary["name"]),
                name=str(summary.get("title") or summary["name"]),
                zarr_url=str(summary["url"]),
                shape=tuple(shape) if shape else None,
                dtype=summary.get("dtype"),
                dims=tuple(summary["dims"]) if summary.get("dims") else None,
                dataset_id=str(summary["name"]),
            )
        ]

    async def _summary(self, record_id: str) -> dict[str, Any]:
        path = f"/api/datasets/{record_id.strip('/')}"
        try:
            summary = await self.client.aget_json(path)
        except ApiError as exc:
            if exc.status == 404:
                raise RecordNotFoundError(
                    f"the local repository at {self.base_url} has no dataset {record_id!r}"
                ) from exc
            raise
        if not isinstance(summary, dict) or "name" not in summary or "url" not in summary:
            raise RepositoryError(
                f"{self.client.url(path)} answered {type(summary).__name__}; expected a "
                "dataset summary with 'name' and 'url'"
            )
        return summary

    def _record(self, summary: Any) -> DatasetRecord:
        if not isinstance(summary, dict) or "name" not in summary:
            raise RepositoryError(
                f"{self.base_url}/api/datasets returned a result without 'name': {summary!r}"
            )
        fields = summary.get("wells") if summary.get("kind") == "plate" else 1
        return DatasetRecord(
            repository=self.name,
            id=str(summary["name"]),
            title=str(summary.get("title") or summary["name"]),
            description=str(summary.get("description") or ""),
            url=str(summary.get("url", "")),
            license=summary.get("license"),
            keywords=tuple(str(c) for c in summary.get("channels", [])),
            image_count=int(fields) if isinstance(fields, int) else None,
            size_bytes=summary.get("size_bytes"),
            has_ome_zarr=True,
        )


def _field(document: Any, key: str, kind: type, where: str) -> Any:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, kind):
        raise RepositoryError(
            f"local repository {where}: field {key!r} is {type(value).__name__}; "
            f"expected {kind.__name__}"
        )
    return value
