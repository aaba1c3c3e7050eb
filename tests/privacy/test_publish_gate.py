"""`bioshare.publish` refuses DICOM/NIfTI data until it scans clean (or is explicitly allowed)."""

from __future__ import annotations

import logging
import zipfile
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


def refusal(folder: Path, tmp_path: Path) -> IdentifiableDataError:
    served = tmp_path / "served"
    served.mkdir(exist_ok=True)
    with pytest.raises(IdentifiableDataError) as caught:
        bioshare.publish(folder, study(), local_root=served, progress=False)
    assert list(served.iterdir()) == []
    return caught.value


def test_dicom_files_without_a_dicom_suffix_are_checked(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    series = write_dicom_series(folder / "uid-named", n_slices=2, filename="{uid}")
    assert all(f.name.startswith("1.2.") and f.suffix[1:].isdigit() for f in series.files)
    # A Siemens .IMA written without the 128-byte preamble and "DICM".
    (folder / "scan.IMA").write_bytes(series.files[0].read_bytes()[132:])
    error = refusal(folder, tmp_path)
    (report,) = error.reports
    assert report.dicom_files == 3
    checked = {f.file for f in report.findings if f.keyword == "PatientName"}
    assert checked == {f"uid-named/{f.name}" for f in series.files} | {"scan.IMA"}


def test_a_dicom_file_that_cannot_be_read_is_not_clean(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    deidentify_into = tmp_path / "clean"
    write_dicom_series(tmp_path / "raw", n_slices=2)
    deidentify(tmp_path / "raw", deidentify_into)
    deidentify_into.rename(folder)
    (folder / "broken.dcm").write_bytes(b"not really dicom at all")
    error = refusal(folder, tmp_path)
    assert [(f.file, f.kind) for f in error.reports[0].findings] == [("broken.dcm", "unreadable")]
    assert "could not be read" in str(error)


def test_every_zip_member_is_checked(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    series = write_dicom_series(tmp_path / "raw", n_slices=1)
    with zipfile.ZipFile(folder / "bundle.zip", "w") as zf:
        for i in range(20):
            zf.writestr(f"docs/note{i:02d}.txt", "nothing to see\n")
        zf.write(series.files[0], "zz/1.2.840.99.1.2")  # UID-named, after 20 other members
    error = refusal(folder, tmp_path)
    assert {f.file for f in error.reports[0].findings} == {"bundle.zip/zz/1.2.840.99.1.2"}


def test_a_folder_named_after_the_patient_is_reported_masked(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    write_dicom_series(folder / "Doe_Jane_20240115", n_slices=2)
    error = refusal(folder, tmp_path)
    named = sorted(f.file for f in error.reports[0].findings if f.kind == "file-name")
    assert named == ["***_***_***/IM0000.dcm", "***_***_***/IM0001.dcm"]
    message = str(error) + repr([r.to_dict() for r in error.reports])
    for leaked in ("Doe", "Jane", "20240115"):
        assert leaked not in message
    # De-identified headers no longer say who the patient is, but a date still shows.
    deidentify(folder / "Doe_Jane_20240115", tmp_path / "clean" / "20240115")
    error = refusal(tmp_path / "clean", tmp_path)
    assert {f.kind for f in error.reports[0].findings} == {"file-name"}
    assert "20240115" not in str(error)
