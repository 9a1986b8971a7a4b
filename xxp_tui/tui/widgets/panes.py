"""The small panes around the table: the status bar, variant details, the log tail, the events."""

from __future__ import annotations

import time

from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.geometry import Size
from textual.widgets import Log, Static

from xxp_tui.kb.cost import hours
from xxp_tui.kb.queries import RunSummary
from xxp_tui.tui.server_status import cost_text, gpu_text
from xxp_tui.tui.source import VariantDetail
from xxp_tui.tui.widgets.variant_table import STATUS_STYLES, _duration, _fmt

ENGINE_STYLES = {"alive": "green", "exited": "bright_black", "dead": "bold red", "not started": "yellow"}
# States that wait for the human, with the key that moves them on.
STATE_HINTS = {"paused": "paused: p resumes", "waiting_input": "waiting for you: a answers",
               "interrupted": "interrupted: R resumes"}


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


class StatusBar(Static):
    """Run, experiment, engine state (with how to recover), counts, throughput, elapsed and ETA."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $text; padding: 0 1; }
    """
    _shown: Text | None = None

    _last: tuple | None = None
    filter_note = ""  # "filter label:b: 6 of 12": a filter on is always in sight (the counts are the run's)
    gpu_samples: dict = {}  # GPU id -> NVML sample (tui/server_status.py), set by the app with each poll

    def on_resize(self) -> None:
        if self._last is not None:  # what fits depends on the width
            self.show(*self._last)

    def show(self, summary: RunSummary, throughput: float | None, remaining: int | None,
             read_only: bool = False, frozen: bool = False, now: float | None = None) -> None:
        self._last = (summary, throughput, remaining, read_only, frozen, now)
        run = summary.run
        engine = summary.engine
        # (text, style, rank): when the line is wider than the bar, the highest ranks go first, so
        # an 80-column terminal keeps the state, the counts and the ETA.
        pieces: list[tuple[str, Style | str, int]] = [(f"{run.label} ", "bold", 0), (f"{run.experiment} ", "", 5)]
        status = run.status
        if engine == "dead":
            how = "xxp-tui resume" if read_only else "press R"
            pieces.append((f"engine dead: {how} to resume ", ENGINE_STYLES["dead"], 0))
        elif status in STATE_HINTS and not read_only and not (status == "interrupted" and engine == "alive"):
            pieces.append((f"[{STATE_HINTS[status]}] ", "bold yellow", 0))
        else:
            pieces.append((f"[{status}] ", "bold yellow" if status in STATE_HINTS else "bold", 0))
        c = summary.counts
        for key, label, rank in (("running", "run", 1), ("waiting_input", "wait", 0), ("suspended", "held", 0),
                                 ("queued", "queue", 1),
                                 ("completed", "done", 1), ("failed", "fail", 0), ("pruned", "pruned", 4)):
            if c.get(key):
                pieces.append((f"{label} {c[key]} ", STATUS_STYLES.get(key, ""), rank))
        start = run.started or run.created
        end = run.ended if run.finished or run.status == "interrupted" else None
        elapsed = (end or now or time.time()) - start if start else None
        pieces.append((f"{_clock(elapsed)} ", "dim", 3))
        if throughput:
            pieces.append((f"{throughput:.1f}/min ", "dim", 6))
            if remaining:
                pieces.append((f"ETA {_clock(remaining / throughput * 60)} ", "dim", 2))
        pieces.append((f"{run.workers} worker{'s' if run.workers != 1 else ''} ", "dim", 4))
        if self.filter_note:
            pieces.append((f"{self.filter_note} ", "bold cyan", 0))
        if run.executor != "local":  # e.g. "dask tcp://10.0.0.5:8786, 4 workers" (live workers)
            pieces.append((f"{summary.executor_label} ", "dim", 7))
        gpus = gpu_text(summary.gpu_pool, summary.gpus_busy, self.gpu_samples)
        if gpus:
            pieces.append((f"{gpus} ", "", 5))
        cost = cost_text(summary)
        if cost:
            pieces.append((f"{cost} ", "dim", 8))
        if read_only:
            pieces.append(("READ-ONLY ", "bold magenta", 0))
        if frozen:
            pieces.append(("FROZEN (Z) ", "bold magenta", 0))
        room = self.size.width - 2 if self.size.width else None  # padding 0 1
        while room and sum(len(t) for t, _, _ in pieces) > room and any(r for _, _, r in pieces):
            worst = max(r for _, _, r in pieces)
            pieces = [p for p in pieces if p[2] != worst]
        parts = Text()
        for text, style, _ in pieces:
            parts.append(text, style=style)
        if parts != self._shown:
            self._shown = parts
            self.update(parts, layout=False)  # one line, always: no layout pass needed


def task_usage(t) -> str:
    """`cpu 1.2s · 104 MB · GPU 0`: what one task run used (a cache hit: what its reuse saved)."""
    parts = []
    if t.cpu_seconds is not None:
        parts.append(f"cpu {t.cpu_seconds:.1f}s")
    if t.peak_rss_bytes:
        parts.append(f"{t.peak_rss_bytes / 2**20:.0f} MB")
    if t.gpus:
        parts.append(f"GPU {t.gpus}")
    if t.stalled is not None:
        parts.append("stalled")
    return " · ".join(parts)


def variant_cost(tasks) -> str:
    """`cost: CPU 0.0012 h · GPU 0.0003 h (reuse saved CPU …)`: the variant's task runs summed."""
    spent = [t for t in tasks if not t.cache_hit]
    saved = [t for t in tasks if t.cache_hit]
    text = (f"cost: CPU {hours(sum(t.cpu_seconds or 0 for t in spent))} · "
            f"GPU {hours(sum(t.gpu_seconds or 0 for t in spent))}")
    if saved:
        text += (f" (reuse saved CPU {hours(sum(t.cpu_seconds or 0 for t in saved))} · "
                 f"GPU {hours(sum(t.gpu_seconds or 0 for t in saved))})")
    return text


class DetailsPane(Static):
    """Params, metrics, task executions and the events that touched the selected variant."""

    DEFAULT_CSS = """
    DetailsPane { padding: 0 1; height: auto; }
    """

    _shown: VariantDetail | bool | None = False  # False: nothing shown yet

    def show(self, detail: VariantDetail | None) -> None:
        if detail == self._shown:
            return  # the poller re-sends the selected variant after every change in the run
        self._shown = detail
        if detail is None:
            self._update(Text("No variant selected.", style="dim"))
            return
        row = detail.row
        head = Text()
        head.append(f"{row['id']} ", style="bold")
        head.append(f"{row['space']} ")
        head.append(row["status"], style=STATUS_STYLES.get(row["status"], ""))
        if row.get("stalled"):
            head.append(" STALLED", style="bold red")
        head.append(f"  origin {row['origin']}  priority {row['priority']}  seed {row['seed']}")
        if row["duration"] is not None:
            head.append(f"  {_duration(row['duration'])}")
        lines = [head]
        if row["reason"]:
            lines.append(Text(f"reason: {row['reason']}", style="red" if row["status"] == "failed" else "yellow"))
        if row["params"]:
            lines.append(Text("params: " + "  ".join(f"{k}={_fmt(v)}" for k, v in row["params"].items())))
        if row["metrics"]:
            lines.append(Text("metrics: " + "  ".join(f"{k}={_fmt(v)}" for k, v in row["metrics"].items())))
        table = Table.grid(padding=(0, 2))
        costed = any(t.cpu_seconds is not None or t.gpus for t in detail.tasks)
        for _ in range(7 if costed else 6):
            table.add_column()
        for t in detail.tasks:
            outcome = f"exit {t.exit_code}" if t.exit_code is not None else (f"signal {t.signal}" if t.signal else "")
            table.add_row(t.task, f"#{t.attempt}", Text(t.status, style=STATUS_STYLES.get(
                "completed" if t.status in ("completed", "cached") else t.status, "")), outcome,
                _duration(t.duration), "cache hit" if t.cache_hit else "", *([task_usage(t)] if costed else []))
        if costed:
            lines.append(Text(variant_cost(detail.tasks), style="dim"))
        from rich.console import Group

        parts: list = [*lines]
        if detail.tasks:
            parts.append(table)
        for n in detail.notes[-5:]:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(n.time))
            tags = f" [{', '.join(n.tags)}]" if n.tags else ""
            parts.append(Text(f"note {when} {n.author}{tags}: {n.text}", style="italic"))
        for e in detail.events:  # warnings stay in sight (an output a task did not write…), however old
            if e.kind == "warning":
                parts.append(Text(f"warning: {e.detail.get('text') or ''}", style="yellow"))
        for e in [e for e in detail.events if e.kind != "warning"][-5:]:
            when = time.strftime("%H:%M:%S", time.localtime(e.time))
            text = e.detail.get("outcome") or e.detail.get("text") or e.kind
            parts.append(Text(f"{when} {e.actor}: {text}", style="dim"))
        self._update(Group(*parts))

    def _update(self, content) -> None:
        """Show `content`, laying the screen out again only when its height changed: every cursor
        move shows another variant, and a layout pass redraws much of the screen (at 100,000
        variants it took tens of milliseconds from the next key press)."""
        width, height = self.content_size
        self.update(content, layout=False)
        if not width or self.get_content_height(Size(0, 0), Size(0, 0), width) != height:
            self.refresh(layout=True)


class LogPane(Log):
    """Tail of the selected variant's current task output; follows while the task runs."""

    DEFAULT_CSS = """
    LogPane { background: $surface; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=2000, id=id, auto_scroll=True)
        self.source: tuple[str | None, str | None] = (None, None)
        self.offsets: dict[str, int] = {}


class EventsPane(Log):
    """Human actions and engine events, newest last."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(max_lines=3000, id=id, auto_scroll=True)
