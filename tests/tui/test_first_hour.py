"""What a new user meets in the first hour, at 80×24 (issue 11): numbers never cut, the id column
stays put when the table scrolls sideways, the tree can widen, charts with room and integer ticks,
one notice per action, keys that say what they do, states that do not mislead, and terminals with 16
colours, no UTF-8 or NO_COLOR."""

from __future__ import annotations

import re

from textual.app import App, ComposeResult

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
