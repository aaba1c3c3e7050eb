"""Keeping secrets out of crates, and saying plainly that a re-run executes code."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bioshare.errors import BioshareError

__all__ = ["EXECUTION_WARNING", "check_files", "check_parameters"]

EXECUTION_WARNING = (
    "Re-running executes the code of the captured notebook on this machine, with your "
    "permissions. Only re-run analyses from sources you trust. bioshare runs it in a fresh "
    "kernel, in an empty working folder of its own, with a time limit per cell; that limits "
    "mistakes, it is not a sandbox."
)

_SECRET_NAME = re.compile(r"token|passw|secret|api[_-]?key|credential", re.IGNORECASE)
_TEXT_SUFFIXES = {".ipynb", ".json", ".csv", ".txt", ".md", ".py"}


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
                f"parameter {name!r} holds the value of a token from the environment; tokens "
                "are never written into a crate"
            )


def check_files(paths: Iterable[Path]) -> None:
    """Refuse to write a crate whose text files contain a token from the environment."""
    secrets = [s.encode() for s in _secret_values()]
    if not secrets:
        return
    for path in paths:
        if path.is_file() and path.suffix.lower() in _TEXT_SUFFIXES:
            data = path.read_bytes()
            if any(secret in data for secret in secrets):
                raise BioshareError(
                    f"{path.name} contains the value of a token from the environment (printed "
                    "by the notebook?); nothing was written. Clear that output and capture again"
                )


def _secret_values() -> list[str]:
    return [
        value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= 8
    ]
