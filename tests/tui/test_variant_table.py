"""The table's order stays right when rows change one by one: the incremental re-sort (a binary
search per changed row) must give exactly what a full sort gives, for every column and direction,
with missing values, mixed types and ties; and the filter must not lose the sort."""

from __future__ import annotations

import random

import pytest
from textual.app import App, ComposeResult

from xxp_tui.tui.widgets.variant_table import VariantTable

STATUSES = ["queued", "running", "completed", "failed", "pruned"]


def row(rng: random.Random, vid: int) -> dict:
    return {
        "id": f"v{vid}", "space": rng.choice(["Grid", "Tune"]), "status": rng.choice(STATUSES),
        "params": {"T.lr": rng.choice([None, 1, 2, 0.5, 0.25])} if rng.random() < 0.9 else {},
        "metrics": {"loss": rng.random()} if rng.random() < 0.5 else {},
        "priority": rng.randint(-2, 2), "origin": "strategy", "reason": None,
        "objective": rng.choice([None, rng.random(), 1.0]), "seed": 0, "iteration": 1,
        "started": None, "ended": None, "duration": None,
    }


class TableApp(App):
    def compose(self) -> ComposeResult:
        yield VariantTable()


@pytest.mark.parametrize("key", ["id", "status", "objective", "priority", "p:T.lr", "m:loss", "space"])
async def test_incremental_resort_matches_a_full_sort(key):
    rng = random.Random(key)
    app = TableApp()
    async with app.run_test(size=(100, 20)):
        table = app.query_one(VariantTable)
        table.upsert([row(rng, i) for i in range(1, 300)])
        for reverse in (False, True):
            table.set_sort(key, reverse)
            for step in range(150):
                if step == 75:
                    table.set_filter("grid")
                table.upsert([row(rng, rng.randint(1, 330)) for _ in range(rng.randint(1, 10))])
                shown = list(table.order)
                table._rebuild_order(resort=True)
                assert shown == table.order, (key, reverse, step)
            table.set_filter("")
            assert len(table.order) == len(table.rows)


class FrameApp(TableApp):
    """Keeps the text of every frame Textual hands to the terminal driver (headless skips that)."""

    def __init__(self) -> None:
        super().__init__()
        self.frames: list[str] = []

    def _display(self, screen, renderable) -> None:
        from textual._compositor import CompositorUpdate

        if isinstance(renderable, CompositorUpdate):
            self.frames.append(renderable.render_segments(self.console))
        super()._display(screen, renderable)


async def test_a_scrolled_table_repaints_the_rows_that_change():
    """Cursor moves and row updates repaint their lines when the table is scrolled down too (a
    line's refresh region is in virtual coordinates: passing the screen line repainted nothing)."""
    rng = random.Random(3)
    app = FrameApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(VariantTable)
        table.upsert([{**row(rng, i), "status": "queued"} for i in range(1, 301)])
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        assert table.cursor_variant == 300 and table.scroll_y > 250
        app.frames.clear()
        await pilot.press("up")
        await pilot.pause()
        assert table.cursor_variant == 299
        assert any("v299" in f for f in app.frames) and any("v300" in f for f in app.frames), app.frames
        app.frames.clear()
        table.upsert([{**table.rows[295].data, "status": "running"}])  # sorted by id: no re-sort
        await pilot.pause()
        assert any("running" in f for f in app.frames), app.frames


FILTERS = ["", "grid", "gr", "status:run", "status:", "lr:0.", "lr:", "t.lr:1", "loss:0", "!grid", "!status:q",
           "grid status:c", "v1", "id:v2", "space:t lr:2", "nothing:x", "queued", "lr", "v", "3", "v3 e", "e",
           "t.lr=0.", "ue", "!v2", "!e", "2", "vv", "1v"]


async def test_the_filter_over_many_rows_matches_the_filter_of_one_row():
    """The filter evaluated over all ids at once (indexes, comprehensions, narrowing while typing)
    shows exactly the rows `make_filter` passes one by one, in the sorted order, as rows change."""
    from xxp_tui.tui.widgets.variant_table import make_filter

    rng = random.Random(19)
    app = TableApp()
    async with app.run_test(size=(100, 20)):
        table = app.query_one(VariantTable)
        table.upsert([row(rng, i) for i in range(1, 400)])
        table.set_sort("p:T.lr", True)
        for step in range(60):
            text = rng.choice(FILTERS)
            typed = ""
            for ch in text:  # typed one character at a time, as a person does
                typed += ch
                table.set_filter(typed)
            if not text:
                table.set_filter("")
            table.upsert([row(rng, rng.randint(1, 420)) for _ in range(rng.randint(0, 6))])
            keep = make_filter(text) if text.strip() else (lambda r: True)
            reference = [v for v in table._base_order() if keep(table.rows[v])]
            assert table.order == reference, (step, text)
            if step % 10 == 9:
                table.set_sort(rng.choice(["id", "status", "objective", "m:loss", "space"]), rng.random() < 0.5)


async def test_the_filter_finds_ids_written_otherwise():
    """A word of the filter is looked for in the id as written (`v007`), not only as `v` and the number."""
    from xxp_tui.tui.widgets.variant_table import make_filter

    rng = random.Random(7)
    app = TableApp()
    async with app.run_test(size=(100, 20)):
        table = app.query_one(VariantTable)
        table.upsert([row(rng, i) for i in range(1, 300)])
        table.upsert([{**row(rng, 7), "id": "v007"}, {**row(rng, 12), "id": "v0012"}])
        for text in ["v0", "00", "v00", "7", "v7", "12", "grid 0", "!00"]:
            table.set_filter(text)
            keep = make_filter(text)
            assert table.order == [v for v in table._base_order() if keep(table.rows[v])], text
        table.set_filter("v00")
        assert table.order == [7, 12]


async def test_moving_the_focus_keeps_the_drawn_lines_and_a_new_theme_drops_them():
    """Cached lines are keyed by focus, so the focus going to an input and back keeps them (each
    `/` and Esc redrew every row); a theme change restyles them."""
    from textual.widgets import Input

    class WithInput(App):
        def compose(self) -> ComposeResult:
            yield VariantTable()
            yield Input()

    rng = random.Random(5)
    app = WithInput()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(VariantTable)
        table.upsert([row(rng, i) for i in range(1, 50)])
        table.focus()
        await pilot.pause()
        focused = {key: table._lines.get(key) for key in list(table._lines.keys()) if key[4]}
        assert focused
        app.query_one(Input).focus()
        await pilot.pause()
        table.focus()
        await pilot.pause()
        assert all(table._lines.get(key) is strip for key, strip in focused.items())
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        assert not any(table._lines.get(key) is strip for key, strip in focused.items())
