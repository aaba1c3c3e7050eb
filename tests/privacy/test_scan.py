"""`bioshare.privacy.scan`: what could identify a patient, never the values themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
from fakes.medical import FAKE_PATIENT, dicom_series_zip, write_dicom_series, write_nifti

from bioshare.cli import main
from bioshare.privacy import BASIC_PROFILE, action_for, scan


def keywords(report) -> set[str]:
    return {f.keyword for f in report.findings if f.kind == "tag"}


def test_profile_table_uses_the_standard_codes_and_dictionary_names() -> None:
    assert BASIC_PROFILE[0x00100010] == "Z"  # Patient's Name
    assert BASIC_PROFILE[0x00100030] == "Z"  # Patient's Birth Date
    assert BASIC_PROFILE[0x00101040] == "X"  # Patient's Address
    assert BASIC_PROFILE[0x0020000D] == "U"  # Study Instance UID
    assert BASIC_PROFILE[0x00080080] == "X/Z/D"  # Institution Name
    assert set(BASIC_PROFILE.values()) <= {
        "D",
        "Z",
        "X",
        "K",
        "C",
        "U",
        "X/Z",
        "X/D",
        "Z/D",
        "X/Z/D",
        "X/Z/U*",
    }
    assert all(pydicom.datadict.keyword_for_tag(tag) for tag in BASIC_PROFILE)
    assert action_for(0x00091010) == "X"  # private
    assert action_for(0x60003000) == "X"  # overlay data
    assert action_for(0x00280010) is None  # Rows: kept


def test_dicom_findings_cover_the_basic_profile(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "ct", n_slices=3)
    report = scan(tmp_path / "ct")
    assert not report.clean
    assert report.dicom_files == 3
    found = keywords(report)
    for expected in (
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientAddress",
        "InstitutionName",
        "InstitutionAddress",
        "ReferringPhysicianName",
        "AccessionNumber",
        "StudyDate",
        "StudyInstanceUID",
        "SeriesInstanceUID",
        "SOPInstanceUID",
        "MediaStorageSOPInstanceUID",
    ):
        assert expected in found, expected
    assert "Modality" not in found
    assert "Rows" not in found
    private = [f for f in report.findings if f.kind == "private-tag"]
    assert {f.tag for f in private} >= {"(0009,1010)", "(0009,1011)"}
    text = json.dumps(report.to_dict()) + str(report)
    for value in FAKE_PATIENT.values():
        if len(value) > 3:
            assert value not in text


def test_burned_in_annotation_is_reported(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "us", n_slices=1, burned_in=True)
    report = scan(tmp_path / "us")
    assert any(f.kind == "burned-in" for f in report.findings)


def test_identifying_file_names(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "s", n_slices=2, filename="{patient}_{index}.dcm")
    write_nifti(tmp_path / "s" / "scan_2024-01-15.nii.gz", descrip="")
    report = scan(tmp_path / "s")
    named = sorted(f.file for f in report.findings if f.kind == "file-name")
    # Reported, but masked: the report is meant to be shared, the names must not be.
    assert named == ["***_***_Q_0.dcm", "***_***_Q_1.dcm", "scan_***.nii.gz"]
    text = json.dumps(report.to_dict()) + str(report)
    for leaked in ("Doe", "Jane", "2024-01-15"):
        assert leaked not in text


def test_nifti_header_text(tmp_path: Path) -> None:
    write_nifti(tmp_path / "v.nii", descrip="Doe^Jane 1970-03-12", aux_file="pid0042")
    report = scan(tmp_path / "v.nii")
    assert report.nifti_files == 1
    assert sorted(f.tag for f in report.findings) == ["aux_file", "descrip"]
    write_nifti(tmp_path / "clean.nii", descrip="")
    assert scan(tmp_path / "clean.nii").clean


def test_zip_and_cli(tmp_path: Path, capsys) -> None:
    dicom_series_zip(tmp_path / "study.zip", n_series=2)
    report = scan(tmp_path / "study.zip")
    assert report.dicom_files == 16
    assert all(f.file.startswith("study/series") for f in report.findings)
    assert main(["privacy", "scan", str(tmp_path / "study.zip"), "--json"]) == 3
    printed = json.loads(capsys.readouterr().out)
    assert printed["clean"] is False
    assert printed["dicom_files"] == 16


def test_nifti_scan_reads_the_header_only(tmp_path: Path) -> None:
    import gzip

    write_nifti(tmp_path / "v.nii.gz", shape=(40, 64, 64), aux_file="pid0042")
    blob = (tmp_path / "v.nii.gz").read_bytes()
    assert len(gzip.decompress(blob)) > 300_000
    # Voxels cut off: a scan that decompressed the whole file could not read the header.
    (tmp_path / "cut.nii.gz").write_bytes(blob[:4096])
    report = scan(tmp_path / "cut.nii.gz")
    assert sorted(f.tag for f in report.findings) == ["aux_file", "descrip"]


def test_dicomdir_and_suffixless_files_of_a_file_set_are_scanned(tmp_path: Path) -> None:
    from pydicom.fileset import FileSet

    series = write_dicom_series(tmp_path / "raw", n_slices=2)
    file_set = FileSet()
    for path in series.files:
        file_set.add(path)
    file_set.write(tmp_path / "media")  # DICOMDIR + PT000000/ST000000/SE000000/IM00000n
    report = scan(tmp_path / "media")
    assert report.dicom_files == 3
    by_file: dict[str, set[str]] = {}
    for f in report.findings:
        by_file.setdefault(f.file, set()).add(f.keyword or f.kind)
    assert "PatientName" in by_file["DICOMDIR"]  # in its directory records
    assert "PatientName" in by_file["PT000000/ST000000/SE000000/IM000000"]
