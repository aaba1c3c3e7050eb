"""`RerunReport`: what matched, what drifted and by how much, as HTML, Markdown or JSON."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from bioshare.reproduce.environment import EnvironmentDiff
from bioshare.reproduce.outputs import OutputComparison

__all__ = ["InputCheck", "RerunReport"]


@dataclass(frozen=True)
class InputCheck:
    """An input of the re-run against the recorded one.

    ``status``: ``same`` (checksums equal), ``changed`` (different content or value),
    ``unchecked`` (a URL, read as it is today) or ``missing`` (not available here).
    """

    parameter: str
    recorded: str
    used: str
    status: str
    recorded_sha256: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class RerunReport:
    """The result of `bioshare.rerun`.

    ``ok`` is True when the notebook ran and every recorded output matched; environment
    differences are shown but never make a re-run fail.
    """

    source: str
    title: str
    notebook: str
    outputs: tuple[OutputComparison, ...]
    inputs: tuple[InputCheck, ...]
    parameters: dict[str, tuple[Any, Any]]  # changed: name -> (recorded, used)
    environment: EnvironmentDiff
    seconds: float
    error: str | None = None
    warning: str = ""
    captured: str = ""  # when the analysis was captured
    workdir: str | None = None  # where the run's files were kept, if asked
    executed: str | None = None
    # drifted figures, expected and got, as base64 PNG: shown in HTML, not in JSON
    figures: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None and all(c.ok for c in self.outputs)

    @property
    def matched(self) -> tuple[OutputComparison, ...]:
        return tuple(c for c in self.outputs if c.status == "match")

    @property
    def drifted(self) -> tuple[OutputComparison, ...]:
        return tuple(c for c in self.outputs if not c.ok)

    def verdict(self) -> str:
        """One sentence: reproduced or not, and why."""
        if self.error:
            return f"The notebook failed: {self.error}"
        expected = [c for c in self.outputs if c.status != "new"]
        if self.ok:
            return f"Reproduced: all {len(expected)} recorded output(s) match."
        return (
            f"Not reproduced: {len(self.drifted)} of {len(expected)} recorded output(s) "
            f"drifted ({', '.join(c.name for c in self.drifted)})."
        )

    # -- renderings -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "title": self.title,
            "notebook": self.notebook,
            "ok": self.ok,
            "verdict": self.verdict(),
            "error": self.error,
            "warning": self.warning,
            "captured": self.captured,
            "seconds": round(self.seconds, 3),
            "outputs": [c.to_dict() for c in self.outputs],
            "inputs": [vars(i) for i in self.inputs],
            "parameters": {k: {"recorded": a, "used": b} for k, (a, b) in self.parameters.items()},
            "environment": self.environment.to_dict(),
            "workdir": self.workdir,
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def to_markdown(self) -> str:
        lines = [f"# Re-run of {self.title}", "", f"**{self.verdict()}**", ""]
        lines += [
            f"Source: `{self.source}`; notebook `{self.notebook}`; "
            f"captured {self.captured or '?'}; re-run took {self.seconds:.1f} s.",
            "",
        ]
        if self.warning:
            lines += [f"> Warning: {self.warning}", ""]
        lines += ["## Outputs", "", "| output | kind | status | expected | got | difference |",
                  "| --- | --- | --- | --- | --- | --- |"]  # fmt: skip
        for c in self.outputs:
            lines.append(
                f"| {c.name} | {c.kind} | {c.status} | {_cell(c.expected)} | {_cell(c.got)} "
                f"| {_cell(c.difference)} |"
            )
        details = [c for c in self.outputs if c.status != "match"]
        if details:
            lines += ["", *[f"- **{c.name}**: {c.summary}" for c in details]]
        if self.parameters or self.inputs:
            lines += ["", "## Inputs and parameters", ""]
            for name, (old, new) in self.parameters.items():
                lines.append(f"- parameter `{name}`: recorded `{old!r}`, used `{new!r}`")
            for i in self.inputs:
                checksum = ""
                if i.status == "changed" and i.recorded_sha256:
                    checksum = (
                        f" (sha256 {i.recorded_sha256[:12]} recorded, {str(i.sha256)[:12]} now)"
                    )
                lines.append(f"- input `{i.parameter}`: {i.status}{checksum}; used `{i.used}`")
        lines += ["", "## Environment", ""]
        if self.environment.identical:
            lines.append(f"Same Python, platform and {self.environment.same} package version(s).")
        else:
            lines += [f"- {line}" for line in self.environment.lines()]
            lines.append(f"- {self.environment.same} package(s) with the same version")
        if self.error:
            lines += ["", "## Error", "", f"```\n{self.error}\n```"]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.ok else "#cf222e"
        rows = []
        for c in self.outputs:
            tint = "" if c.ok else " style='background:#ffebe9'"
            rows.append(
                f"<tr{tint}><td>{_e(c.name)}</td><td>{_e(c.kind)}</td><td><b>{_e(c.status)}</b>"
                f"</td><td>{_e(_cell(c.expected))}</td><td>{_e(_cell(c.got))}</td>"
                f"<td>{_e(_cell(c.difference))}</td><td>{_e(c.summary)}</td></tr>"
            )
        inputs = "".join(
            f"<li>parameter <code>{_e(k)}</code>: recorded <code>{_e(repr(a))}</code>, used "
            f"<code>{_e(repr(b))}</code></li>"
            for k, (a, b) in self.parameters.items()
        ) + "".join(
            f"<li>input <code>{_e(i.parameter)}</code>: {_e(i.status)}</li>" for i in self.inputs
        )
        environment = (
            f"<p>Same Python, platform and {self.environment.same} package version(s).</p>"
            if self.environment.identical
            else "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in self.environment.lines()) + "</ul>"
        )
        error = f"<pre>{_e(self.error)}</pre>" if self.error else ""
        figures = "".join(
            f"<h4>{_e(name)}</h4><table><tr><th>expected</th><th>got</th></tr><tr>"
            f"<td><img src='data:image/png;base64,{old}'/></td>"
            f"<td><img src='data:image/png;base64,{new}'/></td></tr></table>"
            for name, (old, new) in self.figures.items()
        )
        return (
            f"<div><p style='color:{colour}'><b>{_e(self.verdict())}</b></p>"
            f"<p>{_e(self.title)}: <code>{_e(self.notebook)}</code> from <code>{_e(self.source)}"
            f"</code>, re-run in {self.seconds:.1f} s.</p>"
            f"<p style='border-left:4px solid #d4a72c;padding-left:6px'>{_e(self.warning)}</p>"
            "<table><tr><th>output</th><th>kind</th><th>status</th><th>expected</th><th>got</th>"
            f"<th>difference</th><th>details</th></tr>{''.join(rows)}</table>{figures}"
            f"{'<h4>Inputs and parameters</h4><ul>' + inputs + '</ul>' if inputs else ''}"
            f"<h4>Environment</h4>{environment}{error}</div>"
        )


def _cell(value: Any, limit: int = 40) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _e(value: Any) -> str:
    return html.escape(str(value))
