"""`bioshare.publish` refuses DICOM/NIfTI data until it scans clean (or is explicitly allowed)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fakes.medical import write_dicom_series, write_nifti

import bioshare
from bioshare.cli import main
from bioshare.metadata import Study
from bioshare.privacy import IdentifiableDataError, deidentify


def study() -> Study:
    return Study(
        title="Synthetic CT of a phantom",
        description="A small synthetic CT series and an MR volume for tests.",
        licence="CC BY 4.0",
        release_date="2025-01-15",
        keyword=["phantom"],
        author=[{"display_name": "Ada Lovelace", "contact_email": "ada@example.org"}],
    )


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    folder = tmp_path / "raw"
    write_dicom_series(folder / "ct", n_slices=3)
    write_nifti(folder / "mr.nii.gz")
    (folder / "notes.txt").write_text("acquired on the phantom\n")
    return folder


def test_publish_is_refused_until_deidentified(raw: Path, tmp_path: Path) -> None:
    served = tmp_path / "served"
    served.mkdir()
    with pytest.raises(IdentifiableDataError) as caught:
        bioshare.publish(raw, study(), local_root=served, progress=False)
    message = str(caught.value)
    assert "refusing to publish" in message
    assert "PatientName" in message
    assert "descrip" in message
    assert "Doe" not in message
    assert {r.dicom_files for r in caught.value.reports} == {3}
    assert list(served.iterdir()) == []  # nothing was published
    deidentify(raw, tmp_path / "clean")
    publication = bioshare.publish(tmp_path / "clean", study(), local_root=served, progress=False)
    names = {f.name for f in publication.files}
    assert "mr.nii.gz" in names
    assert "deidentification-report.json" in names


def test_dry_runs_are_checked_too(raw: Path) -> None:
    with pytest.raises(IdentifiableDataError):
        bioshare.publish(raw, study(), dry_run=True, progress=False)


def test_explicit_override_is_logged(raw: Path, tmp_path: Path, caplog) -> None:
    served = tmp_path / "served"
    served.mkdir()
    with caplog.at_level(logging.WARNING, logger="bioshare.privacy"):
        publication = bioshare.publish(
            raw, study(), local_root=served, progress=False, allow_identifiable=True
        )
    assert publication.files
    assert "publish of identifiable medical data allowed explicitly" in caplog.text
    assert str(raw) in caplog.text


def test_cli_flag(raw: Path, tmp_path: Path, capsys) -> None:
    served = tmp_path / "served"
    served.mkdir()
    sheet = study().to_spreadsheet(tmp_path / "meta.xlsx")
    args = ["publish", str(raw), "--metadata", str(sheet), "--local-root", str(served)]
    assert main([*args, "--no-progress"]) == 1
    assert "refusing to publish" in capsys.readouterr().err
    assert main([*args, "--no-progress", "--allow-identifiable"]) == 0
    assert "Published to local" in capsys.readouterr().out
