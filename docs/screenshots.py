"""Regenerate the SVG screenshots in docs/ from a real run of the quickstart.

    python docs/screenshots.py

Copies sample_workflows/quickstart to a temporary folder, starts the real engine on it (detached,
as `xxp-tui run` does) and opens the real viewer headless at 120x36. While the bayesian search
runs it saves, with the app's own save_screenshot:

- screenshot-main.svg     the main screen: header, experiment tree, live table, details pane
- screenshot-details.svg  a finished Tune variant: params, metrics, task executions, events
- screenshot-charts.svg   the objective per variant with the best so far
- screenshot-designer.svg `xxp-tui design` on the quickstart: library, task details, the DAG

`python docs/screenshots.py --designer` makes the designer's alone (no engine needed).

The engine is stopped at the end; the temporary folder is removed.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SIZE = (120, 36)


async def until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def shoot(db: Path, run_id: int) -> None:
    from xxp_tui.tui.app import XxpApp

    os.environ["COLORTERM"] = "truecolor"  # the colours of a usual terminal, whatever TERM this runs under
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        table = app.table

        def tune(status: str) -> list[int]:
            return [v for v, r in table.rows.items() if r.data["space"] == "Tune" and r.data["status"] == status]

        # mid-run: the grid is done, the bayesian search has finished some variants and runs others
        await until(lambda: app.project is not None and len(tune("completed")) >= 2 and tune("running"), 120,
                    "Tune to be under way")
        await pilot.press("colon", *f"goto v{tune('running')[0]}", "enter")
        await until(lambda: app.detail is not None and app.detail.row["space"] == "Tune", 10, "details")
        await pilot.pause(0.3)
        app.save_screenshot("screenshot-main.svg", str(DOCS))

        best = max(tune("completed"), key=lambda v: table.rows[v].data["objective"] or 0)
        await pilot.press("colon", *f"goto v{best}", "enter")
        await until(lambda: app.detail is not None and app.detail.row["id"] == f"v{best}"
                    and app.detail.tasks, 10, "the best variant's details")
        await pilot.pause(0.3)
        app.save_screenshot("screenshot-details.svg", str(DOCS))

        await pilot.press("c")
        await pilot.pause(0.5)
        app.save_screenshot("screenshot-charts.svg", str(DOCS))


async def shoot_designer(spec: Path) -> None:
    """The designer on the quickstart: a library task found by search, LinePipeline's DAG with Train
    selected, and a fixed param checked against its declared range as it is typed."""
    from xxp_tui.tui.design_app import DesignApp

    app = DesignApp(spec)
    async with app.run_test(size=SIZE) as pilot:
        await until(lambda: app.screen_ref is not None and app.screen_ref.result is not None, 20, "the designer")
        await pilot.press("slash", *"train", "enter", "down", "escape", "right_square_bracket", "down")
        await pilot.press("p", *"lr 0.1")
        await pilot.pause(0.3)
        app.save_screenshot("screenshot-designer.svg", str(DOCS))


def main() -> int:
    from xxp_tui.engine.launch import create_run, start_detached, wait_for_engine
    from xxp_tui.lang import load_project

    with tempfile.TemporaryDirectory(prefix="xxp-shots-") as tmp:
        project = Path(tmp) / "quickstart"
        shutil.copytree(ROOT / "sample_workflows" / "quickstart", project,
                        ignore=shutil.ignore_patterns(".xxp", "__pycache__"))
        spec = project / "quickstart.xxp"
        asyncio.run(shoot_designer(spec))
        if "--designer" in sys.argv:
            print(DOCS / "screenshot-designer.svg")
            return 0
        db = project / ".xxp" / "kb.sqlite"
        result = load_project(spec)
        run_id = create_run(result, "Quickstart", db, workers=2, seed=0).run_id
        proc = start_detached(db, run_id, project)
        try:
            problem = wait_for_engine(db, run_id, proc)
            if problem:
                raise SystemExit(f"the engine did not start: {problem}")
            asyncio.run(shoot(db, run_id))
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=20)
    for name in ("screenshot-main.svg", "screenshot-details.svg", "screenshot-charts.svg", "screenshot-designer.svg"):
        print(DOCS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
