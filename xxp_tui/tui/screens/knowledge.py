"""The knowledge screen (`K`): what this run reused and what the knowledge base has learnt about
its workflows — best configurations across every run, parameter importance per space, cache hits,
warm starts, what was transferred from related spaces (and a proposed search space), notes.
Computed in a worker thread on its own read-only connection (importance fits a small fANOVA
model), so the viewer never stalls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static
from textual.worker import get_current_worker

from xxp_tui.tui.screens.modals import MODAL_CSS


@dataclass
class SpaceFacts:
    name: str
    workflow: str | None
    objective: str | None
    direction: str
    best: float | None
    origins: dict[str, int]
    importance: dict[str, float] | None
    importance_note: str | None


@dataclass
class KnowledgeReport:
    run: str
    cache_hits: int
    task_runs: int
    spaces: list[SpaceFacts] = field(default_factory=list)
    best: dict[str, list[tuple[str, str, float, str]]] = field(default_factory=dict)  # workflow -> rows
    transfer: list[str] = field(default_factory=list)  # what the engine transferred from related spaces, and why
    notes: list[str] = field(default_factory=list)


def knowledge_report(db: Path, run_id: int, top: int = 5, with_importance: bool = True) -> KnowledgeReport:
    """Everything the screen shows, read from the KB (no writes). Without `with_importance` it answers
    at once (importance fits a model: seconds), so the screen shows the rest first."""
    from xxp_tui.engine.studies import StudyError, best, importance, space_info
    from xxp_tui.kb import cache as kbcache
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import notes as kbn
    from xxp_tui.kb import open_kb
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv

    with open_kb(db, create=False, readonly=True) as kb:
        run = kbr.get_run(kb, run_id)
        hits, total = kbcache.run_stats(kb, run_id)
        report = KnowledgeReport(run.label, hits, total)
        info = space_info(kbr.spec_record(kb, run_id)[2], run.experiment)
        for name, meta in info.items():
            variants = kbv.for_run(kb, run_id, space=name)
            values = [v.objective for v in variants  # this run's own results, not warm-start copies
                      if v.status == "completed" and v.objective is not None and v.origin != "warm_start"]
            chosen = (min(values) if meta["direction"] == "minimize" else max(values)) if values else None
            origins: dict[str, int] = {}
            for v in variants:
                origins[v.origin] = origins.get(v.origin, 0) + 1
            note: str | None
            scores, note = None, "computing…"
            if with_importance:
                try:
                    scores, note = importance(kb, run_id, name), None
                except StudyError as exc:
                    scores, note = None, str(exc)
            report.spaces.append(SpaceFacts(name, meta["workflow"], meta["objective"], meta["direction"], chosen,
                                            origins, scores, note))
        for workflow in dict.fromkeys(m["workflow"] for m in info.values() if m["workflow"]):
            report.best[workflow] = [
                (b.variant.label, b.run.label, b.value, " ".join(f"{k.split('.')[-1]}={_fmt(v)}"
                                                                  for k, v in b.variant.params.items()))
                for b in best(kb, workflow, top=top)]
        report.transfer = [e.detail.get("text", "") for e in kbc.events(kb, run_id, limit=100_000)
                           if e.kind == "transfer"]
        report.notes = [f"{n.target} {n.author}: {n.text}" + (f" [{', '.join(n.tags)}]" if n.tags else "")
                        for n in kbn.for_run(kb, run_id)]
    return report


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def render(report: KnowledgeReport) -> Group:
    parts: list = []
    share = f"{report.cache_hits}/{report.task_runs}" if report.task_runs else "0"
    parts.append(Text.assemble(("This run ", "bold"), (report.run, "bold"),
                               f": {share} task executions reused from the cache"))
    spaces = Table(box=None, padding=(0, 1), header_style="bold")
    for col in ("space", "objective", "best", "variants by origin"):
        spaces.add_column(col)
    for s in report.spaces:
        origins = " ".join(f"{n} {o.replace('_', ' ')}" for o, n in s.origins.items()) or "-"
        objective = f"{s.direction[:3]} {s.objective}" if s.objective and s.objective != "-" else "-"
        spaces.add_row(s.name, objective, _fmt(s.best) if s.best is not None else "-", origins)
    parts += [spaces, Text("")]
    for workflow, rows in report.best.items():
        parts.append(Text(f"Best of {workflow} across every run", style="bold"))
        table = Table(box=None, padding=(0, 1), header_style="bold")
        for col in ("variant", "run", "objective", "params"):
            table.add_column(col)
        for variant, run, value, params in rows:
            table.add_row(variant, run, _fmt(value), params)
        parts += [table if rows else Text("  nothing completed yet"), Text("")]
    if report.transfer:  # a proposed search space is shown here for the human to accept
        parts.append(Text("Transfer from related spaces", style="bold"))
        parts += [Text(f"  {line}") for line in report.transfer]
        parts.append(Text(""))
    if report.notes:
        parts.append(Text("Notes (n adds one)", style="bold"))
        parts += [Text(f"  {line}", style="italic") for line in report.notes]
        parts.append(Text(""))
    for s in report.spaces:
        parts.append(Text(f"Parameter importance in {s.name}", style="bold"))
        if s.importance:
            for param, score in s.importance.items():
                bar = "█" * round(score * 30)
                parts.append(Text(f"  {param:<24.24} {score:5.2f} {bar}"))
        else:
            parts.append(Text(f"  {s.importance_note or 'not available'}", style="dim"))
    return Group(*parts)


class KnowledgeScreen(ModalScreen[None]):
    """Knowledge about the run's workflows, refreshed with `r`."""

    DEFAULT_CSS = MODAL_CSS + """
    KnowledgeScreen .dialog { width: 110; }
    KnowledgeScreen VerticalScroll { height: auto; max-height: 80vh; }
    """
    BINDINGS = [
        Binding("escape,q,K", "close", "Close", id="xxp.knowledge.close"),
        Binding("r", "refresh_report", "Refresh", id="xxp.knowledge.refresh"),
    ]

    def __init__(self, db: Path, run_id: int) -> None:
        super().__init__()
        self.db = db
        self.run_id = run_id
        self.report: KnowledgeReport | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Knowledge (r refreshes, Escape closes)", classes="title")
            with VerticalScroll():
                yield Static("Reading the knowledge base…", id="knowledge-body")

    def on_mount(self) -> None:
        self.action_refresh_report()

    def action_refresh_report(self) -> None:
        self.load()

    @work(thread=True, exclusive=True)
    def load(self) -> None:
        for with_importance in (False, True):  # what is quick first; importance (seconds) after
            try:
                report = knowledge_report(self.db, self.run_id, with_importance=with_importance)
            except Exception as exc:  # a KB problem is shown, never a crash of the viewer
                self.app.call_from_thread(self._show_error, f"cannot read the knowledge base: {exc}")
                return
            if get_current_worker().is_cancelled:  # a newer refresh (r) replaced this one
                return
            self.app.call_from_thread(self._show, report)

    def _show(self, report: KnowledgeReport) -> None:
        self.report = report
        self.query_one("#knowledge-body", Static).update(render(report))

    def _show_error(self, message: str) -> None:
        self.query_one("#knowledge-body", Static).update(Text(message, style="red"))

    def action_close(self) -> None:
        self.dismiss(None)
