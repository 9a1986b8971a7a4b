"""Variants, their task executions, metrics and artifacts.

Each change to a variant bumps its `rev` (a per-run counter), so a viewer can fetch only what
changed since its last look (`changed_since`). Only the engine writes here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from xxp_tui.kb.bulk import insert_row
from xxp_tui.kb.connection import KB, KBError, row_id
from xxp_tui.kb.status import FINISHED_VARIANT_STATES, VARIANT_STATES

ORIGINS = ("strategy", "injected", "rerun", "warm_start", "transfer", "node")


@dataclass(frozen=True)
class Variant:
    id: int
    run_id: int
    space: str
    iteration: int
    status: str
    reason: str | None
    params: dict
    config: dict
    seed: int | None
    priority: int
    origin: str
    trial: int | None
    objective: float | None
    created: float
    started: float | None
    ended: float | None
    attempts: int
    rev: int
    source_variant: int | None = None
    off_grid: bool = False  # injected with a value outside the space's lists (inside the declared range)
    spec_version: int = 1  # the version of the run's spec it was sampled under (kb/spec_versions.py)
    held_since: float | None = None  # suspended since (see engine/holding.py)
    hold_releases_slot: bool = False
    stalled: bool = False  # one of its running tasks printed nothing and reported no metric for its stall_after

    @property
    def label(self) -> str:
        return f"v{self.id}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_VARIANT_STATES

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def _variant(row) -> Variant:
    return Variant(
        id=row["id"], run_id=row["run_id"], space=row["space"], iteration=row["iteration"] or 0,
        status=row["status"], reason=row["reason"], params=json.loads(row["params"] or "{}"),
        config=json.loads(row["config"] or "{}"), seed=row["seed"], priority=row["priority"] or 0,
        origin=row["origin"], trial=row["trial"], objective=row["objective"], created=row["created"],
        started=row["started"], ended=row["ended"], attempts=row["attempts"] or 0, rev=row["rev"] or 0,
        source_variant=row["source_variant"], off_grid=bool(row["off_grid"]),
        spec_version=row["spec_version"] or 1,
        held_since=row["held_since"], hold_releases_slot=bool(row["hold_releases_slot"]),
        stalled=bool(row["stalled"]),  # every open migrates first, so every column is there
    )


def parse_variant_ref(ref: str) -> int | None:
    text = ref.strip().lower()
    if text.startswith("v"):
        text = text[1:]
    if not text.isdigit() or len(text) > 18:  # ids are SQLite INTEGERs: 19 digits may not fit
        return None
    return int(text)


def _next_rev(kb: KB, run_id: int) -> int:
    return (kb.scalar("SELECT MAX(rev) FROM variants WHERE run_id = ?", (run_id,)) or 0) + 1


@dataclass
class NewVariant:
    space: str
    params: dict
    config: dict = field(default_factory=dict)
    seed: int | None = None
    priority: int = 0
    origin: str = "strategy"
    iteration: int = 0
    trial: int | None = None
    status: str = "queued"
    reason: str | None = None
    source_variant: int | None = None
    off_grid: bool = False


def insert(kb: KB, run_id: int, new: Iterable[NewVariant]) -> list[int]:
    ids = []
    now = time.time()
    with kb.write():
        rev = _next_rev(kb, run_id)
        # Sampled under the run's current spec version: an amendment adds its version in the
        # transaction that applies it, so what is inserted after it belongs to it.
        version = kb.scalar("SELECT MAX(version) FROM spec_versions WHERE run_id = ?", (run_id,)) or 1
        for v in new:
            assert v.origin in ORIGINS and v.status in VARIANT_STATES
            cur = kb.conn.execute(
                "INSERT INTO variants (run_id, space, iteration, status, reason, params, config, seed, priority,"
                " origin, trial, created, rev, source_variant, off_grid, spec_version)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (run_id, v.space, v.iteration, v.status, v.reason, json.dumps(v.params), json.dumps(v.config),
                 v.seed, v.priority, v.origin, v.trial, now, rev, v.source_variant, int(v.off_grid), version),
            )
            ids.append(row_id(cur))
            rev += 1
    return ids


def update(kb: KB, variant_id: int, **fields) -> None:
    """Set fields of a variant and bump its revision."""
    for key in ("params", "config"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    with kb.write():
        run_id = kb.scalar("SELECT run_id FROM variants WHERE id = ?", (variant_id,))
        if run_id is None:
            raise KBError(f"no variant v{variant_id}")
        fields["rev"] = _next_rev(kb, run_id)
        cols = ", ".join(f"{k} = ?" for k in fields)
        kb.conn.execute(f"UPDATE variants SET {cols} WHERE id = ?", (*fields.values(), variant_id))


def get(kb: KB, variant_id: int) -> Variant:
    row = kb.one("SELECT * FROM variants WHERE id = ?", (variant_id,))
    if row is None:
        raise KBError(f"no variant v{variant_id} in {kb.path}")
    return _variant(row)


def find(kb: KB, variant_id: int) -> Variant | None:
    row = kb.one("SELECT * FROM variants WHERE id = ?", (variant_id,))
    return _variant(row) if row else None


def for_run(kb: KB, run_id: int, status: str | None = None, space: str | None = None) -> list[Variant]:
    sql = "SELECT * FROM variants WHERE run_id = ?"
    args: list = [run_id]
    if status:
        sql += " AND status = ?"
        args.append(status)
    if space:
        sql += " AND space = ?"
        args.append(space)
    return [_variant(r) for r in kb.query(sql + " ORDER BY id", tuple(args))]


def changed_since(kb: KB, run_id: int, rev: int, limit: int | None = None) -> list[Variant]:
    """Variants whose revision is past `rev`, oldest change first (at most `limit`: a viewer reads a
    big run in slices, so its first screen does not wait for the last of 100,000 rows)."""
    sql = "SELECT * FROM variants WHERE run_id = ? AND rev > ? ORDER BY rev"
    if limit is not None:
        return [_variant(r) for r in kb.query(sql + " LIMIT ?", (run_id, rev, limit))]
    return [_variant(r) for r in kb.query(sql, (run_id, rev))]


def counts(kb: KB, run_id: int) -> dict[str, int]:
    out: dict[str, int] = {str(state): 0 for state in VARIANT_STATES}
    for r in kb.query("SELECT status, COUNT(*) AS n FROM variants WHERE run_id = ? GROUP BY status", (run_id,)):
        out[r["status"]] = r["n"]
    return out


# ----------------------------------------------------------------------------- task runs


@dataclass(frozen=True)
class TaskRun:
    id: int
    variant_id: int
    task: str
    attempt: int
    status: str
    reason: str | None
    argv: list[str]
    cwd: str | None
    pid: int | None
    pgid: int | None
    proc_start: float | None
    host: str | None
    exit_code: int | None
    signal: int | None
    started: float | None
    ended: float | None
    stdout_path: str | None
    stderr_path: str | None
    cache_key: str | None
    cache_hit: bool
    cache_source: int | None
    code_hash: str | None
    inputs_hash: str | None
    outputs: dict
    env_hash: str | None = None  # the task's own environment (engine/taskenv.py), when it has one
    gpus: str | None = None  # the GPU ids it held ("0,1"; "" none), None when the run kept no GPU pool
    wall_seconds: float | None = None  # its cost (engine/cost.py); a cache hit: the reused execution's
    cpu_seconds: float | None = None
    gpu_seconds: float | None = None
    peak_rss_bytes: int | None = None
    stalled: float | None = None  # when it was marked stalled (no output, no metric for its stall_after)

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started


def _task_run(r) -> TaskRun:
    return TaskRun(
        id=r["id"], variant_id=r["variant_id"], task=r["task"], attempt=r["attempt"], status=r["status"],
        reason=r["reason"], argv=json.loads(r["argv"] or "[]"), cwd=r["cwd"], pid=r["pid"], pgid=r["pgid"],
        proc_start=r["proc_start"], host=r["host"], exit_code=r["exit_code"], signal=r["signal"],
        started=r["started"], ended=r["ended"], stdout_path=r["stdout_path"], stderr_path=r["stderr_path"],
        cache_key=r["cache_key"], cache_hit=bool(r["cache_hit"]), cache_source=r["cache_source"],
        code_hash=r["code_hash"], inputs_hash=r["inputs_hash"], outputs=json.loads(r["outputs"] or "{}"),
        env_hash=r["env_hash"] if "env_hash" in r.keys() else None,  # noqa: SIM118 - `in` on a Row tests values
        gpus=r["gpus"] if "gpus" in r.keys() else None,  # noqa: SIM118
        **{k: r[k] for k in COST_COLUMNS if k in r.keys()},  # noqa: SIM118
    )


COST_COLUMNS = ("wall_seconds", "cpu_seconds", "gpu_seconds", "peak_rss_bytes", "stalled")


def insert_task_run(kb: KB, **fields) -> int:
    for key in ("argv", "outputs", "params"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    with kb.write():
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        return row_id(kb.conn.execute(f"INSERT INTO task_runs ({cols}) VALUES ({marks})", tuple(fields.values())))


def update_task_run(kb: KB, task_run_id: int, **fields) -> None:
    for key in ("argv", "outputs"):
        if key in fields:
            fields[key] = json.dumps(fields[key])
    with kb.write():
        cols = ", ".join(f"{k} = ?" for k in fields)
        kb.conn.execute(f"UPDATE task_runs SET {cols} WHERE id = ?", (*fields.values(), task_run_id))


def task_runs(kb: KB, variant_id: int) -> list[TaskRun]:
    return [_task_run(r) for r in kb.query(
        "SELECT * FROM task_runs WHERE variant_id = ? ORDER BY id", (variant_id,))]


def task_runs_for_run(kb: KB, run_id: int) -> list[TaskRun]:
    """Every task execution of a run, in the order they were recorded."""
    return [_task_run(r) for r in kb.query(
        "SELECT t.* FROM task_runs t JOIN variants v ON v.id = t.variant_id WHERE v.run_id = ? ORDER BY t.id",
        (run_id,))]


def task_activity(kb: KB, variant_ids: Iterable[int]) -> dict[int, tuple[int, float | None]]:
    """Per variant: how many of its task runs are running, and when its last one ended. A paused
    run's variant with none running sits between two tasks: it is not working."""
    ids = list(variant_ids)
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {r["variant_id"]: (r["running"] or 0, r["last_end"]) for r in kb.query(
        f"SELECT variant_id, SUM(status = 'running') AS running, MAX(ended) AS last_end FROM task_runs"
        f" WHERE variant_id IN ({marks}) GROUP BY variant_id", ids)}


def task_runs_in_state(kb: KB, run_id: int, status: str) -> list[TaskRun]:
    return [_task_run(r) for r in kb.query(
        "SELECT t.* FROM task_runs t JOIN variants v ON v.id = t.variant_id"
        " WHERE v.run_id = ? AND t.status = ? ORDER BY t.id", (run_id, status))]


def get_task_run(kb: KB, task_run_id: int) -> TaskRun:
    return _task_run(kb.one("SELECT * FROM task_runs WHERE id = ?", (task_run_id,)))


# ----------------------------------------------------------------------------- metrics and artifacts


@dataclass(frozen=True)
class Metric:
    variant_id: int
    task: str | None
    name: str
    value: float | None
    text: str | None
    step: int | None
    time: float


def insert_metrics(kb: KB, rows: list[tuple]) -> None:
    """Batched: rows of (variant_id, task, name, value, text, step, time) in one statement."""
    if not rows:
        return
    with kb.write():
        kb.conn.executemany(
            "INSERT INTO metrics (variant_id, task, name, value, text, step, time) VALUES (?,?,?,?,?,?,?)", rows
        )


def metrics(kb: KB, variant_id: int, name: str | None = None) -> list[Metric]:
    sql = "SELECT variant_id, task, name, value, text, step, time FROM metrics WHERE variant_id = ?"
    args: tuple = (variant_id,)
    if name:
        sql += " AND name = ?"
        args = (variant_id, name)
    return [Metric(*r) for r in kb.query(sql + " ORDER BY id", args)]


def final_metrics(kb: KB, variant_ids: Iterable[int]) -> dict[int, dict[tuple[str | None, str], float | str]]:
    """variant -> {(task, name): last reported value}; a value without a step wins over series points."""
    ids = list(variant_ids)
    out: dict[int, dict] = {i: {} for i in ids}
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        marks = ",".join("?" for _ in chunk)
        # One row per (variant, task, name), chosen in SQL (SQLite takes the bare columns from the
        # row of the MAX): a task with a million series points costs no million rows in Python.
        rows = kb.query(
            "SELECT variant_id, task, name, value, text, MAX((step IS NULL) * 4611686018427387904 + id)"
            f" FROM metrics WHERE variant_id IN ({marks}) GROUP BY variant_id, task, name", tuple(chunk))
        for r in rows:
            value = r["value"] if r["value"] is not None else r["text"]
            out[r["variant_id"]][(r["task"], r["name"])] = value
    return out


def insert_artifact(kb: KB, **fields) -> None:
    with kb.write():
        insert_row(kb, "artifacts", {**fields, "created": time.time()})


def artifacts(kb: KB, variant_id: int) -> list[dict]:
    return [dict(r) for r in kb.query("SELECT * FROM artifacts WHERE variant_id = ? ORDER BY id", (variant_id,))]


def artifact_by_path(kb: KB, path: str) -> dict | None:
    """The first recorded artifact at `path` (who produced a file another task read)."""
    row = kb.one("SELECT * FROM artifacts WHERE path = ? ORDER BY id LIMIT 1", (path,))
    return dict(row) if row else None


def delete_task_metrics(kb: KB, variant_id: int, task: str, since: float) -> None:
    """Forget what an adopted task reported so far (its metrics file is read again from the start):
    the rows of that task of the variant written at or after its start."""
    with kb.write():
        kb.conn.execute("DELETE FROM metrics WHERE variant_id = ? AND task = ? AND time >= ?",
                        (variant_id, task, since))
