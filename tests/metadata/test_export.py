"""Tests for `bioshare.metadata.exports`: RO-Crate 1.2, JSON-LD, DataCite, Zenodo, InvenioRDM.

Everything runs offline. roc-validator needs the RO-Crate 1.2 JSON-LD context, which lives
at https://w3id.org/ro/crate/1.2/context; the `roc_validate` fixture serves it from the
RO-Crate context that ``rocrate`` bundles (the 1.3 one, whose terms include every term of
1.2 that these crates use) through a requests adapter, and lets nothing else through.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from bioshare.errors import MetadataError, WriteError
from bioshare.metadata.exports import _common as common
from bioshare.metadata.exports import datacite as datacite_export
from bioshare.metadata.exports import rocrate as rocrate_export
from bioshare.metadata.exports import (
    to_datacite,
    to_invenio,
    to_jsonld,
    to_rocrate,
    to_zenodo,
    validate_datacite,
)
from bioshare.metadata.study import Study

ORCID = "0000-0002-1825-0097"
ORCID_URL = f"https://orcid.org/{ORCID}"
ROR = "https://ror.org/05gq02987"
CONFOCAL = "http://purl.obolibrary.org/obo/FBbi_00000251"
SPIM = "http://purl.obolibrary.org/obo/FBbi_00000369"
HUMAN = "http://purl.obolibrary.org/obo/NCBITaxon_9606"
HELA = "http://www.ebi.ac.uk/efo/EFO_0001185"
CC_BY = "https://creativecommons.org/licenses/by/4.0/"
CC0 = "https://creativecommons.org/publicdomain/zero/1.0/"

FILES = {
    "images/cell 1.tif": b"II*\x00" + bytes(range(256)) * 40,
    "images/mask.png": b"\x89PNG\r\n" + b"\x01" * 300,
}
ZARR_FILES = {"zarr.json": b'{"zarr_format": 3}', "0/c/0/0": b"\x00\x01\x02\x03"}


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIOSHARE_OFFLINE", "1")


def make_study(**changes: Any) -> Study:
    """A rich study: two authors, grants, a publication, biology, methods, two components."""
    data: dict[str, Any] = {
        "accession_id": "S-BIAD0000",
        "doi": "10.5072/bioshare.test.1",
        "title": "Mitosis in HeLa cells",
        "description": "Live imaging of dividing HeLa cells.\n\nConfocal and light sheet.",
        "release_date": "2025-01-15",
        "keyword": ["mitosis", "cell division"],
        "licence": "CC BY 4.0",
        "author": [
            {
                "display_name": "Josiah Carberry",
                "contact_email": "josiah@example.org",
                "orcid": ORCID,
                "affiliation": [{"display_name": "Brown University", "rorid": ROR}],
                "role": ["corresponding author"],
            },
            {
                "display_name": "Doe, Jane",
                "contact_email": "jane@example.org",
                "affiliation": [{"display_name": "EMBL-EBI"}],
            },
        ],
        "funding_statement": "Funded by the Wellcome Trust.",
        "acknowledgement": "We thank the imaging facility.",
        "grant": [
            {
                "id": "212345/Z/18/Z",
                "funder": [{"display_name": "Wellcome Trust", "id": "10.13039/100010269"}],
            },
            {"id": "ABC-1", "funder": [{"display_name": "EMBL", "id": "03mstc592"}]},
        ],
        "related_publication": [
            {
                "title": "REMBI",
                "authors_name": "Sarkans U, et al.",
                "doi": "10.1038/s41592-021-01166-8",
                "publication_year": 2021,
            }
        ],
        "see_also": [{"link": "https://github.com/lab/analysis", "description": "Code"}],
        "biosample": [
            {
                "title": "HeLa",
                "organism_classification": ["Homo sapiens"],
                "biological_entity_description": "HeLa cells",
                "biological_entity": ["EFO:0001185"],
                "experimental_variable_description": ["time after release"],
            }
        ],
        "specimen": [
            {
                "title": "Fixed cells",
                "protocol_description": "Fixed in 4% PFA",
                "growth_protocol": "DMEM, 10% FBS",
                "signal_channel_information": [
                    {"channel_label": "DAPI", "channel_content_description": "DNA"}
                ],
            }
        ],
        "image_acquisition": [
            {
                "title": "Confocal",
                "imaging_instrument_description": "Zeiss LSM 880",
                "protocol_description": "63x/1.4 oil",
                "imaging_method": ["confocal microscopy"],
            },
            {
                "title": "Light sheet",
                "imaging_instrument_description": "Luxendo MuVi",
                "protocol_description": "20x water",
                "imaging_method": ["SPIM"],
            },
        ],
        "image_analysis": [{"title": "Segmentation", "protocol_description": "Cellpose"}],
        "study_component": [
            {
                "title": "Confocal images",
                "description": "3D stacks of fixed cells",
                "biosample": "HeLa",
                "specimen": "Fixed cells",
                "image_acquisition": "Confocal",
                "image_analysis": "Segmentation",
                "files": [
                    {"file_path": "images/cell 1.tif", "format": "TIFF"},
                    {"file_path": "images/mask.png", "source_image": "images/cell 1.tif"},
                    {"file_path": "images/cell.ome.zarr", "format": "OME-Zarr"},
                    {
                        "file_path": "images/remote.tif",
                        "uri": "https://example.org/data/remote.tif",
                        "size_in_bytes": 1234,
                    },
                    {"file_path": "images/absent.tif", "size_in_bytes": 99},
                ],
            },
            {
                "title": "Light sheet images",
                "description": "Time-lapse",
                "biosample": "HeLa",
                "specimen": "Fixed cells",
                "image_acquisition": "Light sheet",
                "files": [{"file_path": "images/cell 1.tif"}],
            },
        ],
    }
    data.update(changes)
    return Study.model_validate(data)


@pytest.fixture
def study() -> Study:
    return make_study()


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """The study's files on disk (all but the remote and absent ones)."""
    root = tmp_path / "data"
    for name, content in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content)
    for name, content in ZARR_FILES.items():
        path = root / "images/cell.ome.zarr" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


class _ContextAdapter(BaseAdapter):
    """Answers requests for RO-Crate contexts with rocrate's bundled context."""

    def __init__(self) -> None:
        super().__init__()
        import rocrate

        bundled = Path(rocrate.__file__).parent / "data" / "ro-crate.jsonld"
        self.body = json.dumps({"@context": json.loads(bundled.read_text())["@context"]})
        self.urls: list[str] = []

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        self.urls.append(request.url)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/ld+json"
        response._content = self.body.encode()
        response.url = request.url
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def roc_validate() -> Iterator[Callable[[Path], Any]]:
    """``roc_validate(path)`` -> roc-validator result for the RO-Crate 1.2 profile (REQUIRED)."""
    from rocrate_validator import services
    from rocrate_validator.models import ValidationSettings
    from rocrate_validator.utils.http import HttpRequester

    def validate(path: Path) -> Any:
        settings = ValidationSettings(
            rocrate_uri=path.resolve(),
            profile_identifier="ro-crate-1.2",
            requirement_severity="REQUIRED",
            no_cache=True,
        )
        adapter = _ContextAdapter()  # the settings above rebuilt the requester's session
        HttpRequester().session.mount("https://w3id.org/ro/crate/", adapter)
        result = services.validate(settings)
        assert adapter.urls, "the validator never asked for the RO-Crate context"
        return result

    yield validate
    HttpRequester.reset()


def _issues(result: Any) -> list[str]:
    return [f"{i.severity.name}: {i.message}" for i in result.get_issues()]


def _graph(crate_dir: Path) -> dict[str, dict[str, Any]]:
    metadata = json.loads((crate_dir / "ro-crate-metadata.json").read_text())
    return {e["@id"]: e for e in metadata["@graph"]}


def _ids(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [v["@id"] for v in values]


# -- RO-Crate ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_rocrate_directory_validates_and_describes_the_study(
    study: Study, data_root: Path, tmp_path: Path, roc_validate: Callable[[Path], Any]
) -> None:
    crate_dir = to_rocrate(study, tmp_path / "crate", data_root=data_root, publisher="bioshare")

    result = roc_validate(crate_dir)
    assert result.passed(), _issues(result)
    assert _issues(result) == []

    from rocrate.rocrate import ROCrate

    crate = ROCrate(crate_dir)
    root = crate.root_dataset
    assert crate.version == "1.2"
    assert crate.metadata.properties()["conformsTo"] == {"@id": "https://w3id.org/ro/crate/1.2"}
    assert root["name"] == study.title
    assert root["datePublished"] == "2025-01-15"
    assert root["license"].id == CC_BY
    assert root["license"].type == "CreativeWork"
    authors = root["author"]
    assert [a.id for a in authors] == [ORCID_URL, "#person-2"]
    assert authors[0]["familyName"] == "Carberry"
    assert authors[0]["affiliation"].id == ROR
    assert authors[0]["affiliation"].type == "Organization"
    assert root["publisher"]["name"] == "bioshare"
    assert root["keywords"] == ["mitosis", "cell division"]
    assert "https://doi.org/10.5072/bioshare.test.1" in [i.id for i in root["identifier"]]

    confocal = crate.get(CONFOCAL)
    assert confocal.type == "DefinedTerm"
    assert confocal["name"] == "confocal microscopy"
    assert confocal["termCode"] == "FBbi:00000251"
    protocol = crate.get("#image-acquisition-1")
    assert protocol.type == "LabProtocol"
    assert protocol["labEquipment"] == "Zeiss LSM 880"
    assert protocol["measurementTechnique"].id == CONFOCAL
    sample = crate.get("#biosample-1")
    assert sample.type == "BioSample"
    assert sample["taxonomicRange"].id == HUMAN
    assert crate.get(HUMAN)["scientificName"] == "Homo sapiens"
    # GIDE: terms reached through BioSample/LabProtocol are listed on the root too
    assert {HUMAN, HELA, "#biosample-1"} <= {e.id for e in root["about"]}
    assert {CONFOCAL, SPIM, "#image-acquisition-1"} <= {e.id for e in root["measurementMethod"]}


@pytest.mark.slow
def test_rocrate_zip_validates_and_reads_back(
    study: Study, data_root: Path, tmp_path: Path, roc_validate: Callable[[Path], Any]
) -> None:
    archive = to_rocrate(study, tmp_path / "out" / "crate.zip", data_root=data_root)

    assert archive == tmp_path / "out" / "crate.zip"
    assert zipfile.is_zipfile(archive)
    result = roc_validate(archive)
    assert result.passed(), _issues(result)
    assert _issues(result) == []

    with zipfile.ZipFile(archive) as zf:
        names = set(zf.namelist())
        assert {"ro-crate-metadata.json", "bioshare-study.json", *FILES} <= names
        assert "images/cell.ome.zarr/" in names
        assert zf.read("images/cell 1.tif") == FILES["images/cell 1.tif"]

    from rocrate.rocrate import ROCrate

    crate = ROCrate(archive)
    entity = crate.get("images/cell%201.tif")
    assert entity["sha256"] == hashlib.sha256(FILES["images/cell 1.tif"]).hexdigest()
    assert crate.root_dataset["license"].id == CC_BY


def test_rocrate_copies_files_with_checksums(study: Study, data_root: Path, tmp_path: Path) -> None:
    crate_dir = to_rocrate(study, tmp_path / "crate", data_root=data_root)
    graph = _graph(crate_dir)

    for name, content in FILES.items():
        assert (crate_dir / name).read_bytes() == content
        entity = graph[name.replace(" ", "%20")]
        assert entity["@type"] == "File"
        assert entity["contentSize"] == str(len(content))
        assert entity["sha256"] == hashlib.sha256(content).hexdigest()
        assert entity["md5"] == hashlib.md5(content).hexdigest()
    assert graph["images/mask.png"]["isBasedOn"] == {"@id": "images/cell%201.tif"}
    assert graph["images/cell%201.tif"]["encodingFormat"] == "image/tiff"
    # a directory (OME-Zarr) is copied whole and described as a Dataset
    for name, content in ZARR_FILES.items():
        assert (crate_dir / "images/cell.ome.zarr" / name).read_bytes() == content
    assert graph["images/cell.ome.zarr/"]["@type"] == "Dataset"
    # files not under data_root: by URI, or listed without content
    remote = graph["https://example.org/data/remote.tif"]
    assert remote["@type"] == "File"
    assert remote["contentSize"] == "1234"
    absent = graph["#images/absent.tif"]
    assert absent["localPath"] == "images/absent.tif"
    assert absent["contentSize"] == "99"
    assert "sha256" not in absent
    # study components list their files; the root lists everything
    component = graph["#study-component-1"]
    assert component["@type"] == "Dataset"
    assert "#images/absent.tif" in _ids(component["hasPart"])
    assert component["about"] == {"@id": "#biosample-1"}
    assert _ids(graph["#study-component-2"]["hasPart"]) == ["images/cell%201.tif"]
    root_parts = set(_ids(graph["./"]["hasPart"]))
    assert {"#study-component-1", "bioshare-study.json", "#images/absent.tif"} <= root_parts


def test_rocrate_round_trips_the_study(study: Study, tmp_path: Path) -> None:
    crate_dir = to_rocrate(study, tmp_path / "crate")

    saved = (crate_dir / "bioshare-study.json").read_bytes()
    assert Study.model_validate_json(saved) == study
    entity = _graph(crate_dir)["bioshare-study.json"]
    assert entity["sha256"] == hashlib.sha256(saved).hexdigest()
    assert entity["encodingFormat"] == "application/json"


def test_rocrate_without_data_root_copies_nothing(study: Study, tmp_path: Path) -> None:
    crate_dir = to_rocrate(study, tmp_path / "crate")

    assert sorted(p.name for p in crate_dir.iterdir()) == [
        "bioshare-study.json",
        "ro-crate-metadata.json",
    ]
    graph = _graph(crate_dir)
    assert graph["#images/cell%201.tif"]["localPath"] == "images/cell 1.tif"
    assert "https://example.org/data/remote.tif" in graph


def test_rocrate_context_has_the_gide_terms(study: Study, tmp_path: Path) -> None:
    crate_dir = to_rocrate(study, tmp_path / "crate")

    context = json.loads((crate_dir / "ro-crate-metadata.json").read_text())["@context"]
    assert context[0] == "https://w3id.org/ro/crate/1.2/context"
    assert context[1]["scientificName"] == "dwc:scientificName"
    assert context[1]["measurementMethod"] == "dwciri:measurementMethod"
    assert context[1]["LabProtocol"] == "http://schema.org/LabProtocol"


def test_copy_streams_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[int] = []

    class SpyPath(type(tmp_path)):  # type: ignore[misc]
        def open(self, *args: Any, **kwargs: Any) -> Any:
            handle = super().open(*args, **kwargs)
            read = handle.read

            def spy(size: int = -1) -> bytes:
                reads.append(size)
                return read(size)

            handle.read = spy
            return handle

    content = bytes(range(256)) * 100
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    monkeypatch.setattr(rocrate_export, "CHUNK_SIZE", 1000)

    size, sha256, md5 = rocrate_export._copy_with_checksums(SpyPath(source), tmp_path / "c.bin")

    assert (size, sha256, md5) == (
        len(content),
        hashlib.sha256(content).hexdigest(),
        hashlib.md5(content).hexdigest(),
    )
    assert (tmp_path / "c.bin").read_bytes() == content
    assert len(reads) > 20
    assert all(0 < r <= 1000 for r in reads)


@pytest.mark.parametrize("name", ["crate", "crate.zip"])
def test_rocrate_failure_leaves_no_crate_and_no_temporary_files(
    study: Study, data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    copy = rocrate_export._copy_with_checksums
    calls: list[Path] = []

    def failing_copy(source: Path, target: Path) -> tuple[int, str, str]:
        calls.append(source)
        if len(calls) == 2:
            raise OSError("disk full")
        return copy(source, target)

    monkeypatch.setattr(rocrate_export, "_copy_with_checksums", failing_copy)

    with pytest.raises(WriteError, match="disk full"):
        to_rocrate(study, out / name, data_root=data_root)

    assert len(calls) == 2
    assert list(out.iterdir()) == []


def test_rocrate_refuses_to_replace_unless_asked(
    study: Study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dest = to_rocrate(study, tmp_path / "crate.zip")
    first = dest.read_bytes()

    with pytest.raises(WriteError, match="already exists"):
        to_rocrate(study, dest)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom")

    with monkeypatch.context() as mp:
        mp.setattr(rocrate_export, "_study_file", broken)
        with pytest.raises(RuntimeError, match="boom"):
            to_rocrate(make_study(title="Changed"), dest, overwrite=True)
    assert dest.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crate.zip"]

    to_rocrate(make_study(title="Changed"), dest, overwrite=True)
    with zipfile.ZipFile(dest) as zf:
        assert json.loads(zf.read("bioshare-study.json"))["title"] == "Changed"


def test_rocrate_overwrites_a_directory(study: Study, tmp_path: Path) -> None:
    dest = to_rocrate(study, tmp_path / "crate")
    to_rocrate(make_study(title="Again"), dest, overwrite=True)

    assert _graph(dest)["./"]["name"] == "Again"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crate"]


@pytest.mark.parametrize(
    ("field", "named"),
    [
        ("licence", "study.licence"),
        ("release_date", "study.release_date"),
        ("title", "study.title"),
    ],
)
def test_rocrate_names_the_missing_field(tmp_path: Path, field: str, named: str) -> None:
    with pytest.raises(MetadataError, match=named.replace(".", r"\.")):
        to_rocrate(make_study(**{field: None}), tmp_path / "crate")
    assert not (tmp_path / "crate").exists()


@pytest.mark.parametrize("bad", ["../secret.tif", "/etc/passwd", "ro-crate-metadata.json"])
def test_rocrate_refuses_paths_outside_the_dataset(tmp_path: Path, bad: str) -> None:
    component = {"title": "c", "description": "d", "files": [{"file_path": bad}]}
    study = make_study(study_component=[component])

    with pytest.raises(MetadataError, match=r"study_component\[0\]\.files\[0\]\.file_path"):
        to_rocrate(study, tmp_path / "crate", data_root=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


# -- JSON-LD ----------------------------------------------------------------------------------


def test_jsonld_has_the_gide_shape(study: Study) -> None:
    doc = to_jsonld(study, publisher="BioImage Archive")

    assert doc["@context"] == "https://schema.org/"
    assert doc["@type"] == "Dataset"
    for key in (
        "name",
        "description",
        "datePublished",
        "license",
        "author",
        "publisher",
        "about",
        "measurementMethod",
    ):
        assert doc[key], key
    assert doc["license"] == CC_BY
    assert doc["datePublished"] == "2025-01-15"
    assert doc["publisher"] == {
        "@id": "#publisher",
        "@type": "Organization",
        "name": "BioImage Archive",
    }
    person = doc["author"][0]
    assert person["@type"] == "Person"
    assert person["@id"] == ORCID_URL
    assert person["affiliation"][0] == {
        "@id": ROR,
        "@type": "Organization",
        "name": "Brown University",
    }
    taxa = [n for n in doc["about"] if n["@type"] == "Taxon"]
    assert taxa == [
        {
            "@id": HUMAN,
            "@type": "Taxon",
            "name": "Homo sapiens",
            "scientificName": "Homo sapiens",
            "identifier": "NCBITaxon:9606",
        }
    ]
    sample = next(n for n in doc["about"] if n["@type"] == "BioSample")
    assert sample["taxonomicRange"][0]["@id"] == HUMAN
    assert sample["hasCellLine"][0]["@id"] == HELA
    terms = [n for n in doc["measurementMethod"] if n["@type"] == "DefinedTerm"]
    assert [(t["@id"], t["name"]) for t in terms] == [
        (CONFOCAL, "confocal microscopy"),
        (SPIM, "SPIM"),
    ]
    protocol = next(n for n in doc["measurementMethod"] if n["@type"] == "LabProtocol")
    assert protocol["measurementTechnique"][0]["@id"] == CONFOCAL
    assert doc["keywords"] == ["mitosis", "cell division"]
    assert doc["identifier"] == ["https://doi.org/10.5072/bioshare.test.1", "S-BIAD0000"]
    grants = doc["funder"]
    assert grants[0]["@type"] == "Grant"
    assert grants[0]["identifier"] == "212345/Z/18/Z"
    assert grants[0]["funder"][0]["@id"] == "https://doi.org/10.13039/100010269"
    article = doc["seeAlso"][0]
    assert article["@type"] == "ScholarlyArticle"
    assert article["@id"] == "https://doi.org/10.1038/s41592-021-01166-8"
    json.dumps(doc)  # plain JSON


def test_jsonld_sizes_and_publisher(study: Study) -> None:
    doc = to_jsonld(study)
    assert "publisher" not in doc
    # one file has no size: the file count only
    assert [s["unitText"] for s in doc["size"]] == ["file count"]
    assert doc["size"][0]["value"] == 5

    component = {
        "title": "c",
        "description": "d",
        "files": [
            {"file_path": "a.tif", "size_in_bytes": 10},
            {"file_path": "b.tif", "size_in_bytes": 32},
        ],
    }
    sizes = to_jsonld(make_study(study_component=[component]))["size"]
    assert [(s["value"], s["unitCode"], s["unitText"]) for s in sizes] == [
        (2, "http://purl.obolibrary.org/obo/UO_0000189", "file count"),
        (42, "http://purl.obolibrary.org/obo/UO_0000233", "bytes"),
    ]


def test_jsonld_of_a_sparse_study_leaves_out_what_is_missing() -> None:
    doc = to_jsonld(Study(title="Only a title"))
    assert doc == {"@context": "https://schema.org/", "@type": "Dataset", "name": "Only a title"}


# -- DataCite ---------------------------------------------------------------------------------


def test_datacite_attributes_validate_against_the_4_5_schema(study: Study) -> None:
    from datacite import schema45

    attributes = to_datacite(study, url="https://example.org/landing")

    assert schema45.validate(datacite_export._schema_shape(attributes))
    assert attributes["doi"] == "10.5072/bioshare.test.1"
    assert attributes["url"] == "https://example.org/landing"
    creator = attributes["creators"][0]
    assert creator["name"] == "Carberry, Josiah"
    assert (creator["givenName"], creator["familyName"]) == ("Josiah", "Carberry")
    assert creator["nameType"] == "Personal"
    assert creator["nameIdentifiers"][0]["nameIdentifier"] == ORCID_URL
    assert creator["nameIdentifiers"][0]["nameIdentifierScheme"] == "ORCID"
    assert creator["affiliation"][0]["affiliationIdentifier"] == ROR
    assert creator["affiliation"][0]["affiliationIdentifierScheme"] == "ROR"
    assert attributes["creators"][1]["name"] == "Doe, Jane"
    assert attributes["titles"] == [{"title": study.title}]
    assert attributes["publisher"] == {"name": "bioshare"}
    assert attributes["publicationYear"] == 2025
    assert attributes["types"] == {
        "resourceTypeGeneral": "Dataset",
        "resourceType": "Bioimage dataset",
    }
    subjects = {s["subject"]: s for s in attributes["subjects"]}
    assert {"mitosis", "cell division"} <= set(subjects)
    assert subjects["confocal microscopy"]["subjectScheme"] == "FBbi"
    assert subjects["confocal microscopy"]["valueUri"] == CONFOCAL
    assert subjects["confocal microscopy"]["classificationCode"] == "FBbi:00000251"
    assert subjects["Homo sapiens"]["valueUri"] == HUMAN
    kinds = {d["descriptionType"]: d["description"] for d in attributes["descriptions"]}
    assert kinds["Abstract"] == study.description
    assert "Zeiss LSM 880" in kinds["Methods"]
    assert "Fixed in 4% PFA" in kinds["Methods"]
    assert attributes["rightsList"][0]["rightsIdentifier"] == "cc-by-4.0"
    assert attributes["rightsList"][0]["rightsIdentifierScheme"] == "SPDX"
    assert attributes["relatedIdentifiers"][0] == {
        "relatedIdentifier": "10.1038/s41592-021-01166-8",
        "relatedIdentifierType": "DOI",
        "relationType": "IsSupplementTo",
        "resourceTypeGeneral": "JournalArticle",
    }
    assert attributes["fundingReferences"][0] == {
        "funderName": "Wellcome Trust",
        "funderIdentifier": "https://doi.org/10.13039/100010269",
        "funderIdentifierType": "Crossref Funder ID",
        "awardNumber": "212345/Z/18/Z",
    }
    assert attributes["fundingReferences"][1]["funderIdentifierType"] == "ROR"
    assert attributes["sizes"] == ["5 files"]
    assert attributes["formats"] == ["TIFF", "OME-Zarr"]
    assert attributes["dates"] == [{"date": "2025-01-15", "dateType": "Issued"}]
    assert attributes["identifiers"] == [
        {"identifier": "S-BIAD0000", "identifierType": "Accession"}
    ]


def test_datacite_identifier_options() -> None:
    study = make_study(doi=None, accession_id=None)
    assert to_datacite(study, prefix="10.5438")["prefix"] == "10.5438"
    given = to_datacite(study, doi="https://doi.org/10.5438/ABC", prefix="10.5438")
    assert given["doi"] == "10.5438/ABC"
    assert "prefix" not in given
    assert to_datacite(study, publisher="Zenodo")["publisher"] == {"name": "Zenodo"}


def test_validate_datacite_names_the_offending_path(study: Study) -> None:
    attributes = to_datacite(study)
    broken = json.loads(json.dumps(attributes))
    broken["creators"][0]["nameType"] = "Human"
    broken["relatedIdentifiers"][0]["relationType"] = "IsFriendOf"

    with pytest.raises(MetadataError) as info:
        validate_datacite(broken)
    message = str(info.value)
    assert "$.creators[0].nameType" in message
    assert "'Human' is not one of" in message
    assert "$.relatedIdentifiers[0].relationType" in message

    del broken["titles"]
    with pytest.raises(MetadataError, match="'titles' is a required property"):
        validate_datacite(broken)
    with pytest.raises(MetadataError, match=r"\$\.publicationYear"):
        validate_datacite({**attributes, "publicationYear": "MMXXV"})


def test_validate_datacite_accepts_the_rest_forms(study: Study) -> None:
    attributes = to_datacite(study)
    validate_datacite({**attributes, "publisher": "bioshare", "publicationYear": "2025"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"release_date": None}, "DataCite needs a publication year: set study.release_date"),
        ({"title": None}, "DataCite needs a title: set study.title"),
        ({"author": []}, "add an author to study.author"),
        ({"author": [{"contact_email": "a@example.org"}]}, r"study\.author\[0\]\.display_name"),
    ],
)
def test_datacite_names_the_missing_study_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(MetadataError, match=message):
        to_datacite(make_study(**changes))


def test_datacite_needs_a_publisher(study: Study) -> None:
    with pytest.raises(MetadataError, match="publisher"):
        to_datacite(study, publisher=" ")


@pytest.mark.parametrize(
    ("name", "given", "family", "inverted"),
    [
        ("Josiah Carberry", "Josiah", "Carberry", "Carberry, Josiah"),
        ("Carberry, Josiah", "Josiah", "Carberry", "Carberry, Josiah"),
        ("Lars Holm Nielsen", "Lars Holm", "Nielsen", "Nielsen, Lars Holm"),
        ("Ludwig van Beethoven", "Ludwig", "van Beethoven", "van Beethoven, Ludwig"),
        ("Plato", None, "Plato", "Plato"),
    ],
)
def test_split_name(name: str, given: str | None, family: str, inverted: str) -> None:
    split = common.split_name(name)
    assert (split.given, split.family, split.inverted) == (given, family, inverted)


# -- Zenodo and InvenioRDM --------------------------------------------------------------------


def test_zenodo_metadata(study: Study) -> None:
    metadata = to_zenodo(study)

    assert metadata["upload_type"] == "dataset"
    assert metadata["publication_date"] == "2025-01-15"
    assert metadata["title"] == study.title
    assert metadata["creators"] == [
        {"name": "Carberry, Josiah", "affiliation": "Brown University", "orcid": ORCID},
        {"name": "Doe, Jane", "affiliation": "EMBL-EBI"},
    ]
    assert metadata["description"].startswith("<p>Live imaging of dividing HeLa cells.</p>")
    assert "<h3>Methods</h3>" in metadata["description"]
    assert "Zeiss LSM 880" in metadata["description"]
    assert metadata["access_right"] == "open"
    assert metadata["license"] == "cc-by-4.0"
    assert metadata["keywords"][:2] == ["mitosis", "cell division"]
    assert {"Homo sapiens", "confocal microscopy", "SPIM"} <= set(metadata["keywords"])
    assert metadata["related_identifiers"][0] == {
        "identifier": "10.1038/s41592-021-01166-8",
        "relation": "isSupplementTo",
        "resource_type": "publication-article",
        "scheme": "doi",
    }
    assert metadata["grants"] == [{"id": "10.13039/100010269::212345/Z/18/Z"}]
    assert "Grant ABC-1 (EMBL)" in metadata["notes"]
    assert "Funded by the Wellcome Trust." in metadata["notes"]
    assert metadata["doi"] == "10.5072/bioshare.test.1"  # an existing, non-Zenodo DOI
    json.dumps(metadata)


def test_zenodo_licence_and_doi_rules() -> None:
    metadata = to_zenodo(make_study(licence="CC0", doi="10.5281/zenodo.123", grant=[]))
    assert metadata["license"] == "cc-zero"
    assert "doi" not in metadata
    assert "grants" not in metadata
    assert "doi" not in to_zenodo(make_study(doi=None))


def test_invenio_record(study: Study) -> None:
    body = to_invenio(study)

    assert body["access"] == {"record": "public", "files": "public"}
    assert body["files"] == {"enabled": True}
    metadata = body["metadata"]
    assert metadata["resource_type"] == {"id": "dataset"}
    assert metadata["title"] == study.title
    assert metadata["publication_date"] == "2025-01-15"
    first = metadata["creators"][0]
    assert first["person_or_org"] == {
        "type": "personal",
        "given_name": "Josiah",
        "family_name": "Carberry",
        "name": "Carberry, Josiah",
        "identifiers": [{"scheme": "orcid", "identifier": ORCID}],
    }
    assert first["affiliations"] == [{"id": "05gq02987", "name": "Brown University"}]
    assert metadata["creators"][1]["affiliations"] == [{"name": "EMBL-EBI"}]
    assert metadata["rights"] == [{"id": "cc-by-4.0"}]
    assert {"subject": "mitosis"} in metadata["subjects"]
    assert {"subject": "confocal microscopy"} in metadata["subjects"]
    assert "<h3>Methods</h3>" not in metadata["description"]
    methods = metadata["additional_descriptions"][0]
    assert methods["type"] == {"id": "methods"}
    assert "Zeiss LSM 880" in methods["description"]
    assert metadata["funding"][1] == {
        "funder": {"id": "03mstc592"},
        "award": {"title": {"en": "Grant ABC-1 (EMBL)"}, "number": "ABC-1"},
    }
    assert metadata["funding"][0]["funder"] == {"name": "Wellcome Trust"}
    assert metadata["related_identifiers"][0] == {
        "identifier": "10.1038/s41592-021-01166-8",
        "scheme": "doi",
        "relation_type": {"id": "issupplementto"},
        "resource_type": {"id": "publication-article"},
    }
    assert metadata["dates"] == [{"date": "2025-01-15", "type": {"id": "available"}}]
    assert body["pids"] == {
        "doi": {"identifier": "10.5072/bioshare.test.1", "provider": "external"}
    }
    assert to_invenio(make_study(licence="CC0"))["metadata"]["rights"] == [{"id": "cc0-1.0"}]
    json.dumps(body)


@pytest.mark.parametrize("export", [to_zenodo, to_invenio])
@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"title": None}, "study.title"),
        ({"release_date": None}, "study.release_date"),
        ({"licence": None}, "study.licence"),
        ({"author": []}, "study.author"),
    ],
)
def test_deposits_name_the_missing_study_field(
    export: Callable[[Study], dict[str, Any]], changes: dict[str, Any], named: str
) -> None:
    with pytest.raises(MetadataError, match=named.replace(".", r"\.")):
        export(make_study(**changes))
