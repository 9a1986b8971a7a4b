"""Small output helpers shared by the commands: usage errors and plain tables."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def fail_usage(message: str) -> NoReturn:
    """A sentence on stderr and exit 2, like click's own usage errors."""
    fail(message, 2)


def fail(message: str, code: int = 1) -> NoReturn:
    from xxp_tui.cli.color import paint

    print(f"{paint('xxp-tui:', 'error', sys.stderr)} {message}", file=sys.stderr)
    raise typer.Exit(code)


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Left-aligned columns separated by two spaces; long cells are kept whole (pipes, grep)."""
    cols = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    for i, row in enumerate(cols):
        print("  ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
