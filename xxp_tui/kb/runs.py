"""Runs, their environment, control nodes and the engine heartbeat."""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass

from xxp_tui.kb.bulk import insert_row
from xxp_tui.kb.connection import KB, KBError, row_id
from xxp_tui.kb.status import FINISHED_RUN_STATES, RUN_STATES

HEARTBEAT_EVERY = 1.0
HEARTBEAT_STALE = 10.0  # no beat for this long and the engine is considered dead


@dataclass(frozen=True)
class Run:
    id: int
    experiment: str
    status: str
    reason: str | None
    spec_path: str
    project_dir: str
    spec_hash: str
    workers: int
    paused: bool
    created: float
    started: float | None
    ended: float | None
    seed: int | None
    settings: dict
    executor: str
    scheduler: str | None

    @property
    def label(self) -> str:
        return f"r{self.id}"

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_RUN_STATES


def _run(row) -> Run:
    return Run(
        id=row["id"], experiment=row["experiment"], status=row["status"], reason=row["reason"],
        spec_path=row["spec_path"], project_dir=row["project_dir"], spec_hash=row["spec_hash"],
        workers=row["workers"], paused=bool(row["paused"]), created=row["created"], started=row["started"],
        ended=row["ended"], seed=row["seed"], settings=json.loads(row["settings"] or "{}"),
        executor=row["executor"] or "local", scheduler=row["scheduler"],
    )


def create_run(
    kb: KB, *, experiment: str, spec_path: str, project_dir: str, spec_hash: str, spec_text: str,
    spec_files: dict[str, str], model: dict, settings: dict, workers: int, seed: int,
    executor: str = "local", scheduler: str | None = None,
) -> int:
    with kb.write():
        cur = kb.conn.execute(
            "INSERT INTO runs (experiment, status, spec_path, project_dir, spec_hash, spec_text, spec_files, model,"
            " settings, workers, paused, created, seed, executor, scheduler, uid)"
            " VALUES (?, 'starting', ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
            (experiment, spec_path, project_dir, spec_hash, spec_text, json.dumps(spec_files), json.dumps(model),
             json.dumps(settings), workers, time.time(), seed, executor, scheduler, uuid.uuid4().hex),
        )
        kb.conn.execute(  # its first spec version (kb/spec_versions.py); amendments add the next ones
            "INSERT INTO spec_versions (run_id, version, path, text, hash, diff, created, summary)"
            " VALUES (?, 1, ?, ?, ?, '', ?, '[]')", (row_id(cur), spec_path, spec_text, spec_hash, time.time()))
        return row_id(cur)


def get_run(kb: KB, run_id: int) -> Run:
    row = kb.one("SELECT * FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise KBError(f"no run r{run_id}")
    return _run(row)


def provenance(kb: KB, run_id: int) -> dict | None:
    """Where a run merged from another knowledge base came from (`kb merge`), else None."""
    row = kb.one("SELECT merged_from, merged_run, merged_at FROM runs WHERE id = ?", (run_id,))
    if row is None or not row["merged_from"]:
        return None
    return {"kb": row["merged_from"], "run": f"r{row['merged_run']}", "merged_at": row["merged_at"]}


def parse_run_ref(ref: str) -> int | None:
    text = ref.strip().lower()
    if text.startswith("r"):
        text = text[1:]
    return int(text) if text.isdigit() else None


def resolve_run(kb: KB, ref: str) -> int:
    """`latest`, `r3` or `3` -> run id (KBError with a sentence when there is none). `latest` is the
    newest run made here: runs merged from another KB (`kb merge`) get new, higher ids but are older."""
    if ref.strip().lower() == "latest":
        run_id = kb.scalar("SELECT coalesce(MAX(CASE WHEN merged_from IS NULL THEN id END), MAX(id)) FROM runs")
        if run_id is None:
            raise KBError(f"no runs yet in {kb.path}")
        return run_id
    run_id = parse_run_ref(ref)
    if run_id is None:
        raise KBError(f"{ref!r} is not a run (write r3, 3 or latest)")
    if kb.scalar("SELECT 1 FROM runs WHERE id = ?", (run_id,)) is None:
        raise KBError(f"no run r{run_id} in {kb.path}")
    return run_id


# What `Run` holds: not the spec text, files and model, which a list of 1,000 runs need not read.
_RUN_COLUMNS = ("id, experiment, status, reason, spec_path, project_dir, spec_hash, workers, paused, created, started,"
                " ended, seed, settings, executor, scheduler")


def list_runs(kb: KB) -> list[Run]:
    return [_run(r) for r in kb.query(f"SELECT {_RUN_COLUMNS} FROM runs ORDER BY id")]


def spec_record(kb: KB, run_id: int) -> tuple[str, dict[str, str], dict]:
    row = kb.row("SELECT spec_text, spec_files, model FROM runs WHERE id = ?", (run_id,))
    return row["spec_text"], json.loads(row["spec_files"] or "{}"), json.loads(row["model"] or "{}")


def set_status(kb: KB, run_id: int, status: str, reason: str | None = None) -> None:
    assert status in RUN_STATES, status
    now = time.time()
    with kb.write():
        kb.conn.execute(
            "UPDATE runs SET status = ?, reason = ?,"
            " started = COALESCE(started, CASE WHEN ? IN ('running') THEN ? END),"
            " ended = CASE WHEN ? IN ('completed', 'failed', 'stopped', 'interrupted') THEN ? ELSE NULL END"
            " WHERE id = ?",
            (status, reason, status, now, status, now, run_id),
        )


def set_paused(kb: KB, run_id: int, paused: bool) -> None:
    with kb.write():
        kb.conn.execute("UPDATE runs SET paused = ? WHERE id = ?", (int(paused), run_id))


def set_workers(kb: KB, run_id: int, workers: int) -> None:
    with kb.write():
        kb.conn.execute("UPDATE runs SET workers = ? WHERE id = ?", (workers, run_id))


def update_settings(kb: KB, run_id: int, **changes) -> None:
    with kb.write():
        settings = json.loads(kb.scalar("SELECT settings FROM runs WHERE id = ?", (run_id,)) or "{}")
        settings.update(changes)
        kb.conn.execute("UPDATE runs SET settings = ? WHERE id = ?", (json.dumps(settings), run_id))


# ----------------------------------------------------------------------------- environment


def record_environment(kb: KB, run_id: int, env: dict) -> None:
    with kb.write():
        insert_row(kb, "environment", {"run_id": run_id, **env, "recorded": time.time()}, upsert_key="run_id")


def get_environment(kb: KB, run_id: int) -> dict | None:
    row = kb.one("SELECT * FROM environment WHERE run_id = ?", (run_id,))
    return dict(row) if row else None


# ----------------------------------------------------------------------------- control nodes


@dataclass(frozen=True)
class NodeState:
    name: str
    kind: str
    status: str
    iteration: int
    reason: str | None
    started: float | None
    ended: float | None
    fired: dict
    result: dict | None
    total: int | None = None


def upsert_node(kb: KB, run_id: int, name: str, **fields) -> None:
    if "fired" in fields:
        fields["fired"] = json.dumps(fields["fired"])
    if "result" in fields and fields["result"] is not None:
        fields["result"] = json.dumps(fields["result"])
    with kb.write():
        exists = kb.scalar("SELECT 1 FROM nodes WHERE run_id = ? AND name = ?", (run_id, name))
        if exists:
            cols = ", ".join(f"{k} = ?" for k in fields)
            kb.conn.execute(f"UPDATE nodes SET {cols} WHERE run_id = ? AND name = ?", (*fields.values(), run_id, name))
        else:
            insert_row(kb, "nodes", {"run_id": run_id, "name": name, **fields})


def delete_node(kb: KB, run_id: int, name: str) -> None:
    """Forget a node an amendment removed before it ever started."""
    with kb.write():
        kb.conn.execute("DELETE FROM nodes WHERE run_id = ? AND name = ? AND status = 'pending'", (run_id, name))


def nodes(kb: KB, run_id: int) -> dict[str, NodeState]:
    out = {}
    for r in kb.query("SELECT * FROM nodes WHERE run_id = ?", (run_id,)):
        out[r["name"]] = NodeState(
            r["name"], r["kind"], r["status"], r["iteration"] or 0, r["reason"], r["started"], r["ended"],
            json.loads(r["fired"] or "{}"), json.loads(r["result"]) if r["result"] else None, r["total"],
        )
    return out


# ----------------------------------------------------------------------------- heartbeat


@dataclass(frozen=True)
class Liveness:
    alive: bool
    pid: int | None
    host: str | None
    age: float | None  # seconds since the last beat
    live_workers: int | None = None  # Dask workers the engine saw at its last beat (None: local executor)
    hung: bool = False  # no fresh beat, but its process is still there (stopped with SIGSTOP, or stuck)

    @property
    def label(self) -> str:
        if self.pid is None:
            return "never started"
        if self.hung:
            return self.not_responding
        return "alive" if self.alive else f"dead (last beat {self.age:.0f}s ago)"

    @property
    def not_responding(self) -> str:
        return f"engine not responding (pid {self.pid}, last beat {self.age:.0f} s ago)"


def beat(kb: KB, run_id: int, pid: int, started: float, proc_start: float | None = None,
         live_workers: int | None = None) -> None:
    with kb.write():
        kb.conn.execute(
            "INSERT INTO heartbeat (run_id, pid, host, started, beat, proc_start, live_workers)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(run_id) DO UPDATE SET pid = excluded.pid, host = excluded.host,"
            " started = excluded.started, beat = excluded.beat, proc_start = excluded.proc_start,"
            " live_workers = excluded.live_workers",
            (run_id, pid, socket.gethostname(), started, time.time(), proc_start, live_workers),
        )


def clear_heartbeat(kb: KB, run_id: int, pid: int) -> None:
    """The engine exits: its last beat stays as the time it left."""
    with kb.write():
        kb.conn.execute("UPDATE heartbeat SET beat = ? WHERE run_id = ? AND pid = ?", (time.time(), run_id, pid))


def liveness(kb: KB, run_id: int, stale: float = HEARTBEAT_STALE) -> Liveness:
    """Alive when the last beat is fresh and, on this host, the process still exists."""
    row = kb.one("SELECT pid, host, beat, live_workers FROM heartbeat WHERE run_id = ?", (run_id,))
    if row is None:
        return Liveness(False, None, None, None)
    age = time.time() - (row["beat"] or 0)
    alive = age < stale
    here = row["host"] == socket.gethostname()
    if alive and here:
        alive = _pid_exists(row["pid"])
    hung = not alive and here and _pid_exists(row["pid"]) and _is_engine_of(row["pid"], run_id)
    return Liveness(alive, row["pid"], row["host"], age, row["live_workers"], hung)


def _is_engine_of(pid: int, run_id: int) -> bool:
    """The process still holds the run's engine lock file open: it is that engine, not a reused pid."""
    import psutil

    try:
        return any(f".engine-r{run_id}.lock" in f.path for f in psutil.Process(pid).open_files())
    except psutil.Error:
        return False


def _pid_exists(pid: int) -> bool:
    """A live process (an exited engine its parent has not reaped yet is a zombie: not alive)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True
