"""Small output helpers shared by the commands: usage errors and plain tables."""

from __future__ import annotations

import shutil
import sys
from typing import NoReturn

import typer


def fail_usage(message: str) -> NoReturn:
    """A sentence on stderr and exit 2, like click's own usage errors."""
    print(f"xxp-tui: {message}", file=sys.stderr)
    raise typer.Exit(2)


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"xxp-tui: {message}", file=sys.stderr)
    raise typer.Exit(code)


def print_table(headers: list[str], rows: list[list[str]], max_width: int | None = None) -> None:
    """Left-aligned columns; the last column is cut to the terminal width."""
    width = max_width or shutil.get_terminal_size((120, 24)).columns
    cols = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    for i, row in enumerate(cols):
        cells = [str(c).ljust(widths[j]) for j, c in enumerate(row)]
        line = "  ".join(cells).rstrip()
        if len(line) > width:
            line = line[: width - 1] + "…"
        print(line)
        if i == 0:
            print("  ".join("-" * w for w in widths)[:width])
