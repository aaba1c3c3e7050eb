"""The software environment of a run, and how two of them differ.

A snapshot holds the Python version, the platform and the versions of the distributions
that provide the modules the notebook had imported. A difference is reported, never an
error: an analysis may well give the same results with another numpy.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

__all__ = ["EnvironmentDiff", "PackageChange", "current", "diff", "snapshot"]


def snapshot(modules: Iterable[str] | None = None) -> dict[str, Any]:
    """Python, platform and package versions of this interpreter.

    Parameters
    ----------
    modules
        Top-level module names in use (the notebook's ``sys.modules``): the distributions
        providing them are listed. None lists every installed distribution.
    """
    modules = None if modules is None else set(modules)
    packages: dict[str, str] = {}
    if modules is None:
        packages = {_name(d): d.version for d in metadata.distributions() if d.metadata["Name"]}
    elif modules:  # mapping modules to distributions reads every installed one: 0.5 s
        providers = metadata.packages_distributions()
        stdlib = set(sys.stdlib_module_names)
        names = {
            dist
            for module in modules
            if module and module not in stdlib and not module.startswith("_")
            for dist in providers.get(module, ())
        }
        for name in names:
            version = _version(name)
            if version is not None:
                packages[_canonical(name)] = version
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "system": platform.system(),
        "machine": platform.machine(),
        "packages": dict(sorted(packages.items())),
    }


def current(recorded: dict[str, Any]) -> dict[str, Any]:
    """This interpreter's snapshot for the packages ``recorded`` lists."""
    found = snapshot(modules=())
    packages = {}
    for name in recorded.get("packages", {}):
        version = _version(name)
        if version is not None:
            packages[name] = version
    found["packages"] = packages
    return found


@dataclass(frozen=True)
class PackageChange:
    """A package whose version differs (``now`` None: not installed here)."""

    name: str
    recorded: str | None
    now: str | None


@dataclass(frozen=True)
class EnvironmentDiff:
    """What differs between the recorded environment and this one."""

    python: tuple[str, str] | None = None
    platform: tuple[str, str] | None = None
    packages: tuple[PackageChange, ...] = field(default_factory=tuple)
    same: int = 0  # packages with the very same version

    @property
    def identical(self) -> bool:
        return self.python is None and self.platform is None and not self.packages

    @property
    def missing(self) -> tuple[PackageChange, ...]:
        return tuple(p for p in self.packages if p.now is None)

    def lines(self) -> list[str]:
        """One line per difference, for reports."""
        lines = []
        if self.python:
            lines.append(f"Python {self.python[0]} recorded, {self.python[1]} here")
        if self.platform:
            lines.append(f"platform {self.platform[0]} recorded, {self.platform[1]} here")
        for p in self.packages:
            if p.now is None:
                lines.append(f"{p.name} {p.recorded} recorded, not installed here")
            elif p.recorded is None:
                lines.append(f"{p.name} {p.now} here, not recorded")
            else:
                lines.append(f"{p.name} {p.recorded} recorded, {p.now} here")
        return lines

    def to_dict(self) -> dict[str, Any]:
        return {
            "identical": self.identical,
            "python": list(self.python) if self.python else None,
            "platform": list(self.platform) if self.platform else None,
            "packages": [asdict(p) for p in self.packages],
            "same_packages": self.same,
        }


def diff(recorded: dict[str, Any], now: dict[str, Any]) -> EnvironmentDiff:
    """Compare two snapshots; packages that only ``now`` imported are listed too."""
    python = _pair(recorded.get("python"), now.get("python"))
    system = _pair(
        f"{recorded.get('system', '')} {recorded.get('machine', '')}".strip(),
        f"{now.get('system', '')} {now.get('machine', '')}".strip(),
    )
    before: dict[str, str] = recorded.get("packages") or {}
    after: dict[str, str] = now.get("packages") or {}
    changes = []
    same = 0
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            same += 1
        else:
            changes.append(PackageChange(name, old, new))
    return EnvironmentDiff(python, system, tuple(changes), same)


def _pair(old: Any, new: Any) -> tuple[str, str] | None:
    if not old or not new or old == new:
        return None
    return (str(old), str(new))


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _name(dist: metadata.Distribution) -> str:
    return _canonical(str(dist.metadata["Name"]))


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
