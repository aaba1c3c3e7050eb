"""`bioshare.privacy.deidentify`: the basic profile on a copy, with a report of actions."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from fakes.medical import (
    FAKE_PATIENT,
    dicom_series_zip,
    write_dicom_series,
    write_enhanced_dicom,
    write_nifti,
)

import bioshare
from bioshare.cli import main
from bioshare.privacy import DeidentificationError, deidentify, scan
from bioshare.privacy.deidentify import REPORT_NAME


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_output_scans_clean_and_input_is_untouched(tmp_path: Path) -> None:
    series = write_dicom_series(
        tmp_path / "in" / "ct", n_slices=4, filename="{patient}_{index}.dcm"
    )
    write_nifti(tmp_path / "in" / "brain.nii.gz")
    before = tree_digest(tmp_path / "in")
    report = deidentify(tmp_path / "in", tmp_path / "out")
    assert tree_digest(tmp_path / "in") == before
    assert scan(tmp_path / "out").clean, str(scan(tmp_path / "out"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left
    # The images are intact and still open with their geometry.
    image = bioshare.open_image(tmp_path / "out" / "ct")
    np.testing.assert_allclose(image.values, series.volume)
    np.testing.assert_allclose(image["z"].values, series.z)
    assert str(report).startswith("de-identified 5 file(s)")


def test_dicom_attributes_follow_the_profile(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "in", n_slices=3)
    deidentify(tmp_path / "in", tmp_path / "out", key=b"k")
    files = sorted((tmp_path / "out").glob("*.dcm"))
    ds = pydicom.dcmread(files[0])
    assert ds.PatientName == ""
    assert ds.PatientID == ""
    assert ds.PatientBirthDate == ""
    assert "PatientAddress" not in ds
    assert "InstitutionAddress" not in ds
    assert "SeriesDescription" not in ds
    assert not any(elem.tag.is_private for elem in ds)
    assert ds.PatientIdentityRemoved == "YES"
    assert "PS3.15 E.1-1 Basic Profile" in ds.DeidentificationMethod
    assert ds.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert ds.Modality == "CT"
    assert ds.Rows == 16
    uids = {pydicom.dcmread(f).SeriesInstanceUID for f in files}
    assert len(uids) == 1
    assert next(iter(uids)).startswith("2.25.")
    assert series.series_uid not in uids
    sops = [pydicom.dcmread(f) for f in files]
    assert all(d.SOPInstanceUID == d.file_meta.MediaStorageSOPInstanceUID for d in sops)
    assert len({d.SOPInstanceUID for d in sops}) == 3


def test_uids_are_consistent_within_a_run_and_keyed(tmp_path: Path) -> None:
    dicom_series_zip(tmp_path / "two.zip", n_series=2, study_uid="1.2.840.99.1")
    deidentify(tmp_path / "two.zip", tmp_path / "a", key="secret")
    deidentify(tmp_path / "two.zip", tmp_path / "b", key="secret")
    deidentify(tmp_path / "two.zip", tmp_path / "c", key="other")

    def study_uids(folder: Path) -> set[str]:
        return {pydicom.dcmread(p).StudyInstanceUID for p in folder.rglob("*.dcm")}

    assert len(study_uids(tmp_path / "a")) == 1  # both series still share their study
    assert study_uids(tmp_path / "a") == study_uids(tmp_path / "b")
    assert study_uids(tmp_path / "a") != study_uids(tmp_path / "c")
    frames = {pydicom.dcmread(p).FrameOfReferenceUID for p in (tmp_path / "a").rglob("*.dcm")}
    assert len(frames) == 1
    assert (tmp_path / "a" / "README.txt").is_file()  # other members copied


def test_report_lists_tags_and_actions_but_no_values(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "in", n_slices=2)
    write_nifti(tmp_path / "in" / "v.nii")
    deidentify(tmp_path / "in", tmp_path / "out")
    report = json.loads((tmp_path / "out" / REPORT_NAME).read_text())
    dicom = next(f for f in report["files"] if f["kind"] == "dicom")
    actions = {(a["keyword"], a["action"]) for a in dicom["actions"]}
    assert ("PatientName", "Z") in actions
    assert ("PatientAddress", "X") in actions
    assert ("StudyInstanceUID", "U") in actions
    assert ("InstitutionName", "Z") in actions  # X/Z/D applied as Z
    nifti = next(f for f in report["files"] if f["kind"] == "nifti")
    assert nifti["actions"] == [{"tag": "descrip", "action": "Z"}]
    text = json.dumps(report)
    for value in FAKE_PATIENT.values():
        if len(value) > 3:
            assert value not in text


def test_nifti_header_cleared_and_data_kept(tmp_path: Path) -> None:
    volume = write_nifti(tmp_path / "v.nii.gz", shape=(3, 4, 5), slope=0.5, aux_file="pid")
    deidentify(tmp_path / "v.nii.gz", tmp_path / "out")
    out = tmp_path / "out" / "v.nii.gz"
    assert scan(out).clean
    image = bioshare.open_image(out)
    np.testing.assert_allclose(image.values, volume.data)
    np.testing.assert_allclose(image.attrs["affine"], volume.affine)


def test_multiframe_sequences_are_cleaned(tmp_path: Path) -> None:
    series = write_enhanced_dicom(tmp_path / "in" / "mr.dcm", n_slices=3, n_times=2)
    deidentify(tmp_path / "in", tmp_path / "out")
    assert scan(tmp_path / "out").clean
    image = bioshare.open_image(tmp_path / "out" / "mr.dcm")
    np.testing.assert_allclose(image.values, series.volume)


def test_refusals(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "in", n_slices=2, burned_in=True)
    with pytest.raises(DeidentificationError, match="burned-in"):
        deidentify(tmp_path / "in", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    report = deidentify(tmp_path / "in", tmp_path / "out", exclude_burned_in=True)
    assert len(report.excluded) == 2
    assert not list((tmp_path / "out").glob("*.dcm"))
    with pytest.raises(DeidentificationError, match="already exists"):
        deidentify(tmp_path / "in", tmp_path / "out", exclude_burned_in=True)
    with pytest.raises(DeidentificationError, match="inside the input"):
        deidentify(tmp_path / "in", tmp_path / "in" / "out")


def test_cli(tmp_path: Path, capsys) -> None:
    write_dicom_series(tmp_path / "in", n_slices=2)
    key = tmp_path / "key"
    key.write_text("a secret\n")
    args = ["privacy", "deidentify", str(tmp_path / "in"), str(tmp_path / "out")]
    assert main([*args, "--key-file", str(key)]) == 0
    assert "de-identified 2 file(s)" in capsys.readouterr().out
    assert main(["privacy", "scan", str(tmp_path / "out")]) == 0
    assert "no identifying data found" in capsys.readouterr().out


def test_zip_members_cannot_escape_the_output(tmp_path: Path) -> None:
    series = write_dicom_series(tmp_path / "in", n_slices=1)
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.write(series.files[0], "../escaped.dcm")
    with pytest.raises(DeidentificationError, match="outside the output folder"):
        deidentify(tmp_path / "evil.zip", tmp_path / "sub" / "out")
    assert not (tmp_path / "sub" / "escaped.dcm").exists()
    assert not (tmp_path / "sub" / "out").exists()


def test_an_output_that_contains_the_input_is_refused(tmp_path: Path) -> None:
    project = tmp_path / "project"
    write_dicom_series(project / "raw", n_slices=2)
    (project / "notes.txt").write_text("my notes\n")
    dicom_series_zip(project / "study.zip")
    before = tree_digest(project)
    for source in (project / "raw", project / "study.zip"):
        for out in (project, tmp_path):
            with pytest.raises(DeidentificationError, match="contains the input"):
                deidentify(source, out, overwrite=True)
    assert tree_digest(project) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]  # no staging left


def test_dotted_identifying_names_keep_only_their_suffix(tmp_path: Path) -> None:
    write_dicom_series(tmp_path / "in", n_slices=2, filename="{patient}.{index}.dcm")
    write_nifti(tmp_path / "in" / "scan.2024-01-15.nii.gz")
    (tmp_path / "in" / "notes.Doe_Jane_Q").write_text("free text\n")
    deidentify(tmp_path / "in", tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert "Doe_Jane_Q.0.dcm" in {p.name for p in (tmp_path / "in").iterdir()}
    for leaked in ("doe", "jane", "2024", "01-15"):
        assert not any(leaked in n.lower() for n in names), names
    assert sum(n.endswith(".dcm") for n in names) == 2
    assert sum(n.endswith(".nii.gz") for n in names) == 1
    assert REPORT_NAME in names
    assert scan(tmp_path / "out").clean


def test_burned_in_refusal_does_not_name_the_patient(tmp_path: Path) -> None:
    write_dicom_series(
        tmp_path / "Doe_Jane_Q", n_slices=2, burned_in=True, filename="{patient}_{index}.dcm"
    )
    with pytest.raises(DeidentificationError, match="burned-in") as caught:
        deidentify(tmp_path / "Doe_Jane_Q", tmp_path / "out")
    message = str(caught.value)
    assert "***_***_Q_0.dcm" in message
    assert "Doe" not in message
    assert "Jane" not in message
