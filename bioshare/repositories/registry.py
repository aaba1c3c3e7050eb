"""Repository adapters by name: ``"idr"``, ``"bia"``, ``"omero:https://omero.lab.org"``...

Servers that anyone may run (OMERO, XNAT) are named by their URL (``"omero:<base-url>"``,
``"xnat:<base-url>"``); plain ``"xnat"`` is the server of ``BIOSHARE_XNAT_URL``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from bioshare import config
from bioshare.repositories.base import Repository

__all__ = [
    "DEFAULT_REPOSITORIES",
    "KNOWN_REPOSITORIES",
    "default_repositories",
    "get_repository",
]

KNOWN_REPOSITORIES: dict[str, str] = {
    "idr": "bioshare.repositories.idr:IDR",
    "bia": "bioshare.repositories.bia:BIA",
    "zenodo": "bioshare.repositories.zenodo:Zenodo",
    "ssbd": "bioshare.repositories.ssbd:SSBD",
    "empiar": "bioshare.repositories.empiar:EMPIAR",
    "local": "bioshare.repositories.local:LocalRepository",
    "omero": "bioshare.repositories.omero:OMERO",
    "tcia": "bioshare.repositories.tcia:TCIA",
    "xnat": "bioshare.repositories.xnat:XNAT",
}
# The public repositories, which `bioshare.search` asks when none are named. TCIA is public
# and anonymous and answers a search in one listing plus two small requests per candidate
# collection, so it is one of them.
DEFAULT_REPOSITORIES = ("idr", "bia", "zenodo", "ssbd", "empiar", "tcia")
_BY_URL = ("omero", "xnat")  # adapters named "<name>:<base-url>"


def default_repositories() -> list[str]:
    """The public repositories, plus ``local`` and ``xnat`` when configured.

    A local repository counts when ``BIOSHARE_LOCAL_URL`` is set or a running
    ``bioshare demo``/``bioshare serve`` registered itself (`bioshare.config`); an XNAT
    server when ``BIOSHARE_XNAT_URL`` is set (the user chose it, as for ``local``).
    """
    names = list(DEFAULT_REPOSITORIES)
    if os.environ.get("BIOSHARE_LOCAL_URL") or "local" in config.registered_services():
        names.append("local")
    if os.environ.get("BIOSHARE_XNAT_URL"):
        names.append("xnat")
    return names


def get_repository(spec: str | Repository, **kwargs: Any) -> Repository:
    """Return an adapter for ``spec``: a name, ``omero:<base-url>``, ``xnat:<base-url>``, or
    an adapter itself.

    Keyword arguments (``timeout``, ``retries``...) go to the adapter's constructor.
    """
    if isinstance(spec, Repository):
        return spec
    name, _, argument = spec.partition(":")
    if name == "omero" and not argument:
        raise KeyError("an OMERO server is named by its URL: 'omero:https://omero.lab.org'")
    if name in _BY_URL and argument:
        cls = _load(KNOWN_REPOSITORIES[name])
        return cls(argument, name=f"{name}:{argument}", **kwargs)
    if name not in KNOWN_REPOSITORIES or argument:
        known = ", ".join([*sorted(KNOWN_REPOSITORIES), "omero:<base-url>", "xnat:<base-url>"])
        raise KeyError(f"unknown repository {spec!r}; expected one of {known}")
    return _load(KNOWN_REPOSITORIES[name])(**kwargs)


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
