"""Environment snapshots and their differences."""

from __future__ import annotations

import platform

import numpy as np

from bioshare.reproduce.environment import current, diff, snapshot


def test_snapshot_lists_the_distributions_of_imported_modules():
    found = snapshot({"numpy", "skimage", "json", "_private", "not_a_module_xyz"})
    assert found["python"] == platform.python_version()
    assert found["packages"]["numpy"] == np.__version__
    assert "scikit-image" in found["packages"]
    assert "json" not in found["packages"]  # the standard library is not a package


def test_diff_reports_versions_python_and_missing_packages():
    recorded = {
        "python": "3.10.4",
        "system": "Linux",
        "machine": "x86_64",
        "packages": {"numpy": "1.26.4", "scipy": "1.17.1", "gone-package": "0.1"},
    }
    now = {
        "python": "3.11.9",
        "system": "Linux",
        "machine": "x86_64",
        "packages": {"numpy": "2.4.6", "scipy": "1.17.1"},
    }
    result = diff(recorded, now)
    assert not result.identical
    assert result.python == ("3.10.4", "3.11.9")
    assert result.platform is None
    assert result.same == 1
    assert [(p.name, p.recorded, p.now) for p in result.packages] == [
        ("gone-package", "0.1", None),
        ("numpy", "1.26.4", "2.4.6"),
    ]
    assert [p.name for p in result.missing] == ["gone-package"]
    assert result.lines() == [
        "Python 3.10.4 recorded, 3.11.9 here",
        "gone-package 0.1 recorded, not installed here",
        "numpy 1.26.4 recorded, 2.4.6 here",
    ]


def test_current_looks_up_the_recorded_packages_here():
    here = current({"packages": {"numpy": "0.0", "surely-not-installed-xyz": "1.0"}})
    assert here["packages"] == {"numpy": np.__version__}
    assert diff(here, here).identical
