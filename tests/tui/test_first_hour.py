"""What a new user meets in the first hour, at 80×24 (issue 11): numbers never cut, the id column
stays put when the table scrolls sideways, the tree can widen, charts with room and integer ticks,
one notice per action, keys that say what they do, states that do not mislead, and terminals with 16
colours, no UTF-8 or NO_COLOR."""

from __future__ import annotations

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
