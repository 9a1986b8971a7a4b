"""The chart on the whole screen (C): at 80×24 the bottom pane leaves a chart a few rows, too few
to read its axes. Same data and keys as the pane (c: next chart, x: next parameter), refreshed each
second from the app; Esc, q or C goes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from xxp_tui.tui.widgets.charts import ChartPane

if TYPE_CHECKING:
    from xxp_tui.tui.app import XxpApp


class ChartScreen(Screen[None]):
    BINDINGS = [
        Binding("escape,q,C", "close", "Back", id="xxp.chart.close"),
        Binding("c", "next_chart", "Next chart", id="xxp.chart.next"),
        Binding("x", "next_param", "Next param", id="xxp.chart.full.param"),
    ]

    def __init__(self, pane: ChartPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield ChartPane(id="full-chart")
        yield Footer()

    def on_mount(self) -> None:
        chart = self.query_one(ChartPane)
        chart.mode, chart.param_index, chart.maximize = self.pane.mode, self.pane.param_index, self.pane.maximize
        chart.line_marker, chart.ascii = self.pane.line_marker, self.pane.ascii
        chart.set_data(**self.pane._data)
        self.refresh_data()
        self.set_interval(1.0, self.refresh_data)

    def refresh_data(self) -> None:
        chart = self.query_one(ChartPane)
        chart.set_data(**cast("XxpApp", self.app).chart_data())
        chart.redraw(force=True)

    def action_next_chart(self) -> None:
        self.pane.mode = self.query_one(ChartPane).next_mode()  # the pane keeps the choice

    def action_next_param(self) -> None:
        self.query_one(ChartPane).next_param()

    def action_close(self) -> None:
        self.dismiss(None)
