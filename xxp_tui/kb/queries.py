"""Read models for the front ends: rows shaped for the CLI's JSON and the TUI's table."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from xxp_tui.kb import cost as kbcost
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import KB


def metric_dict(finals: Mapping[tuple[str | None, str], object]) -> dict[str, object]:
    """Final metrics keyed by name, or `Task.name` where two tasks report the same name."""
    by_name: dict[str, list[tuple[str | None, object]]] = {}
    for (task, name), value in finals.items():
        by_name.setdefault(name, []).append((task, value))
    out: dict[str, object] = {}
    for name, entries in by_name.items():
        if len(entries) == 1:
            out[name] = entries[0][1]
        else:
            for task, value in entries:
                out[f"{task}.{name}" if task else name] = value
    return out


def variant_row(v: kbv.Variant, metrics: dict[str, object]) -> dict:
    return {
        "id": v.label,
        "run": f"r{v.run_id}",
        "space": v.space,
        "status": v.status,
        "params": v.params,
        "metrics": metrics,
        "priority": v.priority,
        "origin": v.origin,
        "off_grid": v.off_grid,
        "spec_version": v.spec_version,
        "stalled": v.stalled,
        "reason": v.reason,
        "objective": v.objective,
        "seed": v.seed,
        "iteration": v.iteration,
        "started": v.started,
        "ended": v.ended,
        "duration": v.duration,
    }


def variant_rows(kb: KB, run_id: int, status: str | None = None, since_rev: int = 0) -> list[dict]:
    """Rows for `variants --json` and `export`: `objective` is the list of every declared objective's
    value and `pareto` the variant's place on its space's front (see kb/objectives.py)."""
    from xxp_tui.kb import objectives

    variants = kbv.changed_since(kb, run_id, since_rev) if since_rev else kbv.for_run(kb, run_id, status=status)
    if since_rev and status:
        variants = [v for v in variants if v.status == status]
    finals = kbv.final_metrics(kb, [v.id for v in variants])
    scored = objectives.score(kb, run_id, variants, finals)
    return [{**variant_row(v, metric_dict(finals[v.id])), "objective": scored[v.id].objective,
             "pareto": scored[v.id].pareto} for v in variants]


@dataclass(frozen=True)
class RunSummary:
    run: kbr.Run
    counts: dict[str, int]
    liveness: kbr.Liveness
    cost: kbcost.CostSummary = field(default_factory=lambda: kbcost.CostSummary(kbcost.Cost(), kbcost.Cost()))
    gpus: dict[str, int] = field(default_factory=dict)  # GPU id -> task runs that ran on it
    gpus_busy: dict[str, int] = field(default_factory=dict)  # GPU id -> tasks running on it now

    @property
    def gpu_pool(self) -> list[str]:
        """The GPUs the run's engine may hand out (local executor), as it recorded them when it started."""
        return [str(g) for g in self.run.settings.get("gpu_pool") or []]

    @property
    def cost_label(self) -> str:
        """`CPU 0.42 h · GPU 1.0 h`, with what reuse saved when it saved something."""
        return cost_label(self.cost)

    @property
    def engine(self) -> str:
        """alive; exited (the run ended or was interrupted cleanly); dead (it crashed: resume it)."""
        if self.liveness.alive:
            return "alive"
        if self.liveness.pid is None:
            return "not started"
        if self.liveness.hung:
            return self.liveness.not_responding
        if self.run.finished or self.run.status == "interrupted":
            return "exited"
        return "dead"

    def to_json(self) -> dict:
        r = self.run
        return {
            "id": r.label, "experiment": r.experiment, "status": r.status, "reason": r.reason,
            "counts": self.counts, "created": r.created, "started": r.started, "ended": r.ended,
            "engine": self.engine, "engine_pid": self.liveness.pid, "engine_host": self.liveness.host,
            "workers": r.workers, "paused": r.paused, "spec": r.spec_path, "executor": r.executor,
            "scheduler": r.scheduler, "live_workers": self.live_workers, "cost": self.cost.to_json(),
            "gpus": self.gpus, "gpu_pool": self.gpu_pool, "gpus_busy": self.gpus_busy,
        }

    @property
    def live_workers(self) -> int | None:
        """Dask workers seen at the engine's last beat, while it is alive (None otherwise or when local)."""
        return self.liveness.live_workers if self.liveness.alive else None

    @property
    def executor_label(self) -> str:
        """`local`, or `dask tcp://host:8786, 4 workers` (`dask local cluster` without an address)."""
        r = self.run
        if r.executor == "local":
            return "local"
        text = f"{r.executor} {r.scheduler or 'local cluster'}"
        live = self.live_workers
        return text if live is None else f"{text}, {live} worker{'s' if live != 1 else ''}"


def cost_label(c: kbcost.CostSummary) -> str:
    text = f"CPU {kbcost.hours(c.spent.cpu_seconds)} · GPU {kbcost.hours(c.spent.gpu_seconds)}"
    if c.saved.tasks:
        text += f" (reuse saved CPU {kbcost.hours(c.saved.cpu_seconds)} · GPU {kbcost.hours(c.saved.gpu_seconds)})"
    return text


def run_summaries(kb: KB) -> list[RunSummary]:
    runs = kbr.list_runs(kb)
    ids = [r.id for r in runs]
    costs, gpus = kbcost.for_runs(kb, ids), kbcost.gpus_used(kb, ids)
    return [RunSummary(r, kbv.counts(kb, r.id), kbr.liveness(kb, r.id),
                       costs.get(r.id, kbcost.CostSummary(kbcost.Cost(), kbcost.Cost())), gpus.get(r.id, {}),
                       kbcost.gpus_busy(kb, r.id) if r.status == "running" else {})
            for r in runs]


def run_summary(kb: KB, run_id: int, cost: bool = True) -> RunSummary:
    """The run's summary; `cost=False` leaves out the sums over every task run (the viewer asks for them
    only every few seconds: on a large run they are the costliest part of a poll)."""
    run = kbr.get_run(kb, run_id)
    if not cost:
        return RunSummary(run, kbv.counts(kb, run_id), kbr.liveness(kb, run_id),
                          gpus_busy=kbcost.gpus_busy(kb, run_id))
    return RunSummary(run, kbv.counts(kb, run_id), kbr.liveness(kb, run_id), kbcost.for_run(kb, run_id),
                      kbcost.gpus_used(kb, [run_id]).get(run_id, {}), kbcost.gpus_busy(kb, run_id))
