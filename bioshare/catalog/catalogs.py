"""Intake 2 catalogs: bioshare's curated ones by name, any other by path or URL.

The curated catalogs ship inside the package (``bioshare/catalog/data/*.yaml``):

- ``idr``: the IDR's sample OME-Zarr images and plates (NGFF 0.4 and 0.5).
- ``bia``: OME-Zarr images from the BioImage Archive.
- ``course``: small datasets for teaching, public ones and the demo repository's.
- ``demo``: the eight datasets of ``bioshare demo`` (`bioshare.demo.build_demo`).

``demo`` and ``course`` hold URLs relative to a ``base_url`` user parameter, filled in
from the ``base_url`` argument or else from ``BIOSHARE_LOCAL_URL`` (the ``local`` service),
never from an ``{env(...)}`` template.

A catalog from anywhere else is checked before Intake touches it
(`bioshare.catalog.trust.check_catalog`) unless ``trusted=True``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import fsspec
import yaml
from intake.readers.entry import Catalog
from intake.readers.user_parameters import BaseUserParameter

from bioshare import config
from bioshare.catalog.readers import DEFAULT_TIMEOUT, RepositoryCatalogReader, RepositoryQuery
from bioshare.catalog.trust import check_catalog
from bioshare.errors import BioshareError
from bioshare.repositories.base import Repository

__all__ = [
    "CURATED_CATALOGS",
    "CatalogError",
    "catalog_path",
    "open_catalog",
    "search_catalog",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

CURATED_CATALOGS: dict[str, str] = {
    "idr": "IDR sample OME-Zarr images and plates, NGFF 0.4 and 0.5 (livingobjects.ebi.ac.uk)",
    "bia": "OME-Zarr images from the BioImage Archive",
    "course": "Small datasets for teaching: IDR and BIA samples and the demo repository",
    "demo": "The demo repository's datasets (bioshare demo), relative to base_url",
}
_SECTIONS = ("metadata", "user_parameters", "aliases", "data", "entries")
_ENTRY_DEFAULTS: dict[str, Any] = {
    "kwargs": {},
    "metadata": {},
    "user_parameters": {},
    "output_instance": None,
}
_DATA_DEFAULTS: dict[str, Any] = {"kwargs": {}, "metadata": {}, "user_parameters": {}}
# A catalog whose metadata says ``base_url_service: local`` gets its base_url parameter
# from config.service_url("local") (BIOSHARE_LOCAL_URL) unless base_url is given.
_BASE_URL_SERVICES = ("local",)


class CatalogError(BioshareError, ValueError):
    """A catalog cannot be found, read or understood."""


def catalog_path(name: str) -> Path:
    """The file of a curated catalog (``"idr"``, ``"bia"``, ``"course"``, ``"demo"``).

    Copy it to start a catalog of your own.
    """
    if name not in CURATED_CATALOGS:
        raise CatalogError(
            f"no curated catalog named {name!r}; expected one of {', '.join(CURATED_CATALOGS)}"
        )
    return DATA_DIR / f"{name}.yaml"


def open_catalog(
    name_or_path: str | os.PathLike[str],
    *,
    trusted: bool = False,
    base_url: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> Catalog:
    """Open an Intake 2 catalog: a curated one by name, or a YAML file by path or URL.

    Parameters
    ----------
    name_or_path
        ``"idr"``, ``"bia"``, ``"course"``, ``"demo"``, or the path or URL of a catalog
        YAML file (Intake 2, ``version: 2``).
    trusted
        Skip the safety checks. Only for catalogs whose author you trust: Intake imports
        the readers a catalog names and expands its templates (environment variables,
        imports, pickles). Untrusted catalogs may use only bioshare's readers (and a few
        of Intake's) and no such templates.
    base_url
        Fills the catalog's ``base_url`` parameter (``demo``, ``course``), also in a copy
        saved with ``to_yaml_file``. By default, catalogs whose metadata says
        ``base_url_service: local`` use ``BIOSHARE_LOCAL_URL`` (else
        ``http://127.0.0.1:8765``), each time they are opened.
    storage_options
        fsspec options for reading the YAML file itself.

    Returns
    -------
    intake.readers.entry.Catalog
        ``list(cat)`` names the datasets; ``cat[name].read()`` opens one lazily;
        ``cat[name].metadata`` describes it.

    Raises
    ------
    UntrustedCatalogError
        The catalog names a reader, data type or template bioshare does not trust.
    CatalogError
        No such curated catalog or file, or not an Intake 2 catalog.
    """
    source = _locate(name_or_path)
    options = dict(storage_options or {})
    raw = _load_yaml(source, options)
    if not trusted:
        check_catalog(raw, source)
    catalog = Catalog.from_dict(raw)
    catalog.user_parameters.update(_location_parameters(source, options))
    _fill_base_url(catalog, base_url, source)
    return catalog


def search_catalog(
    query: str = "",
    *,
    repositories: list[str | Repository] | None = None,
    limit: int = 20,
    max_images: int = 20,
    timeout: float = DEFAULT_TIMEOUT,
    **filters: Any,
) -> Catalog:
    """Search repositories and return a catalog of the OME-Zarr images found.

    The parameters are those of `bioshare.search` (``filters``: ``organism``,
    ``imaging_method``, ``license``, ``has_ome_zarr``), plus ``max_images`` per dataset.
    Save the result with ``cat.to_yaml_file(path)`` to share it.
    """
    data = RepositoryQuery(query, repositories=repositories, limit=limit, filters=filters)
    catalog: Catalog = RepositoryCatalogReader(data).read(max_images=max_images, timeout=timeout)
    return catalog


# -- helpers ------------------------------------------------------------------------------------


def _locate(name_or_path: str | os.PathLike[str]) -> str:
    """The catalog file's path or URL; a curated name wins unless such a file exists."""
    text = os.fspath(name_or_path)
    if text in CURATED_CATALOGS and not os.path.isfile(text):
        return str(catalog_path(text))
    if "://" in text or "::" in text:
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        curated = ", ".join(CURATED_CATALOGS)
        raise CatalogError(
            f"{text!r} is neither a curated catalog ({curated}) nor a catalog file "
            f"({path} does not exist)"
        )
    return str(path.resolve())


def _load_yaml(source: str, storage_options: dict[str, Any]) -> dict[str, Any]:
    try:
        with fsspec.open(source, mode="rt", encoding="utf-8", **storage_options) as stream:
            raw = yaml.safe_load(stream)
    except FileNotFoundError:
        raise CatalogError(f"{source}: no such catalog file") from None
    except yaml.YAMLError as exc:
        raise CatalogError(f"{source} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CatalogError(
            f"{source}: expected an Intake 2 catalog (a mapping with version: 2); "
            f"found {type(raw).__name__}"
        )
    if raw.get("version") != 2:
        hint = (
            " It looks like an Intake 1 catalog ('sources:'); open it with "
            "intake.open_catalog() if you trust it, or convert it to version 2."
            if "sources" in raw
            else ""
        )
        raise CatalogError(
            f"{source}: expected an Intake 2 catalog (version: 2); "
            f"found version {raw.get('version')!r}.{hint}"
        )
    return _with_defaults(raw)


def _with_defaults(raw: dict[str, Any]) -> dict[str, Any]:
    """Fill the keys Intake requires but a hand-written catalog may leave out."""
    for section in _SECTIONS:
        if raw.get(section) is None:
            raw[section] = {}
    for key, defaults in (("entries", _ENTRY_DEFAULTS), ("data", _DATA_DEFAULTS)):
        for desc in raw[key].values():
            if isinstance(desc, dict):
                for field, default in defaults.items():
                    if desc.get(field) is None:
                        desc[field] = dict(default) if isinstance(default, dict) else default
    return raw


def _location_parameters(source: str, storage_options: dict[str, Any]) -> dict[str, str]:
    """``CATALOG_PATH`` and ``CATALOG_DIR``, as Intake sets them (never the storage options)."""
    fs, path = fsspec.core.url_to_fs(source, **storage_options)
    return {"CATALOG_PATH": source, "CATALOG_DIR": fs.unstrip_protocol(fs._parent(path))}


def _fill_base_url(catalog: Catalog, base_url: str | None, source: str) -> None:
    parameter = catalog.user_parameters.get("base_url")
    if not isinstance(parameter, BaseUserParameter):
        if base_url is not None:
            raise CatalogError(
                f"{source} has no base_url parameter; base_url={base_url!r} applies only to "
                "catalogs that declare one (such as 'demo' and 'course')"
            )
        return
    if base_url is not None:
        # Fixed now, also in a copy saved with to_yaml_file.
        catalog.metadata.pop("base_url_service", None)
    else:
        service = catalog.metadata.get("base_url_service")
        if service is None:
            return
        if service not in _BASE_URL_SERVICES:
            raise CatalogError(
                f"{source}: metadata base_url_service is {service!r}; expected one of "
                f"{_BASE_URL_SERVICES}"
            )
        base_url = config.service_url(service)
    catalog.user_parameters["base_url"] = parameter.with_default(base_url.rstrip("/"))
