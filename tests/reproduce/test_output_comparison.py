"""Comparing a recorded output with a re-run's: exact, within tolerance, as images."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

from bioshare.reproduce import recording
from bioshare.reproduce.outputs import OutputSpec, compare, file_sha256, read_manifest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_runs = itertools.count()


@pytest.fixture
def record_into(tmp_path, monkeypatch):
    """Record into ``tmp_path/<run>`` as a capture or re-run would."""

    def use(run: str) -> Path:
        folder = tmp_path / run
        monkeypatch.setenv(recording.DIR_VARIABLE, str(folder))
        return folder

    return use


def recorded(record_into, name: str, first: object, second: object, **settings) -> tuple:
    run = next(_runs)
    old = record_into(f"capture-{run}")
    recording.record(name, first, **settings)
    new = record_into(f"rerun-{run}")
    recording.record(name, second, **settings)
    [spec] = read_manifest(old)
    return spec, compare(spec, old / spec.file, new / spec.file)


def test_record_does_nothing_outside_a_run(tmp_path, monkeypatch):
    monkeypatch.delenv(recording.DIR_VARIABLE, raising=False)
    monkeypatch.chdir(tmp_path)
    assert recording.record("count", 3) == 3
    assert list(tmp_path.iterdir()) == []


def test_record_writes_values_and_a_manifest(record_into):
    folder = record_into("run")
    recording.record("count", np.int64(7))
    recording.record("ratio", 0.25, rtol=0.01)
    manifest = json.loads((folder / "outputs.json").read_text())
    assert manifest == {
        "count": {"kind": "value", "file": "count.json"},
        "ratio": {"kind": "value", "file": "ratio.json", "rtol": 0.01},
    }
    assert json.loads((folder / "count.json").read_text()) == 7
    specs = read_manifest(folder)
    assert [s.sha256 for s in specs] == [
        file_sha256(folder / "count.json"),
        file_sha256(folder / "ratio.json"),
    ]


@pytest.mark.parametrize("name", ["", "../x", "a b", "x/y"])
def test_record_refuses_bad_names(record_into, name):
    record_into("run")
    with pytest.raises(ValueError, match="output name"):
        recording.record(name, 1)


def test_record_refuses_what_it_cannot_keep(record_into):
    record_into("run")
    with pytest.raises(TypeError, match="cannot record a set"):
        recording.record("things", {1, 2})


def test_strings_and_integers_compare_exactly(record_into):
    _, same = recorded(record_into, "label", "nucleus", "nucleus")
    assert (same.status, same.summary) == ("match", "identical")
    _, text = recorded(record_into, "label", "nucleus", "Nucleus")
    assert text.status == "drift"
    assert "expected 'nucleus', got 'Nucleus'" in text.summary
    _, count = recorded(record_into, "count", 41, 42)
    assert (count.status, count.expected, count.got, count.difference) == ("drift", 41, 42, 1)


def test_floats_compare_within_tolerance(record_into):
    _, close = recorded(record_into, "area", 100.0, 100.00001, rtol=1e-6)
    assert close.status == "match"
    assert close.difference == pytest.approx(1e-5)
    _, far = recorded(record_into, "area", 100.0, 100.5, rtol=1e-3)
    assert far.status == "drift"
    assert (far.expected, far.got, far.difference) == (100.0, 100.5, 0.5)
    assert "differs by 0.5 (0.005 relative)" in far.summary


def test_json_structures_report_the_path_of_a_difference(record_into):
    first = {"counts": [1, 2, 3], "mean": 2.0, "name": "a"}
    _, result = recorded(record_into, "summary", first, {**first, "counts": [1, 2, 4]})
    assert result.status == "drift"
    assert "at .counts[2]: expected 3, got 4" in result.summary
    _, shape = recorded(record_into, "summary", first, {**first, "counts": [1, 2]})
    assert "length 3 vs 2" in shape.summary


def test_arrays_report_how_many_elements_differ_and_by_how_much(record_into):
    base = np.arange(12, dtype=float).reshape(3, 4)
    changed = base.copy()
    changed[2, 1] += 0.5
    _, result = recorded(record_into, "image", base, changed)
    assert result.status == "drift"
    assert result.details["elements_differing"] == 1
    assert result.details["max_abs_difference"] == 0.5
    assert (result.expected, result.got) == (9.0, 9.5)
    assert "at (2, 1)" in result.summary
    _, loose = recorded(record_into, "image", base, changed, atol=1.0)
    assert loose.status == "match"
    _, shape = recorded(record_into, "image", base, base[:2])
    assert (shape.status, shape.expected, shape.got) == ("drift", [3, 4], [2, 4])


def test_tables_compare_numeric_columns_with_tolerance_and_text_exactly(record_into):
    table = pd.DataFrame({"label": [1, 2, 3], "area": [10.0, 20.0, 30.0], "kind": ["a", "b", "c"]})
    nudged = table.assign(area=[10.0, 20.0, 30.0 + 1e-9])
    _, same = recorded(record_into, "areas", table, nudged)
    assert same.status == "match"
    _, moved = recorded(record_into, "areas", table, table.assign(area=[10.0, 22.0, 30.0]))
    assert moved.status == "drift"
    assert moved.details["columns"]["area"] == {
        "rows_differing": 1, "max_abs_difference": 2.0, "row": 1, "expected": 20.0, "got": 22.0,
    }  # fmt: skip
    assert (moved.expected, moved.got, moved.difference) == (20.0, 22.0, 2.0)
    _, text = recorded(record_into, "areas", table, table.assign(kind=["a", "x", "c"]))
    assert text.details["columns"]["kind"]["expected"] == "b"
    _, rows = recorded(record_into, "areas", table, table.iloc[:2])
    assert "3 rows" in rows.summary
    assert "2 rows" in rows.summary


def figure(offset: float) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(2, 2))
    image = np.zeros((32, 32))
    image[8:16, 8 + int(offset) : 16 + int(offset)] = 1
    ax.imshow(image, cmap="gray")
    ax.set_axis_off()
    return fig


def test_figures_compare_by_similarity(record_into):
    spec, same = recorded(record_into, "overview", figure(0), figure(0))
    assert spec.kind == "figure"
    assert same.status == "match"
    _, moved = recorded(record_into, "overview", figure(0), figure(10))
    assert moved.status == "drift"
    assert moved.got < 0.99
    assert moved.difference > 0
    assert f"similarity {moved.got:.4f} (threshold 0.99)" in moved.summary
    _, tolerant = recorded(record_into, "overview", figure(0), figure(10), threshold=0.1)
    assert tolerant.status == "match"
    plt.close("all")


def test_a_missing_output_is_reported(tmp_path):
    spec = OutputSpec("count", "value", "count.json")
    (tmp_path / "count.json").write_text("3")
    result = compare(spec, tmp_path / "count.json", tmp_path / "absent.json")
    assert (result.status, result.ok) == ("missing", False)


def test_settings_override_and_refuse_unknown_names():
    spec = OutputSpec("area", "value", "area.json")
    assert spec.with_settings({"rtol": 0.1}).rtol == 0.1
    with pytest.raises(ValueError, match="unknown setting"):
        spec.with_settings({"tolerance": 0.1})


def bar_chart(title: str = "n = 41", color: str = "tab:blue") -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.bar([0, 1, 2], [3, 1, 2], color=color)
    ax.set_title(title)
    return fig


def heatmap(cmap: str) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.imshow(np.random.default_rng(0).random((16, 16)), cmap=cmap)
    return fig


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (lambda: bar_chart("n = 41"), lambda: bar_chart("n = 42")),  # one digit of a title
        (lambda: bar_chart(color="red"), lambda: bar_chart(color="green")),  # same lightness
        (lambda: heatmap("magma"), lambda: heatmap("inferno")),  # a similar colormap
    ],
    ids=["title", "colour", "colormap"],
)
def test_small_visible_changes_of_a_figure_drift(record_into, first, second):
    _, same = recorded(record_into, "chart", first(), first())
    assert same.status == "match"
    _, changed = recorded(record_into, "chart", first(), second())
    plt.close("all")
    assert changed.status == "drift", changed.summary
    assert changed.details["changed_pixels"] > 0


def test_integers_compare_exactly_in_arrays_and_tables(record_into):
    _, array = recorded(record_into, "ids", np.array([2000000, 7]), np.array([2000001, 7]))
    assert array.status == "drift"
    assert (array.expected, array.got, array.difference) == (2000000, 2000001, 1)
    table = pd.DataFrame({"id": [2000000, 5]})
    _, column = recorded(record_into, "ids", table, table.assign(id=[2000001, 5]))
    assert column.status == "drift"
    assert column.details["columns"]["id"]["expected"] == 2000000
    assert column.details["columns"]["id"]["got"] == 2000001


def test_the_reported_element_is_one_beyond_tolerance(record_into):
    # the largest absolute difference (1000 -> 1000.0005) is within rtol; 0 -> 1e-6 is not
    old = np.array([1000.0, 0.0])
    _, result = recorded(record_into, "x", old, np.array([1000.0005, 1e-6]), rtol=1e-6)
    assert result.status == "drift"
    assert (result.expected, result.got) == (0.0, 1e-6)
    assert "at (1,)" in result.summary
    table = pd.DataFrame({"x": old})
    _, column = recorded(record_into, "t", table, table.assign(x=[1000.0005, 1e-6]), rtol=1e-6)
    assert column.details["columns"]["x"]["row"] == 1


def test_nan_matches_nan_and_drifts_against_a_number(record_into):
    nan = float("nan")
    _, same = recorded(record_into, "x", np.array([nan, nan]), np.array([nan, nan]))
    assert same.status == "match", same.summary
    _, drift = recorded(record_into, "x", np.array([1.0, nan]), np.array([1.0, 2.0]))
    assert drift.status == "drift"
    assert (drift.expected, drift.got, drift.difference) == ("nan", 2.0, float("inf"))
    table = pd.DataFrame({"x": [nan, 1.0]})
    _, column = recorded(record_into, "t", table, table.assign(x=[2.0, 1.0]))
    assert column.status == "drift"
    assert column.details["columns"]["x"]["row"] == 0
