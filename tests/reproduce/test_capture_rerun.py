"""Capture a small analysis, re-run it from a crate, a local publication and a DOI."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from aiohttp import web
from fakes.invenio import FakeInvenio
from fakes.service import FakeService
from nuclei_notebook import write_image, write_notebook

import bioshare
from bioshare.cli import main
from bioshare.metadata import Study
from bioshare.reproduce import capture, rerun
from bioshare.reproduce.crate import PROFILE, Analysis, open_crate
from bioshare.reproduce.inputs import content_sha256
from bioshare.reproduce.outputs import file_sha256
from bioshare.server import BackgroundServer

pytestmark = pytest.mark.slow  # every test here starts a Jupyter kernel (about 5 s)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("analysis")
    write_notebook(folder / "count-nuclei.ipynb")
    write_image(folder / "nuclei.npy", blobs=6)
    write_image(folder / "more-nuclei.npy", blobs=7)
    return folder


@pytest.fixture(scope="module")
def captured(workspace: Path) -> Analysis:
    return capture(
        workspace / "count-nuclei.ipynb",
        {"image_path": str(workspace / "nuclei.npy"), "threshold": 0.5, "note": "nuclei"},
        dest=workspace / "count-nuclei.crate",
        title="Counting nuclei",
        agent="https://orcid.org/0000-0002-1825-0097",
    )


def graph(crate: Path) -> dict[str, dict]:
    document = json.loads((crate / "ro-crate-metadata.json").read_text())
    return {e["@id"]: e for e in document["@graph"]}


def ids(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [i["@id"] for i in items]


def test_capture_writes_a_process_run_crate(captured, workspace):
    crate = captured.path
    entities = graph(crate)
    assert entities["./"]["conformsTo"] == {"@id": PROFILE}
    action = entities[entities["./"]["mentions"]["@id"]]
    assert action["@type"] == "CreateAction"
    assert action["instrument"] == {"@id": "count-nuclei.ipynb"}
    assert "SoftwareSourceCode" in entities["count-nuclei.ipynb"]["@type"]
    assert action["agent"] == {"@id": "https://orcid.org/0000-0002-1825-0097"}
    assert action["startTime"] <= action["endTime"]
    # the input image is copied, with the sha256 of the original
    image = "inputs/image_path/nuclei.npy"
    assert image in ids(action["object"])
    assert entities[image]["sha256"] == content_sha256(workspace / "nuclei.npy")[0]
    assert (crate / image).read_bytes() == (workspace / "nuclei.npy").read_bytes()
    parameters = {
        entities[i]["name"]: entities[i]["value"]
        for i in ids(action["object"])
        if i.startswith("#parameter-")
    }
    assert parameters["threshold"] == 0.5
    # every output is a result, with the checksum of the file in the crate
    names = {s.name: s for s in captured.outputs}
    assert set(names) == {
        "nuclei_count",
        "mean_area",
        "areas",
        "label_image",
        "labels_figure",
        "summary",
    }
    assert [names[n].kind for n in ("areas", "label_image", "labels_figure")] == [
        "table",
        "array",
        "figure",
    ]
    assert names["mean_area"].rtol == 1e-3
    for spec in captured.outputs:
        rel = f"outputs/{spec.file}"
        assert rel in ids(action["result"])
        assert entities[rel]["sha256"] == spec.sha256 == file_sha256(crate / rel)
    assert json.loads((crate / "outputs/nuclei_count.json").read_text()) == 6
    # the environment the kernel ran with
    packages = captured.environment["packages"]
    assert packages["numpy"] == np.__version__
    assert "scikit-image" in packages
    assert "pandas" in packages
    requirements = ids(entities["count-nuclei.ipynb"]["softwareRequirements"])
    assert entities["#package-numpy"]["version"] == np.__version__
    assert "#package-numpy" in requirements
    assert "#python" in requirements


def test_rerun_matches(captured, capsys, tmp_path):
    report = rerun(captured.path, keep=tmp_path / "kept")
    assert "executes the code" in capsys.readouterr().err
    assert report.error is None, report.error
    assert report.ok, report.to_markdown()
    assert {c.name: c.status for c in report.outputs} == dict.fromkeys(
        ("nuclei_count", "mean_area", "areas", "label_image", "labels_figure", "summary"), "match"
    )
    count = next(c for c in report.outputs if c.name == "nuclei_count")
    assert (count.expected, count.got) == (6, 6)
    assert report.environment.identical
    assert [(i.parameter, i.status) for i in report.inputs] == [("image_path", "same")]
    assert "Reproduced: all 6 recorded output(s) match." in report._repr_html_()
    assert "executes the code" in report._repr_html_()
    assert json.loads(report.to_json())["ok"] is True
    assert "| nuclei_count | value | match | 6 | 6 | 0 |" in report.to_markdown()
    assert 0 < report.seconds < 120
    assert Path(report.workdir).parent == tmp_path / "kept"
    assert Path(report.executed).is_file()


def test_a_changed_input_is_drift_with_the_numbers(captured, workspace):
    other = workspace / "more-nuclei.npy"
    report = rerun(captured.path, parameters={"image_path": str(other)}, quiet=True)
    assert report.error is None, report.error
    assert not report.ok
    by_name = {c.name: c for c in report.outputs}
    count = by_name["nuclei_count"]
    assert (count.status, count.expected, count.got, count.difference) == ("drift", 6, 7, 1)
    assert by_name["mean_area"].status == "match"  # every blob is 6x6: 36 pixels
    assert by_name["areas"].status == "drift"
    assert "7 rows" in by_name["areas"].summary
    labels = by_name["label_image"]
    assert labels.status == "drift"
    assert labels.details["elements_differing"] == 36  # the seventh blob
    figure = by_name["labels_figure"]
    assert figure.status == "drift"
    assert figure.got < figure.details["threshold"]
    assert by_name["summary"].status == "match"
    [image] = report.inputs
    assert image.status == "changed"
    assert image.sha256 == content_sha256(other)[0] != image.recorded_sha256
    assert report.parameters["image_path"][1] == str(other)
    text = report.to_markdown()
    assert "Not reproduced: 4 of 6 recorded output(s) drifted" in text
    assert "| nuclei_count | value | drift | 6 | 7 | 1 |" in text
    assert "input `image_path`: changed (sha256" in text
    assert list(report.figures) == ["labels_figure"]  # shown side by side in HTML
    assert report._repr_html_().count("data:image/png;base64,") == 2
    assert "base64" not in report.to_json()


def make_study() -> Study:
    return Study(
        title="Nuclei counts",
        description="Synthetic nuclei and the analysis that counts them.",
        licence="CC BY 4.0",
        release_date="2025-01-15",
        author=[{"display_name": "Ada Lovelace", "contact_email": "ada@example.org"}],
    )


def test_capture_and_rerun_cli_on_a_local_publication_served_over_http(
    workspace, tmp_path, monkeypatch, capsys
):
    crate = tmp_path / "count.crate.zip"
    image = f"image_path={workspace / 'nuclei.npy'}"
    notebook = str(workspace / "count-nuclei.ipynb")
    described = ["--license", "CC-BY-4.0", "--description", "Counts nuclei above a threshold"]
    options = ["-p", image, "-p", "threshold=0.5", "-o", str(crate), *described]
    assert main(["capture", notebook, *options]) == 0
    assert "captured 6 output(s) of count-nuclei.ipynb" in capsys.readouterr().out
    written = open_crate(crate, tmp_path / "opened")
    assert (written.license, written.description) == ("CC-BY-4.0", described[3])
    root = tmp_path / "served"
    root.mkdir()
    sheet = make_study().to_spreadsheet(tmp_path / "study.xlsx")
    data = str(workspace / "nuclei.npy")
    published = ["publish", data, "--metadata", str(sheet), "--local-root", str(root)]
    assert main([*published, "--analysis", str(crate), "--no-progress"]) == 0
    identifier = re.search(r"Identifier: (\S+)", capsys.readouterr().out).group(1)
    publication = bioshare.publish(
        workspace / "nuclei.npy", make_study(), local_root=root, progress=False, analysis=crate
    )  # the same again from Python: the same publication, which gives its details here
    assert publication.record_id == identifier
    assert len([p for p in root.iterdir() if p.name.startswith("published-")]) == 1
    folder = Path(publication.path)
    assert "analysis.crate.zip" in [f.name for f in publication.files]
    entities = graph(folder)
    assert entities["analysis.crate.zip"]["conformsTo"] == {"@id": PROFILE}
    assert {"@id": "analysis.crate.zip"} in entities["./"]["mentions"]
    again = bioshare.publish(
        workspace / "nuclei.npy", make_study(), local_root=root, progress=False, analysis=crate
    )
    assert again == publication  # the same bundle: the same publication
    monkeypatch.delenv("BIOSHARE_LOCAL_ROOT", raising=False)
    with BackgroundServer(root) as server:
        monkeypatch.setenv("BIOSHARE_LOCAL_URL", server.url)
        code = main(["rerun", identifier, "--json", "--yes"])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert report["ok"] is True
    assert report["source"] == publication.record_id
    assert {o["name"]: o["status"] for o in report["outputs"]}["nuclei_count"] == "match"


class FakeDOIResolver(FakeService):
    """doi.org in miniature: ``GET /<doi>`` redirects to where the DOI was registered."""

    name = "fake DOI resolver"

    def __init__(self) -> None:
        super().__init__()
        self.targets: dict[str, str] = {}

    def setup(self, app: web.Application) -> None:
        app.router.add_get("/{doi:.+}", self.resolve)

    async def resolve(self, request: web.Request) -> web.Response:
        target = self.targets.get(request.match_info["doi"].lower())
        if target is None:
            return web.json_response({"responseCode": 100}, status=404)
        raise web.HTTPFound(target)


@pytest.fixture
def zenodo(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeInvenio]:
    with FakeInvenio(flavour="zenodo", token="secret-token") as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.delenv("ZENODO_SANDBOX_TOKEN", raising=False)
        yield fake


def test_rerun_by_doi_of_a_zenodo_publication(captured, workspace, zenodo, monkeypatch):
    publication = bioshare.publish(
        workspace / "nuclei.npy",
        make_study(),
        target="zenodo",
        token="secret-token",
        progress=False,
        analysis=captured.path,
    )
    assert publication.doi
    with FakeDOIResolver() as resolver:
        resolver.targets[publication.doi.lower()] = f"{zenodo.url}/records/{publication.record_id}"
        monkeypatch.setenv("BIOSHARE_DOI_URL", resolver.url)
        report = rerun(f"https://doi.org/{publication.doi}", quiet=True)
        assert report.ok, report.to_markdown()
        with pytest.raises(bioshare.errors.BioshareError, match="not registered"):
            rerun("10.5072/zenodo.404", quiet=True)
    downloads = [r.path for r in zenodo.log if r.path.endswith("/content")]
    assert any(p.endswith("/analysis.crate.zip/content") for p in downloads)
    # the study listed no files: the list derived at upload marks the analysis too
    crate = zenodo.stored_path(publication.record_id, "ro-crate-metadata.json")
    entities = {e["@id"]: e for e in json.loads(crate.read_text())["@graph"]}
    assert entities["#analysis.crate.zip"]["conformsTo"] == {"@id": PROFILE}  # listed, not held


def test_a_failing_notebook_is_not_captured(tmp_path):
    import nbformat

    from bioshare.errors import BioshareError

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell('raise ValueError("no nuclei found")')]
    nbformat.write(notebook, str(tmp_path / "broken.ipynb"))
    with pytest.raises(BioshareError, match="ValueError in cell \\[1\\]: no nuclei found") as error:
        capture(tmp_path / "broken.ipynb", dest=tmp_path / "broken.crate")
    assert "executed notebook is kept in" in str(error.value)
    assert not (tmp_path / "broken.crate").exists()


def write_secretive_notebook(path: Path) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell('hidden = ""')
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [
        parameters,
        nbformat.v4.new_code_cell(
            "import os\nfrom bioshare.reproduce import record\n"
            'record("sees_token", "ZENODO_TOKEN" in os.environ)\n'
            "print(hidden[::-1])"
        ),
    ]
    nbformat.write(notebook, str(path))
    return path


def test_the_kernel_sees_no_token_and_a_printed_one_is_refused(tmp_path, monkeypatch):
    from bioshare.errors import BioshareError

    notebook = write_secretive_notebook(tmp_path / "secretive.ipynb")
    monkeypatch.setenv("ZENODO_TOKEN", "s3cr3t-t0ken-value")
    # the notebook prints the token it rebuilt from a harmless-looking parameter
    with pytest.raises(BioshareError, match=r"executed\.ipynb contains the value of a token"):
        capture(notebook, {"hidden": "eulav-nek0t-t3rc3s"}, dest=tmp_path / "leak.crate")
    assert not (tmp_path / "leak.crate").exists()
    analysis = capture(notebook, {"hidden": "harmless"}, dest=tmp_path / "ok.crate")
    assert json.loads((tmp_path / "ok.crate/outputs/sees_token.json").read_text()) is False
    assert analysis.output("sees_token").kind == "value"
    import os

    assert os.environ["ZENODO_TOKEN"] == "s3cr3t-t0ken-value"  # given back afterwards


def test_the_doi_resolver_is_asked_again_when_busy(monkeypatch):
    from bioshare.reproduce.sources import resolve_doi

    with FakeDOIResolver() as resolver:
        resolver.targets["10.5072/zenodo.7"] = "https://zenodo.example/records/7"
        monkeypatch.setenv("BIOSHARE_DOI_URL", resolver.url)
        resolver.inject("status", status=503, times=2)
        assert resolve_doi("10.5072/zenodo.7") == "https://zenodo.example/records/7"
        assert len(resolver.log) == 3
        monkeypatch.setenv("BIOSHARE_RETRIES", "1")
        resolver.inject("status", status=503)
        with pytest.raises(bioshare.errors.BioshareError, match="answered HTTP 503"):
            resolve_doi("10.5072/zenodo.7")
