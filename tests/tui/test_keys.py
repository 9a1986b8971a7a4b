"""Keys beyond steering, on the frozen KB (no engine needed): the ctrl+p palette runs the app's
actions, Tab completes in the `:` line, ctrl+q quits like q, and the header says which key moves a
waiting run on (and R restarts an interrupted one)."""

from __future__ import annotations

import sqlite3

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.tui.app import XxpApp

from .conftest import T0, frozen_kb, wait_for

SIZE = (100, 30)


def frozen(tmp_path, **kw) -> XxpApp:
    db, run_id = frozen_kb(tmp_path)
    return XxpApp(db, run_id, keymap={}, poll_interval=0.05, clock=lambda: T0 + 125, **kw)


async def loaded(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: len(app.table.rows) == 12 and app.project is not None, what="rows")


async def palette(pilot, text: str) -> None:
    app = pilot.app
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
    await pilot.press(*text)
    await wait_for(pilot, lambda: app.screen.query_one("CommandList").option_count > 0, what=f"hits for {text}")
    await pilot.pause(0.2)
    await pilot.press("enter")
    await wait_for(pilot, lambda: type(app.screen).__name__ != "CommandPalette", what="the palette closed")


async def test_palette_runs_the_apps_actions(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await palette(pilot, "freeze")
        await wait_for(pilot, lambda: app.frozen, what="frozen from the palette")
        await palette(pilot, "sort by")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SortScreen", what="the list of columns")
        await pilot.press("j", "enter")  # id, then space
        await wait_for(pilot, lambda: app.table.sort_key == "space", what="sorted from the palette")
        await palette(pilot, "prune")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", what="the prune confirmation")
        await pilot.press("n")


async def test_palette_leaves_out_steering_when_read_only(tmp_path):
    app = frozen(tmp_path, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Filter the table" in titles and "Prune the cursor's or the tagged variants" not in titles


async def test_tab_completes_in_the_command_line(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("colon", *"pri")
        await wait_for(pilot, lambda: app.cmdline._suggestion == "prio ", what="a suggestion")
        await pilot.press("tab")
        assert app.cmdline.value == "prio " and app.cmdline.has_focus  # the space: ready for the variant
        await pilot.press(*"v1")
        await wait_for(pilot, lambda: app.cmdline._suggestion == "prio v1 ", what="a variant suggestion")
        await pilot.press("escape")
        assert not app.cmdline.display and app.table.has_focus
        # The / line filters: a word there is no command, nothing to complete (it suggested `prio`)
        await pilot.press("slash", *"pri")
        await wait_for(pilot, lambda: app.table.filter_text == "pri", what="the filter")
        await pilot.pause(0.2)
        assert app.cmdline._suggestion == ""
        await pilot.press("escape", "colon", *"pri")  # and the : line completes again
        await wait_for(pilot, lambda: app.cmdline._suggestion == "prio ", what="a suggestion again")


async def test_ctrl_q_quits_the_viewer_with_the_runs_state(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("ctrl+q")
    assert app.return_value == "paused"


async def test_header_hints_and_restart_of_an_interrupted_run(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: "[paused: p resumes]" in str(app.status_bar.render()), what="paused hint")
        assert app.check_action("resume_engine", ()) is False
        # The engine was stopped cleanly (SIGTERM): the run is interrupted, its last beat is old.
        with open_kb(app.db, create=False) as kb:
            kbr.beat(kb, app.run_id, pid=2**22 + 1, started=T0)  # no such process
        with sqlite3.connect(app.db) as conn:
            conn.execute("UPDATE runs SET status='interrupted', paused=0")
        await wait_for(pilot, lambda: "[interrupted: R resumes]" in str(app.status_bar.render()),
                       what="interrupted hint")
        assert app.summary.engine == "exited"
        assert app.check_action("resume_engine", ()) is True


def type_ahead(app: XxpApp, text: str) -> None:
    """Keys that arrive together (a paste, a fast typist, one packet over SSH): all posted before
    the app handles the first, unlike Pilot's press, which waits for each."""
    from textual import events

    names = {":": "colon", "/": "slash", " ": "space"}
    for char in text:
        app.post_message(events.Key(names.get(char, char), char))


async def test_keys_typed_right_after_colon_or_slash_reach_the_line(tmp_path):
    """They reached the table, whose keys act (`s` opened the sort list, `p` paused the run)."""
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        type_ahead(app, "/sj")
        await wait_for(pilot, lambda: app.table.filter_text == "sj", what="the filter typed ahead")
        assert app.screen is app.screen_stack[0]  # `s` opened no sort list
        await pilot.press("escape")
        type_ahead(app, ":sort")
        await wait_for(pilot, lambda: app.cmdline.value == "sort", what="the command typed ahead")
        assert app.cmdline.has_focus and app.screen is app.screen_stack[0]
        await pilot.press("escape")
        type_ahead(app, "/lr:0/x")  # inside the line, : and / are text
        await wait_for(pilot, lambda: app.table.filter_text == "lr:0/x", what="a filter with : and /")
        assert app.cmdline_mode == "/"
