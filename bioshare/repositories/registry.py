"""Repository adapters by name: ``"idr"``, ``"bia"``, ``"omero:https://omero.lab.org"``..."""

from __future__ import annotations

import importlib
from typing import Any

from bioshare.repositories.base import Repository

__all__ = ["DEFAULT_REPOSITORIES", "KNOWN_REPOSITORIES", "get_repository"]

KNOWN_REPOSITORIES: dict[str, str] = {
    "idr": "bioshare.repositories.idr:IDR",
    "bia": "bioshare.repositories.bia:BIA",
    "zenodo": "bioshare.repositories.zenodo:Zenodo",
    "ssbd": "bioshare.repositories.ssbd:SSBD",
    "empiar": "bioshare.repositories.empiar:EMPIAR",
    "local": "bioshare.repositories.local:LocalRepository",
    "omero": "bioshare.repositories.omero:OMERO",
}
# What `bioshare.search` asks when no repositories are named: the public ones.
DEFAULT_REPOSITORIES = ("idr", "bia", "zenodo", "ssbd", "empiar")


def get_repository(spec: str | Repository, **kwargs: Any) -> Repository:
    """Return an adapter for ``spec``: a name, ``omero:<base-url>``, or an adapter itself.

    Keyword arguments (``timeout``, ``retries``...) go to the adapter's constructor.
    """
    if isinstance(spec, Repository):
        return spec
    name, _, argument = spec.partition(":")
    if name == "omero":
        if not argument:
            raise KeyError("an OMERO server is named by its URL: 'omero:https://omero.lab.org'")
        cls = _load(KNOWN_REPOSITORIES["omero"])
        return cls(argument, name=f"omero:{argument}", **kwargs)
    if name not in KNOWN_REPOSITORIES or argument:
        known = ", ".join([*sorted(KNOWN_REPOSITORIES), "omero:<base-url>"])
        raise KeyError(f"unknown repository {spec!r}; expected one of {known}")
    return _load(KNOWN_REPOSITORIES[name])(**kwargs)


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
