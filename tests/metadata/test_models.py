"""REMBI models: values checked when set, terms resolved, completeness reported."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from bioshare.metadata import (
    AnnotationType,
    Biosample,
    Contributor,
    ImageAcquisition,
    Study,
)
from bioshare.metadata.models import obligation


def complete_study() -> Study:
    """A study with every required field, as the BioImage Archive asks."""
    return Study(
        title="Mitosis in HeLa cells",
        description="3D time-lapse of dividing HeLa cells with nuclear labels.",
        release_date="2025-01-15",
        keyword=["mitosis", "HeLa"],
        licence="CC BY 4.0",
        author=[
            {
                "display_name": "Josiah Carberry",
                "contact_email": "josiah@brown.edu",
                "orcid": "0000-0002-1825-0097",
                "affiliation": [{"display_name": "Brown University", "rorid": "05gq02987"}],
            }
        ],
        biosample=[
            {
                "title": "HeLa",
                "organism_classification": ["human"],
                "biological_entity_description": "HeLa cells",
                "biological_entity": ["EFO:0001185"],
            }
        ],
        specimen=[{"title": "fixed", "protocol_description": "PFA 4%, DAPI"}],
        image_acquisition=[
            {
                "title": "confocal",
                "imaging_instrument_description": "Zeiss LSM 880",
                "protocol_description": "63x oil, 0.1 µm pixels",
                "imaging_method": ["confocal microscopy"],
            }
        ],
        study_component=[
            {
                "title": "time-lapse",
                "description": "all cells",
                "biosample": "HeLa",
                "specimen": "fixed",
                "image_acquisition": "confocal",
                "files": [{"file_path": "mitosis.ome.zarr"}],
            }
        ],
    )


def test_values_are_normalised_when_set():
    study = complete_study()
    assert study.licence == "https://creativecommons.org/licenses/by/4.0/"
    assert study.release_date == dt.date(2025, 1, 15)
    author = study.author[0]
    assert author.orcid_url == "https://orcid.org/0000-0002-1825-0097"
    assert author.affiliation[0].rorid == "https://ror.org/05gq02987"
    (organism,) = study.biosample[0].organism_classification
    assert (organism.curie, organism.label) == ("NCBITaxon:9606", "Homo sapiens")
    assert study.biosample[0].biological_entity[0].label == "HeLa"
    acquisition = study.image_acquisition[0]
    assert acquisition.fbbi_id == ["FBbi:00000251"]
    assert acquisition.imaging_method_name == ["confocal microscopy"]


def test_terms_accept_curies_iris_labels_and_spreadsheet_text():
    for value in (
        "NCBITaxon:10090",
        "NCBITaxon_10090",
        "http://purl.obolibrary.org/obo/NCBITaxon_10090",
        "Mus musculus",
        "mouse",
        "Mus musculus (NCBITaxon:10090)",
        {"curie": "NCBITaxon:10090", "label": "Mus musculus"},
    ):
        sample = Biosample(organism_classification=[value])
        assert sample.organism_classification[0].curie == "NCBITaxon:10090", value


def test_a_term_of_the_wrong_ontology_or_unknown_is_a_clear_error():
    with pytest.raises(ValidationError, match="imaging_method"):
        ImageAcquisition(imaging_method=["Homo sapiens"])
    with pytest.raises(ValidationError, match=r"no fbbi term matches 'confocla microscopy'"):
        ImageAcquisition(imaging_method=["confocla microscopy"])


def test_assignment_is_checked_too():
    person = Contributor(display_name="Jane")
    with pytest.raises(ValidationError, match="not an e-mail address"):
        person.contact_email = "jane@"
    person.contact_email = "jane@example.org"
    assert person.contact_email == "jane@example.org"


def test_unknown_fields_and_blank_strings():
    with pytest.raises(ValidationError, match="titel"):
        Study(titel="typo")
    assert Study(title="  ", description="").title is None


def test_obligations_follow_the_bioimage_archive_form():
    assert obligation(Study, "title") == "required"
    assert obligation(Study, "funding_statement") == "desirable"
    assert obligation(Study, "accession_id") == "optional"
    assert obligation(Contributor, "orcid") == "desirable"
    assert obligation(ImageAcquisition, "imaging_method") == "required"


def test_a_complete_study_validates():
    report = complete_study().validate()
    assert report.ok, str(report)
    assert report.missing_required == []
    assert report.invalid == []
    assert 60 < report.score < 100  # desirable fields (grants, publications...) are missing
    assert {i.path for i in report.missing_desirable} >= {"funding_statement", "grant"}


def test_an_empty_study_lists_what_is_required():
    report = Study().validate()
    assert not report.ok
    assert report.score == 0
    required = {i.path for i in report.missing_required}
    assert required == {
        "title",
        "description",
        "release_date",
        "keyword",
        "licence",
        "author",
        "study_component",
        "biosample",
        "specimen",
        "image_acquisition",
    }


def test_invalid_values_are_reported_with_their_paths_and_the_rest_is_checked():
    data = complete_study().model_dump(mode="json")
    data["licence"] = "GPL-3.0"
    data["release_date"] = "2025-13-01"
    data["author"][0]["orcid"] = "0000-0002-1825-0098"
    data["author"][0]["contact_email"] = "josiah@"
    data["biosample"][0]["organism_classification"] = ["martian"]
    report = Study.check(data)
    invalid = {i.path: i.message for i in report.invalid}
    assert set(invalid) == {
        "licence",
        "release_date",
        "author[0].orcid",
        "author[0].contact_email",
        "biosample[0].organism_classification[0]",
    }
    assert "wrong check digit" in invalid["author[0].orcid"]
    assert (
        "no ncbitaxon term matches 'martian'" in invalid["biosample[0].organism_classification[0]"]
    )
    missing = {i.path for i in report.missing_required}
    assert "licence" not in missing  # reported once, as invalid
    assert "author[0].display_name" not in missing  # the rest of the author is fine
    assert not report.ok


def test_study_components_must_name_existing_modules():
    study = complete_study()
    study.study_component[0].specimen = "live"
    report = study.validate()
    (issue,) = report.invalid
    assert issue.path == "study_component[0].specimen"
    assert "'live' names no specimen of the study (known: 'fixed')" in issue.message


def test_file_rows_without_a_path_are_invalid():
    data = complete_study().model_dump()
    data["study_component"][0]["files"].append({"size_in_bytes": 3})
    report = Study.check(data)
    assert [i.path for i in report.invalid] == ["study_component[0].files[1]"]


def test_report_renders_as_text_json_and_html():
    report = Study(title="x").validate()
    assert str(report).startswith("Metadata incomplete: score")
    assert "missing required field 'Description'" in str(report)
    document = json.loads(report.to_json())
    assert document["ok"] is False
    assert {"path", "level", "message"} <= set(document["issues"][0])
    assert "<table>" in report._repr_html_()


def test_annotations_use_mifa_types():
    study = complete_study()
    study.annotation = [
        {  # type: ignore[list-item]
            "title": "nuclei masks",
            "protocol_description": "every nucleus outlined",
            "method_type": ["segmentation_mask", "point_annotations"],
            "annotation_method": "manual in napari",
        }
    ]
    assert study.annotation[0].method_type == [
        AnnotationType.segmentation_mask,
        AnnotationType.point_annotations,
    ]
    with pytest.raises(ValidationError, match="method_type"):
        study.annotation = [{"method_type": ["scribbles"]}]  # type: ignore[list-item]


def test_json_round_trip():
    study = complete_study()
    assert Study.model_validate_json(study.model_dump_json()) == study


@pytest.mark.parametrize(
    ("model", "good", "bad", "message"),
    [
        ("Affiliation", {"rorid": "05gq02987"}, {"rorid": "Brown"}, "not a ROR identifier"),
        ("Publication", {"doi": "doi:10.1038/x"}, {"doi": "nature.com/x"}, "not a DOI"),
        ("Publication", {"publication_year": "2021"}, {"publication_year": "soon"}, "integer"),
        ("Grant", {"funder": [{"display_name": "Wellcome"}]}, {"funder": "Wellcome"}, "list"),
        ("Channel", {"channel_label": "DAPI"}, {"channel_label": ["DAPI"]}, "string"),
        (
            "Specimen",
            {"signal_channel_information": [{"channel_label": "GFP"}]},
            {"signal_channel_information": [{"colour": "green"}]},
            "colour",
        ),
        (
            "ImageAcquisition",
            {"imaging_method": ["FBbi:00000369"]},
            {"imaging_method": ["NCBITaxon:9606"]},
            "imaging_method",
        ),
        (
            "Biosample",
            {"biological_entity": ["CL:0000540"]},
            {"biological_entity": ["FBbi:00000251"]},
            "biological_entity",
        ),
        ("FileReference", {"size_in_bytes": "1024"}, {"size_in_bytes": "big"}, "integer"),
        ("ImageCorrelation", {"fiducials_used": "beads"}, {"fiducials": "beads"}, "fiducials"),
        ("ImageAnalysis", {"features_analysed": "area"}, {"features_analysed": 3}, "string"),
        ("ExternalReference", {"link": "https://x.org"}, {"url": "https://x.org"}, "url"),
        ("StudyComponent", {"files": [{"file_path": "a"}]}, {"files": ["a"]}, "files"),
    ],
)
def test_every_model_checks_its_values(model, good, bad, message):
    import bioshare.metadata as metadata

    cls = getattr(metadata, model)
    assert cls(**good)  # a good value is taken as it is or normalised
    with pytest.raises(ValidationError, match=message):
        cls(**bad)
