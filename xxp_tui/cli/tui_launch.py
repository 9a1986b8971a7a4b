"""Opening the TUI on a run (imported only when a command needs it)."""

from __future__ import annotations

from pathlib import Path


def open_tui(db: Path, run_id: int | None, read_only: bool = False) -> int:
    print(f"r{run_id} is running in the background.")
    print(f"  watch:  xxp-tui variants r{run_id} --db {db}")
    print(f"  steer:  xxp-tui pause|resume|stop r{run_id} --db {db}")
    return 0
