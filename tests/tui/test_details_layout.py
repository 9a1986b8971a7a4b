"""The details pane lays the screen out again only when its height changes: every cursor move shows
another variant, and a layout pass redraws much of the screen."""

from __future__ import annotations

from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.widgets.panes import DetailsPane

from .conftest import frozen_kb, wait_for


async def test_the_details_pane_asks_for_a_layout_only_when_it_grows_or_shrinks(tmp_path):
    db, run_id = frozen_kb(tmp_path)
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.detail is not None and app.detail.row["id"] == "v1", what="v1's details")
        await pilot.pause()
        pane = app.query_one(DetailsPane)
        layouts = []
        original = pane.refresh

        def refresh(*regions, **kwargs):
            if kwargs.get("layout"):
                layouts.append(app.detail.row["id"] if app.detail else None)
            return original(*regions, **kwargs)

        pane.refresh = refresh
        height = pane.size.height
        await pilot.press("down")  # v2: completed like v1, the same lines
        await wait_for(pilot, lambda: app.detail.row["id"] == "v2", what="v2's details")
        await pilot.pause()
        assert pane.size.height == height and layouts == []
        assert "v2 Grid completed" in str(pane.render_line(0).text)
        await pilot.press("colon", *"goto v10", "enter")  # failed: one more line, its reason
        await wait_for(pilot, lambda: app.detail.row["id"] == "v10", what="v10's details")
        await wait_for(pilot, lambda: pane.size.height == height + 1, what="the pane one line taller")
        assert layouts and set(layouts) == {"v10"}
        assert "reason:" in str(pane.render_line(1).text)
