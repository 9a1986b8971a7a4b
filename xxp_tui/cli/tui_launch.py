"""Opening the viewer (imported only by commands that open it, so --help never loads Textual)."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def open_tui(db: Path, run_id: int, read_only: bool = False, mouse: bool = True, low_bandwidth: bool = False) -> int:
    """Run the viewer on `run_id`; when it closes, say the run goes on and how to come back."""
    if low_bandwidth:
        os.environ.setdefault("TEXTUAL_FPS", "10")
        os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    from xxp_tui.tui.app import XxpApp

    app = XxpApp(db, run_id, read_only=read_only, low_bandwidth=low_bandwidth)
    status = app.run(mouse=mouse)
    goes_on = status not in ("completed", "failed", "stopped")
    where = "" if found_from_here(db) else f" --db {db}"
    if goes_on:
        print(f"Viewer closed; r{run_id} goes on in the background ({status}).")
        print(f"Come back with: xxp-tui attach r{run_id}{where}")
    else:
        print(f"r{run_id} is {status}. Results: xxp-tui variants r{run_id}{where}")
    return 0


def found_from_here(db: Path) -> bool:
    """Whether a command typed in this folder with no --db would open `db` (so a hint can omit it)."""
    from xxp_tui.project import find_kb

    env = os.environ.get("XXP_DB")
    chosen = Path(env).expanduser() if env else find_kb().path
    return chosen is not None and chosen.resolve() == Path(db).resolve()


def pick_run(db: Path) -> int | None:
    """A small list of the KB's runs to choose from (`xxp-tui` with no arguments)."""
    from xxp_tui.kb import open_kb
    from xxp_tui.kb.queries import run_summaries

    with open_kb(db, create=False, readonly=True) as kb:
        summaries = run_summaries(kb)
    if not summaries:
        print(f"No runs in {db} yet. Start one with: xxp-tui run SPEC", file=sys.stderr)
        return None
    from xxp_tui.tui.picker import RunPicker

    return RunPicker(db, summaries).run()
