"""Keeping secrets out of crates, and saying plainly that a re-run executes code."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bioshare.errors import BioshareError

__all__ = ["EXECUTION_WARNING", "check_files", "check_parameters", "is_secret_name"]

EXECUTION_WARNING = (
    "Re-running executes the code of the captured notebook on this machine, with your "
    "permissions. Only re-run analyses from sources you trust. bioshare runs it in a fresh "
    "kernel, in an empty working folder of its own, with a time limit per cell; that limits "
    "mistakes, it is not a sandbox."
)

_SECRET_NAME = re.compile(r"token|passw|secret|api[_-]?key|credential", re.IGNORECASE)
_TEXT_SUFFIXES = {".ipynb", ".json", ".csv", ".txt", ".md", ".py"}
# what bioshare keeps in the keyring (service "bioshare"): publishing and XNAT credentials
_KEYRING_NAMES = ("zenodo", "zenodo-sandbox", "invenio", "datacite", "xnat")


def check_parameters(parameters: dict[str, Any]) -> None:
    """Refuse parameters that are, or carry, a secret: they would be written into the crate."""
    secrets = _secret_values()
    for name, value in parameters.items():
        if _SECRET_NAME.search(name):
            raise ValueError(
                f"parameter {name!r} looks like a secret and would be stored in the crate; "
                "let the notebook read it from the environment or the keyring instead"
            )
        if any(secret in repr(value) for secret in secrets):
            raise ValueError(
                f"parameter {name!r} holds the value of a token from the environment or the "
                "keyring; tokens are never written into a crate"
            )


def check_files(paths: Iterable[Path]) -> None:
    """Refuse to write a crate whose text files contain a known token or password.

    Folders (copied inputs) are walked. Known secrets are the values of environment
    variables named like one, and the publishing credentials stored in the keyring.
    """
    secrets = [s.encode() for s in _secret_values()]
    if not secrets:
        return
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix.lower() in _TEXT_SUFFIXES:
                data = file.read_bytes()
                if any(secret in data for secret in secrets):
                    raise BioshareError(
                        f"{file.name} contains the value of a token or password (printed by "
                        "the notebook, or in an input?); nothing was written. Remove it and "
                        "capture again"
                    )


def is_secret_name(name: str) -> bool:
    """True for an environment variable's name that says it holds a secret."""
    return bool(_SECRET_NAME.search(name))


def _secret_values() -> list[str]:
    from bioshare.publishing.credentials import _keyring

    found = {value for name, value in os.environ.items() if is_secret_name(name)}
    found.update(filter(None, (_keyring(name) for name in _KEYRING_NAMES)))
    return sorted(value for value in found if len(value) >= 8)
