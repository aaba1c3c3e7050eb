"""Publishing to an InvenioRDM instance (Zenodo included), step by step, resumably."""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Any

from bioshare._http import ApiError
from bioshare.errors import BioshareError
from bioshare.metadata.study import Study
from bioshare.publishing import files as sources
from bioshare.publishing.invenio import InvenioClient
from bioshare.publishing.journal import Journal
from bioshare.publishing.package import PackedFile, file_md5
from bioshare.publishing.progress import Progress, bars
from bioshare.publishing.publication import Publication, PublishedFile

__all__ = ["InvenioPublisher"]

_ZENODO_DOI = re.compile(r"^10\.\d+/zenodo\.(\d+)$", re.I)


class InvenioPublisher:
    """One publication job: draft, DOI, uploads, publish; every step in the journal."""

    def __init__(
        self, client: InvenioClient, journal: Journal, staging: Path, name: str, target: str
    ) -> None:
        self.client = client
        self.journal = journal
        self.staging = staging
        self.name = name
        self.target = target

    def run(
        self,
        study: Study,
        found: list[tuple[Path, str]],
        *,
        new_version_of: str | None = None,
        progress: Progress = True,
    ) -> Publication:
        journal = self.journal
        total = sources.source_bytes(found)
        with bars(total, progress, f"packing for {self.name}") as bar:
            packed = sources.prepare(
                found, self.staging, known=journal.files, progress=bar("packing", total)
            )
        manifest = _manifest_md5(packed)
        if new_version_of and journal.version_of != new_version_of:
            journal = self.journal = _next_job(journal)  # a new version is a new job
            journal.version_of = new_version_of
        if journal.state == "published":
            if journal.manifest_md5 == manifest and journal.record_id:
                return self._publication(study, journal.record_id)
            raise BioshareError(
                f"{journal.source} was published before as {journal.doi}; to publish the "
                f"changes pass new_version_of={journal.doi!r}"
            )
        journal.manifest_md5 = manifest
        for (path, _), item in zip(found, packed, strict=True):
            entry = journal.files.setdefault(item.name, {})
            entry.update(size=item.size, md5=item.md5, fingerprint=sources.fingerprint(path))
        record_id, draft = self._draft(study, new_version_of)
        if draft is None:  # published already, by a run that died before noting it
            return self._finish(study, record_id)
        doi = self.client.reserve_doi(record_id, draft)
        journal.doi = doi
        journal.save()
        crate = self._crate(study, doi, packed)
        self._upload(record_id, [*packed, crate], progress)
        return self._publish(study, record_id)

    # -- steps --------------------------------------------------------------------------------

    def _draft(self, study: Study, new_version_of: str | None) -> tuple[str, dict[str, Any] | None]:
        from bioshare.metadata.exports import to_invenio

        journal = self.journal
        if journal.record_id:
            draft = self.client.draft(journal.record_id)
            if draft is not None:
                return journal.record_id, draft
            if self.client.is_published(journal.record_id):
                return journal.record_id, None
        body = to_invenio(_without_doi(study))
        if new_version_of:
            previous = self._record_id_of(new_version_of)
            draft = self.client.new_version(previous)
            draft = self.client.update_draft(str(draft["id"]), {**draft, **body})
        else:
            draft = self.client.create_draft(body)
        journal.record_id = str(draft["id"])
        journal.base_url = self.client.base_url
        journal.state = "draft"
        for entry in journal.files.values():
            entry["done"] = False  # a new draft holds none of them yet
        journal.save()
        return journal.record_id, draft

    def _crate(self, study: Study, doi: str, packed: list[PackedFile]) -> PackedFile:
        """The RO-Crate metadata of the publication, with its reserved DOI."""
        from bioshare.metadata.exports import to_rocrate
        from bioshare.reproduce.bundle import mark_analysis

        described = sources.with_packed_files(study, packed)
        described = mark_analysis(described, {p.name: p.size for p in packed})
        described.doi = doi
        folder = to_rocrate(described, self.staging / "crate", publisher=self.name, overwrite=True)
        path = folder / "ro-crate-metadata.json"
        return PackedFile(path.name, path, path.stat().st_size, file_md5(path))

    def _upload(self, record_id: str, packed: list[PackedFile], progress: Progress) -> None:
        journal = self.journal
        held = self.client.files(record_id)
        wanted = {p.name for p in packed}
        for key in sorted(set(held) - wanted):  # a new version dropping a file
            self.client.delete_file(record_id, key)
        missing = [p for p in packed if not _holds(held.get(p.name), p)]
        for item in packed:
            if item not in missing:
                journal.file_done(item.name, item.size, item.md5)
        with bars(sum(p.size for p in missing), progress, f"uploading to {self.name}") as bar:
            for item in missing:
                self.client.upload(record_id, item, bar(item.name, item.size))
                journal.file_done(item.name, item.size, item.md5)

    def _publish(self, study: Study, record_id: str) -> Publication:
        try:
            self.client.publish(record_id)
        except ApiError:
            if not self.client.is_published(record_id):  # a lost answer to a publish that worked
                raise
        return self._finish(study, record_id)

    def _finish(self, study: Study, record_id: str) -> Publication:
        journal = self.journal
        journal.state = "published"
        publication = self._publication(study, record_id)
        journal.doi, journal.concept_doi, journal.url = (
            publication.doi,
            publication.concept_doi,
            publication.url,
        )
        journal.save()
        shutil.rmtree(self.staging, ignore_errors=True)
        return publication

    def _publication(self, study: Study, record_id: str) -> Publication:
        record = self.client.record(record_id)
        pids = record.get("pids") or {}
        parent = (record.get("parent") or {}).get("pids") or {}
        links = record.get("links") or {}
        entries = (record.get("files") or {}).get("entries") or {}
        files = tuple(
            PublishedFile(str(e.get("key")), int(e.get("size") or 0), _md5(e))
            for e in (entries.values() if isinstance(entries, dict) else entries)
        )
        published = ((record.get("metadata") or {}).get("publication_date") or "")[:4]
        return Publication(
            target=self.target,
            record_id=str(record_id),
            url=str(links.get("self_html") or links.get("html") or links.get("self") or ""),
            doi=(pids.get("doi") or {}).get("identifier") or self.journal.doi,
            concept_doi=(parent.get("doi") or {}).get("identifier"),
            title=study.title or "",
            creators=tuple(a.display_name or "" for a in study.author),
            year=int(published) if published.isdigit() else None,
            publisher=self.name,
            files=files,
        )

    def _record_id_of(self, identifier: str) -> str:
        """A record id from a record id, a Zenodo DOI, or any DOI the instance minted."""
        text = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", identifier.strip(), flags=re.I)
        match = _ZENODO_DOI.match(text)
        if match:
            return match.group(1)
        if not text.startswith("10."):
            return text
        found = self.client.api.request(
            "GET", "/api/records", params={"q": f'pids.doi.identifier:"{text}"'}
        ).json()
        hits = (found.get("hits") or {}).get("hits") or []
        if not hits:
            raise BioshareError(f"{self.name} has no record with DOI {text}")
        return str(hits[0]["id"])


def _holds(entry: dict[str, Any] | None, item: PackedFile) -> bool:
    """Whether the server holds ``item`` already, complete and with the same md5."""
    if entry is None:
        return False
    return entry.get("status", "completed") == "completed" and _md5(entry) == item.md5


def _md5(entry: dict[str, Any]) -> str:
    return str(entry.get("checksum") or "").removeprefix("md5:")


def _manifest_md5(packed: list[PackedFile]) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    for item in sorted(packed, key=lambda p: p.name):
        digest.update(f"{item.name}\0{item.md5}\n".encode())
    return digest.hexdigest()


def _without_doi(study: Study) -> Study:
    copy = study.model_copy(deep=True)
    copy.doi = None
    return copy


def _next_job(journal: Journal) -> Journal:
    """A fresh journal at the same place, remembering only how files were packed."""
    fresh = Journal(
        journal.path,
        target=journal.target,
        source=journal.source,
        sandbox=journal.sandbox,
        metadata_path=journal.metadata_path,
    )
    fresh.files = {
        name: {k: v for k, v in entry.items() if k != "done"}
        for name, entry in journal.files.items()
    }
    return fresh
