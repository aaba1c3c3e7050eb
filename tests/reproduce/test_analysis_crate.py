"""Crates written without a kernel: reading back, finding them, refusing secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fakes.zenodo_records import FakeZenodoRecords, ZenodoFile, ZenodoRecord
from metadata.test_export import roc_validate  # noqa: F401  (a fixture)
from nuclei_notebook import write_notebook

from bioshare.errors import BioshareError
from bioshare.metadata import Study
from bioshare.metadata.exports import to_rocrate
from bioshare.metadata.models import FileReference, StudyComponent
from bioshare.reproduce import capture
from bioshare.reproduce.bundle import bundle_file, with_analysis
from bioshare.reproduce.crate import (
    ANALYSIS_FILE,
    PROFILE,
    Analysis,
    InputRecord,
    open_crate,
    write_crate,
)
from bioshare.reproduce.environment import snapshot
from bioshare.reproduce.outputs import OutputSpec, file_sha256
from bioshare.reproduce.safety import check_files
from bioshare.reproduce.sources import analysis_in_crate, locate
from bioshare.server import BackgroundServer


def make_crate(
    folder: Path,
    dest: str = "count.crate",
    notebook_name: str = "count.ipynb",
    inputs: dict[str, Path] | None = None,
) -> Path:
    """A crate of the counting notebook; ``inputs``: parameter -> file or folder to copy."""
    folder.mkdir(parents=True, exist_ok=True)
    notebook = write_notebook(folder / notebook_name)
    (folder / "count.json").write_text("6")
    spec = OutputSpec("count", "value", "count.json", file_sha256(folder / "count.json"))
    copies = {f"inputs/{k}/{p.name}": p for k, p in (inputs or {}).items()}
    records = [
        InputRecord(k, str(p), "directory" if p.is_dir() else "file", path=f"inputs/{k}/{p.name}")
        for k, p in (inputs or {}).items()
    ]
    analysis = Analysis(
        title="Counting",
        notebook=notebook_name,
        parameters={"threshold": 0.5, "channels": [0, 1]},
        inputs=records,
        outputs=[spec],
        environment=snapshot({"numpy"}),
        start="2025-01-15T10:00:00+00:00",
        end="2025-01-15T10:00:05+00:00",
        agent="Ada Lovelace",
    )
    described = folder / ANALYSIS_FILE
    described.write_text(json.dumps(analysis.to_dict()))
    files = {
        notebook_name: notebook,
        "outputs/count.json": folder / "count.json",
        ANALYSIS_FILE: described,
        **copies,
    }
    return write_crate(analysis, files, folder / dest)


def test_a_crate_reads_back_as_written(tmp_path):
    crate = make_crate(tmp_path / "src")
    analysis = open_crate(crate, tmp_path / "work")
    assert analysis.path == crate
    assert analysis.parameters == {"threshold": 0.5, "channels": [0, 1]}
    assert analysis.output("count").sha256 == file_sha256(crate / "outputs/count.json")
    with pytest.raises(KeyError, match="recorded: count"):
        analysis.output("area")
    zipped = make_crate(tmp_path / "zip", "count.crate.zip")
    assert open_crate(zipped, tmp_path / "unzipped").outputs == analysis.outputs
    assert "Counting" in analysis._repr_html_()


@pytest.mark.slow
def test_the_crate_passes_the_ro_crate_validator(tmp_path, roc_validate):  # noqa: F811
    crate = make_crate(tmp_path / "src")
    result = roc_validate(crate)
    assert result.passed(), [i.message for i in result.get_issues()]
    graph = {
        e["@id"]: e for e in json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
    }
    assert graph[PROFILE] == {
        "@id": PROFILE,
        "@type": ["CreativeWork", "Profile"],
        "name": "Process Run Crate",
        "version": "0.5",
    }
    assert graph["#agent"] == {"@id": "#agent", "@type": "Person", "name": "Ada Lovelace"}
    assert graph["#parameter-channels"]["value"] == "[0, 1]"


def test_what_is_not_a_crate_is_refused_clearly(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(BioshareError, match="not a captured analysis"):
        open_crate(tmp_path / "plain", tmp_path / "work")
    with pytest.raises(FileNotFoundError, match="expected a crate folder or zip"):
        locate(str(tmp_path / "absent"), tmp_path / "work")
    with pytest.raises(BioshareError, match=r"no ro-crate-metadata\.json"):
        locate(str(tmp_path / "plain"), tmp_path / "work")


def counting_study(data: Path | None = None) -> Study:
    """A study listing ``data`` (a file name) and the analysis bundle."""
    study = Study(
        title="Counts",
        description="Counts of nuclei.",
        licence="CC BY 4.0",
        release_date="2025-01-15",
        author=[{"display_name": "Ada Lovelace", "contact_email": "ada@example.org"}],
    )
    if data is not None:
        study.study_component.append(
            StudyComponent(title="Data", files=[FileReference(file_path=data.name)])
        )
    return study


def test_a_publication_folder_leads_to_its_analysis(tmp_path, monkeypatch):
    crate = make_crate(tmp_path / "src")
    publication = tmp_path / "served" / "published-counting-12345678"
    data = tmp_path / "data"
    data.mkdir()
    (data / "counts.csv").write_text("count\n6\n")
    shutil.copyfile(bundle_file(crate), data / "analysis.crate.zip")
    study = with_analysis(counting_study(data / "counts.csv"), 1)
    to_rocrate(study, publication, data_root=data)
    linked = json.loads((publication / "ro-crate-metadata.json").read_text())
    entities = {e["@id"]: e for e in linked["@graph"]}
    assert entities["analysis.crate.zip"]["conformsTo"] == {"@id": PROFILE}
    assert {"@id": "analysis.crate.zip"} in entities["./"]["mentions"]
    assert "Profile" in entities[PROFILE]["@type"]
    assert analysis_in_crate(linked) == "analysis.crate.zip"
    assert locate(str(publication), tmp_path / "work") == publication / "analysis.crate.zip"
    monkeypatch.setenv("BIOSHARE_LOCAL_ROOT", str(tmp_path / "served"))
    found = locate("local:published-counting-12345678/image.ome.zarr", tmp_path / "work")
    assert found == publication / "analysis.crate.zip"
    assert open_crate(found, tmp_path / "work").title == "Counting"
    assert bundle_file(crate) == bundle_file(crate)  # zipped once, by content
    (publication / "analysis.crate.zip").unlink()
    metadata = {
        "@context": "https://w3id.org/ro/crate/1.2/context",
        "@graph": [
            {"@id": "./", "@type": "Dataset", "hasPart": [{"@id": "analysis.crate.zip"}]},
            {"@id": "analysis.crate.zip", "@type": "File"},
        ],
    }
    (publication / "ro-crate-metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BioshareError, match="without a captured analysis"):
        locate(str(publication), tmp_path / "work")


def test_a_crate_listing_the_analysis_without_content_names_it(tmp_path):
    # Zenodo and InvenioRDM records get a crate without the files: "#analysis.crate.zip"
    study = with_analysis(counting_study(tmp_path / "counts.csv"), 1234)
    crate = to_rocrate(study, tmp_path / "crate")
    assert analysis_in_crate(json.loads((crate / "ro-crate-metadata.json").read_text())) == (
        "analysis.crate.zip"
    )


def test_a_zenodo_record_url_downloads_the_bundle_checked_by_md5(tmp_path):
    import hashlib

    bundle = bundle_file(make_crate(tmp_path / "src"))
    md5 = hashlib.md5(bundle.read_bytes()).hexdigest()
    good = ZenodoFile("analysis.crate.zip", bundle, bundle.stat().st_size, f"md5:{md5}")
    bad = ZenodoFile("analysis.crate.zip", bundle, bundle.stat().st_size, "md5:" + "1" * 32)
    records = [
        ZenodoRecord(7001, "Counting", "An analysis", [("Lovelace, Ada", None)], files=[good]),
        ZenodoRecord(7003, "Damaged", "An analysis", [("Lovelace, Ada", None)], files=[bad]),
        ZenodoRecord(7005, "Data only", "No analysis", [("Lovelace, Ada", None)]),
    ]
    with FakeZenodoRecords(records) as zenodo:
        found = locate(f"{zenodo.url}/records/7001", tmp_path / "work")
        assert found.read_bytes() == bundle.read_bytes()
        assert open_crate(found, tmp_path / "work").title == "Counting"
        with pytest.raises(BioshareError, match="differs from the record's"):
            locate(f"{zenodo.url}/records/7003", tmp_path / "work2")
        with pytest.raises(BioshareError, match="lists no files"):
            locate(f"{zenodo.url}/records/7005", tmp_path / "work3")


def test_tokens_never_go_into_a_crate(tmp_path, monkeypatch):
    notebook = write_notebook(tmp_path / "count.ipynb")
    with pytest.raises(ValueError, match="'zenodo_token' looks like a secret"):
        capture(notebook, {"zenodo_token": "abc"})
    monkeypatch.setenv("ZENODO_TOKEN", "s3cr3t-t0ken-value")
    with pytest.raises(ValueError, match="holds the value of a token"):
        capture(notebook, {"note": "s3cr3t-t0ken-value"})
    leaked = tmp_path / "executed.ipynb"
    leaked.write_text('{"outputs": "s3cr3t-t0ken-value"}')
    with pytest.raises(BioshareError, match=r"executed\.ipynb contains the value of a token"):
        check_files([leaked])
    assert not (tmp_path / "count.crate").exists()


def test_paths_in_a_downloaded_description_stay_inside_the_crate(tmp_path):
    crate = make_crate(tmp_path / "src")
    described = json.loads((crate / ANALYSIS_FILE).read_text())
    (crate / ANALYSIS_FILE).write_text(json.dumps({**described, "notebook": "../../etc/passwd"}))
    with pytest.raises(BioshareError, match=r"notebook is '\.\./\.\./etc/passwd'; expected a path"):
        open_crate(crate, tmp_path / "work")
    outputs = [{**described["outputs"][0], "file": "../../secret.json"}]
    (crate / ANALYSIS_FILE).write_text(json.dumps({**described, "outputs": outputs}))
    with pytest.raises(BioshareError, match="output 'count' is"):
        open_crate(crate, tmp_path / "work")


def test_names_with_spaces_survive_a_crate_and_a_served_folder(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "cell sizes.txt").write_text("12 14 9\n")
    crate = make_crate(
        tmp_path / "served",
        "count nuclei.crate",
        "count nuclei.ipynb",
        {"sizes": data / "cell sizes.txt"},
    )
    assert open_crate(crate, tmp_path / "work").notebook == "count nuclei.ipynb"
    with BackgroundServer(tmp_path / "served") as server:
        found = locate(f"{server.url}/count%20nuclei.crate/", tmp_path / "fetched")
        analysis = open_crate(found, tmp_path / "fetched")
    assert analysis.notebook == "count nuclei.ipynb"
    assert (found / "inputs/sizes/cell sizes.txt").read_text() == "12 14 9\n"
    assert (found / "count nuclei.ipynb").is_file()


def test_a_served_crate_with_a_folder_input_asks_for_the_zip(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.npy").write_bytes(b"x")
    make_crate(tmp_path / "served", inputs={"images": tmp_path / "images"})
    with (
        BackgroundServer(tmp_path / "served") as server,
        pytest.raises(BioshareError, match=r"folder 'inputs/images/images'.*zip"),
    ):
        locate(f"{server.url}/count.crate/", tmp_path / "fetched")


def test_a_remote_file_name_cannot_leave_the_working_folder(tmp_path):
    bundle = bundle_file(make_crate(tmp_path / "src"))
    work = tmp_path / "a" / "b" / "work"
    import hashlib

    md5 = hashlib.md5(bundle.read_bytes()).hexdigest()
    escaping = ZenodoFile("../../escaped.crate.zip", bundle, bundle.stat().st_size, f"md5:{md5}")
    record = ZenodoRecord(
        7007, "Escaping", "An analysis", [("Lovelace, Ada", None)], files=[escaping]
    )
    with FakeZenodoRecords([record]) as zenodo:
        found = locate(f"{zenodo.url}/records/7007", work)
    assert found == work / "escaped.crate.zip"
    assert not (tmp_path / "a" / "escaped.crate.zip").exists()
    assert open_crate(found, work).title == "Counting"


def test_a_local_record_name_stays_inside_the_local_root(tmp_path, monkeypatch):
    root = tmp_path / "served"
    root.mkdir()
    make_crate(tmp_path, "published-x")  # a crate next to the root, reachable by ..
    monkeypatch.setenv("BIOSHARE_LOCAL_ROOT", str(root))
    for name in ("local:..", "local:../published-x", "local:."):
        with pytest.raises(BioshareError, match="expected a publication folder's name"):
            locate(name, tmp_path / "work")


def test_a_published_analysis_goes_through_the_privacy_gate(tmp_path):
    from fakes.medical import write_dicom_series

    from bioshare import publish
    from bioshare.privacy import IdentifiableDataError

    write_dicom_series(tmp_path / "ct", n_slices=2)
    crate = make_crate(tmp_path / "src", inputs={"scan": tmp_path / "ct"})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "counts.csv").write_text("count\n6\n")
    served = tmp_path / "served"
    served.mkdir()
    study = counting_study()
    with pytest.raises(IdentifiableDataError, match="PatientName"):
        publish(tmp_path / "data", study, local_root=served, progress=False, analysis=crate)
    assert list(served.iterdir()) == []
    with pytest.raises(ValueError, match="cannot publish analysis="):
        publish(tmp_path / "data", study, target="datacite", url="https://x.org", analysis=crate)


def test_secrets_in_copied_input_folders_are_found(tmp_path, monkeypatch):
    monkeypatch.setenv("XNAT_PASSWORD", "hunter2-but-longer")
    (tmp_path / "inputs" / "deep").mkdir(parents=True)
    (tmp_path / "inputs" / "deep" / "settings.json").write_text('{"p": "hunter2-but-longer"}')
    with pytest.raises(BioshareError, match=r"settings\.json contains the value of a token"):
        check_files([tmp_path / "inputs"])


def test_an_empty_module_list_does_not_map_every_distribution(monkeypatch):
    from importlib import metadata

    def refuse() -> None:
        raise AssertionError("packages_distributions() called")

    monkeypatch.setattr(metadata, "packages_distributions", refuse)
    assert snapshot(modules=())["packages"] == {}


def test_a_bundle_is_a_deterministic_deflated_zip_of_the_crate(tmp_path):
    import zipfile

    crate = make_crate(tmp_path / "src")
    copy = tmp_path / "copy" / "count.crate"
    shutil.copytree(crate, copy)
    first, second = bundle_file(crate), bundle_file(copy)
    assert first != second  # another folder: zipped again
    assert first.read_bytes() == second.read_bytes()  # to the same bytes
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    assert sorted(i.filename for i in infos) == sorted(
        p.relative_to(crate).as_posix() for p in crate.rglob("*") if p.is_file()
    )
    assert {(i.compress_type, i.date_time) for i in infos} == {
        (zipfile.ZIP_DEFLATED, (1980, 1, 1, 0, 0, 0))
    }
    assert not list(first.parent.glob("*.part"))
