"""The exceptions bioshare raises.

Every message names the offending URL, file or field, what was found and what was
expected, so that a user can act on it without reading a traceback.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "BioshareError",
    "MetadataError",
    "NotOMEZarrError",
    "RemoteAccessError",
    "UnsupportedVersionError",
    "WriteError",
]


class BioshareError(Exception):
    """Base class of every error raised by bioshare."""


class NotOMEZarrError(BioshareError, ValueError):
    """The source is not an OME-Zarr (no NGFF metadata where it was expected)."""


class UnsupportedVersionError(BioshareError, ValueError):
    """The OME-NGFF version is one bioshare cannot read or write."""


class MetadataError(BioshareError, ValueError):
    """Metadata (NGFF, REMBI, a spreadsheet) is malformed: missing field, wrong type or shape."""


class RemoteAccessError(BioshareError, OSError):
    """A remote store could not be read after retries (timeouts, 5xx, dropped connections)."""


class AccessDeniedError(RemoteAccessError, PermissionError):
    """The server refused access (HTTP 401 or 403); ``status`` and ``url`` say which, if known."""

    def __init__(self, message: str, *, status: int | None = None, url: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.url = url


class WriteError(BioshareError, OSError):
    """An OME-Zarr could not be written (destination exists, bad input)."""
