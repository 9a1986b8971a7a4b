"""The designer's host app: one screen, the designer; it ends with what to do next (run or not)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from xxp_tui.tui.screens.design import DesignScreen


class DesignApp(App[object]):
    TITLE = "xxp-tui design"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.screen_ref: DesignScreen | None = None

    def on_mount(self) -> None:
        self.screen_ref = DesignScreen(self.path)
        self.push_screen(self.screen_ref, callback=self.exit)
