"""Sums of what task runs cost (columns written by engine/cost.py), per run and per space.

`spent` counts the executions that ran; `saved` the cache hits, which carry the figures of the
execution they reused: the work knowledge reuse did not do again.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from xxp_tui.kb.connection import KB


@dataclass(frozen=True)
class Cost:
    tasks: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0
    peak_rss_bytes: int = 0  # the largest of one task run

    @property
    def cpu_hours(self) -> float:
        return self.cpu_seconds / 3600

    @property
    def gpu_hours(self) -> float:
        return self.gpu_seconds / 3600

    def to_json(self) -> dict:
        return {**asdict(self), "cpu_hours": round(self.cpu_hours, 6), "gpu_hours": round(self.gpu_hours, 6)}


@dataclass(frozen=True)
class CostSummary:
    spent: Cost
    saved: Cost

    def to_json(self) -> dict:
        return {"spent": self.spent.to_json(), "saved": self.saved.to_json()}


_SUMS = ("COUNT(*) AS tasks, COALESCE(SUM(t.wall_seconds), 0) AS wall, COALESCE(SUM(t.cpu_seconds), 0) AS cpu,"
         " COALESCE(SUM(t.gpu_seconds), 0) AS gpu, COALESCE(MAX(t.peak_rss_bytes), 0) AS rss")


def _cost(row) -> Cost:
    if row is None:
        return Cost()
    return Cost(tasks=row["tasks"] or 0, wall_seconds=float(row["wall"]), cpu_seconds=float(row["cpu"]),
                gpu_seconds=float(row["gpu"]), peak_rss_bytes=int(row["rss"]))


def _by(kb: KB, where: str, args: tuple, group: str | None) -> dict:
    key = f"{group} AS k, " if group else "NULL AS k, "
    sql = (f"SELECT {key}t.cache_hit AS hit, {_SUMS} FROM task_runs t JOIN variants v ON v.id = t.variant_id"
           f" WHERE {where} AND (t.wall_seconds IS NOT NULL OR t.cpu_seconds IS NOT NULL)"
           f" GROUP BY {group + ', ' if group else ''}t.cache_hit")
    found: dict = {}
    for row in kb.query(sql, args):
        spent, saved = found.get(row["k"], (Cost(), Cost()))
        if row["hit"]:
            saved = _cost(row)
        else:
            spent = _cost(row)
        found[row["k"]] = (spent, saved)
    return {k: CostSummary(*pair) for k, pair in found.items()}


def for_run(kb: KB, run_id: int) -> CostSummary:
    return _by(kb, "v.run_id = ?", (run_id,), None).get(None, CostSummary(Cost(), Cost()))


def by_space(kb: KB, run_id: int) -> dict[str, CostSummary]:
    return _by(kb, "v.run_id = ?", (run_id,), "v.space")


def for_runs(kb: KB, run_ids: list[int]) -> dict[int, CostSummary]:
    if not run_ids:
        return {}
    marks = ",".join("?" for _ in run_ids)
    return _by(kb, f"v.run_id IN ({marks})", tuple(run_ids), "v.run_id")


def gpus_used(kb: KB, run_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per run: each GPU id its task runs were given, and on how many task runs."""
    if not run_ids:
        return {}
    marks = ",".join("?" for _ in run_ids)
    out: dict[int, dict[str, int]] = {}
    sql = "SELECT v.run_id AS run, t.gpus AS gpus FROM task_runs t JOIN variants v ON v.id = t.variant_id"
    for row in kb.query(sql + f" WHERE v.run_id IN ({marks}) AND t.gpus IS NOT NULL AND t.gpus != ''", tuple(run_ids)):
        for gpu in row["gpus"].split(","):
            used = out.setdefault(row["run"], {})
            used[gpu] = used.get(gpu, 0) + 1
    return out


def gpus_busy(kb: KB, run_id: int) -> dict[str, int]:
    """GPU id -> tasks of the run running on it now."""
    busy: dict[str, int] = {}
    for row in kb.query("SELECT t.gpus FROM task_runs t JOIN variants v ON v.id = t.variant_id WHERE v.run_id = ?"
                        " AND v.status = 'running' AND t.status = 'running' AND t.gpus IS NOT NULL AND t.gpus != ''",
                        (run_id,)):
        for gpu in row["gpus"].split(","):
            busy[gpu] = busy.get(gpu, 0) + 1
    return busy


def task_gpus(kb: KB, run_id: int, limit: int = 200) -> list[tuple[int, str, int, str]]:
    """The latest task runs of a run that held GPUs: (variant id, task, attempt, GPU ids)."""
    return [(r["variant_id"], r["task"], r["attempt"], r["gpus"]) for r in kb.query(
        "SELECT t.variant_id, t.task, t.attempt, t.gpus FROM task_runs t JOIN variants v ON v.id = t.variant_id"
        " WHERE v.run_id = ? AND t.gpus IS NOT NULL AND t.gpus != '' ORDER BY t.id DESC LIMIT ?", (run_id, limit))]


def hours(seconds: float) -> str:
    """A duration as hours, readable at every scale: 0.0003 h, 0.42 h, 12.5 h."""
    h = seconds / 3600
    if h == 0:
        return "0 h"
    if h < 0.01:
        return f"{h:.4f} h"
    if h < 10:
        return f"{h:.2f} h"
    return f"{h:.1f} h"
