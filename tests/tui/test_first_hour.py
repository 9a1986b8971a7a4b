"""What a new user meets in the first hour, at 80×24 (issue 11): numbers never cut, the id column
stays put when the table scrolls sideways, the tree can widen, charts with room and integer ticks,
one notice per action, keys that say what they do, states that do not mislead, and terminals with 16
colours, no UTF-8 or NO_COLOR."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.widgets.variant_table import VariantTable

from .conftest import T0, frozen_kb, wait_for

SIZE = (80, 24)


def row(vid: int, **over) -> dict:
    data = {
        "id": f"v{vid}", "space": "ForestGrid", "status": "completed", "priority": 0, "origin": "strategy",
        "params": {"Train.gamma": 0.001, "Train.C": 123456.789, "Train.kernel": "rbf", "Train.n_estimators": 400},
        "metrics": {"accuracy": 0.987654}, "reason": None, "objective": 0.987654, "seed": 0, "iteration": 1,
        "started": None, "ended": None, "duration": None, "off_grid": False,
    }
    data.update(over)
    return data


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield VariantTable()


def line(table: VariantTable, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_numbers_and_states_are_never_cut_and_the_id_column_stays_put():
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VariantTable)
        table.upsert([row(1), row(2, status="waiting_input", params={"Train.gamma": 1.5e-7}),
                      row(10423, origin="injected", off_grid=True, reason="x" * 80)])
        await pilot.pause()
        shown = {table.columns[0].key: ""}
        for scroll in range(0, table.total_width, 8):  # every part of the table, as → shows it
            table.scroll_to(x=scroll, animate=False)
            await pilot.pause()
            texts = [line(table, y) for y in range(4)]
            assert texts[1].startswith("v1 ") and texts[3].startswith("v10423 "), texts  # the id stays
            shown[scroll] = "\n".join(texts)
        everything = "\n".join(shown.values())
        for value in ("0.001", "1.50e-07", "1.23e+05", "waiting_input", "off-grid", "0.9877", "400"):
            assert value in everything, value
        cut = [t for t in everything.split() if "…" in t]
        assert all(t.strip("x…") == "" for t in cut), cut  # only the free-text reason is cut


def frozen(tmp_path, **kw) -> XxpApp:
    db, run_id = frozen_kb(tmp_path)
    kw.setdefault("clock", lambda: T0 + 125)
    return XxpApp(db, run_id, keymap={}, poll_interval=0.05, **kw)


async def loaded(pilot) -> None:
    app = pilot.app
    await wait_for(pilot, lambda: len(app.table.rows) == 12 and app.project is not None
                   and bool(app.run_tree.node_items), what="rows and tree")


def tree_text(app: XxpApp) -> str:
    tree = app.run_tree
    return "\n".join("".join(s.text for s in tree.render_line(y)) for y in range(tree.size.height))


async def test_the_tree_widens_when_focused_and_takes_j_k_enter(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        tree = app.run_tree
        narrow = tree.outer_size.width
        long_label = "ForestGridWithALongName 4/4"
        await pilot.press("Z")  # freeze: the polls leave the tree's labels alone
        tree.node_items["Grid"].set_label(long_label)  # as a space with a long name shows its progress
        assert long_label not in tree_text(app)
        await pilot.press("t")
        await wait_for(pilot, lambda: tree.outer_size.width > narrow, what="the tree to widen")
        await wait_for(pilot, lambda: long_label in tree_text(app), what="the whole label")
        assert tree.cursor_line == 0
        await pilot.press("j")
        assert tree.cursor_line == 1
        grid = tree.node_items["Grid"]
        assert not grid.is_expanded
        await pilot.press("enter")
        await wait_for(pilot, lambda: grid.is_expanded, what="Enter to open the node")
        await wait_for(pilot, lambda: "S.label = label" in tree_text(app), what="the node's lines, whole")
        await pilot.press("k")
        assert tree.cursor_line == 0
        await pilot.press("escape")
        await wait_for(pilot, lambda: tree.outer_size.width == narrow, what="the tree to give the room back")


class Frames(XxpApp):
    """The viewer, keeping what it sends to the terminal (the headless driver would drop it)."""

    frames: list[str]

    def _display(self, screen, renderable) -> None:
        from textual._compositor import CompositorUpdate

        if isinstance(renderable, CompositorUpdate):
            self.frames.append(renderable.render_segments(self.console))
        super()._display(screen, renderable)


def frames_app(tmp_path, **kw) -> Frames:
    db, run_id = frozen_kb(tmp_path)
    kw.setdefault("clock", lambda: T0 + 125)
    app = Frames(db, run_id, keymap={}, poll_interval=0.05, **kw)
    app.frames = []
    return app


def cursor_styles(app: XxpApp) -> list:
    table = app.table
    y = table.cursor - int(table.scroll_y) + 1
    return [s.style for s in table.render_line(y) if s.text.strip()]


async def test_sixteen_colours_draw_the_cursor_in_reverse_video_not_red(tmp_path, monkeypatch):
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "standard")  # what TERM=xterm or screen gets
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.console.color_system == "standard"
        styles = cursor_styles(app)
        assert styles and all(s.reverse for s in styles)
        assert not any(s.bgcolor and s.bgcolor.name in ("red", "bright_red") for s in styles)
        app.table._style_cache.clear()


async def test_true_colour_keeps_the_themes_cursor(tmp_path, monkeypatch):
    import textual.constants

    monkeypatch.setattr(textual.constants, "COLOR_SYSTEM", "truecolor")
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        styles = cursor_styles(app)
        assert styles and not any(s.reverse for s in styles) and all(s.bgcolor for s in styles)


async def test_no_color_sends_no_colour_at_all(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = frames_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("j")
        await pilot.pause(0.3)
        sent = "".join(app.frames)
        assert "\x1b[7m" in sent or ";7m" in sent or "[7;" in sent  # the cursor row, reverse video
        colours = [m for m in re.findall(r"\x1b\[([0-9;]*)m", sent)  # 39/49: the terminal's own colours
                   if any(p in ("38", "48") or (p.isdigit() and p not in ("39", "49")
                                                and (30 <= int(p) <= 49 or 90 <= int(p) <= 107))
                          for p in m.split(";"))]
        assert colours == [], colours[:5]


async def test_linux_console_and_non_utf8_locales_get_ascii(tmp_path, monkeypatch):
    monkeypatch.setenv("TERM", "linux")
    app = frames_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("c")  # charts: dots, not braille
        await pilot.pause(1.5)
        await pilot.press("t", "j", "enter")  # the tree open: ASCII guides
        await pilot.pause(0.5)
        sent = "".join(app.frames)
        assert not [c for c in sent if 0x2800 <= ord(c) <= 0x28FF], "braille on a console that cannot draw it"
        drawn = {c for c in sent if ord(c) > 127}
        assert drawn <= set(), sorted(drawn)


def test_a_latin1_locale_is_not_utf8():
    from xxp_tui.tui.terminal import ascii_only

    assert ascii_only({"LANG": "de_DE.ISO-8859-1", "TERM": "xterm-256color"})
    assert ascii_only({"LC_ALL": "C", "LANG": "en_US.UTF-8"})
    assert not ascii_only({"LANG": "en_US.UTF-8", "TERM": "xterm-256color"})
    assert ascii_only({"LANG": "en_US.UTF-8", "TERM": "linux"})


async def test_low_bandwidth_sends_nothing_while_the_run_does_not_change(tmp_path):
    import time

    for low, expected in ((False, "some"), (True, "none")):
        app = frames_app(tmp_path / str(low), clock=time.time, low_bandwidth=low)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.pause(1.0)
            app.frames.clear()
            await pilot.pause(3.2)  # a frozen run: only the clock could change
            assert (len(app.frames) > 0) == (expected == "some"), (low, len(app.frames))
        assert app.chart.line_marker == ("dot" if low else "braille")


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


def status_text(app) -> str:
    return str(app.status_bar.render())


# ------------------------------------------------------------------------------------------------ keys


async def test_enter_shows_the_details_and_never_hides_them(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.bottom.display and app.switcher.current == "details"
        await pilot.press("enter")
        assert app.bottom.display and app.switcher.current == "details"
        await pilot.press("l", "enter")
        assert app.bottom.display and app.switcher.current == "details"


async def test_the_first_f_turns_follow_on(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        assert app.table.follow is False
        await pilot.press("F")
        assert app.table.follow is True and "follow on" in notices(app)[-1]


async def test_tab_completion_leaves_a_space_before_the_next_word(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("colon", "g", "o")
        await wait_for(pilot, lambda: app.cmdline._suggestion == "goto ", what="the suggestion")
        await pilot.press("tab", "v", "3")
        assert app.cmdline.value == "goto v3"
        await pilot.press("enter")
        assert app.table.cursor_variant == 3


async def test_steering_keys_on_a_finished_run_say_why_nothing_happens(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        with open_kb(app.db) as kb:
            kbr.set_status(kb, app.run_id, "completed")
        await wait_for(pilot, lambda: app.summary.run.status == "completed", what="the run completed")
        for key in ("d", "i", "a", "p", "right_square_bracket"):
            before = len(notices(app))
            await pilot.press(key)
            await wait_for(pilot, lambda before=before: len(notices(app)) > before, what=f"a word for {key}")
            assert notices(app)[-1] == "r1 is completed: it takes no more commands", key
            assert type(app.screen).__name__ == "Screen" or app.screen is app.screen_stack[0]


async def test_help_lists_every_key_readme_names(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "HelpScreen", what="help")
        keys = {part.split(" ")[0] for row in app.screen.rows for part in row[0].split(", ")}
        for key in ("j", "k", "g", "G", "q", "ctrl+p", "tab", "⏎", "space", "/", ":", "?", "x", "c", "C", "l",
                    "e", "s", "I", "i", "d", "a", "p", "t", "Z", "K", "F", "R", "X", "]", "[", "+", "-", "end"):
            assert key in keys, (key, sorted(keys))


async def test_end_reaches_the_last_row():
    app = TableApp()
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VariantTable)
        table.upsert([row(i) for i in range(1, 301)])
        table.focus()
        await wait_for(pilot, lambda: table.has_focus and line(table, 1).startswith("v1 "), what="the rows on screen")
        await pilot.press("end")
        await wait_for(pilot, lambda: table.cursor_variant == 300, what="the cursor on the last row")
        await wait_for(pilot, lambda: line(table, table.size.height - 1).startswith("v300 "),
                       what=f"v300 on the last line (it reads {line(table, table.size.height - 1)!r})")


async def test_s_then_a_letter_sorts_by_that_column(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("s")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "SortScreen", what="the columns")
        await pilot.press("o", "enter")  # objective, then origin: the first o is the objective
        await wait_for(pilot, lambda: app.table.sort_key == "objective", what="sorted by the objective")
        assert app.table.sort_reverse is True  # a number: best first


async def test_the_header_says_workers_and_shows_a_filter(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=(100, 24)) as pilot:  # at 80 columns the workers give way to the ETA
        await loaded(pilot)
        assert "2 workers" in status_text(app) and " w2 " not in status_text(app)
        await pilot.press("slash", *"label:b", "enter")
        await wait_for(pilot, lambda: "filter label:b: 6 of 12" in status_text(app), what="the filter in sight")
        await pilot.press("slash", *["backspace"] * 7, "enter")
        await wait_for(pilot, lambda: "filter" not in status_text(app), what="the filter gone")


# ------------------------------------------------------------------------------------------------ notices


async def test_one_notice_per_action_placed_below_the_table(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await loaded(pilot)
        await pilot.press("G")  # v12, queued
        await pilot.press("space", "k", "k", "k", "space")  # and v9, queued: two tagged
        assert app.table.tagged == {12, 9}
        before = len(notices(app))
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: len(notices(app)) > before, what="the notice")
        await pilot.pause(1.0)
        assert len(notices(app)) == before + 1, notices(app)
        toasts = list(app.screen.query("Toast"))
        assert len(toasts) == 1
        assert toasts[0].region.y >= app.table.region.bottom, (toasts[0].region, app.table.region)


# ------------------------------------------------------------------------------------------------ charts


def test_integer_axes_get_integer_ticks_and_legends_get_room():
    from xxp_tui.tui.widgets.charts import headroom, integer_ticks

    assert integer_ticks([1.0, 2.0, 3.0, 4.0], 80) == [1, 2, 3, 4]
    assert integer_ticks([1.0, 2.5], 80) is None
    ticks = integer_ticks([float(i) for i in range(1, 201)], 80)
    assert ticks[0] == 1 and all(isinstance(t, int) for t in ticks) and len(ticks) <= 10
    lo, hi = headroom([0.0, 1.0], lines=2)
    assert lo < 0.0 and hi >= 1.35  # the legend's lines sit above the highest point


async def test_c_shows_the_chart_on_the_whole_screen_with_integer_ticks(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("C")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ChartScreen", what="the full chart")
        chart = app.screen.query_one("ChartPane")
        await pilot.pause(0.5)
        assert chart.size.height >= 20 and chart.size.width == 80
        text = str(chart.render().plain)
        assert "objective per variant" in text
        assert not re.search(r"\b\d\.5\b", text.splitlines()[-2]), text.splitlines()[-2]  # no 2.5 on the x axis
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is app.screen_stack[0], what="back")


# ------------------------------------------------------------------------------------------------ states


async def test_states_after_stop_and_while_paused(tmp_path):
    app = frozen(tmp_path)
    with open_kb(app.db) as kb:  # the frozen run is paused; v9 is between its two tasks
        kbv.update(kb, 9, status="running", started=T0 + 20)
        kbv.insert_task_run(kb, variant_id=9, task="S", attempt=1, status="completed", argv=["x"], exit_code=0,
                            started=T0 + 20, ended=T0 + 21, stdout_path=None, stderr_path=None, cache_hit=0)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await wait_for(pilot, lambda: app.table.rows[9].data.get("between_tasks"), what="v9 between tasks")
        y = app.table.position[9] + 1
        assert " paused " in line(app.table, y)
        assert app.table.rows[9].data["duration"] == 1.0  # its clock stopped at its task's end
        assert "‖ Grid" in tree_text(app)  # a paused run's running node
        with open_kb(app.db) as kb:
            kbr.set_status(kb, app.run_id, "stopped")
        await wait_for(pilot, lambda: "■ Grid" in tree_text(app), what="the tree after X")
        assert "●" not in tree_text(app)


async def test_eta_counts_the_nodes_ahead(tmp_path):
    app = frozen(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        app.completion_times = [T0 + 125 - 10 * i for i in range(6)]
        app.tick_status()
        eta_with_review = status_text(app)
        assert app._node_size("Review") == 1 and app._node_size("Grid") == 12
        assert "ETA" in eta_with_review
