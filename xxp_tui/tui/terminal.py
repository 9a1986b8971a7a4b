"""What the user's terminal can draw: its glyphs (UTF-8 or not) and its colours (16, none).

The Linux console (TERM=linux) and a non-UTF-8 locale cannot draw braille charts, block borders or
the tree's ● ✓ icons: they get ASCII. A 16-colour terminal (TERM=xterm, screen, linux) turns the
theme's orange accent into bright red, so a cursor row drawn with it reads as an error: there the
cursor is reverse video, which every terminal draws, and so it is with NO_COLOR, which must send no
colour at all (Textual's own NO_COLOR support sends grey shades).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


def locale_is_utf8(environ: Mapping[str, str] | None = None) -> bool:
    """The locale's character set, as the C library picks it: LC_ALL, else LC_CTYPE, else LANG.
    Unset everywhere: assume UTF-8 (a terminal that cannot draw it sets a locale saying so)."""
    env = os.environ if environ is None else environ
    value = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if not value:
        return True
    return "utf-8" in value.lower() or "utf8" in value.lower()


def ascii_only(environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return env.get("TERM") == "linux" or not locale_is_utf8(env)


@dataclass(frozen=True)
class Glyphs:
    node_icons: dict[str, str]
    sort_up: str
    sort_down: str
    ellipsis: str
    chart_marker: str  # plotext: "braille" draws 2×4 dots per cell
    tree_lines: tuple[str, str, str, str] | None  # Textual Tree guides: space, vertical, end, branch
    tree_open: str
    tree_closed: str


UNICODE = Glyphs(
    node_icons={"pending": "○", "running": "●", "done": "✓", "skipped": "⊘", "failed": "✗", "waiting": "?",
                "stopped": "■", "paused": "‖"},
    sort_up="▲", sort_down="▼", ellipsis="…", chart_marker="braille", tree_lines=None,
    tree_open="▼ ", tree_closed="▶ ",
)
ASCII = Glyphs(
    node_icons={"pending": "o", "running": "*", "done": "+", "skipped": "-", "failed": "x", "waiting": "?",
                "stopped": "#", "paused": "="},
    sort_up="^", sort_down="v", ellipsis="~", chart_marker="dot",
    tree_lines=("    ", "|   ", "`-- ", "|-- "), tree_open="v ", tree_closed="> ",
)


def glyphs() -> Glyphs:
    return ASCII if ascii_only() else UNICODE


def few_colours(app) -> bool:
    """16 colours or fewer, or NO_COLOR: colour cannot carry meaning (the cursor goes reverse)."""
    return bool(getattr(app, "no_color", False)) or app.console.color_system in (None, "standard", "windows")
