"""``bioshare annotate``: spreadsheet templates, completeness checks and exports."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bioshare.metadata.study import Study

__all__ = ["add_parser", "run"]

EXPORTS = ("rocrate", "datacite", "jsonld", "zenodo", "invenio")


def add_parser(annotate: argparse.ArgumentParser) -> None:
    """The ``template``, ``check`` and ``export`` actions of ``bioshare annotate``."""
    actions = annotate.add_subparsers(title="actions", dest="action", metavar="ACTION")
    actions.required = True
    template = actions.add_parser("template", help="write an empty, documented spreadsheet")
    template.add_argument("out", type=Path, help="meta.xlsx, meta.csv or meta.tsv")
    check = actions.add_parser("check", help="report what is missing or invalid")
    check.add_argument("metadata", type=Path, help="a filled spreadsheet")
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    export = actions.add_parser("export", help="convert to RO-Crate, DataCite or JSON-LD")
    export.add_argument("metadata", type=Path, help="a filled spreadsheet")
    export.add_argument("--to", choices=EXPORTS, required=True, help="the export format")
    export.add_argument("out", type=Path, help="output: a folder or .zip for rocrate, else .json")
    export.add_argument("--data", type=Path, help="rocrate: folder the file lists refer to")


def run(args: argparse.Namespace) -> int:
    if args.action == "template":
        from bioshare.metadata.spreadsheet import write_template

        print(f"Wrote a metadata template to {write_template(args.out)}")
        return 0
    study = Study.from_spreadsheet(args.metadata)
    if args.action == "check":
        report = study.validate()
        print(report.to_json() if args.json else str(report))
        return 0 if report.ok else 1
    return _export(study, args.to, args.out, args.data)


def _export(study: Study, kind: str, out: Path, data: Path | None) -> int:
    from bioshare.metadata import exports

    if kind == "rocrate":
        written = exports.to_rocrate(study, out, data_root=data, overwrite=True)
        print(f"Wrote an RO-Crate to {written}")
        return 0
    document = {
        "datacite": lambda: {"data": {"type": "dois", "attributes": exports.to_datacite(study)}},
        "jsonld": lambda: exports.to_jsonld(study),
        "zenodo": lambda: {"metadata": exports.to_zenodo(study)},
        "invenio": lambda: exports.to_invenio(study),
    }[kind]()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print(f"Wrote {kind} metadata to {out}")
    return 0
