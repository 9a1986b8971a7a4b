"""Cross-run queries: which earlier trials can seed a new space, and the best configurations a
workflow has reached. Everything here reads finished facts; nothing here changes a run."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import KB


def code_signatures(kb: KB, exclude_run: int | None = None, only_run: int | None = None
                    ) -> dict[int, dict[str, tuple[str | None, dict | None]]]:
    """Completed variants (not themselves copies from a warm start) -> {task: (code hash, the
    params it ran with or None when not recorded)} of the task runs that produced their result."""
    sql = ("SELECT t.variant_id, t.task, t.code_hash, t.params FROM task_runs t JOIN variants v ON v.id = t.variant_id"
           " WHERE v.status = 'completed' AND v.origin != 'warm_start' AND t.status IN ('completed', 'cached')")
    args: list = []
    if exclude_run is not None:
        sql += " AND v.run_id != ?"
        args.append(exclude_run)
    if only_run is not None:
        sql += " AND v.run_id = ?"
        args.append(only_run)
    out: dict[int, dict[str, tuple[str | None, dict | None]]] = {}
    for r in kb.query(sql + " ORDER BY t.id", tuple(args)):
        params = json.loads(r["params"]) if r["params"] else None
        out.setdefault(r["variant_id"], {})[r["task"]] = (r["code_hash"], params)
    return out


def variants_by_id(kb: KB, ids: list[int]) -> list[kbv.Variant]:
    out = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        out += [kbv._variant(r) for r in kb.query(f"SELECT * FROM variants WHERE id IN ({marks})", tuple(chunk))]
    return sorted(out, key=lambda v: v.id)


def add_warm_start(kb: KB, run_id: int, space: str, iteration: int, source: kbv.Variant, config: dict,
                   objective: float | None) -> int:
    """Record an earlier result as a finished variant of this space (origin `warm_start`, never
    run), with the source's metrics copied so the table and conditions see them."""
    with kb.write():
        (vid,) = kbv.insert(kb, run_id, [kbv.NewVariant(
            space=space, params=source.params, config=config, seed=source.seed, origin="warm_start",
            iteration=iteration, status="completed", source_variant=source.id,
            reason=f"warm start from v{source.id} of r{source.run_id}")])
        kb.conn.execute("UPDATE variants SET objective = ?, started = ?, ended = ? WHERE id = ?",
                        (objective, source.started, source.ended or time.time(), vid))
        kb.conn.execute(
            "INSERT INTO metrics (variant_id, task, name, value, text, step, time)"
            " SELECT ?, task, name, value, text, step, time FROM metrics WHERE variant_id = ? ORDER BY id",
            (vid, source.id))
    return vid


# Resource columns another part of xxp-tui may record per task run; the card sums those it finds.
RESOURCE_COLUMNS = ("cpu_time", "cpu_seconds", "peak_rss", "gpu_seconds")


def task_costs(kb: KB, run_id: int) -> list[dict]:
    """Per space and task of a run: executions run here, cached ones, and their wall seconds (plus
    any resource accounting the schema holds: CPU time, peak memory, GPU-seconds)."""
    present = {r["name"] for r in kb.query("PRAGMA table_info(task_runs)")}
    extra = [c for c in RESOURCE_COLUMNS if c in present]
    sums = "".join(f", {'max' if c == 'peak_rss' else 'sum'}(t.{c}) AS {c}" for c in extra)
    rows = kb.query(
        "SELECT v.space, t.task, sum(t.status = 'completed') AS ran, sum(t.status = 'cached') AS cached,"
        " sum(t.status NOT IN ('completed', 'cached')) AS other,"
        " sum(CASE WHEN t.status != 'cached' AND t.ended IS NOT NULL THEN t.ended - t.started END) AS wall"
        f"{sums} FROM task_runs t JOIN variants v ON v.id = t.variant_id WHERE v.run_id = ?"
        " GROUP BY v.space, t.task ORDER BY v.space, min(t.id)", (run_id,))
    return [dict(r) for r in rows]


def cache_savings(kb: KB, run_id: int) -> tuple[int, float, list[int]]:
    """Cache hits of a run, the wall seconds their sources took (what the hits saved), and the runs
    the sources belong to."""
    rows = kb.query(
        "SELECT s.ended - s.started AS saved, sv.run_id AS source_run FROM task_runs t"
        " JOIN variants v ON v.id = t.variant_id JOIN task_runs s ON s.id = t.cache_source"
        " JOIN variants sv ON sv.id = s.variant_id WHERE v.run_id = ? AND t.status = 'cached'", (run_id,))
    runs = sorted({r["source_run"] for r in rows if r["source_run"] != run_id})
    return len(rows), sum(r["saved"] or 0.0 for r in rows), runs


def source_runs(kb: KB, variant_ids: list[int]) -> list[int]:
    """The runs the given variants' `source_variant`s belong to (where warm-start and transfer
    trials came from)."""
    out: set[int] = set()
    for start in range(0, len(variant_ids), 500):
        chunk = variant_ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        out |= {r[0] for r in kb.query(
            f"SELECT DISTINCT s.run_id FROM variants v JOIN variants s ON s.id = v.source_variant"
            f" WHERE v.id IN ({marks})", tuple(chunk))}
    return sorted(out)


def earlier_objectives(kb: KB, run_id: int, workflow_spaces: list[tuple[int, str]]) -> list[tuple[int, float]]:
    """(run, objective) of completed variants run (not copied) in the given (run, space) pairs
    of runs before `run_id`."""
    out = []
    for rid, space in workflow_spaces:
        if rid >= run_id:
            continue
        out += [(rid, r[0]) for r in kb.query(
            "SELECT objective FROM variants WHERE run_id = ? AND space = ? AND status = 'completed'"
            " AND objective IS NOT NULL AND origin != 'warm_start'", (rid, space))]
    return out


def run_models(kb: KB) -> list[tuple[int, str, dict, str]]:
    """(run id, experiment, recorded model, status) of every run, oldest first. Runs of one spec
    share one parsed model (a KB of 1,000 runs of a spec parses it once, not 1,000 times): read it,
    do not change it."""
    parsed: dict[str, dict] = {}
    out = []
    for r in kb.query("SELECT id, experiment, model, status FROM runs ORDER BY id"):
        text = r["model"] or "{}"
        model = parsed.get(text)
        if model is None:
            model = parsed[text] = json.loads(text)
        out.append((r["id"], r["experiment"], model, r["status"]))
    return out


def best_first(kb: KB, space: str, run_ids: set[int], descending: bool) -> Iterator[kbv.Variant]:
    """The completed variants of spaces named `space` in the given runs, run (not copied by a warm
    start), with an objective, best first (equal objectives in no set order). A cursor over the
    (space, status, objective) index: the caller reads only as many as it needs."""
    order = "DESC" if descending else "ASC"
    cursor = kb.conn.execute(
        "SELECT * FROM variants WHERE space = ? AND status = 'completed' AND objective IS NOT NULL"
        f" AND origin != 'warm_start' ORDER BY objective {order}", (space,))
    for row in cursor:
        if row["run_id"] in run_ids:
            yield kbv._variant(row)


def spec_hash_of(kb: KB, run_id: int) -> str | None:
    return kb.scalar("SELECT spec_hash FROM runs WHERE id = ?", (run_id,))
