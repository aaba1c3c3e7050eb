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
from bioshare.reproduce import capture
from bioshare.reproduce.bundle import bundle_file, link_analysis
from bioshare.reproduce.crate import ANALYSIS_FILE, PROFILE, Analysis, open_crate, write_crate
from bioshare.reproduce.environment import snapshot
from bioshare.reproduce.outputs import OutputSpec, file_sha256
from bioshare.reproduce.safety import check_files
from bioshare.reproduce.sources import analysis_in_crate, locate


def make_crate(folder: Path, dest: str = "count.crate") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    notebook = write_notebook(folder / "count.ipynb")
    (folder / "count.json").write_text("6")
    spec = OutputSpec("count", "value", "count.json", file_sha256(folder / "count.json"))
    analysis = Analysis(
        title="Counting",
        notebook="count.ipynb",
        parameters={"threshold": 0.5, "channels": [0, 1]},
        inputs=[],
        outputs=[spec],
        environment=snapshot({"numpy"}),
        start="2025-01-15T10:00:00+00:00",
        end="2025-01-15T10:00:05+00:00",
        agent="Ada Lovelace",
    )
    described = folder / ANALYSIS_FILE
    described.write_text(json.dumps(analysis.to_dict()))
    files = {
        "count.ipynb": notebook,
        "outputs/count.json": folder / "count.json",
        ANALYSIS_FILE: described,
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


def test_a_publication_folder_leads_to_its_analysis(tmp_path, monkeypatch):
    crate = make_crate(tmp_path / "src")
    publication = tmp_path / "served" / "published-counting-12345678"
    publication.mkdir(parents=True)
    shutil.copyfile(bundle_file(crate), publication / "analysis.crate.zip")
    metadata = {
        "@context": "https://w3id.org/ro/crate/1.2/context",
        "@graph": [
            {"@id": "./", "@type": "Dataset", "hasPart": [{"@id": "analysis.crate.zip"}]},
            {"@id": "analysis.crate.zip", "@type": "File"},
        ],
    }
    (publication / "ro-crate-metadata.json").write_text(json.dumps(metadata))
    link_analysis(publication / "ro-crate-metadata.json")
    linked = json.loads((publication / "ro-crate-metadata.json").read_text())
    assert analysis_in_crate(linked) == "analysis.crate.zip"
    assert locate(str(publication), tmp_path / "work") == publication / "analysis.crate.zip"
    monkeypatch.setenv("BIOSHARE_LOCAL_ROOT", str(tmp_path / "served"))
    found = locate("local:published-counting-12345678/image.ome.zarr", tmp_path / "work")
    assert found == publication / "analysis.crate.zip"
    assert open_crate(found, tmp_path / "work").title == "Counting"
    assert bundle_file(crate) == bundle_file(crate)  # zipped once, by content
    (publication / "analysis.crate.zip").unlink()
    (publication / "ro-crate-metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(BioshareError, match="without a captured analysis"):
        locate(str(publication), tmp_path / "work")


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
