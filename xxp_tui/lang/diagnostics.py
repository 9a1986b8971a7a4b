"""Diagnostics: what is wrong in a spec, where, and how to show it.

Every problem the language layer finds becomes a `Diagnostic`, never an exception, so one run of
`xxp-tui validate` reports all of them (`path:line:col: severity: message` plus a caret line).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Pos:
    """A place in a source file (1-based line and column)."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Diagnostic:
    pos: Pos
    severity: Severity
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def to_json(self) -> dict:
        return {
            "file": self.pos.file,
            "line": self.pos.line,
            "col": self.pos.col,
            "severity": self.severity.value,
            "message": self.message,
        }

    def render(self, source_line: str | None = None) -> str:
        """`path:line:col: error: message`, then the source line and a caret under the column."""
        head = f"{self.pos}: {self.severity.value}: {self.message}"
        if source_line is None:
            return head
        shown = source_line.rstrip("\n").expandtabs(1)
        if len(shown) > 200:  # a minified or garbage line: show the part around the column
            start = max(0, self.pos.col - 100)
            shown = shown[start : start + 200]
            caret_col = self.pos.col - start
        else:
            caret_col = self.pos.col
        return f"{head}\n    {shown}\n    {' ' * max(0, caret_col - 1)}^"


@dataclass
class Diagnostics:
    """An ordered, de-duplicated collection, filled by every stage of loading."""

    items: list[Diagnostic] = field(default_factory=list)
    _seen: set[tuple] = field(default_factory=set, repr=False)

    def add(self, pos: Pos, severity: Severity, message: str) -> None:
        key = (pos, severity, message)
        if key not in self._seen:
            self._seen.add(key)
            self.items.append(Diagnostic(pos, severity, message))

    def error(self, pos: Pos, message: str) -> None:
        self.add(pos, Severity.ERROR, message)

    def warning(self, pos: Pos, message: str) -> None:
        self.add(pos, Severity.WARNING, message)

    def extend(self, other: Iterable[Diagnostic]) -> None:
        for d in other:
            self.add(d.pos, d.severity, d.message)

    def sorted(self) -> list[Diagnostic]:
        return sorted(self.items, key=lambda d: (d.pos.file, d.pos.line, d.pos.col))


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest candidate, or '' when none is close."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f' (did you mean "{close[0]}"?)' if close else ""
