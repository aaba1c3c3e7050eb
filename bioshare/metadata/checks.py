"""Checks and normal forms of identifier-like values: ORCID, ROR, DOI, e-mail, licence.

Each function returns the normal form or raises `ValueError` saying what was expected, so
that pydantic turns it into a validation error on the right field.
"""

from __future__ import annotations

import re

__all__ = [
    "LICENCES",
    "normalize_doi",
    "normalize_email",
    "normalize_licence",
    "normalize_orcid",
    "normalize_ror",
    "orcid_checksum",
]

# The licences the BioImage Archive accepts (its submission form offers these two).
LICENCES: dict[str, str] = {
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
}
_LICENCE_ALIASES: dict[str, str] = {
    "cc0": "CC0-1.0",
    "cc0-1.0": "CC0-1.0",
    "cc0 1.0": "CC0-1.0",
    "public domain": "CC0-1.0",
    "creativecommons.org/publicdomain/zero/1.0": "CC0-1.0",
    "cc-by-4.0": "CC-BY-4.0",
    "cc by 4.0": "CC-BY-4.0",
    "cc-by 4.0": "CC-BY-4.0",
    "cc by-4.0": "CC-BY-4.0",
    "cc_by": "CC-BY-4.0",
    "cc by": "CC-BY-4.0",
    "attribution 4.0 international": "CC-BY-4.0",
    "creativecommons.org/licenses/by/4.0": "CC-BY-4.0",
}
_ORCID = re.compile(r"^(\d{4})-?(\d{4})-?(\d{4})-?(\d{3}[\dX])$")
_ROR = re.compile(r"^0[a-hj-km-np-tv-z0-9]{6}\d{2}$")
_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


def orcid_checksum(digits: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 15 digits of an ORCID."""
    total = 0
    for digit in digits:
        total = (total + int(digit)) * 2
    result = (12 - total % 11) % 11
    return "X" if result == 10 else str(result)


def normalize_orcid(value: str) -> str:
    """``"https://orcid.org/0000-0002-1825-0097"`` -> ``"0000-0002-1825-0097"``, checked."""
    text = re.sub(r"^(https?://)?(www\.)?orcid\.org/", "", value.strip(), flags=re.I).upper()
    match = _ORCID.match(text)
    if not match:
        raise ValueError(
            f"{value!r} is not an ORCID iD; expected 16 digits like 0000-0002-1825-0097"
        )
    orcid = "-".join(match.groups())
    digits = orcid.replace("-", "")
    if orcid_checksum(digits[:15]) != digits[15]:
        raise ValueError(
            f"ORCID iD {orcid} has a wrong check digit (expected {orcid_checksum(digits[:15])}); "
            "check for a typo"
        )
    return orcid


def normalize_ror(value: str) -> str:
    """``"03yrm5c26"`` or its URL -> ``"https://ror.org/03yrm5c26"``."""
    text = re.sub(r"^(https?://)?ror\.org/", "", value.strip(), flags=re.I).lower()
    if not _ROR.match(text):
        raise ValueError(
            f"{value!r} is not a ROR identifier; expected 9 characters like 03yrm5c26 "
            "or https://ror.org/03yrm5c26"
        )
    return f"https://ror.org/{text}"


def normalize_doi(value: str) -> str:
    """``"https://doi.org/10.5281/zenodo.1"`` or ``"doi:10.5281/..."`` -> ``"10.5281/..."``."""
    text = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", value.strip(), flags=re.I)
    if not _DOI.match(text):
        raise ValueError(f"{value!r} is not a DOI; expected e.g. 10.5281/zenodo.1234567")
    return text


def normalize_email(value: str) -> str:
    """A syntactically valid e-mail address, with the domain in lower case."""
    text = value.strip()
    if not _EMAIL.match(text):
        raise ValueError(f"{value!r} is not an e-mail address; expected name@example.org")
    local, _, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}"


def normalize_licence(value: str) -> str:
    """A licence name, SPDX id or URL -> the licence URL; only `LICENCES` are accepted."""
    text = value.strip()
    key = re.sub(r"^https?://(www\.)?", "", text.casefold()).rstrip("/")
    spdx = _LICENCE_ALIASES.get(key) or next((s for s in LICENCES if s.casefold() == key), None)
    if spdx is None:
        allowed = ", ".join(f"{s} ({url})" for s, url in LICENCES.items())
        raise ValueError(f"licence {value!r} is not accepted; expected one of {allowed}")
    return LICENCES[spdx]
