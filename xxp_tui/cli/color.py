"""Colour in headless output (progress lines, error sentences), by one rule: `--color always|never`
(or $XXP_COLOR) decides when given; with `auto` (the default) colour only a terminal, and never
when $NO_COLOR is set to anything non-empty (https://no-color.org) or TERM is dumb."""

from __future__ import annotations

import os
from typing import TextIO

MODES = ("auto", "always", "never")
_mode = "auto"

STYLES = {"completed": "32", "failed": "31", "error": "31", "pruned": "33", "cancelled": "33", "warning": "33",
          "running": "36", "waiting_input": "35", "suspended": "34", "dim": "2"}


def set_mode(mode: str) -> None:
    global _mode
    _mode = mode


def enabled(stream: TextIO) -> bool:
    if _mode != "auto":
        return _mode == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM", "") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def paint(text: str, style: str, stream: TextIO) -> str:
    """`text` in the style's colour when `stream` takes colour, else unchanged."""
    code = STYLES.get(style)
    if code is None or not enabled(stream):
        return text
    return f"\x1b[{code}m{text}\x1b[0m"
