"""Where publishing credentials come from, and how they are kept out of everything else.

A token is looked up, in order, from the argument, the environment (``ZENODO_TOKEN``,
``ZENODO_SANDBOX_TOKEN``, ``INVENIO_TOKEN``, ``DATACITE_USERNAME``/``DATACITE_PASSWORD``)
and the system keyring (service ``bioshare``, when the ``keyring`` package is installed).
It travels only in an ``Authorization`` header: never in a URL, a repr, a message, a log,
the journal, a crate or a notebook output.
"""

from __future__ import annotations

import os

from bioshare.errors import AccessDeniedError

__all__ = ["Secret", "datacite_credentials", "token_for"]

_TOKEN_VARIABLES = {
    "zenodo": "ZENODO_TOKEN",
    "zenodo-sandbox": "ZENODO_SANDBOX_TOKEN",
    "invenio": "INVENIO_TOKEN",
}


class Secret(str):
    """A string that never shows itself in a repr (tokens, passwords)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')"


def _keyring(name: str) -> str | None:
    try:
        import keyring
    except ImportError:
        return None
    try:
        value = keyring.get_password("bioshare", name)
    except Exception:  # a locked or absent keyring backend is not an error here
        return None
    return value or None


def token_for(target: str, token: str | None = None) -> Secret:
    """The token for ``target`` (``zenodo``, ``zenodo-sandbox``, ``invenio``).

    Raises
    ------
    AccessDeniedError
        No token was given or configured; the message says where to put one.
    """
    variable = _TOKEN_VARIABLES[target]
    value = token or os.environ.get(variable) or _keyring(target)
    if not value:
        raise AccessDeniedError(
            f"publishing to {target} needs a personal access token: pass token=..., set "
            f"{variable}, or store it with `keyring set bioshare {target}`"
        )
    return Secret(value.strip())


def datacite_credentials(
    username: str | None = None, password: str | None = None
) -> tuple[str, Secret]:
    """The DataCite repository account (``DATACITE_USERNAME``/``DATACITE_PASSWORD``)."""
    user = username or os.environ.get("DATACITE_USERNAME") or _keyring("datacite-username")
    secret = password or os.environ.get("DATACITE_PASSWORD") or _keyring("datacite")
    if not user or not secret:
        raise AccessDeniedError(
            "registering DOIs with DataCite needs a repository account: set "
            "DATACITE_USERNAME and DATACITE_PASSWORD (or pass username=, password=)"
        )
    return user, Secret(secret)
