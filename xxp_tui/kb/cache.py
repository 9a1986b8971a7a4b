"""The task cache as stored: completed task runs with a cache key are the entries.

A hit is recorded as a task run of status `cached` with `cache_hit = 1` and `cache_source` naming
the producing task run; its metrics and artifacts are copied to the reusing variant, so every
variant's record is complete on its own.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import KB


def candidates(kb: KB, key: str, limit: int = 5) -> list[kbv.TaskRun]:
    """Completed, not evicted task runs with this key, newest first."""
    rows = kb.query(
        "SELECT * FROM task_runs WHERE cache_key = ? AND status = 'completed' AND cache_evicted = 0"
        " ORDER BY id DESC LIMIT ?", (key, limit))
    return [kbv._task_run(r) for r in rows]


def output_digests(kb: KB, source: kbv.TaskRun) -> dict[str, str]:
    """port -> sha256 recorded for the outputs of a task run."""
    rows = kb.query("SELECT port, sha256 FROM artifacts WHERE variant_id = ? AND task = ? AND path IN"
                    " (SELECT value FROM json_each(?))",
                    (source.variant_id, source.task, json.dumps(list(source.outputs.values()))))
    return {r["port"]: r["sha256"] for r in rows if r["sha256"]}


def record_hit(kb: KB, *, variant_id: int, task: str, attempt: int, source: kbv.TaskRun, cache_key: str,
               code_hash: str | None, inputs_hash: str, cwd: str, params: dict, env_hash: str | None = None) -> int:
    """One transaction: the `cached` task run, and the source's metrics and artifacts copied over."""
    now = time.time()
    with kb.write():
        tr_id = kbv.insert_task_run(
            kb, variant_id=variant_id, task=task, attempt=attempt, status="cached", cache_hit=1,
            cache_source=source.id, cache_key=cache_key, code_hash=code_hash, inputs_hash=inputs_hash,
            outputs=source.outputs, started=now, ended=now, cwd=cwd, params=params, env_hash=env_hash,
            reason=f"reused the outputs of v{source.variant_id} {source.task} (same cache key)",
            wall_seconds=source.wall_seconds, cpu_seconds=source.cpu_seconds, gpu_seconds=source.gpu_seconds,
            peak_rss_bytes=source.peak_rss_bytes,  # what this reuse saved: the work it did not do again
        )
        # Copied under the reusing task's name: two tasks of one workflow may share a key (same code,
        # params and inputs), and a copy kept under the source's name doubled its rows at every hit.
        kb.conn.execute(
            "INSERT INTO metrics (variant_id, task, name, value, text, step, time)"
            " SELECT ?, ?, name, value, text, step, time FROM metrics WHERE variant_id = ? AND task = ?"
            " ORDER BY id", (variant_id, task, source.variant_id, source.task))
        kb.conn.execute(
            "INSERT INTO artifacts (variant_id, task, port, path, sha256, size, is_dir, created)"
            " SELECT ?, ?, port, path, sha256, size, is_dir, ? FROM artifacts WHERE variant_id = ? AND task = ?",
            (variant_id, task, now, source.variant_id, source.task))
    return tr_id


@dataclass(frozen=True)
class CacheEntry:
    task_run: int
    key: str
    task: str
    run_id: int
    variant_id: int
    created: float | None
    hits: int
    last_hit: float | None
    size: int
    outputs: dict[str, str]


def entries(kb: KB) -> list[CacheEntry]:
    rows = kb.query(
        "SELECT t.id, t.cache_key, t.task, v.run_id, t.variant_id, t.ended, t.outputs,"
        " (SELECT COUNT(*) FROM task_runs h WHERE h.cache_source = t.id) AS hits,"
        " (SELECT MAX(h.ended) FROM task_runs h WHERE h.cache_source = t.id) AS last_hit,"
        " (SELECT COALESCE(SUM(a.size), 0) FROM artifacts a WHERE a.variant_id = t.variant_id AND a.task = t.task)"
        " AS size"
        " FROM task_runs t JOIN variants v ON v.id = t.variant_id"
        " WHERE t.cache_key IS NOT NULL AND t.status = 'completed' AND t.cache_evicted = 0 ORDER BY t.id")
    return [CacheEntry(r["id"], r["cache_key"], r["task"], r["run_id"], r["variant_id"], r["ended"], r["hits"],
                       r["last_hit"], r["size"], json.loads(r["outputs"] or "{}")) for r in rows]


def evict(kb: KB, task_run_ids: list[int]) -> None:
    with kb.write():
        kb.conn.executemany("UPDATE task_runs SET cache_evicted = 1 WHERE id = ?", [(i,) for i in task_run_ids])


def run_stats(kb: KB, run_id: int) -> tuple[int, int]:
    """(task executions that were cache hits, task executions in all) of a run."""
    row = kb.row(
        "SELECT COALESCE(SUM(t.cache_hit), 0) AS hits, COUNT(*) AS total FROM task_runs t"
        " JOIN variants v ON v.id = t.variant_id WHERE v.run_id = ?", (run_id,))
    return row["hits"], row["total"]


def variables_put(kb: KB, task_run: kbv.TaskRun) -> dict:
    """What an ExtremeXP script `variables.put` in this task run (recorded by the engine as a `put`
    event naming the task run, in the task run's own run): {} if it put nothing."""
    row = kb.one(
        "SELECT e.detail FROM events e JOIN variants v ON v.run_id = e.run_id"
        " WHERE v.id = ? AND e.kind = 'put' AND json_extract(e.detail, '$.task_run') = ?"
        " ORDER BY e.id DESC LIMIT 1", (task_run.variant_id, task_run.id))
    if row is None:
        return {}
    found = json.loads(row["detail"] or "{}").get("variables")
    return found if isinstance(found, dict) else {}
