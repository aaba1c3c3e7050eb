"""`bioshare.publish`: one call from an annotated dataset to a citable publication.

Every target follows the same steps: read and check the metadata, pack each OME-Zarr as
one zip (checksummed while written), then create or resume a draft, upload what the
server does not hold yet, and publish once. A journal in the cache folder records each
step, so a publish that died midway continues on the next call without a second draft, a
second upload of a finished file, or a second publication.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bioshare import config
from bioshare.errors import BioshareError, MetadataError
from bioshare.metadata.study import Study
from bioshare.publishing import files as sources
from bioshare.publishing.credentials import datacite_credentials, token_for
from bioshare.publishing.journal import Journal, journal_path
from bioshare.publishing.package import PackedFile
from bioshare.publishing.progress import Progress, bars
from bioshare.publishing.publication import Publication, PublishedFile, PublishPlan

if TYPE_CHECKING:
    from bioshare.reproduce.crate import Analysis

__all__ = ["publish"]

TARGETS = ("local", "zenodo", "invenio:<base-url>", "datacite")
CRATE_FILE = "ro-crate-metadata.json"
STUDY_FILE = "bioshare-study.json"  # the whole study, written into every crate


def publish(
    path: str | os.PathLike[str],
    metadata: Study | str | os.PathLike[str],
    *,
    target: str = "local",
    token: str | None = None,
    sandbox: bool = True,
    dry_run: bool = False,
    resume: bool = True,
    new_version_of: str | None = None,
    url: str | None = None,
    local_root: str | os.PathLike[str] | None = None,
    progress: Progress = True,
    analysis: Analysis | str | os.PathLike[str] | None = None,
    allow_identifiable: bool = False,
) -> Publication | PublishPlan:
    """Publish a dataset with its metadata.

    Parameters
    ----------
    path
        An OME-Zarr, a folder of them (and other files), or a file.
    metadata
        A `bioshare.metadata.Study`, or the path of a filled metadata spreadsheet.
    target
        ``"local"`` (an RO-Crate in the folder the local repository serves; the default),
        ``"zenodo"``, ``"invenio:<base-url>"`` (any InvenioRDM) or ``"datacite"`` (a DOI
        for data already hosted at ``url``).
    token
        The access token (else ``ZENODO_SANDBOX_TOKEN``/``ZENODO_TOKEN``/``INVENIO_TOKEN``,
        or the keyring). Sent only in the ``Authorization`` header.
    sandbox
        Zenodo: use sandbox.zenodo.org (default); production needs ``sandbox=False``.
        DataCite: use the test API.
    dry_run
        Check the metadata, pack and checksum the files, report what would be sent; no
        network, no journal.
    resume
        Continue an interrupted publish of the same ``path`` to the same target.
    new_version_of
        A DOI (or record id) published before: publish a new version under its concept,
        carrying unchanged files over.
    url
        DataCite: the landing page the DOI resolves to.
    local_root
        ``local``: the folder the local repository serves (default: the one a running
        ``bioshare demo``/``serve`` registered, else ``BIOSHARE_LOCAL_ROOT``).
    progress
        Show progress bars (per file and overall); or a callable that receives a dict
        ``{"stage", "file", "file_done", "file_total", "done", "total"}`` after each block
        (for widgets).
    analysis
        A captured analysis (`bioshare.reproduce.capture`'s result, or its crate folder or
        zip), published with the data as ``analysis.crate.zip`` and listed in the
        publication's RO-Crate, so that ``bioshare.rerun(<doi>)`` can re-run it.
    allow_identifiable
        Publish DICOM/NIfTI files even though `bioshare.privacy.scan` finds identifying
        data in them (for data that is legitimately public); logged as a warning. Without
        it such data is refused with `bioshare.privacy.IdentifiableDataError`.

    Returns
    -------
    Publication or PublishPlan
        The publication (DOI, URL, files, citation), or for a dry run the plan.
    """
    study = _load_study(metadata)
    kind, base = _target(target, sandbox)
    if analysis is not None and kind == "datacite":
        raise ValueError(
            "target='datacite' registers a DOI for data hosted elsewhere and uploads no "
            "files, so it cannot publish analysis=; publish the analysis with the data "
            "(target='local', 'zenodo' or 'invenio:<base-url>')"
        )
    source = Path(path).expanduser().resolve()
    found = sources.collect(source)
    from bioshare.privacy.gate import check_publishable  # scans only DICOM/NIfTI files

    check_publishable(  # names relative to what is published: a patient's folder shows
        [p for p, _ in found],
        root=source if source.is_dir() else source.parent,
        allow_identifiable=allow_identifiable,
    )
    if analysis is not None:
        found, study = _add_analysis(found, study, analysis, allow_identifiable)
    if kind == "datacite":
        _require(study, kind)
        return _register_datacite(study, url, sandbox, dry_run, source)
    _require(study, kind)
    if dry_run:
        return _dry_run(kind if kind != "invenio" else target, study, found, progress)
    if kind == "local":
        return _publish_local(study, source, found, local_root, progress)
    sheet = None if isinstance(metadata, Study | dict) else str(Path(metadata).resolve())
    return _publish_invenio(
        kind, base, study, source, found, token, sandbox, resume, new_version_of, progress, sheet
    )


# -- inputs ---------------------------------------------------------------------------------------


def _load_study(metadata: Study | str | os.PathLike[str]) -> Study:
    if isinstance(metadata, Study):
        return metadata.model_copy(deep=True)
    if isinstance(metadata, dict):
        return Study.model_validate(metadata)
    return Study.from_spreadsheet(metadata)


def _target(target: str, sandbox: bool) -> tuple[str, str]:
    name, _, argument = target.partition(":")
    if name == "local" and not argument:
        return "local", ""
    if name == "zenodo" and not argument:
        return "zenodo", config.service_url("zenodo_sandbox" if sandbox else "zenodo")
    if name == "invenio" and argument:
        return "invenio", argument.rstrip("/")
    if name == "datacite" and not argument:
        return "datacite", config.service_url("datacite_test" if sandbox else "datacite")
    raise ValueError(f"unknown publishing target {target!r}; expected one of {', '.join(TARGETS)}")


_NEEDS = {
    "local": ("title", "description", "licence"),
    "zenodo": ("title", "description", "licence", "author"),
    "invenio": ("title", "description", "licence", "author"),
    "datacite": ("title", "author"),
}


def _require(study: Study, kind: str) -> None:
    """What the target cannot do without; the release date defaults to today."""
    if study.release_date is None:
        study.release_date = dt.date.today()
    missing = [name for name in _NEEDS[kind] if not getattr(study, name)]
    missing += [
        f"author[{i}].display_name" for i, a in enumerate(study.author) if not a.display_name
    ]
    if missing:
        labels = ", ".join(missing)
        raise MetadataError(
            f"publishing to {kind} needs metadata that is missing: {labels}; "
            "fill them (study.validate() lists everything REMBI asks for)"
        )


# -- analysis -------------------------------------------------------------------------------------


def _add_analysis(
    found: list[tuple[Path, str]],
    study: Study,
    analysis: Analysis | str | os.PathLike[str],
    allow_identifiable: bool = False,
) -> tuple[list[tuple[Path, str]], Study]:
    """The analysis crate as one more file to publish, listed in the study's files.

    The bundle goes through the privacy gate too: a capture copies the notebook's inputs.
    """
    from bioshare.privacy.gate import check_publishable
    from bioshare.reproduce.bundle import ANALYSIS_NAME, bundle_file, with_analysis

    if any(name == ANALYSIS_NAME for _, name in found):
        raise BioshareError(
            f"the data already holds a file named {ANALYSIS_NAME}; rename it, or pass the "
            "analysis with analysis= only"
        )
    bundle = bundle_file(analysis)
    check_publishable([bundle], allow_identifiable=allow_identifiable)
    return [*found, (bundle, ANALYSIS_NAME)], with_analysis(study, bundle.stat().st_size)


# -- dry run --------------------------------------------------------------------------------------


def _dry_run(
    target: str, study: Study, found: list[tuple[Path, str]], progress: Progress
) -> PublishPlan:
    with tempfile.TemporaryDirectory(prefix="bioshare-dry-run-") as tmp:
        with bars(sources.source_bytes(found), progress, "checking") as bar:
            packed = sources.prepare(found, Path(tmp), progress=bar("packing", 0))
        metadata = _metadata_for(target, study, packed)
    warnings = tuple(f"{i.path}: {i.message}" for i in study.validate().missing_required)
    files = tuple(PublishedFile(p.name, p.size, p.md5) for p in packed)
    return PublishPlan(target, files, metadata, warnings)


def _metadata_for(target: str, study: Study, packed: list[PackedFile]) -> dict[str, Any]:
    from bioshare.metadata import exports

    described = sources.with_packed_files(study, packed)
    if target == "local":
        return described.model_dump(mode="json", exclude_defaults=True)
    return exports.to_invenio(described)


# -- local ----------------------------------------------------------------------------------------


def _local_root(local_root: str | os.PathLike[str] | None) -> Path:
    root = config.local_root(local_root)
    if root is None:
        raise BioshareError(
            "no local repository to publish to: run `bioshare demo` (or `bioshare serve DIR`), "
            "or pass local_root= (or set BIOSHARE_LOCAL_ROOT) to the folder it serves"
        )
    root.mkdir(parents=True, exist_ok=True)  # a new local repository starts empty
    return root


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:40] or "dataset"


def _publish_local(
    study: Study,
    source: Path,
    found: list[tuple[Path, str]],
    local_root: str | os.PathLike[str] | None,
    progress: Progress,
) -> Publication:
    """An RO-Crate of the data and metadata, in the folder the local repository serves."""
    from bioshare.metadata import exports
    from bioshare.metadata.omezarr import write_study

    root = _local_root(local_root)
    digest = _content_digest(study, found)
    # One folder per publication at the top of the served folder, where `bioshare serve`
    # finds the datasets in it (one level down).
    folder = root / f"published-{_slug(study.title or source.name)}-{digest[:8]}"
    if (folder / CRATE_FILE).exists():  # published before: the same publication
        described = Study.model_validate_json((folder / STUDY_FILE).read_text())
        return _local_publication(folder, described, root)
    with tempfile.TemporaryDirectory(dir=root, prefix=".publishing-") as tmp:
        staging = Path(tmp) / "data"
        staging.mkdir()
        with bars(sources.source_bytes(found), progress, "publishing") as bar:
            for path, name in found:
                local_name = name.removesuffix(".zip") if path.is_dir() else name
                _copy(
                    path,
                    staging / local_name,
                    bar(local_name, sources.source_bytes([(path, name)])),
                )
        from bioshare.reproduce.bundle import mark_analysis

        sizes = {path.name: path.stat().st_size for path in staging.iterdir() if path.is_file()}
        described = mark_analysis(_local_study(study, found, staging), sizes)
        for path, name in found:
            if path.is_dir():
                write_study(described, staging / name.removesuffix(".zip"))
        exports.to_rocrate(
            described, folder, data_root=staging, publisher="bioshare local repository"
        )
    return _local_publication(folder, described, root)


def _copy(source: Path, dest: Path, advance: Callable[[int], None]) -> None:
    if source.is_dir():
        shutil.copytree(source, dest)
        advance(sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()))
    else:
        shutil.copyfile(source, dest)
        advance(dest.stat().st_size)


def _local_study(study: Study, found: list[tuple[Path, str]], staging: Path) -> Study:
    """The study with its file list set to the copies in ``staging`` (when it has none)."""
    entries = []
    for path, name in found:
        local_name = name.removesuffix(".zip") if path.is_dir() else name
        size = sources.source_bytes([(staging / local_name, local_name)])
        entries.append((local_name, size, path.is_dir()))
    return sources.with_file_list(study, entries)


def _content_digest(study: Study, found: list[tuple[Path, str]]) -> str:
    digest = hashlib.sha256(study.model_dump_json(exclude={"doi"}).encode())
    for path, name in found:
        digest.update(f"{name}\0{sources.fingerprint(path)}\n".encode())
    return digest.hexdigest()


def _local_publication(folder: Path, study: Study, root: Path) -> Publication:
    relative = folder.relative_to(root).as_posix()
    server = config.registered_services().get("local") or os.environ.get("BIOSHARE_LOCAL_URL")
    crate = json.loads((folder / CRATE_FILE).read_text())
    # Files with their md5; OME-Zarr folders (crate Datasets) with their total size.
    entries = {
        str(e["@id"]).rstrip("/"): e
        for e in crate.get("@graph", [])
        if isinstance(e, dict) and (_is_type(e, "File") or _is_type(e, "Dataset"))
    }
    files = tuple(
        PublishedFile(
            f.file_path,
            int(f.size_in_bytes or entries.get(f.file_path, {}).get("contentSize") or 0),
            str(entries.get(f.file_path, {}).get("md5") or ""),
        )
        for c in study.study_component
        for f in c.files
        if f.file_path
    )
    first = next((p.name for p in sorted(folder.iterdir()) if p.name.endswith(".zarr")), "")
    url = f"{server.rstrip('/')}/{relative}/{first}" if server else (folder / first).as_uri()
    return Publication(
        target="local",
        record_id=f"local:{relative}",
        url=url,
        title=study.title or "",
        creators=tuple(a.display_name or "" for a in study.author),
        year=study.release_date.year if study.release_date else None,
        publisher="bioshare local repository",
        files=files,
        path=str(folder),
    )


def _is_type(entity: dict[str, Any], name: str) -> bool:
    kind = entity.get("@type")
    return name == kind or (isinstance(kind, list) and name in kind)


# -- InvenioRDM / Zenodo --------------------------------------------------------------------------


def _publish_invenio(
    kind: str,
    base: str,
    study: Study,
    source: Path,
    found: list[tuple[Path, str]],
    token: str | None,
    sandbox: bool,
    resume: bool,
    new_version_of: str | None,
    progress: Progress,
    metadata_path: str | None = None,
) -> Publication:
    from bioshare.publishing.invenio import InvenioClient
    from bioshare.publishing.invenio_flow import InvenioPublisher

    key = "zenodo-sandbox" if kind == "zenodo" and sandbox else kind
    name = {"zenodo-sandbox": "Zenodo sandbox", "zenodo": "Zenodo"}.get(key, "InvenioRDM")
    client = InvenioClient(base, token_for(key, token), name=name)
    journal_file = journal_path(f"{kind}:{base}", base, source)
    journal = Journal.load(journal_file) if resume else Journal(journal_file)
    staging = journal_file.with_suffix("")  # packed zips, kept until published
    target = "zenodo" if kind == "zenodo" else f"invenio:{base}"
    journal.source, journal.target, journal.sandbox = str(source), target, sandbox
    journal.metadata_path = metadata_path or journal.metadata_path
    publisher = InvenioPublisher(client, journal, staging, name, target)
    return publisher.run(study, found, new_version_of=new_version_of, progress=progress)


# -- DataCite -------------------------------------------------------------------------------------


def _register_datacite(
    study: Study, url: str | None, sandbox: bool, dry_run: bool, source: Path
) -> Publication | PublishPlan:
    from bioshare.metadata import exports
    from bioshare.publishing.datacite import DataCiteClient

    if not url:
        raise ValueError(
            "target='datacite' registers a DOI for data hosted elsewhere: pass url= with the "
            "landing page (for example the bioshare serve URL of the dataset)"
        )
    prefix = os.environ.get("DATACITE_PREFIX")
    attributes = exports.to_datacite(study, prefix=None if study.doi else prefix, url=url)
    if dry_run:
        return PublishPlan("datacite", (), {"data": {"type": "dois", "attributes": attributes}})
    if not study.doi and not prefix:
        raise MetadataError(
            "DataCite needs a DOI or a prefix to draw one from: set study.doi or DATACITE_PREFIX"
        )
    base = config.service_url("datacite_test" if sandbox else "datacite")
    username, password = datacite_credentials()
    client = DataCiteClient(base, username, password)
    journal = Journal.load(journal_path("datacite", base, source))
    doi = journal.doi or study.doi
    if doi is None or client.get(doi) is None:
        doi = client.create_draft(attributes)
        journal.target, journal.base_url, journal.doi, journal.state = (
            "datacite",
            base,
            doi,
            "draft",
        )
        journal.save()
    registered = client.publish(doi, attributes)
    journal.state, journal.url = "published", url
    journal.save()
    return Publication(
        target="datacite",
        record_id=doi,
        url=url,
        doi=doi,
        title=study.title or "",
        creators=tuple(a.display_name or "" for a in study.author),
        year=int(registered.get("publicationYear") or 0) or None,
        publisher=str((registered.get("publisher") or {}).get("name", ""))
        if isinstance(registered.get("publisher"), dict)
        else str(registered.get("publisher") or ""),
    )
