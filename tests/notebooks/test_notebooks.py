"""Every notebook runs under papermill against the local demo repository and the fakes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import papermill
import pytest
from fakes.federation import public_fakes

from bioshare.datasets import build_course_mirror
from bioshare.server import BackgroundServer

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
COURSE = NOTEBOOKS / "course"
LESSONS = sorted(COURSE.glob("*.ipynb"))
SOLUTIONS = sorted((COURSE / "solutions").glob("*.ipynb"))


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    with public_fakes(tmp_path_factory.mktemp("federation")) as running:
        yield running


@pytest.fixture(scope="module")
def course_mirror(tmp_path_factory):
    folder = tmp_path_factory.mktemp("course-mirror")
    build_course_mirror(folder)
    with BackgroundServer(folder) as server:
        yield server


@pytest.fixture
def services(federation, demo_server, course_mirror, monkeypatch):
    """Point the kernels (which inherit the environment) at the fakes, the demo and the mirror.

    Every other service is at a closed local port (`closed_services` in conftest.py).
    """
    for key, value in federation.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("BIOSHARE_LOCAL_URL", demo_server.url)
    monkeypatch.setenv("BIOSHARE_DATA_MIRROR", course_mirror.url)
    monkeypatch.setenv("BIOSHARE_RETRIES", "1")
    return federation


def run(path: Path, tmp_path: Path, **parameters: Any) -> str:
    """Execute a notebook; fail naming the notebook and cell. Returns all its text output."""
    output = tmp_path / path.name
    try:
        papermill.execute_notebook(
            path,
            output,
            parameters=parameters,
            kernel_name="python3",
            cwd=str(tmp_path),
            execution_timeout=180,
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as exc:
        pytest.fail(
            f"{path.relative_to(NOTEBOOKS)} cell {exc.cell_index}: {exc.ename}: {exc.evalue}"
        )
    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    text = "".join("".join(o.get("text", "")) for o in outputs)
    text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    return text + f"\n[{images} images]"


@pytest.mark.slow
def test_browse_federated(services, tmp_path):
    text = run(NOTEBOOKS / "01-browse-federated.ipynb", tmp_path, query="nuclei", timeout=10.0)
    for repository in ("idr", "bia"):
        assert f"{repository}: " in text  # each repository's contribution is reported
    assert "NCBITaxon:9606" in text  # the human filter, as an ontology term
    assert "OME-Zarr images in" in text
    assert "[1 images]" in text


@pytest.mark.slow
def test_stream_and_analyse(services, demo_server, tmp_path):
    url = f"{demo_server.url}/v0.5/mitosis.ome.zarr"
    text = run(NOTEBOOKS / "02-stream-and-analyse.ipynb", tmp_path, image_url=url, channel="Nuclei")
    assert "plane z=8: threshold" in text
    assert "16 planes on 2 workers" in text
    assert "mean_intensity" in text
    assert "eccentricity" in text
    assert "[2 images]" in text


@pytest.mark.slow
def test_annotate_rembi(services, demo_server, tmp_path):
    url = f"{demo_server.url}/v0.5/mitosis.ome.zarr"
    text = run(NOTEBOOKS / "03-annotate-rembi.ipynb", tmp_path, image_url=url, output_dir="out")
    assert "shape=[4, 2, 16, 256, 256]" in text  # harvested from the served image
    assert "required missing: 0; invalid: 0" in text
    assert "round trip equal (without harvested Image Data): True" in text
    assert (tmp_path / "out" / "crate" / "ro-crate-metadata.json").is_file()


@pytest.mark.slow
def test_publish_without_a_token_publishes_locally_and_says_so(services, demo_server, tmp_path):
    url = f"{demo_server.url}/v0.5/mitosis.ome.zarr"
    local = tmp_path / "local"
    text = run(
        NOTEBOOKS / "04-publish-doi.ipynb",
        tmp_path,
        source_url=url,
        work_dir="work",
        local_root=str(local),
    )
    assert "Skipping the Zenodo sandbox: no token configured" in text
    assert "Josiah Carberry (2025). Crop of a 3D nuclei image" in text
    assert "'t': 1, 'c': 2, 'z': 16, 'y': 128, 'x': 128" in text
    assert any(p.name.startswith("published-crop") for p in local.iterdir())


@pytest.mark.slow
def test_publish_to_the_zenodo_sandbox_with_a_token(services, demo_server, tmp_path, monkeypatch):
    from fakes.invenio import FakeInvenio

    token = "sandbox-token-for-the-notebook"
    with FakeInvenio(flavour="zenodo", token=token) as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.setenv("ZENODO_SANDBOX_TOKEN", token)
        text = run(
            NOTEBOOKS / "04-publish-doi.ipynb",
            tmp_path,
            source_url=f"{demo_server.url}/v0.5/cells.ome.zarr",
            work_dir="work",
            local_root=str(tmp_path / "local"),
        )
    assert "DOI: 10." in text
    assert "Skipping" not in text
    assert token not in text
    assert token not in (tmp_path / "04-publish-doi.ipynb").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_course_lesson_runs_with_its_blanks(path, services, tmp_path):
    text = run(path, tmp_path, search_repositories=["local"])
    assert "not answered yet" in text
    assert "correct!" not in text
    assert "not quite" not in text


@pytest.mark.slow
@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.name)
def test_course_solution_solves_every_exercise(path, services, tmp_path):
    text = run(path, tmp_path, search_repositories=["local"])
    assert text.count("correct!") == 2
    assert "not answered yet" not in text
    assert "not quite" not in text


def test_every_lesson_has_a_solution():
    assert [p.name for p in LESSONS] == [p.name for p in SOLUTIONS]
    assert len(LESSONS) == 4


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.name)
def test_solutions_differ_from_lessons_only_in_exercise_cells(path):
    lesson = json.loads(path.read_text())["cells"]
    solution = json.loads((COURSE / "solutions" / path.name).read_text())["cells"]
    assert len(lesson) == len(solution)
    exercises = 0
    for index, (mine, solved) in enumerate(zip(lesson, solution, strict=True)):
        if "exercise" in mine.get("metadata", {}).get("tags", []):
            exercises += 1
            assert "..." in "".join(mine["source"]), f"{path.name} cell {index} has no blank"
            assert "..." not in "".join(solved["source"]), f"solution cell {index} has a blank"
        else:
            assert mine["source"] == solved["source"], f"{path.name} cell {index} differs"
    assert exercises == 2


def test_every_notebook_is_run_by_a_test():
    sources = "".join(p.read_text() for p in Path(__file__).parent.glob("*.py"))
    course = {p for p in NOTEBOOKS.rglob("*.ipynb") if COURSE in p.parents}
    untested = [
        p.relative_to(NOTEBOOKS).as_posix()
        for p in sorted(NOTEBOOKS.rglob("*.ipynb"))
        if p not in course and p.name not in sources
    ]
    assert untested == [], f"notebooks no test in tests/notebooks/ runs: {untested}"
    assert course == set(LESSONS) | set(SOLUTIONS)  # run by the parametrized course tests


@pytest.mark.slow
def test_tour(demo_server, demo_data, tmp_path):
    output = tmp_path / "00-tour.ipynb"
    papermill.execute_notebook(
        NOTEBOOKS / "00-tour.ipynb",
        output,
        parameters={"repository_url": demo_server.url, "local_root": str(demo_data)},
        kernel_name="python3",
        cwd=str(tmp_path),
        execution_timeout=120,
        progress_bar=False,
    )
    notebook = json.loads(output.read_text())
    outputs = [o for cell in notebook["cells"] for o in cell.get("outputs", [])]
    assert any(o.get("output_type") == "error" for o in outputs) is False
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the plane and the labels overlay
    text = "".join("".join(o.get("text", "")) for o in outputs)
    text += "".join("".join(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "v0.5/mitosis.ome.zarr" in text
    assert "Tour Reader (" in text  # the publication's citation
    published = [p for p in demo_data.iterdir() if p.name.startswith("published-")]
    assert len(published) == 1
    assert "published-" in text  # found again by search


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.rglob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    notebook = json.loads(path.read_text())
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {index} has outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {index} was run"
