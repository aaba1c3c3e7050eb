"""``bioshare annotate``: template, check and export from the command line."""

from __future__ import annotations

import json

from bioshare.cli import main
from bioshare.metadata import Study


def complete(tmp_path):
    from test_models import complete_study  # tests/metadata is on sys.path under pytest

    path = tmp_path / "meta.xlsx"
    complete_study().to_spreadsheet(path)
    return path


def test_template_then_check_reports_what_is_missing(tmp_path, capsys):
    out = tmp_path / "meta.xlsx"
    assert main(["annotate", "template", str(out)]) == 0
    assert out.is_file()
    capsys.readouterr()
    assert main(["annotate", "check", str(out)]) == 1  # nothing filled in yet
    text = capsys.readouterr().out
    assert "Metadata incomplete" in text
    assert "missing required field 'Title'" in text


def test_check_a_complete_study_as_json(tmp_path, capsys):
    assert main(["annotate", "check", str(complete(tmp_path)), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["score"] > 50


def test_exports(tmp_path, capsys):
    sheet = complete(tmp_path)
    assert (
        main(["annotate", "export", str(sheet), "--to", "datacite", str(tmp_path / "d.json")]) == 0
    )
    datacite = json.loads((tmp_path / "d.json").read_text())
    assert datacite["data"]["attributes"]["titles"][0]["title"] == "Mitosis in HeLa cells"
    assert main(["annotate", "export", str(sheet), "--to", "jsonld", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["@type"] == "Dataset"
    crate = tmp_path / "crate"
    assert main(["annotate", "export", str(sheet), "--to", "rocrate", str(crate)]) == 0
    graph = json.loads((crate / "ro-crate-metadata.json").read_text())["@graph"]
    assert any(e.get("name") == "Mitosis in HeLa cells" for e in graph)
    assert Study.model_validate_json((crate / "bioshare-study.json").read_text()).title


def test_a_malformed_sheet_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "meta.csv"
    bad.write_text("[Study]\nTitel,My study\n")
    assert main(["annotate", "check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "meta.csv" in err
    assert "Titel" in err
