"""What the TUI shows, read from the knowledge base: no Textual here, so it is testable alone.

`RunSource.poll()` runs on a worker thread with its own read-only connection. It asks SQLite
whether anything changed (`PRAGMA data_version`, which moves only when another connection
commits) and then reads only what changed: variants whose revision grew, events after the last
one seen. A viewer therefore costs the engine nothing and never holds a write lock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import notes as kbn
from xxp_tui.kb import objectives as kbo
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import spec_versions as kbsv
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.queries import RunSummary, metric_dict, run_summary, variant_row
from xxp_tui.tui.server_status import GpuSampler

QUIET_REFRESH = 1.0  # even with no change, refresh liveness this often
SLICE = 2000  # variants read per poll: a big run arrives in slices, the first screen after the first
COST_EVERY = 5.0  # the run's cost sums every task run: not at every poll


@dataclass
class Delta:
    summary: RunSummary
    nodes: dict[str, kbr.NodeState]
    variants: list[dict]  # rows as in kb.queries.variant_rows, only those that changed
    events: list[kbc.Event]
    first: bool = False
    polled_at: float = field(default_factory=time.time)
    spec_version: int = 1  # the run's current spec version (amendments add versions)
    objectives: dict = field(default_factory=dict)  # space -> its declared objectives (kb/objectives.py)
    gpu_samples: dict = field(default_factory=dict)  # GPU id -> NVML sample, for the run's busy GPUs


@dataclass
class VariantDetail:
    row: dict
    tasks: list[kbv.TaskRun]
    events: list[kbc.Event]
    series: dict[str, list[tuple[int, float]]]  # metric -> [(step, value)]
    notes: list[kbn.Note] = field(default_factory=list)


class RunSource:
    def __init__(self, db: Path, run_id: int) -> None:
        self.db = Path(db)
        self.run_id = run_id
        self.kb = open_kb(self.db, create=False, readonly=True)
        self.rev = 0
        self.event_id = 0
        self.version: int | None = None
        self.last_poll = 0.0
        self.running: set[int] = set()  # their metrics grow without a revision bump
        self.more = False  # the last poll stopped at SLICE rows: poll again at once
        self.objectives: dict[str, list[kbo.Objective]] = kbo.for_run(self.kb, run_id)  # space -> declared
        self.cost: RunSummary | None = None  # the last summary with the cost sums, and when it was read
        self.cost_at = 0.0
        self.gpus = GpuSampler()

    def close(self) -> None:
        self.kb.close()

    def poll(self, force: bool = False) -> Delta | None:
        """The changes since the last poll, or None when nothing changed."""
        version = self.kb.data_version()
        now = time.time()
        if not (force or self.more) and version == self.version and now - self.last_poll < QUIET_REFRESH:
            return None
        first = self.version is None
        self.version, self.last_poll = version, now
        changed = kbv.changed_since(self.kb, self.run_id, self.rev, limit=SLICE)
        self.more = len(changed) == SLICE
        if changed:
            self.rev = max(v.rev for v in changed)
        for v in changed:
            (self.running.add if v.status == "running" else self.running.discard)(v.id)
        changed_ids = {v.id for v in changed}
        also = [kbv.find(self.kb, vid) for vid in sorted(self.running - changed_ids)[:500]]
        changed += [v for v in also if v is not None]
        finals = kbv.final_metrics(self.kb, [v.id for v in changed])
        rows = [self._row(v, finals[v.id]) for v in changed]
        summary = self._summary(now)
        if summary.run.paused:
            self._mark_between_tasks(rows)
        events = kbc.events(self.kb, self.run_id, after_id=self.event_id, limit=2000)
        if events:
            self.event_id = events[-1].id
        return Delta(summary, kbr.nodes(self.kb, self.run_id), rows, events, first,
                     spec_version=kbsv.current_number(self.kb, self.run_id), objectives=self.objectives,
                     gpu_samples=self.gpus.read(summary.gpu_pool))

    def _row(self, v: kbv.Variant, finals: dict) -> dict:
        """A table row, with every objective's value (declared order) for the Pareto marks and chart."""
        row = variant_row(v, metric_dict(finals))
        row["objectives"] = kbo.values(self.objectives.get(v.space, []), finals)
        return row

    def _summary(self, now: float) -> RunSummary:
        if self.cost is None or now - self.cost_at >= COST_EVERY:
            self.cost, self.cost_at = run_summary(self.kb, self.run_id), now
            return self.cost
        light = run_summary(self.kb, self.run_id, cost=False)
        return replace(light, cost=self.cost.cost, gpus=self.cost.gpus)

    def _mark_between_tasks(self, rows: list[dict]) -> None:
        """While the run is paused, a `running` variant whose task finished and whose next task waits
        for the resume is shown `paused`, its clock stopped at its last task's end."""
        running = [r for r in rows if r["status"] == "running"]
        activity = kbv.task_activity(self.kb, [int(r["id"][1:]) for r in running])
        for r in running:
            working, last_end = activity.get(int(r["id"][1:]), (0, None))
            if not working:
                r["between_tasks"] = True
                if r["started"] is not None:
                    r["duration"] = (last_end or r["started"]) - r["started"]

    def detail(self, variant_id: int) -> VariantDetail | None:
        v = kbv.find(self.kb, variant_id)
        if v is None:
            return None
        finals = kbv.final_metrics(self.kb, [variant_id])[variant_id]
        series: dict[str, list[tuple[int, float]]] = {}
        for m in kbv.metrics(self.kb, variant_id):
            if m.step is not None and m.value is not None:
                series.setdefault(m.name, []).append((m.step, m.value))
        return VariantDetail(
            row=self._row(v, finals),
            tasks=kbv.task_runs(self.kb, variant_id),
            events=[e for e in kbc.events(self.kb, self.run_id, target=v.label)[-50:] if e.kind != "note"],
            series=series,
            notes=kbn.for_target(self.kb, v.run_id, variant_id),
        )


def read_tail(path: str | None, offset: int, limit: int = 65536) -> tuple[str, int]:
    """New text of a log file from `offset` (at most `limit` bytes), and the next offset."""
    if not path:
        return "", offset
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, 2)
            if size < offset:
                offset = 0
            start = max(offset, size - limit) if offset == 0 else offset
            fh.seek(start)
            data = fh.read(limit)
    except OSError:
        return "", offset
    return data.decode("utf-8", errors="replace"), start + len(data)
