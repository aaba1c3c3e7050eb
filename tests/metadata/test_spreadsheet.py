"""REMBI spreadsheets: round trips, the template, Excel-like values and every malformed case."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pydantic import BaseModel

from bioshare.errors import MetadataError
from bioshare.metadata import spreadsheet
from bioshare.metadata.models import (
    Affiliation,
    Annotation,
    AnnotationType,
    Biosample,
    Channel,
    Contributor,
    ExternalReference,
    FileReference,
    FundingBody,
    Grant,
    ImageAcquisition,
    ImageAnalysis,
    ImageCorrelation,
    ImageData,
    Publication,
    Specimen,
    StudyComponent,
)
from bioshare.metadata.ontology import OntologyTerm
from bioshare.metadata.spreadsheet import (
    SpreadsheetError,
    read_spreadsheet,
    write_spreadsheet,
    write_template,
)
from bioshare.metadata.study import Study

FORMATS = ["xlsx", "csv", "tsv"]
MODULE_SHEETS = [
    "Study",
    "Authors",
    "Publications",
    "Grants",
    "Links",
    "Biosamples",
    "Specimens",
    "Image acquisitions",
    "Image correlations",
    "Image analyses",
    "Annotations",
    "Study components",
]
LONG_TITLE = "Segmentations: nuclei/cells [v2] of HeLa time-lapse, curated*?"


def rich_study() -> Study:
    """A study using every model and every field the spreadsheet holds."""
    return Study(
        accession_id="S-BIAD999",
        doi="10.5281/zenodo.1234567",
        title="Mitosis in HeLa cells, 3D time-lapse",
        description="Line one;\nline two, with a comma.\n=not a formula",
        release_date=dt.date(2025, 1, 15),
        keyword=["cell division, mitosis", "HeLa; live imaging", "back\\slash", "2025"],
        licence="CC BY 4.0",
        acknowledgement="The imaging facility; thanks!",
        funding_statement="Funded by the Wellcome Trust and EMBL.",
        author=[
            Contributor(
                display_name="Josiah Carberry",
                contact_email="josiah@example.org",
                orcid="0000-0002-1825-0097",
                affiliation=[
                    Affiliation(
                        display_name="EMBL-EBI",
                        rorid="02catss52",
                        address="Hinxton, UK",
                        website="https://www.ebi.ac.uk",
                    ),
                    Affiliation(display_name="Brown University"),
                ],
                role=["corresponding author", "first author"],
                address="Providence, RI",
                website="https://example.org/josiah",
            ),
            Contributor(
                display_name="Jane Doe",
                contact_email="jane@Example.ORG",
                orcid="0000-0001-5109-3700",
                affiliation=[
                    Affiliation(display_name="Lab A"),
                    Affiliation(display_name="Institute B", rorid="https://ror.org/03yrm5c26"),
                ],
                role=["data acquisition"],
            ),
        ],
        related_publication=[
            Publication(
                title="Watching cells divide",
                authors_name="Carberry J, Doe J",
                doi="https://doi.org/10.1000/xyz123",
                publication_year=2024,
                pubmed_id="12345678",
            )
        ],
        grant=[
            Grant(
                id="WT 123456/Z/21/Z",
                funder=[
                    FundingBody(display_name="Wellcome Trust", id="https://ror.org/029chgv08"),
                    FundingBody(display_name="EMBL"),
                ],
            )
        ],
        see_also=[
            ExternalReference(link="https://github.com/lab/analysis", description="Code"),
            ExternalReference(link="https://protocols.io/x"),
        ],
        biosample=[
            Biosample(
                title="HeLa",
                organism_classification=["Homo sapiens (NCBITaxon:9606)"],
                biological_entity_description="HeLa cells",
                biological_entity=["HeLa"],
                description="Cervical cancer cell line",
                experimental_variable_description=["siRNA; control", "siRNA; knock-down"],
                extrinsic_variable_description=["37 °C"],
                intrinsic_variable_description=["H2B-GFP, stable"],
            ),
            Biosample(
                title="Mouse brain",
                organism_classification=["NCBITaxon:10090", "human"],
                biological_entity_description="brain slices",
                biological_entity=["UBERON:0000955", "neuron"],
            ),
        ],
        specimen=[
            Specimen(
                title="Fixed HeLa",
                protocol_description="4% PFA, 10 min",
                growth_protocol="DMEM, 10% FBS",
                signal_channel_information=[
                    Channel(
                        channel_label="DAPI",
                        channel_content_description="DNA",
                        channel_biological_entity="nuclei",
                        signal_contrast_mechanism_description="fluorescence",
                    ),
                    Channel(channel_label="GFP", channel_content_description="H2B"),
                ],
                experimental_status="control",
                location_within_biosample="whole cell",
            )
        ],
        image_acquisition=[
            ImageAcquisition(
                title="Confocal and light sheet",
                imaging_instrument_description="Zeiss LSM 880, 63x/1.4 oil objective",
                protocol_description="pixel dwell 1.5 µs, 405/488 nm lasers",
                imaging_method=["confocal microscopy", "FBbi:00000369"],
            )
        ],
        image_correlation=[
            ImageCorrelation(
                title="Alignment",
                protocol_description="Rigid registration on beads",
                fiducials_used="TetraSpeck beads",
                transformation_matrix="[[1, 0], [0, 1]]",
            )
        ],
        image_analysis=[
            ImageAnalysis(
                title="Segmentation",
                protocol_description="Cellpose 3, default model",
                features_analysed="nuclear volume",
            )
        ],
        annotation=[
            Annotation(
                title="Nuclei masks",
                protocol_description="Nuclei outlined in 3D",
                method_type=[AnnotationType.segmentation_mask, AnnotationType.point_annotations],
                annotation_method="manual in napari",
                annotation_criteria="every nucleus in focus",
                annotation_coverage="10 of 20 movies",
                annotation_confidence_level="two annotators agreed",
                transformation_description="none",
                spatial_information="same grid as the images",
            )
        ],
        study_component=[
            StudyComponent(
                title="Time-lapse",
                description="The raw movies",
                biosample="HeLa",
                specimen="Fixed HeLa",
                image_acquisition="Confocal and light sheet",
                image_correlation="Alignment",
                image_analysis="Segmentation",
                files=[
                    FileReference(
                        file_path=f"movies/cell {n}.ome.zarr",
                        size_in_bytes=1024 * n,
                        format="OME-Zarr",
                        uri=f"https://example.org/movies/{n}",
                        attributes={"Treatment": "siRNA; control", "Time (min)": str(5 * n)},
                    )
                    for n in (1, 2, 3)
                ],
            ),
            StudyComponent(
                title=LONG_TITLE,
                description="Masks of nuclei",
                biosample="HeLa",
                specimen="Fixed HeLa",
                image_acquisition="Confocal and light sheet",
                annotation="Nuclei masks",
                files=[
                    FileReference(
                        file_path=f"masks/cell {n}.ome.zarr",
                        size_in_bytes=12_345_678_901_234 + n,
                        format="OME-Zarr",
                        source_image=f"movies/cell {n}.ome.zarr",
                        attributes={"Annotator": "JD" if n < 3 else "JC", "QC": "ok, checked"},
                    )
                    for n in (1, 2, 3)
                ],
            ),
        ],
    )


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Terms resolve from the bundled subset only: no test waits on OLS."""
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")


def problems_of(excinfo: pytest.ExceptionInfo[SpreadsheetError]) -> list[tuple[Any, ...]]:
    return [tuple(problem) for problem in excinfo.value.problems]


def write_csv(path: Path, rows: list[list[Any]], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


# -- round trips ------------------------------------------------------------------------------


def unused_fields(model: BaseModel) -> set[str]:
    """Fields of ``model`` (and the models inside) empty in every instance."""
    unused = set()
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        nested = [item for item in items if isinstance(item, BaseModel)]
        if value in (None, [], {}):
            unused.add(f"{type(model).__name__}.{name}")
        elif nested and not isinstance(nested[0], OntologyTerm):
            found = [unused_fields(item) for item in nested]
            unused |= set.intersection(*found)
    return unused


def test_the_rich_study_uses_every_field() -> None:
    assert unused_fields(rich_study()) == {"StudyComponent.image_data"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_a_rich_study(tmp_path: Path, fmt: str) -> None:
    study = rich_study()
    path = write_spreadsheet(study, tmp_path / f"meta.{fmt}")
    assert path == tmp_path / f"meta.{fmt}"
    again = read_spreadsheet(path)
    assert again == study
    # and once more: writing what was read gives the same file content
    assert read_spreadsheet(write_spreadsheet(again, tmp_path / f"again.{fmt}")) == study


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_an_empty_study(tmp_path: Path, fmt: str) -> None:
    assert read_spreadsheet(write_spreadsheet(Study(), tmp_path / f"meta.{fmt}")) == Study()


def test_xlsx_layout(tmp_path: Path) -> None:
    path = write_spreadsheet(rich_study(), tmp_path / "meta.xlsx")
    book = openpyxl.load_workbook(path)
    component_sheets = book.sheetnames[len(MODULE_SHEETS) :]
    assert book.sheetnames[: len(MODULE_SHEETS)] == MODULE_SHEETS
    assert component_sheets[0] == "Files - Time-lapse"
    long_name = component_sheets[1]
    assert long_name == "Files - Segmentations_ nucle ~2"
    assert len(long_name) == 31

    authors = {row[0]: row[1:] for row in book["Authors"].iter_rows(values_only=True)}
    assert authors["Name"] == ("Josiah Carberry", "Jane Doe")
    assert authors["Affiliation 1 ROR ID"] == ("https://ror.org/02catss52", None)
    assert authors["Affiliation 2"] == ("Brown University", "Institute B")
    assert authors["Role"] == ("corresponding author; first author", "data acquisition")
    study = {row[0]: row[1] for row in book["Study"].iter_rows(values_only=True)}
    assert study["Keywords"] == "cell division, mitosis; HeLa\\; live imaging; back\\\\slash; 2025"
    assert study["Release date"] == "2025-01-15"
    assert book["Study"]["B2"].data_type == "s"  # "=not a formula" stays text
    biosamples = {row[0]: row[1:] for row in book["Biosamples"].iter_rows(values_only=True)}
    assert biosamples["Organism"][0] == "Homo sapiens (NCBITaxon:9606)"
    specimens = {row[0]: row[1] for row in book["Specimens"].iter_rows(values_only=True)}
    assert specimens["Channel 2 content"] == "H2B"
    grants = {row[0]: row[1] for row in book["Grants"].iter_rows(values_only=True)}
    assert grants["Funder 1 ID"] == "https://ror.org/029chgv08"
    components = {r[0]: r[1:] for r in book["Study components"].iter_rows(values_only=True)}
    assert components["File list sheet"] == tuple(component_sheets)

    header = [c.value for c in book["Files - Time-lapse"][1]]
    assert header == ["Files", "Size (bytes)", "Format", "URI", "Treatment", "Time (min)"]
    header = [c.value for c in book[long_name][1]]
    assert header == ["Files", "Size (bytes)", "Format", "Source image", "Annotator", "QC"]
    assert book[long_name]["B2"].value == 12_345_678_901_235
    assert book["Authors"]["A2"].comment.text.startswith("Required.")
    assert book["Authors"]["A2"].font.b


def test_csv_layout(tmp_path: Path) -> None:
    path = write_spreadsheet(rich_study(), tmp_path / "meta.csv")
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["[Study]"]
    sections = [row[0] for row in rows if row and row[0].startswith("[")]
    assert sections[: len(MODULE_SHEETS)] == [f"[{name}]" for name in MODULE_SHEETS]
    assert sections[len(MODULE_SHEETS)] == "[Files - Time-lapse]"
    start = rows.index(["[Files - Time-lapse]"])
    assert rows[start - 1] == []
    assert rows[start + 1][0] == "Files"
    assert rows[start + 2][:3] == ["movies/cell 1.ome.zarr", "1024", "OME-Zarr"]


def test_image_data_is_left_out(tmp_path: Path) -> None:
    study = Study(
        study_component=[
            StudyComponent(
                title="A",
                files=[FileReference(file_path="a.zarr")],
                image_data=[ImageData(file_path="a.zarr", dims=["y", "x"])],
            )
        ]
    )
    again = read_spreadsheet(write_spreadsheet(study, tmp_path / "meta.xlsx"))
    assert again.study_component[0].image_data == []
    assert again.study_component[0].files == study.study_component[0].files


def test_file_sheet_names_are_unique_and_valid(tmp_path: Path) -> None:
    files = [FileReference(file_path="x")]
    components = [
        StudyComponent(title="Same", files=files),
        StudyComponent(title="same", files=files),
        StudyComponent(title="'[]'", files=files),
        StudyComponent(files=files),
        StudyComponent(title="No files"),
    ]
    names = spreadsheet._file_sheet_names(components)
    assert names == [
        "Files - Same",
        "Files - same ~2",
        "Files - __",
        "Files - component 4",
        None,
    ]
    study = Study(study_component=components)
    for fmt in FORMATS:
        assert read_spreadsheet(write_spreadsheet(study, tmp_path / f"m.{fmt}")) == study


# -- the template -----------------------------------------------------------------------------


def test_xlsx_template_is_documented_and_reads_as_an_empty_study(tmp_path: Path) -> None:
    path = write_template(tmp_path / "template.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [*MODULE_SHEETS, "Files - example", "Help"]
    study = book["Study"]
    keys = [row[0].value for row in study.iter_rows()]
    assert keys[:5] == ["Title", "Description", "Release date", "Keywords", "License"]
    assert all(row[1].value is None for row in study.iter_rows())
    title = study["A1"]
    assert title.font.b  # required
    assert title.comment.text == "Required. Example: Mitosis in HeLa cells, 3D time-lapse"
    release = study[f"A{keys.index('Release date') + 1}"]
    assert "YYYY-MM-DD" in release.comment.text
    assert study["B1"].number_format == "@"
    acknowledgement = study[f"A{keys.index('Acknowledgements') + 1}"]
    assert not acknowledgement.font.b
    assert acknowledgement.comment.text.startswith("Desirable.")

    authors = [row[0].value for row in book["Authors"].iter_rows()]
    assert {"Name", "E-mail", "Affiliation 1", "Affiliation 1 ROR ID", "ORCID"} <= set(authors)
    comment = book["Biosamples"]["A2"].comment.text
    assert "Homo sapiens (NCBITaxon:9606)" in comment
    assert [c.value for c in book["Files - example"][1]] == [
        "Files",
        "Size (bytes)",
        "Format",
        "URI",
        "Source image",
    ]
    assert book["Files - example"]["E1"].comment.text.startswith("Optional. For annotations")

    help_rows = list(book["Help"].iter_rows(values_only=True))
    header = ("Sheet", "Key", "Obligation", "Description", "Example")
    table = help_rows[help_rows.index(header) + 1 :]
    assert ("Authors", "Name", "required", "Full name.", "Josiah Carberry") in table
    assert ("Study", "License", "required", "CC0 or CC BY 4.0.", "CC BY 4.0") in table
    listed = {(row[0], row[1]) for row in table}
    for name in MODULE_SHEETS:
        for row in book[name].iter_rows():
            assert (name, row[0].value) in listed

    empty = read_spreadsheet(path)
    assert empty == Study()
    report = Study.check(empty.model_dump())
    missing = {issue.path for issue in report.missing_required}
    assert {"title", "release_date", "licence", "author", "biosample"} <= missing
    assert not report.ok


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_text_template_reads_as_an_empty_study(tmp_path: Path, fmt: str) -> None:
    path = write_template(tmp_path / f"template.{fmt}")
    text = path.read_text(encoding="utf-8-sig")
    assert text.startswith("[Study]")
    assert "[Files - example]" in text
    assert "[Help]" in text
    assert read_spreadsheet(path) == Study()


def test_filled_in_template(tmp_path: Path) -> None:
    path = write_template(tmp_path / "template.xlsx")
    book = openpyxl.load_workbook(path)
    keys = {row[0].value: row[0].row for row in book["Study"].iter_rows()}
    book["Study"].cell(keys["Title"], 2).value = "Filled in Excel"
    book["Study"].cell(keys["Release date"], 2).value = dt.datetime(2025, 3, 1)
    rows = {row[0].value: row[0].row for row in book["Authors"].iter_rows()}
    book["Authors"].cell(rows["Name"], 2).value = "Ann"
    book["Authors"].cell(rows["Name"], 3).value = "Bob"
    book["Authors"].cell(rows["Affiliation 1"], 3).value = "EMBL"
    rows = {row[0].value: row[0].row for row in book["Study components"].iter_rows()}
    book["Study components"].cell(rows["Study component name"], 2).value = "Raw"
    book["Study components"].cell(rows["File list sheet"], 2).value = "Files - example"
    book["Files - example"].append(["a/b.tif", 10])
    book.save(path)
    study = read_spreadsheet(path)
    assert study.title == "Filled in Excel"
    assert study.release_date == dt.date(2025, 3, 1)
    assert [a.display_name for a in study.author] == ["Ann", "Bob"]
    assert study.author[1].affiliation == [Affiliation(display_name="EMBL")]
    assert study.study_component[0].files == [FileReference(file_path="a/b.tif", size_in_bytes=10)]


# -- realistic input --------------------------------------------------------------------------


def test_partially_filled_csv_by_hand(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "meta.csv",
        [
            ["[Study]"],
            ["Title", "Cilia in zebrafish"],
            ["# a comment row"],
            ["keywords", "cilia; zebrafish;; "],
            ["License", "CC0"],
            [],
            ["[Authors]"],
            ["Name", "Ann Lee", "", "Bo Chen"],
            ["E-mail", "ann@uni.edu", "", ""],
            ["Affiliation 1", "Uni", "", "Uni"],
            ["Affiliation 2", "", "", "Other"],
            [],
            ["[Biosamples]"],
            ["Biosample title", "Embryos"],
            ["Organism", "Danio rerio"],
            [],
            ["[Image acquisitions]"],
            ["Image acquisition title", "LS"],
            ["Imaging method", "light sheet microscopy; confocal microscopy (FBbi:00000251)"],
            [],
            ["[Annotations]"],
            ["Annotation title", "Cilia"],
            ["Annotation type", "segmentation mask; Point-Annotations"],
            [],
            ["[Study components]"],
            ["Study component name", "Embryos"],
            ["Biosample", "Embryos"],
            ["File list sheet", "Files - Embryos"],
            [],
            ["[Files - Embryos]"],
            ["Files", "Size (bytes)", "Stage"],
            ["e1/a.tif", "", "24 hpf"],
            [],
            ["e1/b.tif", "20", ""],
        ],
    )
    study = read_spreadsheet(path)
    assert study.title == "Cilia in zebrafish"
    assert study.keyword == ["cilia", "zebrafish"]
    assert study.licence == "https://creativecommons.org/publicdomain/zero/1.0/"
    assert [a.display_name for a in study.author] == ["Ann Lee", "Bo Chen"]
    assert study.author[1].contact_email is None
    assert [a.display_name for a in study.author[1].affiliation] == ["Uni", "Other"]
    assert study.biosample[0].organism_classification[0].curie == "NCBITaxon:7955"
    methods = study.image_acquisition[0].imaging_method
    assert [m.curie for m in methods] == ["FBbi:00000369", "FBbi:00000251"]
    assert study.annotation[0].method_type == [
        AnnotationType.segmentation_mask,
        AnnotationType.point_annotations,
    ]
    files = study.study_component[0].files
    assert files == [
        FileReference(file_path="e1/a.tif", attributes={"Stage": "24 hpf"}),
        FileReference(file_path="e1/b.tif", size_in_bytes=20),
    ]
    report = study.validate()
    assert not report.ok
    missing = {issue.path for issue in report.missing_required}
    assert "description" in missing
    assert "author[1].contact_email" in missing
    assert "specimen" in missing


def test_excel_like_values(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "meta.xlsx",
        {
            "Study": [
                ["Title  ", 2025],
                ["Release date", dt.datetime(2025, 1, 15)],
                ["Keywords", "  a ;b  "],
                ["Accession", 12345.0],
                [" License ", "CC BY 4.0 "],
            ],
            "Publications": [
                ["Publication title", "Paper"],
                ["Year", 2021.0],
                ["PubMed ID", 98765],
            ],
            "Grants": [["Grant ID", 42], ["Funder 1", "  NIH  "]],
            "Study components": [["Study component name", 7], ["File list sheet", "F"]],
            "F": [
                ["Files", "Size (bytes)", "Time (s)", "Date"],
                ["a.tif", 1024.0, 0.5, dt.datetime(2024, 2, 3)],
                ["b.tif ", None, 2, dt.datetime(2024, 2, 3, 10, 30)],
            ],
            "Sheet1": [],
        },
    )
    study = read_spreadsheet(path)
    assert study.title == "2025"
    assert study.release_date == dt.date(2025, 1, 15)
    assert study.keyword == ["a", "b"]
    assert study.accession_id == "12345"
    assert study.licence == "https://creativecommons.org/licenses/by/4.0/"
    assert study.related_publication[0].publication_year == 2021
    assert study.related_publication[0].pubmed_id == "98765"
    assert study.grant[0].id == "42"
    assert study.grant[0].funder[0].display_name == "NIH"
    assert study.study_component[0].title == "7"
    assert study.study_component[0].files == [
        FileReference(
            file_path="a.tif",
            size_in_bytes=1024,
            attributes={"Time (s)": "0.5", "Date": "2024-02-03"},
        ),
        FileReference(
            file_path="b.tif", attributes={"Time (s)": "2", "Date": "2024-02-03T10:30:00"}
        ),
    ]


def test_release_date_as_text_with_time_is_rejected(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "m.xlsx", {"Study": [["Release date", "15/01/2025"]]})
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    assert problems_of(excinfo)[0][:3] == ("Study", 1, "B")
    assert "'15/01/2025' is not valid" in str(excinfo.value)


# -- malformed spreadsheets -------------------------------------------------------------------


def test_invalid_values_are_located(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "meta.xlsx",
        {
            "Study": [["Title", "T"], ["License", "GPL"]],
            "Authors": [
                ["Name", "Ann", "Jane"],
                ["E-mail", "ann@example.org", "jane@"],
                ["ORCID", None, "0000-0002-1825-0098"],
                ["Affiliation 1", "EMBL", "EMBL"],
                ["Affiliation 2", None, "Uni"],
                ["Affiliation 2 ROR ID", None, "not-a-ror"],
            ],
            "Annotations": [["Annotation type", "segmentation_mask; masks"]],
            "Biosamples": [["Organism", "Homo sapiens; Martian"]],
            "Study components": [["Study component name", "C"], ["File list sheet", "Files - C"]],
            "Files - C": [["Files", "Size (bytes)"], ["a.tif", "12 kB"]],
        },
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    message = str(excinfo.value)
    assert message.startswith("7 problems in meta.xlsx:")
    assert (
        "meta.xlsx, sheet 'Authors', row 2 (E-mail), column C: 'jane@' is not an e-mail "
        "address; expected name@example.org"
    ) in message
    problems = problems_of(excinfo)
    assert problems[0][:3] == ("Study", 2, "B")
    assert "licence 'GPL' is not accepted" in problems[0][3]
    located = {problem[:3] for problem in problems}
    assert {
        ("Authors", 2, "C"),
        ("Authors", 3, "C"),
        ("Authors", 6, "C"),
        ("Annotations", 1, "B"),
        ("Biosamples", 1, "B"),
        ("Files - C", 2, "B"),
    } <= located
    assert "check digit" in message
    assert "'masks' is not valid" in message
    assert "Martian" in message
    assert "sheet 'Files - C', row 2, column B (Size (bytes)): '12 kB' is not valid" in message
    assert isinstance(excinfo.value, MetadataError)
    assert excinfo.value.problems[1].row_label == "E-mail"


def test_unknown_and_repeated_keys(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "meta.csv",
        [
            ["[Study]"],
            ["Title", "T"],
            ["Titel", "U"],
            ["Title", "again"],
            [None, "orphan"],
            [],
            ["[Authors]"],
            ["E-mial", "a@b.org"],
            ["Affiliation 1 RORID", "x"],
        ],
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    problems = problems_of(excinfo)
    assert [p[:3] for p in problems] == [
        ("Study", 3, "A"),
        ("Study", 4, "A"),
        ("Study", 5, "B"),
        ("Authors", 8, "A"),
        ("Authors", 9, "A"),
    ]
    assert "unknown key 'Titel'; did you mean 'Title'?" in problems[0][3]
    assert "Known keys: Title, Description" in problems[0][3]
    assert "appears twice (first in row 2)" in problems[1][3]
    assert "without a key" in problems[2][3]
    assert "did you mean 'E-mail'?" in problems[3][3]
    assert "Affiliation <n> ROR ID" in problems[3][3]
    assert "did you mean 'Affiliation 1 ROR ID'?" in problems[4][3]
    message = str(excinfo.value)
    assert "meta.csv, section [Authors], row 8 (E-mial), column A: unknown key" in message


def test_study_sheet_takes_one_column(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "m.xlsx", {"Study": [["Title", "A", "B"]]})
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    assert problems_of(excinfo) == [
        ("Study", 1, "C", "the Study sheet takes one value, in column B")
    ]


def components_sheet(*refs: str) -> list[list[Any]]:
    return [
        ["Study component name", *(f"C{n}" for n, _ in enumerate(refs, 1))],
        ["File list sheet", *refs],
    ]


def test_file_list_without_files_header(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "m.xlsx",
        {
            "Study components": components_sheet("Files - A"),
            "Files - A": [[None], ["Path", "Size (bytes)"], ["a.tif", 1]],
        },
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    assert problems_of(excinfo) == [
        ("Files - A", 2, "A", "the first header cell of a file list must be 'Files', not 'Path'")
    ]


def test_file_list_row_without_path_and_headerless_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.tsv",
        [
            ["[Study components]"],
            *components_sheet("Files - A"),
            ["[Files - A]"],
            ["Files", "Format", "", "Stage"],
            ["a.tif", "TIFF", "", "1"],
            ["", "TIFF", "", "2"],
            ["c.tif", "", "oops", ""],
            ["d.tif", "", "", "", "more"],
        ],
        delimiter="\t",
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    assert problems_of(excinfo) == [
        ("Files - A", 5, "C", "values in a column without a header"),
        ("Files - A", 5, "E", "values in a column without a header"),
        ("Files - A", 7, "A", "a file without a path"),
    ]
    assert "m.tsv, section [Files - A], row 7, column A (Files): a file without" in str(
        excinfo.value
    )


def test_missing_unnamed_and_unknown_sheets(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "m.xlsx",
        {
            "Author": [["Name", "Ann"]],
            "Study components": components_sheet("Files - B", "Files - A", "files - a"),
            "Files - A": [["Files"], ["a.tif"]],
            "Files - C": [["Files"], ["c.tif"]],
            "Files - empty": [["Files", "Format"]],
            "Sheet2": [],
        },
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    problems = problems_of(excinfo)
    assert [p[:3] for p in problems] == [
        ("Author", 1, "A"),
        ("Study components", 2, "B"),
        ("Study components", 2, "D"),
        ("Files - C", 1, "A"),
    ]
    assert "unknown sheet 'Author'; did you mean 'Authors'?" in problems[0][3]
    assert problems[1][3] == (
        "there is no file-list sheet 'Files - B' "
        "(file-list sheets: 'Files - A', 'Files - C', 'Files - empty')"
    )
    assert "'files - a' is named already (row 2)" in problems[2][3]
    assert "not named by any study component" in problems[3][3]
    assert str(excinfo.value).count("\n- ") == 4


def test_repeated_csv_section_and_values_before_first_section(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.csv",
        [["Title", "T"], ["[Study]"], ["Title", "A"], ["[Study]"], ["Title", "B"]],
    )
    with pytest.raises(SpreadsheetError) as excinfo:
        read_spreadsheet(path)
    assert problems_of(excinfo) == [
        (None, 1, "A", "a value before the first section; start with [Study]"),
        ("Study", 4, "A", "a second [Study] section (the first is at row 2)"),
    ]


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "meta.ods"
    path.write_bytes(b"PK")
    with pytest.raises(SpreadsheetError, match=r"meta\.ods: cannot read or write '\.ods' files"):
        read_spreadsheet(path)
    with pytest.raises(SpreadsheetError, match=r"supports \.xlsx, \.csv, \.tsv"):
        write_spreadsheet(Study(), path)
    with pytest.raises(SpreadsheetError, match="without an extension"):
        write_template(tmp_path / "meta")
    assert path.read_bytes() == b"PK"


def test_corrupt_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "meta.xlsx"
    path.write_text("this is no workbook")
    with pytest.raises(SpreadsheetError, match=r"meta\.xlsx: cannot open it as an Excel") as info:
        read_spreadsheet(path)
    assert problems_of(info)[0][:3] == (None, None, None)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_spreadsheet(tmp_path / "nothing.xlsx")


def test_non_utf8_csv(tmp_path: Path) -> None:
    path = tmp_path / "meta.csv"
    path.write_bytes("[Study]\nTitle,Caf\xe9\n".encode("latin-1"))
    with pytest.raises(SpreadsheetError, match="save it as 'CSV UTF-8'"):
        read_spreadsheet(path)


def test_attribute_named_like_a_standard_column_is_refused(tmp_path: Path) -> None:
    study = Study(
        study_component=[
            StudyComponent(
                title="A", files=[FileReference(file_path="a", attributes={"format": "x"})]
            )
        ]
    )
    with pytest.raises(SpreadsheetError, match="'format' would be read back as a standard"):
        write_spreadsheet(study, tmp_path / "m.csv")
    assert list(tmp_path.iterdir()) == []


# -- atomic writes ----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_failed_write_leaves_the_old_file(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_spreadsheet(Study(title="Old"), tmp_path / f"meta.{fmt}")
    before = path.read_bytes()

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    if fmt == "xlsx":
        monkeypatch.setattr(spreadsheet, "_layout_worksheet", broken)
    else:
        original = spreadsheet._trimmed
        calls = []

        def fail_later(cells: list[Any]) -> list[str]:
            calls.append(cells)
            if len(calls) > 5:
                raise RuntimeError("disk full")
            return original(cells)

        monkeypatch.setattr(spreadsheet, "_trimmed", fail_later)
    with pytest.raises(RuntimeError, match="disk full"):
        write_spreadsheet(rich_study(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"meta.{fmt}"]
    monkeypatch.undo()
    assert read_spreadsheet(path) == Study(title="Old")


def test_write_replaces_and_keeps_permissions(tmp_path: Path) -> None:
    path = write_spreadsheet(Study(title="Old"), tmp_path / "sub" / "meta.csv")
    path.chmod(0o640)
    write_spreadsheet(Study(title="New"), path)
    assert read_spreadsheet(path).title == "New"
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in path.parent.iterdir()] == ["meta.csv"]


# -- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "text"),
    [
        (["a", "b"], "a; b"),
        (["a;b", "c\\d"], "a\\;b; c\\\\d"),
        (["x, y"], "x, y"),
    ],
)
def test_list_escaping(items: list[str], text: str) -> None:
    assert spreadsheet._to_cell(items, "strings") == text
    assert spreadsheet._split(text) == items


def test_split_is_lenient() -> None:
    assert spreadsheet._split(" a ;; b;") == ["a", "b"]
    assert spreadsheet._split("trailing\\") == ["trailing\\"]
    assert spreadsheet._split("C:\\data; a\\b") == ["C:\\data", "a\\b"]


def test_terms_outside_the_bundle_round_trip_offline(tmp_path: Path) -> None:
    term = OntologyTerm.from_curie("NCBITaxon:7240", "Drosophila simulans")
    study = Study(biosample=[Biosample(title="Flies", organism_classification=[term])])
    for fmt in FORMATS:
        assert read_spreadsheet(write_spreadsheet(study, tmp_path / f"m.{fmt}")) == study


def test_terms_are_read_without_lookups() -> None:
    assert spreadsheet._term("Escherichia coli K-12 (strain) (NCBITaxon:83333)") == {
        "curie": "NCBITaxon:83333",
        "label": "Escherichia coli K-12 (strain)",
    }
    assert spreadsheet._term("human") == "human"
    study = Study(biosample=[Biosample(organism_classification=["Mus musculus (NCBITaxon:10090)"])])
    assert str(study.biosample[0].organism_classification[0]) == "Mus musculus (NCBITaxon:10090)"
