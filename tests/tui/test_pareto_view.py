"""The viewer on a finished multi-objective run (a real headless run, a real KB, Pilot): the table
shows every objective and marks the Pareto front; the chart plots the first two objectives."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Project, xxp
from tests.engine.test_multi_objective import SPEC, TRADE_PY, TRADE_XXP
from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.widgets.variant_table import objectives_text

from .conftest import wait_for

pytestmark = pytest.mark.slow


async def test_the_viewer_marks_the_front_and_charts_two_objectives(tmp_path):
    project = Project(tmp_path)
    project.task("m.trade", TRADE_XXP, "trade.py", TRADE_PY)
    project.spec(SPEC)
    ran = xxp("run", project.root / "e.xxp", "--headless", "--db", project.db, cwd=project.root)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    grid = {v.params["T.a"]: v.id for v in project.variants() if v.space == "Grid"}
    app = XxpApp(project.db, 1, keymap={}, poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="12 rows")
        await wait_for(pilot, lambda: app.table.rows[grid[1]].data.get("pareto") is True, what="the front marked")
        flags = {a: app.table.rows[vid].data.get("pareto") for a, vid in grid.items()}
        assert flags == {1: True, 2: True, 3: True, 4: False, 5: None}
        assert objectives_text(app.table.rows[grid[2]].data) == "2/4 *"
        assert objectives_text(app.table.rows[grid[4]].data) == "1/5"
        await pilot.press("colon", *f"goto v{grid[1]}", "enter")
        await wait_for(pilot, lambda: app.table.cursor_variant == grid[1], what="cursor on a Grid variant")
        chart = app.chart_data()["pareto"]
        assert chart["space"] == "Grid" and chart["labels"] == ["max quality", "min cost"]
        assert sorted(chart["points"]) == [(1.0, 1.0), (1.0, 5.0), (2.0, 4.0), (2.0, 4.0)]
        assert sorted(chart["front"]) == [(1.0, 1.0), (2.0, 4.0), (2.0, 4.0)]
        await pilot.press("c")  # the charts pane draws it without error
        await pilot.pause()
