"""The knowledge-base schema and its migrations.

`PRAGMA user_version` holds the schema version; each migration is a function applied once, in a
write transaction, in order. A file written by a newer xxp-tui is refused with a sentence rather
than misread. Tables, in the order a run fills them:

runs, environment      one row per execution of an experiment spec, with its spec text and host
nodes                  control-graph node states (space / task / interaction) per run
variants               one parameterised execution of a workflow: the rows of the live table
task_runs              each attempt of each task of a variant: argv, cwd, exit, logs, cache key
                       (a completed one with a cache key is also a cache entry)
metrics                every reported value (series ones have a step)
artifacts              output files with sha256 and size
commands               the steering channel: front ends insert, the engine applies once
events                 audit of human actions and a log of engine events
heartbeat              engine liveness per run (and the live Dask workers it saw)
notes                  what humans learned, attached to a run or a variant (annotations, not run state)
spec_versions          every version of a run's spec (the first, then one per amendment)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xxp_tui.kb.connection import KB

SCHEMA_VERSION = 13


def _v1(kb: KB) -> None:
    db = kb.db
    db.table("runs").create(
        {
            "id": int, "experiment": str, "status": str, "reason": str,
            "spec_path": str, "project_dir": str, "spec_hash": str, "spec_text": str, "spec_files": str,
            "model": str, "settings": str, "workers": int, "paused": int,
            "created": float, "started": float, "ended": float, "seed": int,
            "executor": str, "scheduler": str,
        },
        pk="id",
        not_null={"experiment", "status", "spec_path", "created"},
        defaults={"paused": 0, "executor": "local"},
    )
    db.table("environment").create(
        {
            "run_id": int, "python": str, "implementation": str, "platform": str, "host": str, "user": str,
            "xxp_version": str, "packages": str, "packages_hash": str, "git_commit": str, "git_dirty": int,
            "git_root": str, "recorded": float,
        },
        pk="run_id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("nodes").create(
        {
            "run_id": int, "name": str, "kind": str, "status": str, "iteration": int, "reason": str,
            "started": float, "ended": float, "fired": str, "result": str, "total": int,
        },
        pk=("run_id", "name"),
        not_null={"kind", "status"},
        defaults={"status": "pending", "iteration": 0, "fired": "{}"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("variants").create(
        {
            "id": int, "run_id": int, "space": str, "iteration": int, "status": str, "reason": str,
            "params": str, "config": str, "seed": int, "priority": int, "origin": str, "trial": int,
            "objective": float, "created": float, "started": float, "ended": float, "attempts": int,
            "rev": int, "source_variant": int,
        },
        pk="id",
        not_null={"run_id", "space", "status", "origin"},
        defaults={"priority": 0, "iteration": 0, "attempts": 0, "rev": 0, "params": "{}", "config": "{}"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("task_runs").create(
        {
            "id": int, "variant_id": int, "task": str, "attempt": int, "status": str, "reason": str,
            "argv": str, "cwd": str, "pid": int, "pgid": int, "proc_start": float, "host": str,
            "exit_code": int, "signal": int, "started": float, "ended": float,
            "stdout_path": str, "stderr_path": str, "cache_key": str, "cache_hit": int, "cache_source": int,
            "code_hash": str, "inputs_hash": str, "outputs": str,
        },
        pk="id",
        not_null={"variant_id", "task", "status"},
        defaults={"attempt": 1, "cache_hit": 0},
        foreign_keys=[("variant_id", "variants", "id")],
    )
    db.table("metrics").create(
        {"id": int, "variant_id": int, "task": str, "name": str, "value": float, "text": str,
         "step": int, "time": float},
        pk="id",
        not_null={"variant_id", "name"},
        foreign_keys=[("variant_id", "variants", "id")],
    )
    db.table("artifacts").create(
        {"id": int, "variant_id": int, "task": str, "port": str, "path": str, "sha256": str, "size": int,
         "is_dir": int, "created": float},
        pk="id",
        foreign_keys=[("variant_id", "variants", "id")],
    )
    db.table("commands").create(
        {"id": int, "run_id": int, "verb": str, "args": str, "issuer": str, "status": str, "outcome": str,
         "created": float, "applied": float},
        pk="id",
        not_null={"run_id", "verb", "status"},
        defaults={"status": "pending", "args": "{}"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("events").create(
        {"id": int, "run_id": int, "time": float, "actor": str, "kind": str, "target": str, "detail": str,
         "command_id": int},
        pk="id",
        not_null={"run_id", "time", "actor", "kind"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("heartbeat").create(
        {"run_id": int, "pid": int, "host": str, "started": float, "beat": float, "proc_start": float},
        pk="run_id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    # Indexes for every query the CLI and the TUI make.
    db.table("variants").create_index(["run_id", "status"])
    db.table("variants").create_index(["run_id", "space", "iteration"])
    db.table("variants").create_index(["run_id", "rev"])
    db.table("task_runs").create_index(["variant_id", "task", "attempt"])
    db.table("task_runs").create_index(["cache_key"])
    db.table("metrics").create_index(["variant_id", "name", "step"])
    db.table("artifacts").create_index(["variant_id"])
    db.table("commands").create_index(["run_id", "status"])
    db.table("events").create_index(["run_id", "id"])


def _v2(kb: KB) -> None:
    """The task cache: an entry can be evicted (`xxp-tui cache gc`) without losing its history."""
    kb.db.table("task_runs").add_column("cache_evicted", int, not_null_default=0)
    kb.db.table("task_runs").create_index(["cache_key", "status"])


def _v3(kb: KB) -> None:
    """Distributed runs: the engine's heartbeat carries how many Dask workers were live."""
    kb.db.table("heartbeat").add_column("live_workers", int)


def _v4(kb: KB) -> None:
    """`cache ls` counts the hits of each entry: index the reused task run's source."""
    kb.db.table("task_runs").create_index(["cache_source"], if_not_exists=True)


def _v5(kb: KB) -> None:
    """Each task execution records the params it ran with, resolved (defaults and fixed values
    included): what warm start compares, since a spec can change a default between runs."""
    kb.db.table("task_runs").add_column("params", str)


def _v6(kb: KB) -> None:
    """A task that declares its own environment (`venv`, `python_version`) records which one it ran
    in: the hash of its requirements and interpreter (engine/taskenv.py)."""
    kb.db.table("task_runs").add_column("env_hash", str)


def _v7(kb: KB) -> None:
    """Knowledge that compounds. Runs get a global id (`uid`) so that `kb merge` can tell a run it
    already holds (merging twice adds nothing, also through a third KB) and provenance: the KB a
    merged run came from and its id there. `notes` hold what humans learned about a run or a variant."""
    runs = kb.db.table("runs")
    runs.add_column("uid", str)
    runs.add_column("merged_from", str)
    runs.add_column("merged_run", int)
    runs.add_column("merged_at", float)
    kb.conn.execute("UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    runs.create_index(["uid"], unique=True)
    kb.db.table("notes").create(
        {"id": int, "run_id": int, "variant_id": int, "author": str, "time": float, "text": str, "tags": str},
        pk="id",
        not_null={"run_id", "author", "time", "text"},
        defaults={"tags": "[]"},
        foreign_keys=[("run_id", "runs", "id"), ("variant_id", "variants", "id")],
    )
    kb.db.table("notes").create_index(["run_id", "variant_id"])


def _v8(kb: KB) -> None:
    """An injected variant may take a value the space's lists lack but its task's declared range admits:
    it is marked off the grid, so the table and `variants --json` never pass it off as a grid point."""
    kb.db.table("variants").add_column("off_grid", int, not_null_default=0)


def _v9(kb: KB) -> None:
    """Which GPUs a task run held (CUDA_VISIBLE_DEVICES as granted by the run's pool, e.g. "0,1"; "" for
    none, NULL when no pool was kept): shown by `show`, and what a resumed engine takes back for the
    tasks it adopts, so no GPU stays taken by a dead task nor is handed out twice."""
    kb.db.table("task_runs").add_column("gpus", str)


def _v10(kb: KB) -> None:
    """A run executes a version of its spec, and `amend` adds versions while it runs: each is kept
    (entry text, hash, unified diff from the previous one, who, when, what the engine did), and each
    variant records the version it was sampled under. Existing runs get their first version from
    the spec text they recorded; their variants belong to it."""
    kb.db["spec_versions"].create(
        {"run_id": int, "version": int, "path": str, "text": str, "hash": str, "diff": str, "issuer": str,
         "created": float, "summary": str},
        pk=("run_id", "version"),
        not_null={"run_id", "version", "text", "created"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    kb.conn.execute(
        "INSERT INTO spec_versions (run_id, version, path, text, hash, diff, issuer, created, summary)"
        " SELECT id, 1, spec_path, COALESCE(spec_text, ''), spec_hash, '', NULL, created, '' FROM runs")
    kb.db["variants"].add_column("spec_version", int, not_null_default=1)


def _v11(kb: KB) -> None:
    """Indexes for a KB of 1,000 runs (issue 19): `kb best` and the knowledge screen read a space's
    completed variants best first across every run (space, status, objective), and the viewer's
    details pane reads one variant's events on every cursor move (run_id, target), which without it
    walked every event of the run. tests/frontends/test_query_plans.py keeps every hot query on an index."""
    kb.conn.execute("CREATE INDEX IF NOT EXISTS idx_variants_space_status_objective"
                    " ON variants (space, status, objective)")
    kb.conn.execute("CREATE INDEX IF NOT EXISTS idx_events_run_id_target ON events (run_id, target)")
    kb.conn.execute("CREATE INDEX IF NOT EXISTS idx_notes_variant_id ON notes (variant_id)")  # `show VARIANT`


def _v12(kb: KB) -> None:
    """Holding a variant (`suspend`): since when it is held (NULL: it is not) and whether the human let
    its slot go to others (`--release-slot`); both outlive an engine crash, so a resumed engine keeps
    the hold, its process stopped, and its timeout still not counting the held time."""
    kb.db["variants"].add_column("held_since", float)
    kb.db["variants"].add_column("hold_releases_slot", int, not_null_default=0)


def _v13(kb: KB) -> None:
    """What each task run cost (engine/cost.py): wall, CPU seconds of its whole process tree, GPU-seconds
    (time × GPUs held) and peak resident memory. A cache hit carries the figures of the execution it reused:
    what reuse saved. `stalled` is when a running task was last marked stalled (no output, no metric for its
    `stall_after`), and a variant is flagged while one of its tasks stays stalled (`variants --json`)."""
    runs = kb.db["task_runs"]
    runs.add_column("wall_seconds", float)
    runs.add_column("cpu_seconds", float)
    runs.add_column("gpu_seconds", float)
    runs.add_column("peak_rss_bytes", int)
    runs.add_column("stalled", float)
    kb.db["variants"].add_column("stalled", int, not_null_default=0)


MIGRATIONS: list[Callable[[KB], None]] = [_v1, _v2, _v3, _v4, _v5, _v6, _v7, _v8, _v9, _v10, _v11, _v12, _v13]
assert len(MIGRATIONS) == SCHEMA_VERSION


def migrate(kb: KB) -> None:
    from xxp_tui.kb.connection import KBError

    version = kb.scalar("PRAGMA user_version")
    if version > SCHEMA_VERSION:
        raise KBError(
            f"{kb.path} was written by a newer xxp-tui (schema {version}, this one knows {SCHEMA_VERSION}); "
            "upgrade xxp-tui to read it"
        )
    if version == SCHEMA_VERSION:
        return
    with kb.write():
        version = kb.scalar("PRAGMA user_version")  # another process may have migrated meanwhile
        for number in range(version, SCHEMA_VERSION):
            MIGRATIONS[number](kb)
            kb.conn.execute(f"PRAGMA user_version={number + 1}")
