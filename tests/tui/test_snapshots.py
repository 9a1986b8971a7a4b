"""SVG snapshots of the main screens (pytest-textual-snapshot, Textual pinned in pyproject).

They run against `frozen_kb`: a paused run that no engine drives, with fixed times. The app gets a
fixed clock and TZ=UTC, so the elapsed time, throughput, ETA and event times are the same on every
machine. Regenerate with `pytest tests/tui/test_snapshots.py --snapshot-update` after reviewing
snapshot_report.html.
"""

from __future__ import annotations

import time

import pytest

from xxp_tui.tui.app import XxpApp

from .conftest import T0, frozen_kb, wait_for

SMALL = (80, 24)
LARGE = (132, 40)


@pytest.fixture
def frozen_app(tmp_path, monkeypatch):
    import textual.constants

    # A true-colour terminal, whatever TERM the tests run under (none in CI: Rich would pick 16
    # colours, where the viewer draws its cursor in reverse video; test_first_hour covers that).
    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    db, run_id = frozen_kb(tmp_path)
    yield XxpApp(db, run_id, keymap={}, poll_interval=0.05, clock=lambda: T0 + 125)
    monkeypatch.delenv("TZ")
    time.tzset()


async def loaded(pilot, vid: int = 1) -> None:
    """Rows, spec and the cursor variant's details are on screen; then a sanity check that the
    fixed clock is what the status bar uses."""
    app = pilot.app
    await wait_for(pilot, lambda: len(app.table.rows) == 12 and app.project is not None
                   and len(app.run_tree.root.children) == 2, what="rows and tree")
    if vid != 1:
        await pilot.press("colon", *f"goto v{vid}", "enter")
    await wait_for(pilot, lambda: app.detail is not None and app.detail.row["id"] == f"v{vid}", what=f"v{vid} details")
    await pilot.pause()
    assert "02:05" in str(app.status_bar.render())  # elapsed T0 -> T0+125 s, from the injected clock


def test_main_screen_80x24(snap_compare, frozen_app):
    assert snap_compare(frozen_app, terminal_size=SMALL, run_before=loaded)


def test_main_screen_large(snap_compare, frozen_app):
    assert snap_compare(frozen_app, terminal_size=LARGE, run_before=loaded)


def test_details_of_a_failed_variant(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot, vid=10)

    assert snap_compare(frozen_app, terminal_size=LARGE, run_before=run_before)


def test_log_tail(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot, vid=10)
        await pilot.press("l")
        await wait_for(pilot, lambda: "ValueError: boom" in "\n".join(pilot.app.log_pane.lines), what="log tail")

    assert snap_compare(frozen_app, terminal_size=SMALL, run_before=run_before)


def test_charts(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(frozen_app, terminal_size=LARGE, run_before=run_before)


def test_help_screen(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "HelpScreen", what="help")

    assert snap_compare(frozen_app, terminal_size=SMALL, run_before=run_before)


def test_inject_form(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "InjectForm", what="inject form")
        form = pilot.app.screen
        for inp in form.query("Input"):
            inp.cursor_blink = False
        await pilot.press(*"5000")  # outside the declared range (0, 1000): the form says so, Inject disabled
        await pilot.pause()
        assert form.query_one("#ok").disabled

    assert snap_compare(frozen_app, terminal_size=SMALL, run_before=run_before)


def test_filter_line(snap_compare, frozen_app):
    async def run_before(pilot):
        await loaded(pilot)
        await pilot.press("slash")
        pilot.app.cmdline.cursor_blink = False
        await pilot.press(*"label:b")
        await wait_for(pilot, lambda: len(pilot.app.table.order) == 6, what="filtered rows")

    assert snap_compare(frozen_app, terminal_size=SMALL, run_before=run_before)


def test_main_screen_16_colours_on_the_linux_console(snap_compare, tmp_path, monkeypatch):
    """TERM=linux: 16 colours (the cursor row in reverse video, not the accent turned bright red) and
    ASCII for the tree's icons and guides, the borders and the sort arrow."""
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    db, run_id = frozen_kb(tmp_path)
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.05, clock=lambda: T0 + 125)
    try:
        assert snap_compare(app, terminal_size=SMALL, run_before=loaded)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
