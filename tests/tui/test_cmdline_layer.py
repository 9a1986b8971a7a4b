"""Opening the `:` / `/` line moves no other widget (it lies over the bottom pane's last line), so
nothing else is laid out and drawn again; with the bottom pane hidden it takes a line of its own
rather than cover the table's last row."""

from __future__ import annotations

from xxp_tui.tui.app import XxpApp

from .conftest import frozen_kb, wait_for


def regions(app: XxpApp) -> dict[str, object]:
    return {name: app.query_one(name).region for name in ("#main", "#table", "#bottom", "#status")}


async def test_the_line_lies_over_the_bottom_pane_and_moves_nothing(tmp_path):
    db, run_id = frozen_kb(tmp_path)
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await pilot.pause()
        before = regions(app)
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.cmdline.has_focus, what="the / line")
        await pilot.pause()
        line, bottom = app.cmdline.region, app.query_one("#bottom").region
        assert regions(app) == before
        assert line.height == 1 and line.y == bottom.bottom - 1 and line.width == app.size.width  # its last line
        await pilot.press("escape")
        await pilot.pause()
        assert regions(app) == before

        await pilot.press("e")  # the events pane; again hides the bottom pane
        await pilot.press("e")
        await wait_for(pilot, lambda: not app.bottom.display, what="the bottom pane hidden")
        await pilot.pause()
        table = app.query_one("#table").region
        await pilot.press("colon")
        await wait_for(pilot, lambda: app.cmdline.has_focus, what="the : line")
        await pilot.pause()
        assert app.query_one("#table").region.height == table.height - 1  # a line of its own
        assert app.cmdline.region.y == app.query_one("#table").region.bottom
        await pilot.press("escape", "e")
        await wait_for(pilot, lambda: app.bottom.display, what="the bottom pane back")
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.cmdline.has_focus, what="the / line")
        await pilot.pause()
        assert regions(app)["#table"] == before["#table"]
