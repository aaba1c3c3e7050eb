"""What a publish returns: identifiers, links, files, and how to cite it."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Publication", "PublishPlan", "PublishedFile"]


@dataclass(frozen=True)
class PublishedFile:
    """One file of a publication."""

    name: str
    size: int
    md5: str


@dataclass(frozen=True)
class Publication:
    """A published dataset.

    ``doi`` is None for the ``local`` target, whose ``record_id`` (``local:...``) is an
    identifier of this machine only.
    """

    target: str
    record_id: str
    url: str
    doi: str | None = None
    concept_doi: str | None = None
    title: str = ""
    creators: tuple[str, ...] = ()
    year: int | None = None
    publisher: str = ""
    files: tuple[PublishedFile, ...] = ()
    path: str | None = None  # the folder of a local publication

    @property
    def doi_url(self) -> str | None:
        return f"https://doi.org/{self.doi}" if self.doi else None

    def citation(self) -> str:
        """A DataCite-style citation: Creators (Year). Title. Publisher. DOI or URL."""
        names = "; ".join(self.creators) or "Anonymous"
        year = f" ({self.year})" if self.year else ""
        where = self.doi_url or self.url
        publisher = f" {self.publisher}." if self.publisher else ""
        return f"{names}{year}. {self.title}.{publisher} {where}"

    def badge(self) -> str:
        """A Markdown DOI badge (a plain link for local publications)."""
        if not self.doi:
            return f"[{self.record_id}]({self.url})"
        image = f"https://zenodo.org/badge/DOI/{self.doi}.svg"
        return f"[![DOI]({image})]({self.doi_url})"

    def _repr_html_(self) -> str:
        link = self.doi_url or self.url
        label = self.doi or self.record_id
        return (
            f"<p><b>{html.escape(self.title)}</b> published to {html.escape(self.target)}: "
            f"<a href='{html.escape(link)}' target='_blank'>{html.escape(label)}</a></p>"
            f"<p><code>{html.escape(self.citation())}</code></p>"
        )


@dataclass(frozen=True)
class PublishPlan:
    """What a dry run found: the files, their checksums, the metadata, no network used."""

    target: str
    files: tuple[PublishedFile, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def __str__(self) -> str:
        lines = [
            f"Dry run for {self.target}: {len(self.files)} file(s), {self.total_bytes:,} bytes"
        ]
        lines += [f"  {f.name}  {f.size:,} bytes  md5 {f.md5}" for f in self.files]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
