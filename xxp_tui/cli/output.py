"""Small output helpers shared by the commands: usage errors and plain tables."""

from __future__ import annotations

import re
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


# ESC sequences (CSI, OSC up to its terminator, two-byte ones) and every other C0/C1 control character
# but newline and tab: what a task wrote (a stderr tail, a metric name) must not drive the user's terminal.
_CONTROL = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]"          # CSI: colours, cursor moves, clear screen
                      r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window title, hyperlinks, clipboard
                      r"|\x1b[@-_]?|[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def for_terminal(text: object) -> str:
    """`text` without control characters when stdout is a terminal (files and pipes get it as is)."""
    text = str(text)
    return _CONTROL.sub("", text) if sys.stdout.isatty() else text


def say(text: object = "") -> None:
    """print(), safe for a terminal."""
    print(for_terminal(text))


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    """Left-aligned columns separated by two spaces; long cells are kept whole (pipes, grep)."""
    rows = [[for_terminal(c) for c in row] for row in rows]
    cols = [headers, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(headers))]
    for i, row in enumerate(cols):
        print("  ".join(str(c).ljust(widths[j]) for j, c in enumerate(row)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
