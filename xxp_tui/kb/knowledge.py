"""Cross-run queries: which earlier trials can seed a new space, and the best configurations a
workflow has reached. Everything here reads finished facts; nothing here changes a run."""

from __future__ import annotations

import json
import time

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
