"""Normal forms and checks of ORCID, ROR, DOI, e-mail and licence values."""

from __future__ import annotations

import pytest

from bioshare.metadata import checks


@pytest.mark.parametrize(
    "value",
    [
        "0000-0002-1825-0097",
        "https://orcid.org/0000-0002-1825-0097",
        "orcid.org/0000000218250097",
    ],
)
def test_orcid_forms(value):
    assert checks.normalize_orcid(value) == "0000-0002-1825-0097"


def test_orcid_with_x_check_digit():
    assert checks.normalize_orcid("0000-0002-9079-593x") == "0000-0002-9079-593X"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0000-0002-1825-0098", r"wrong check digit \(expected 7\)"),
        ("0000-0002-1825", "expected 16 digits"),
        ("jane", "not an ORCID iD"),
    ],
)
def test_bad_orcids(value, message):
    with pytest.raises(ValueError, match=message):
        checks.normalize_orcid(value)


def test_ror():
    assert checks.normalize_ror("03mstc592") == "https://ror.org/03mstc592"
    assert checks.normalize_ror("https://ror.org/03MSTC592") == "https://ror.org/03mstc592"
    with pytest.raises(ValueError, match="not a ROR identifier"):
        checks.normalize_ror("EMBL")


def test_doi():
    assert checks.normalize_doi("https://doi.org/10.5281/zenodo.1") == "10.5281/zenodo.1"
    assert checks.normalize_doi("doi:10.17867/10000130") == "10.17867/10000130"
    with pytest.raises(ValueError, match="not a DOI"):
        checks.normalize_doi("zenodo.1")


def test_email():
    assert checks.normalize_email(" Jane.Doe@EMBL.org ") == "Jane.Doe@embl.org"
    for bad in ("jane@", "@embl.org", "jane doe@embl.org", "jane@embl"):
        with pytest.raises(ValueError, match="not an e-mail address"):
            checks.normalize_email(bad)


@pytest.mark.parametrize(
    ("value", "spdx"),
    [
        ("CC BY 4.0", "CC-BY-4.0"),
        ("cc-by-4.0", "CC-BY-4.0"),
        ("https://creativecommons.org/licenses/by/4.0", "CC-BY-4.0"),
        ("CC0", "CC0-1.0"),
        ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0-1.0"),
    ],
)
def test_licences(value, spdx):
    assert checks.normalize_licence(value) == checks.LICENCES[spdx]


def test_licence_not_accepted():
    with pytest.raises(ValueError, match=r"'GPL-3.0' is not accepted; expected one of CC0-1.0"):
        checks.normalize_licence("GPL-3.0")
