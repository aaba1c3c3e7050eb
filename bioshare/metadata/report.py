"""The completeness report of a study: what is missing, what is wrong, and a score."""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["CompletenessReport", "Issue"]

Level = Literal["missing-required", "missing-desirable", "invalid"]
_WEIGHTS = {"required": 2, "desirable": 1}


@dataclass(frozen=True)
class Issue:
    """One finding: where (``author[0].contact_email``), how bad, and what to do."""

    path: str
    level: Level
    message: str


@dataclass
class CompletenessReport:
    """What `Study.validate` found.

    ``ok`` is True when nothing required is missing and nothing is invalid; ``score`` (0 to
    100) weighs filled required fields twice as much as filled desirable ones.
    """

    issues: list[Issue] = field(default_factory=list)
    filled: dict[str, int] = field(default_factory=lambda: {"required": 0, "desirable": 0})
    expected: dict[str, int] = field(default_factory=lambda: {"required": 0, "desirable": 0})

    def count(self, obligation: str, present: bool) -> None:
        """Tally one field of the given obligation."""
        self.expected[obligation] += 1
        self.filled[obligation] += int(present)

    def add(self, path: str, level: Level, message: str) -> None:
        self.issues.append(Issue(path, level, message))

    @property
    def missing_required(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "missing-required"]

    @property
    def missing_desirable(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "missing-desirable"]

    @property
    def invalid(self) -> list[Issue]:
        return [i for i in self.issues if i.level == "invalid"]

    @property
    def ok(self) -> bool:
        return not self.missing_required and not self.invalid

    @property
    def score(self) -> float:
        total = sum(_WEIGHTS[k] * n for k, n in self.expected.items())
        got = sum(_WEIGHTS[k] * n for k, n in self.filled.items())
        return round(100.0 * got / total, 1) if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "score": self.score,
            "filled": dict(self.filled),
            "expected": dict(self.expected),
            "issues": [asdict(i) for i in self.issues],
        }

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **{"indent": 2, **kwargs})

    def __str__(self) -> str:
        verdict = "complete" if self.ok else "incomplete"
        lines = [
            f"Metadata {verdict}: score {self.score:g}/100 "
            f"({self.filled['required']}/{self.expected['required']} required, "
            f"{self.filled['desirable']}/{self.expected['desirable']} desirable fields)"
        ]
        for title, issues in (
            ("Invalid", self.invalid),
            ("Missing (required)", self.missing_required),
            ("Missing (desirable)", self.missing_desirable),
        ):
            if issues:
                lines.append(f"{title}:")
                lines += [f"  - {i.path}: {i.message}" for i in issues]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        colour = {
            "invalid": "#b00020",
            "missing-required": "#b00020",
            "missing-desirable": "#8a6d00",
        }
        rows = "".join(
            f"<tr><td style='color:{colour[i.level]}'>{html.escape(i.level)}</td>"
            f"<td><code>{html.escape(i.path)}</code></td><td>{html.escape(i.message)}</td></tr>"
            for i in self.issues
        )
        verdict = "complete" if self.ok else "incomplete"
        head = (
            f"<p><b>Metadata {verdict}</b>: score {self.score:g}/100 "
            f"({self.filled['required']}/{self.expected['required']} required, "
            f"{self.filled['desirable']}/{self.expected['desirable']} desirable)</p>"
        )
        if not rows:
            return head
        return f"{head}<table><tr><th>level</th><th>field</th><th>message</th></tr>{rows}</table>"
