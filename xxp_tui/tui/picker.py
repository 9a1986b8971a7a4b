"""The run picker: `xxp-tui` with no arguments lists the knowledge base's runs to open one."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option

from xxp_tui.kb.queries import RunSummary


class RunPicker(App[int]):
    """Enter opens the highlighted run (the app returns its id); q or Escape leaves."""

    BINDINGS = [("q,escape", "quit", "Quit")]

    def __init__(self, db: Path, summaries: list[RunSummary]) -> None:
        super().__init__()
        self.db = db
        self.summaries = summaries

    def compose(self) -> ComposeResult:
        yield Label(f"Runs in {self.db} (Enter opens one)")
        options = []
        for s in reversed(self.summaries):
            counts = " ".join(f"{n} {st}" for st, n in s.counts.items() if n)
            options.append(Option(f"{s.run.label:>5}  {s.run.experiment:<20} {s.run.status:<13} "
                                  f"engine {s.engine:<8} {counts}", id=str(s.run.id)))
        yield OptionList(*options)
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None  # every option is made with its run's id
        self.exit(int(event.option.id))
