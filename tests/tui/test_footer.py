"""The footer shows the same keys as Textual's own would, without rebuilding its key widgets when
the focus moves between the table and the `/` line (which made those key presses slow)."""

from __future__ import annotations

from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.widgets.footer import SteadyFooter

from .conftest import frozen_kb, wait_for


def footer_text(footer: SteadyFooter) -> list[tuple[str, str, bool]]:
    from textual.widgets._footer import FooterKey

    return [(str(w.render()), str(w.tooltip or ""), w.has_class("-disabled"))
            for w in footer.query(FooterKey) if w.display]


async def test_the_footer_follows_the_focus_without_a_rebuild(tmp_path):
    db, run_id = frozen_kb(tmp_path)
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await pilot.pause()
        footer = app.query_one(SteadyFooter)
        from textual.widgets._footer import FooterKey

        widgets = list(footer.query(FooterKey))  # the same widget objects after: no rebuild
        on_table = footer_text(footer)
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.cmdline.has_focus, what="the / line")
        await pilot.pause()
        on_line = footer_text(footer)
        assert on_line != on_table and list(footer.query(FooterKey)) == widgets  # fewer keys, widgets hidden
        assert ("f1", "") in [(t.split()[0], tip) for t, tip, _ in on_line]  # help is F1 while an input has focus
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.table.has_focus, what="the table")
        await pilot.pause()
        assert footer_text(footer) == on_table and list(footer.query(FooterKey)) == widgets
        await pilot.press("slash")
        await wait_for(pilot, lambda: app.cmdline.has_focus, what="the / line")
        footer.refresh(recompose=True)
        await wait_for(pilot, lambda: list(footer.query(FooterKey)) != widgets, what="a rebuild")
        await pilot.pause()
        assert footer_text(footer) == on_line  # what a rebuild shows
