"""Where a captured analysis comes from: a crate, a publication, a record URL or a DOI.

- a crate folder or zip on disk, or a local publication folder holding one;
- ``local:published-...`` (what `bioshare.publish(target="local")` returns as record id):
  read from the local repository's folder, else over HTTP from the server that serves it;
- a Zenodo or InvenioRDM record URL (``https://zenodo.org/records/123``): the record's
  files through the InvenioRDM API;
- a DOI (``10.5281/zenodo.123``, ``doi:...``, ``https://doi.org/...``): asked of the DOI
  resolver (``BIOSHARE_DOI_URL``, default https://doi.org) where it points, then as above;
- any other http(s) URL: a folder served by ``bioshare serve`` (its crate metadata is read
  first, then only the files it names).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from bioshare import config
from bioshare.errors import BioshareError
from bioshare.reproduce.crate import METADATA_FILE, PROFILE, is_process_crate

__all__ = ["ANALYSIS_NAME", "analysis_in_crate", "locate"]

ANALYSIS_NAME = "analysis.crate.zip"  # the bundle's name in a publication
_RECORD = re.compile(r"^/(?:api/)?(?:records?|uploads)/([^/]+)/?")


def locate(source: Any, workdir: Path) -> Path:
    """A local crate (folder or zip) for ``source``, downloading into ``workdir`` if need be."""
    from bioshare.reproduce.crate import Analysis

    if isinstance(source, Analysis):
        if source.path is None:
            raise BioshareError("this Analysis was never written; capture it with dest=")
        return source.path
    if hasattr(source, "record_id") and hasattr(source, "target"):  # a Publication
        if getattr(source, "path", None):
            return _from_path(Path(source.path))
        source = source.doi or source.url
    text = str(source).strip()
    if text.startswith("local:"):
        return _from_local_record(text.removeprefix("local:").strip("/"), workdir)
    doi = _doi(text)
    if doi:
        return _from_url(resolve_doi(doi), workdir)
    if text.startswith(("http://", "https://")):
        return _from_url(text, workdir)
    path = Path(text).expanduser()
    if path.exists():
        return _from_path(path)
    raise FileNotFoundError(
        f"{text!r}: expected a crate folder or zip, a local publication (local:...), a record "
        "URL or a DOI"
    )


def _doi(text: str) -> str | None:
    """The bare DOI in ``text`` (a DOI, ``doi:...`` or a doi.org URL), else None."""
    from bioshare.metadata.checks import normalize_doi

    try:
        return normalize_doi(text)
    except ValueError:
        return None


def resolve_doi(doi: str) -> str:
    """Where the DOI resolver sends ``doi``: the record's landing page URL.

    Redirects are followed by hand, to stop at the record's page (its API is asked, not
    the page); transient failures are retried ``BIOSHARE_RETRIES`` times.
    """
    import httpx

    url = f"{config.service_url('doi')}/{quote(doi, safe='/')}"
    with httpx.Client(timeout=config.timeout(), follow_redirects=False) as client:
        for _ in range(6):
            response = _get_retrying(client, url, doi)
            if response.is_redirect:
                url = urljoin(url, response.headers["Location"])
                if _RECORD.match(urlsplit(url).path):
                    return url  # the record's page: its API is asked, not the page
                continue
            if response.status_code == 404:
                raise BioshareError(f"DOI {doi} is not registered ({url} answered 404)")
            if response.status_code >= 400:
                raise BioshareError(f"{url} answered HTTP {response.status_code} for DOI {doi}")
            return url
    raise BioshareError(f"DOI {doi}: too many redirects, last to {url}")


def _get_retrying(client: Any, url: str, doi: str) -> Any:
    import time

    import httpx

    from bioshare._http import RETRY_STATUS

    for attempt in range(config.retries()):
        try:
            response = client.get(url)
        except httpx.TransportError:
            pass
        else:
            if response.status_code not in RETRY_STATUS:
                return response
        time.sleep(min(0.2 * 2**attempt, 5.0))  # a short back-off: the resolver is busy
    try:
        return client.get(url)
    except httpx.TransportError as exc:
        raise BioshareError(f"could not ask {url} where DOI {doi} points: {exc}") from exc


def analysis_in_crate(crate: dict[str, Any]) -> str | None:
    """The file of a publication's crate that is a captured analysis (a Process Run Crate)."""
    base = PROFILE.rsplit("/", 1)[0]
    for entity in crate.get("@graph", []):
        if not isinstance(entity, dict) or entity.get("@id") == "./":
            continue
        if base in json.dumps(entity.get("conformsTo", "")):
            # a file listed without its content (a Zenodo record's crate) is "#<localPath>"
            node = str(entity.get("localPath") or entity["@id"])
            return unquote(node.removeprefix("#"))
    ids = [str(e.get("@id")) for e in crate.get("@graph", []) if isinstance(e, dict)]
    return ANALYSIS_NAME if ANALYSIS_NAME in ids else None


# -- local ----------------------------------------------------------------------------------------


def _from_path(path: Path) -> Path:
    path = path.expanduser().resolve()
    if path.is_file():
        return path
    if is_process_crate(path):
        return path
    metadata = path / METADATA_FILE
    if metadata.is_file():
        name = analysis_in_crate(json.loads(metadata.read_text()))
        if name and (path / name).exists():
            return path / name
        raise BioshareError(
            f"{path} is a publication without a captured analysis; publish with "
            "bioshare.publish(..., analysis=bioshare.reproduce.capture(...))"
        )
    raise BioshareError(f"{path}: no {METADATA_FILE}; expected a captured analysis crate")


def _from_local_record(relative: str, workdir: Path) -> Path:
    folder_name = relative.split("/", 1)[0]
    if folder_name in ("", ".", "..") or "\\" in folder_name:
        raise BioshareError(
            f"local:{relative}: expected a publication folder's name (local:published-...), "
            f"not {folder_name!r}"
        )
    root = config.local_root()
    if root is not None and (root / folder_name).is_dir():
        return _from_path(root / folder_name)
    server = config.service_url("local")
    return _from_url(f"{server}/{quote(folder_name)}/", workdir)


# -- remote ---------------------------------------------------------------------------------------


def _from_url(url: str, workdir: Path) -> Path:
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    record = _RECORD.match(parts.path)
    if record:
        return _from_record(base, record.group(1), workdir)
    if parts.path.endswith(".zip"):
        return _download(url, workdir / _local_name(unquote(parts.path), url))
    return _from_served_folder(url, workdir)


def _from_record(base: str, record_id: str, workdir: Path) -> Path:
    """A Zenodo/InvenioRDM record: its crate metadata, then the analysis bundle it names."""
    from bioshare._http import ApiClient

    client = ApiClient(base, name=f"{urlsplit(base).netloc} records")
    record = client.request(
        "GET",
        f"/api/records/{record_id}",
        headers={"Accept": "application/vnd.inveniordm.v1+json, application/json"},
    ).json()
    files = _record_files(record)
    if not files:
        raise BioshareError(f"{base}/api/records/{record_id} lists no files")
    name = None
    if METADATA_FILE in files:
        crate = client.request("GET", _content(record_id, METADATA_FILE)).json()
        name = analysis_in_crate(crate)
    name = name or next((k for k in files if k.endswith(".crate.zip")), None)
    if name is None or name not in files:
        raise BioshareError(
            f"{base}/records/{record_id} holds no captured analysis (files: "
            f"{', '.join(sorted(files))}); expected {ANALYSIS_NAME}"
        )
    target = workdir / _local_name(name, f"{base}/api/records/{record_id}")
    response = client.request("GET", _content(record_id, name))
    _write(target, response.content, expected_md5=files[name])
    return target


def _record_files(record: dict[str, Any]) -> dict[str, str | None]:
    """File name -> md5 (or None), from an InvenioRDM or a legacy Zenodo record."""
    files = record.get("files")
    entries: Any = files.get("entries") if isinstance(files, dict) else files
    if isinstance(entries, dict):
        entries = list(entries.values())
    found: dict[str, str | None] = {}
    for entry in entries or []:
        if isinstance(entry, dict):
            key = entry.get("key") or entry.get("filename")
            checksum = str(entry.get("checksum") or "")
            if key:
                found[str(key)] = checksum.removeprefix("md5:") or None
    return found


def _content(record_id: str, key: str) -> str:
    return f"/api/records/{record_id}/files/{quote(key, safe='')}/content"


def _from_served_folder(url: str, workdir: Path) -> Path:
    """A folder served over HTTP: found by its crate metadata, here or one level up."""
    from bioshare._http import ApiClient, ApiError

    folder = url.split("?", 1)[0].rstrip("/")
    candidates = [folder, folder.rsplit("/", 1)[0]]
    client = ApiClient(folder, name="local repository", retries=1)
    for candidate in candidates:
        try:
            crate = client.request("GET", f"{candidate}/{METADATA_FILE}").json()
        except ApiError as exc:
            if exc.status == 404:
                continue
            raise
        name = analysis_in_crate(crate)
        if name:
            name = unquote(name)  # crate ids are percent-encoded
            return _download(f"{candidate}/{quote(name)}", workdir / _local_name(name, candidate))
        if PROFILE.rsplit("/", 1)[0] in json.dumps(crate):
            return _download_crate(candidate, crate, workdir / "crate")
        raise BioshareError(f"{candidate} is a publication without a captured analysis")
    raise BioshareError(
        f"{url}: found no {METADATA_FILE} there or one level up; expected a publication or an "
        "analysis crate"
    )


def _download_crate(base: str, crate: dict[str, Any], folder: Path) -> Path:
    """Every file a served crate lists, next to its metadata."""
    from bioshare._http import ApiClient

    entries = []
    for entity in crate.get("@graph", []):
        kind = entity.get("@type") if isinstance(entity, dict) else None
        kinds = kind if isinstance(kind, list) else [kind]
        node = str(entity.get("@id", "")) if isinstance(entity, dict) else ""
        if not node or "://" in node or node.startswith("#") or node in ("./", METADATA_FILE):
            continue
        relative = PurePosixPath(unquote(node))  # crate ids are percent-encoded
        if relative.is_absolute() or ".." in relative.parts or "\\" in str(relative):
            raise BioshareError(f"{base}: crate file {node!r} points outside the crate")
        if "Dataset" in kinds:
            # a served folder does not list a folder's files: only the zip has them all
            raise BioshareError(
                f"{base}: the crate holds the folder {str(relative)!r}, whose files a served "
                "crate does not list; re-run the crate's zip (capture(..., dest='x.crate.zip'))"
            )
        if "File" in kinds:
            entries.append(relative)
    client = ApiClient(base, name="crate server")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / METADATA_FILE).write_text(json.dumps(crate))
    for relative in entries:
        data = client.request("GET", quote(relative.as_posix())).content
        _write(folder / relative, data)
    return folder


def _local_name(name: str, where: str) -> str:
    """The last part of a remote file name: downloads stay in the working folder."""
    local = PurePosixPath(name.replace("\\", "/")).name
    if local in ("", ".", ".."):
        raise BioshareError(f"{where}: file name {name!r}; expected a plain file name")
    return local


def _download(url: str, target: Path) -> Path:
    from bioshare._http import ApiClient

    _write(target, ApiClient(url, name=urlsplit(url).netloc).request("GET", url).content)
    return target


def _write(target: Path, data: bytes, expected_md5: str | None = None) -> None:
    if expected_md5:
        got = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if got != expected_md5:
            raise BioshareError(
                f"{target.name}: downloaded md5 {got} differs from the record's {expected_md5}"
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
