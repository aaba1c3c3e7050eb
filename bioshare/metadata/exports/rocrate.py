"""A study as an RO-Crate 1.2, written with ``rocrate`` (ro-crate-py), directory or zip.

The root ``Dataset`` carries the study (name, description, licence, authors with ORCID and
ROR identifiers, keywords, date, DOI); the REMBI modules become contextual entities in the
shape of the GIDE search profile (``BioSample``/``Taxon`` under ``about``, ``LabProtocol``
and FBbi ``DefinedTerm`` under ``measurementMethod``; see `bioshare.metadata.exports.jsonld`);
study components become ``Dataset`` entities listing their files; and the whole REMBI model
is kept as ``bioshare-study.json`` so that the crate reads back into a `Study` losslessly.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, unquote

from rocrate.model.contextentity import ContextEntity
from rocrate.model.dataset import Dataset
from rocrate.model.entity import Entity
from rocrate.rocrate import ROCrate

from bioshare.errors import MetadataError, WriteError
from bioshare.metadata.exports import _common as common
from bioshare.metadata.exports.jsonld import Node, StudyGraph, build_graph
from bioshare.metadata.models import FileReference, StudyComponent
from bioshare.metadata.study import Study

__all__ = ["CONTEXT_TERMS", "CRATE_VERSION", "STUDY_FILE", "to_rocrate"]

CRATE_VERSION = "1.2"
STUDY_FILE = "bioshare-study.json"
METADATA_FILE = "ro-crate-metadata.json"
CHUNK_SIZE = 1 << 20  # bytes read at a time when copying data files

CONTEXT_TERMS: dict[str, str] = {
    # the GIDE search profile's context (gide-search-context.jsonld, v0.2), unchanged
    "obo": "http://purl.obolibrary.org/obo/",
    "dwc": "http://rs.tdwg.org/dwc/terms/",
    "dwciri": "http://rs.tdwg.org/dwc/iri/",
    "bao": "http://www.bioassayontology.org/bao#",
    "vernacularName": "dwc:vernacularName",
    "scientificName": "dwc:scientificName",
    "hasCellLine": "bao:BAO_0002004",
    "measurementMethod": "dwciri:measurementMethod",
    "seeAlso": "rdf:seeAlso",
    "BioSample": "http://schema.org/BioSample",
    "LabProtocol": "http://schema.org/LabProtocol",
    "labEquipment": "http://schema.org/labEquipment",
    # schema.org has sha256 but no md5; Croissant (schema.org based) defines one
    "md5": "http://mlcommons.org/croissant/md5",
}
"""Terms added to the RO-Crate 1.2 context: the GIDE search profile's, and ``md5``."""

DOI_REGISTRY = "https://registry.identifiers.org/registry/doi"


def to_rocrate(
    study: Study,
    dest: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    publisher: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the study as an RO-Crate 1.2: a directory, or a zip when ``dest`` ends in .zip.

    The crate is built in a temporary sibling of ``dest`` and moved into place when
    complete, so ``dest`` either does not change or holds a whole crate: a failure midway
    leaves neither a partial crate nor the temporary directory behind.

    Files of the study components become ``File`` entities (``Dataset`` for directories
    such as OME-Zarr) listed by their component's ``Dataset``:

    - when ``data_root`` is given and ``data_root / file_path`` exists, the file (or
      directory tree) is copied into the crate at ``file_path``; files get ``contentSize``,
      ``sha256`` and ``md5``, computed while copying (files are streamed, never read whole);
    - otherwise a file with a ``uri`` is referenced by that URI (a web-based data entity);
    - otherwise it is listed without content, as ``#<file_path>`` with ``localPath`` (the
      RO-Crate 1.2 form for a file deliberately absent from the crate), keeping the
      ``contentSize`` of the file list when known.

    Parameters
    ----------
    study
        The REMBI study; it needs a title, description, release date and licence.
    dest
        Directory to create, or ``*.zip`` file.
    data_root
        Directory the study's ``file_path`` values are relative to; None copies nothing.
    publisher
        Name of the publishing repository (root ``publisher`` ``Organization``).
    overwrite
        Replace an existing ``dest`` (atomically for a zip); False refuses.

    Returns
    -------
    Path
        ``dest``.

    Raises
    ------
    MetadataError
        A field RO-Crate requires is missing, or a ``file_path`` leaves the dataset.
    WriteError
        ``dest`` exists and ``overwrite`` is False, or the crate cannot be written.
    """
    dest = Path(dest)
    _check_required(study)
    if (dest.exists() or dest.is_symlink()) and not overwrite:
        raise WriteError(f"{dest} already exists; pass overwrite=True to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".partial", dir=dest.parent))
    try:
        payload = staging / "crate"
        payload.mkdir()
        root = Path(data_root) if data_root is not None else None
        crate = _build_crate(study, payload, data_root=root, publisher=publisher)
        built = _write(crate, payload, staging, as_zip=dest.suffix.lower() == ".zip")
        _move_into_place(built, dest, staging)
    except (WriteError, MetadataError):
        raise
    except OSError as exc:
        raise WriteError(f"cannot write the RO-Crate {dest}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _check_required(study: Study) -> None:
    """The root ``Dataset`` properties RO-Crate 1.2 requires."""
    required = [
        ("title", "a name"),
        ("description", "a description"),
        ("release_date", "a publication date (datePublished)"),
    ]
    for name, what in required:
        if not getattr(study, name):
            raise MetadataError(f"RO-Crate needs {what}: set study.{name}")
    common.licence_of(study, "RO-Crate")


# -- writing ----------------------------------------------------------------------------------


def _write(crate: ROCrate, payload: Path, staging: Path, *, as_zip: bool) -> Path:
    """Write the crate in ``staging``: the payload directory, or a zip next to it."""
    if not as_zip:
        crate.write(payload)
        return payload
    archive = staging / "crate.zip"
    crate.write_zip(archive)
    directories = [
        unquote(e.id).rstrip("/") + "/"
        for e in crate.data_entities
        if isinstance(e, Dataset) and not e.id.startswith(("#", "./")) and "://" not in e.id
    ]
    with zipfile.ZipFile(archive, "a") as zf:
        present = set(zf.namelist())
        for name in directories:  # so that readers (and roc-validator) see the Datasets
            if name not in present:
                zf.mkdir(name)
    return archive


def _move_into_place(built: Path, dest: Path, staging: Path) -> None:
    """Rename ``built`` to ``dest``; an existing ``dest`` is restored if that fails."""
    if built.is_file() and dest.is_file() and not dest.is_symlink():
        os.replace(built, dest)  # atomic
        return
    previous = staging / "previous"
    had_previous = dest.exists() or dest.is_symlink()
    if had_previous:
        os.replace(dest, previous)
    try:
        os.replace(built, dest)
    except OSError as exc:
        if had_previous:
            os.replace(previous, dest)
        raise WriteError(f"cannot move the RO-Crate into place at {dest}: {exc}") from exc


# -- building ---------------------------------------------------------------------------------


def _build_crate(
    study: Study, payload: Path, *, data_root: Path | None, publisher: str | None
) -> ROCrate:
    crate = ROCrate(version=CRATE_VERSION)
    crate.metadata.extra_terms = dict(CONTEXT_TERMS)
    graph = build_graph(study, publisher=publisher)
    entities: dict[str, Node] = {}
    root = {k: _flatten(v, entities) for k, v in graph.root.items() if k != "@type"}
    root.update(_licence_and_funding(study, graph, entities))
    files = _add_files(crate, study, payload, data_root)
    components = [
        _component(c, i, graph, files, entities) for i, c in enumerate(study.study_component)
    ]
    for node_id, props in entities.items():
        crate.add(ContextEntity(crate, node_id, properties=_compact(props)))
    for key, value in root.items():
        crate.root_dataset[key] = _compact_value(value)
    _study_file(crate, study, payload)  # rocrate lists added files under hasPart itself
    parts: list[Any] = [*components, *(e for e in files.values() if _is_context(e))]
    crate.root_dataset.append_to("hasPart", parts)
    _profiles(crate, files)
    return crate


def _profiles(crate: ROCrate, files: dict[str, Entity]) -> None:
    """Each profile a file conforms to as an entity; the root mentions those files."""
    profiles = {
        entity.id: reference["@id"]
        for entity in files.values()
        if isinstance(reference := entity.as_jsonld().get("conformsTo"), dict)
    }
    conforming = [e for e in files.values() if e.id in profiles]
    for profile in sorted(set(profiles.values())):
        if crate.get(profile) is None:
            props = {"@type": ["CreativeWork", "Profile"], "name": profile}
            crate.add(ContextEntity(crate, profile, properties=props))
    if conforming:  # found at the top by tools that look for, say, the analysis
        crate.root_dataset.append_to("mentions", conforming)


def _flatten(value: Any, entities: dict[str, Node]) -> Any:
    """Replace nested nodes by ``{"@id": ...}`` references, collecting them in ``entities``."""
    if isinstance(value, list):
        return [_flatten(v, entities) for v in value]
    if isinstance(value, dict) and "@id" in value:
        props = {k: _flatten(v, entities) for k, v in value.items() if k != "@id"}
        if props:
            entities.setdefault(value["@id"], {}).update(props)
        return {"@id": value["@id"]}
    return value


def _compact_value(value: Any) -> Any:
    """RO-Crate 1.2 recommends single values rather than one-element lists."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _compact(props: Node) -> Node:
    return {k: _compact_value(v) for k, v in props.items()}


def _licence_and_funding(study: Study, graph: StudyGraph, entities: dict[str, Node]) -> Node:
    """``license`` (a ``CreativeWork``), ``identifier`` (``PropertyValue``), ``funding``."""
    licence = common.licence_of(study, "RO-Crate")
    props: Node = {
        "license": _flatten(
            {
                "@id": licence.url,
                "@type": "CreativeWork",
                "name": licence.name,
                "description": licence.title,
                "identifier": licence.spdx,
            },
            entities,
        )
    }
    identifiers = []
    if study.doi:
        identifiers.append(
            {
                "@id": common.doi_url(study.doi),
                "@type": "PropertyValue",
                "name": f"DOI {study.doi}",
                "propertyID": DOI_REGISTRY,
                "value": f"doi:{study.doi}",
                "url": common.doi_url(study.doi),
            }
        )
    if study.accession_id:
        identifiers.append(
            {
                "@id": f"#accession-{quote(study.accession_id, safe='')}",
                "@type": "PropertyValue",
                "name": f"Accession {study.accession_id}",
                "propertyID": "accession",
                "value": study.accession_id,
            }
        )
    if identifiers:
        props["identifier"] = _flatten(identifiers, entities)
    if graph.grants:
        props["funding"] = _flatten(graph.grants, entities)
        funders = [f for g in graph.grants for f in g.get("funder", [])]
        ids = list(dict.fromkeys(f["@id"] for f in funders))
        if ids:
            props["funder"] = [{"@id": i} for i in ids]
    return props


# -- study components and files ---------------------------------------------------------------


def _component(
    component: StudyComponent,
    index: int,
    graph: StudyGraph,
    files: dict[str, Entity],
    entities: dict[str, Node],
) -> Node:
    """A study component as a ``Dataset`` entity; returns its reference."""
    node_id = f"#study-component-{index + 1}"
    props: Node = {"@type": "Dataset"}
    props["name"] = component.title or f"Study component {index + 1}"
    props["description"] = component.description or props["name"]
    parts = [files[f.file_path] for f in component.files if f.file_path in files]
    if parts:
        props["hasPart"] = [{"@id": e.id} for e in parts]
    sample = graph.biosamples.get(component.biosample or "")
    if sample:
        props["about"] = {"@id": sample["@id"]}
    methods = _protocol_refs(graph, component, ("specimen", "image_acquisition"))
    if methods:
        props["measurementMethod"] = methods
    others = ("image_correlation", "image_analysis", "annotation")
    mentions = _protocol_refs(graph, component, others)
    if mentions:
        props["mentions"] = mentions
    entities[node_id] = props
    return {"@id": node_id}


def _protocol_refs(
    graph: StudyGraph, component: StudyComponent, collections: tuple[str, ...]
) -> list[Node]:
    refs = []
    for collection in collections:
        title = getattr(component, collection)
        node = graph.protocols.get((collection, title)) if title else None
        if node:
            refs.append({"@id": node["@id"]})
    return refs


def _add_files(
    crate: ROCrate, study: Study, payload: Path, data_root: Path | None
) -> dict[str, Entity]:
    """Every listed file as an entity, once per path: copied, by URI, or without content."""
    entities: dict[str, Entity] = {}
    sources: dict[str, str] = {}  # annotation file -> the image it annotates
    for i, component in enumerate(study.study_component):
        for j, file in enumerate(component.files):
            if not file.file_path or file.file_path in entities:
                continue
            where = f"study.study_component[{i}].files[{j}].file_path"
            rel = _relative_path(file.file_path, where)
            props = _file_properties(file, rel, component.title or f"{i + 1}")
            entities[file.file_path] = _file_entity(crate, file, rel, props, payload, data_root)
            if file.source_image:
                sources[file.file_path] = file.source_image
    for path, source in sources.items():
        if source in entities:
            entities[path]["isBasedOn"] = {"@id": entities[source].id}
    return entities


def _relative_path(file_path: str, where: str) -> PurePosixPath:
    """``file_path`` as a path inside the crate, refusing absolute paths and ``..``."""
    path = PurePosixPath(file_path.replace("\\", "/"))
    if (
        path.is_absolute()
        or ".." in path.parts
        or re.match(r"^[A-Za-z]:", file_path)
        or str(path) in (".", METADATA_FILE, STUDY_FILE)
    ):
        raise MetadataError(
            f"{where} {file_path!r} cannot be placed in an RO-Crate: expected a relative path "
            f"inside the dataset (no leading /, no '..', not {METADATA_FILE} or {STUDY_FILE})"
        )
    return path


def _file_entity(
    crate: ROCrate,
    file: FileReference,
    rel: PurePosixPath,
    props: Node,
    payload: Path,
    root: Path | None,
) -> Entity:
    """The file copied with checksums, a directory copied, or a reference to it."""
    source = root / rel if root is not None else None
    target = payload / rel
    if source is not None and source.is_file():
        size, sha256, md5 = _copy_with_checksums(source, target)
        props.update(contentSize=str(size), sha256=sha256, md5=md5)
        return crate.add_file(target, dest_path=str(rel), properties=props)
    if source is not None and source.is_dir():
        _copy_tree(source, target)
        return crate.add_dataset(target, dest_path=str(rel), properties=props)
    props["localPath"] = str(rel)
    if file.size_in_bytes is not None:
        props["contentSize"] = str(file.size_in_bytes)
    kind = "Dataset" if _is_directory_like(file) else "File"
    web = file.uri if file.uri and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", file.uri) else None
    node_id = web or "#" + quote(str(rel), safe="/")
    return crate.add(ContextEntity(crate, node_id, properties={"@type": kind, **props}))


def _file_properties(file: FileReference, rel: PurePosixPath, component: str) -> Node:
    props: Node = {"name": rel.name}
    media_type = None if _is_directory_like(file) else mimetypes.guess_type(rel.name)[0]
    encoding = media_type or file.format
    if encoding:
        props["encodingFormat"] = encoding
    if file.uri:
        props["contentUrl"] = file.uri
    profile = file.attributes.get("conformsTo")
    if profile:  # a file that follows a profile: a captured analysis (Process Run Crate)
        props["conformsTo"] = {"@id": str(profile)}
    details = [f"In study component {component!r}"]
    details += [f"format: {file.format}"] if file.format else []
    details += [f"{k}: {v}" for k, v in file.attributes.items() if k != "conformsTo"]
    props["description"] = "; ".join(details)
    return props


def _is_directory_like(file: FileReference) -> bool:
    path = (file.file_path or "").rstrip("/").lower()
    return path.endswith(".zarr") or (file.format or "").lower() in ("ome-zarr", "zarr")


def _is_context(entity: Entity) -> bool:
    """Entities rocrate does not put under the root's ``hasPart`` by itself."""
    return isinstance(entity, ContextEntity)


def _copy_with_checksums(source: Path, target: Path) -> tuple[int, str, str]:
    """Copy ``source`` to ``target`` in chunks; return its size, SHA-256 and MD5."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    size = 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK_SIZE):
            sha256.update(chunk)
            md5.update(chunk)
            dst.write(chunk)
            size += len(chunk)
    return size, sha256.hexdigest(), md5.hexdigest()


def _copy_tree(source: Path, target: Path) -> None:
    """Copy a directory (an OME-Zarr) file by file, streaming, not following symlinks."""
    target.mkdir(parents=True, exist_ok=True)
    for top, dirs, names in os.walk(source):
        here = Path(top)
        for name in dirs:
            (target / here.relative_to(source) / name).mkdir(parents=True, exist_ok=True)
        for name in names:
            if (here / name).is_file():
                _copy_with_checksums(here / name, target / here.relative_to(source) / name)


def _study_file(crate: ROCrate, study: Study, payload: Path) -> Entity:
    """``bioshare-study.json``: the whole REMBI model, for a lossless round trip."""
    data = json.dumps(study.model_dump(mode="json"), indent=2, ensure_ascii=False).encode()
    (payload / STUDY_FILE).write_bytes(data)
    props = {
        "name": "REMBI metadata of the study",
        "description": "The whole study as bioshare's Study model: "
        "bioshare.metadata.Study.model_validate_json reads it back.",
        "encodingFormat": "application/json",
        "contentSize": str(len(data)),
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "about": {"@id": "./"},
    }
    return crate.add_file(payload / STUDY_FILE, dest_path=STUDY_FILE, properties=props)
