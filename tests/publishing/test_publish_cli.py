"""``bioshare publish`` from the command line: local, Zenodo, dry runs and --resume."""

from __future__ import annotations

import shutil

import pytest
from fakes.invenio import FakeInvenio
from test_publish import TOKEN, make_study  # tests/publishing is on sys.path under pytest

from bioshare.cli import main
from bioshare.publishing.journal import Journal, unfinished_journals


@pytest.fixture
def sheet(tmp_path):
    return make_study().to_spreadsheet(tmp_path / "meta.xlsx")


@pytest.fixture
def image(tmp_path, demo):
    return shutil.copytree(demo / "v0.5" / "cells.ome.zarr", tmp_path / "cells.ome.zarr")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from bioshare.demo import build_demo

    root = tmp_path_factory.mktemp("cli-demo")
    build_demo(root)
    return root


def test_publish_locally(image, sheet, tmp_path, capsys):
    root = tmp_path / "served"
    root.mkdir()
    args = ["publish", str(image), "--metadata", str(sheet), "--local-root", str(root)]
    assert main([*args, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "Published to local: Dividing nuclei in 3D" in out
    assert "(local to this machine, not a DOI)" in out
    assert "Cite as: Ada Lovelace (2025)" in out


def test_dry_run_and_zenodo(image, sheet, monkeypatch, capsys):
    with FakeInvenio(flavour="zenodo", token=TOKEN) as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.setenv("ZENODO_SANDBOX_TOKEN", TOKEN)
        base = ["publish", str(image), "--metadata", str(sheet), "--target", "zenodo"]
        assert main([*base, "--dry-run", "--no-progress"]) == 0
        assert "Dry run for zenodo: 1 file(s)" in capsys.readouterr().out
        assert fake.log == []
        assert main([*base, "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert "DOI: 10.5072/zenodo." in out
        assert TOKEN not in out


def test_resume_finishes_the_last_interrupted_publication(image, sheet, monkeypatch, capsys):
    with FakeInvenio(flavour="zenodo", token=TOKEN) as fake:
        monkeypatch.setenv("BIOSHARE_ZENODO_SANDBOX_URL", fake.url)
        monkeypatch.setenv("ZENODO_SANDBOX_TOKEN", TOKEN)
        monkeypatch.setenv("BIOSHARE_RETRIES", "0")
        fake.inject("status", status=500, path="*/actions/publish")
        base = ["publish", str(image), "--metadata", str(sheet), "--target", "zenodo"]
        assert main([*base, "--no-progress"]) == 1  # the publish step failed
        (journal,) = [j for j in unfinished_journals() if j.source == str(image)]
        assert isinstance(journal, Journal)
        assert journal.state == "draft"
        fake.clear_faults()
        capsys.readouterr()
        assert main(["publish", "--resume", "--no-progress"]) == 0
        out = capsys.readouterr().out
        assert f"Resuming the publication of {image} to zenodo" in out
        assert "DOI: 10.5072/zenodo." in out
        assert fake.drafts_created == 1
        assert main(["publish", "--resume"]) == 1  # nothing left to resume
