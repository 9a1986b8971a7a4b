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


# The first schema, as DDL. Written out (it used to be built with sqlite-utils, whose import brings
# pandas when that is installed: 0.6 s of every new KB) in the exact text SQLite keeps in
# sqlite_master, so a KB made today has the same schema text as one made before
# (tests/frontends/test_kb_schema.py compares both).
V1 = """
CREATE TABLE "runs" (
   "id" INTEGER PRIMARY KEY,
   "experiment" TEXT NOT NULL,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "spec_path" TEXT NOT NULL,
   "project_dir" TEXT,
   "spec_hash" TEXT,
   "spec_text" TEXT,
   "spec_files" TEXT,
   "model" TEXT,
   "settings" TEXT,
   "workers" INTEGER,
   "paused" INTEGER DEFAULT 0,
   "created" REAL NOT NULL,
   "started" REAL,
   "ended" REAL,
   "seed" INTEGER,
   "executor" TEXT DEFAULT 'local',
   "scheduler" TEXT
);
CREATE TABLE "environment" (
   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),
   "python" TEXT,
   "implementation" TEXT,
   "platform" TEXT,
   "host" TEXT,
   "user" TEXT,
   "xxp_version" TEXT,
   "packages" TEXT,
   "packages_hash" TEXT,
   "git_commit" TEXT,
   "git_dirty" INTEGER,
   "git_root" TEXT,
   "recorded" REAL
);
CREATE TABLE "nodes" (
   "run_id" INTEGER REFERENCES "runs"("id"),
   "name" TEXT,
   "kind" TEXT NOT NULL,
   "status" TEXT NOT NULL DEFAULT 'pending',
   "iteration" INTEGER DEFAULT 0,
   "reason" TEXT,
   "started" REAL,
   "ended" REAL,
   "fired" TEXT DEFAULT '{}',
   "result" TEXT,
   "total" INTEGER,
   PRIMARY KEY ("run_id", "name")
);
CREATE TABLE "variants" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "space" TEXT NOT NULL,
   "iteration" INTEGER DEFAULT 0,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "params" TEXT DEFAULT '{}',
   "config" TEXT DEFAULT '{}',
   "seed" INTEGER,
   "priority" INTEGER DEFAULT 0,
   "origin" TEXT NOT NULL,
   "trial" INTEGER,
   "objective" REAL,
   "created" REAL,
   "started" REAL,
   "ended" REAL,
   "attempts" INTEGER DEFAULT 0,
   "rev" INTEGER DEFAULT 0,
   "source_variant" INTEGER
);
CREATE TABLE "task_runs" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER NOT NULL REFERENCES "variants"("id"),
   "task" TEXT NOT NULL,
   "attempt" INTEGER DEFAULT 1,
   "status" TEXT NOT NULL,
   "reason" TEXT,
   "argv" TEXT,
   "cwd" TEXT,
   "pid" INTEGER,
   "pgid" INTEGER,
   "proc_start" REAL,
   "host" TEXT,
   "exit_code" INTEGER,
   "signal" INTEGER,
   "started" REAL,
   "ended" REAL,
   "stdout_path" TEXT,
   "stderr_path" TEXT,
   "cache_key" TEXT,
   "cache_hit" INTEGER DEFAULT 0,
   "cache_source" INTEGER,
   "code_hash" TEXT,
   "inputs_hash" TEXT,
   "outputs" TEXT
);
CREATE TABLE "metrics" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER NOT NULL REFERENCES "variants"("id"),
   "task" TEXT,
   "name" TEXT NOT NULL,
   "value" REAL,
   "text" TEXT,
   "step" INTEGER,
   "time" REAL
);
CREATE TABLE "artifacts" (
   "id" INTEGER PRIMARY KEY,
   "variant_id" INTEGER REFERENCES "variants"("id"),
   "task" TEXT,
   "port" TEXT,
   "path" TEXT,
   "sha256" TEXT,
   "size" INTEGER,
   "is_dir" INTEGER,
   "created" REAL
);
CREATE TABLE "commands" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "verb" TEXT NOT NULL,
   "args" TEXT DEFAULT '{}',
   "issuer" TEXT,
   "status" TEXT NOT NULL DEFAULT 'pending',
   "outcome" TEXT,
   "created" REAL,
   "applied" REAL
);
CREATE TABLE "events" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "time" REAL NOT NULL,
   "actor" TEXT NOT NULL,
   "kind" TEXT NOT NULL,
   "target" TEXT,
   "detail" TEXT,
   "command_id" INTEGER
);
CREATE TABLE "heartbeat" (
   "run_id" INTEGER PRIMARY KEY REFERENCES "runs"("id"),
   "pid" INTEGER,
   "host" TEXT,
   "started" REAL,
   "beat" REAL,
   "proc_start" REAL
);
-- Indexes for every query the CLI and the TUI make.
CREATE INDEX "idx_variants_run_id_status"
    ON "variants" ("run_id", "status");
CREATE INDEX "idx_variants_run_id_space_iteration"
    ON "variants" ("run_id", "space", "iteration");
CREATE INDEX "idx_variants_run_id_rev"
    ON "variants" ("run_id", "rev");
CREATE INDEX "idx_task_runs_variant_id_task_attempt"
    ON "task_runs" ("variant_id", "task", "attempt");
CREATE INDEX "idx_task_runs_cache_key"
    ON "task_runs" ("cache_key");
CREATE INDEX "idx_metrics_variant_id_name_step"
    ON "metrics" ("variant_id", "name", "step");
CREATE INDEX "idx_artifacts_variant_id"
    ON "artifacts" ("variant_id");
CREATE INDEX "idx_commands_run_id_status"
    ON "commands" ("run_id", "status");
CREATE INDEX "idx_events_run_id_id"
    ON "events" ("run_id", "id");
"""


def _v1(kb: KB) -> None:
    _script(kb, V1)


def _script(kb: KB, sql: str) -> None:
    """Run DDL statements one by one inside the migration's transaction (executescript would commit it)."""
    for statement in sql.split(";\n"):
        code = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
        if code:
            kb.conn.execute(code)


def _add_columns(kb: KB, table: str, *columns: str) -> None:
    for column in columns:
        kb.conn.execute(f'ALTER TABLE "{table}" ADD COLUMN {column}')


def _index(kb: KB, table: str, columns: list[str], *, unique: bool = False) -> None:
    """An index named as the first schema names them: idx_TABLE_COL1_COL2."""
    name = "_".join(["idx", table, *columns])
    kind = "UNIQUE INDEX" if unique else "INDEX"
    quoted = ", ".join(f'"{column}"' for column in columns)
    kb.conn.execute(f'CREATE {kind} "{name}"\n    ON "{table}" ({quoted})')


def _v2(kb: KB) -> None:
    """The task cache: an entry can be evicted (`xxp-tui cache gc`) without losing its history."""
    _add_columns(kb, "task_runs", '"cache_evicted" INTEGER NOT NULL DEFAULT 0')
    _index(kb, "task_runs", ["cache_key", "status"])


def _v3(kb: KB) -> None:
    """Distributed runs: the engine's heartbeat carries how many Dask workers were live."""
    _add_columns(kb, "heartbeat", '"live_workers" INTEGER')


def _v4(kb: KB) -> None:
    """`cache ls` counts the hits of each entry: index the reused task run's source."""
    if kb.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'idx_task_runs_cache_source'") == 0:
        _index(kb, "task_runs", ["cache_source"])


def _v5(kb: KB) -> None:
    """Each task execution records the params it ran with, resolved (defaults and fixed values
    included): what warm start compares, since a spec can change a default between runs."""
    _add_columns(kb, "task_runs", '"params" TEXT')


def _v6(kb: KB) -> None:
    """A task that declares its own environment (`venv`, `python_version`) records which one it ran
    in: the hash of its requirements and interpreter (engine/taskenv.py)."""
    _add_columns(kb, "task_runs", '"env_hash" TEXT')


NOTES = """
CREATE TABLE "notes" (
   "id" INTEGER PRIMARY KEY,
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "variant_id" INTEGER REFERENCES "variants"("id"),
   "author" TEXT NOT NULL,
   "time" REAL NOT NULL,
   "text" TEXT NOT NULL,
   "tags" TEXT DEFAULT '[]'
);
"""


def _v7(kb: KB) -> None:
    """Knowledge that compounds. Runs get a global id (`uid`) so that `kb merge` can tell a run it
    already holds (merging twice adds nothing, also through a third KB) and provenance: the KB a
    merged run came from and its id there. `notes` hold what humans learned about a run or a variant."""
    _add_columns(kb, "runs", '"uid" TEXT', '"merged_from" TEXT', '"merged_run" INTEGER', '"merged_at" REAL')
    kb.conn.execute("UPDATE runs SET uid = lower(hex(randomblob(16))) WHERE uid IS NULL")
    _index(kb, "runs", ["uid"], unique=True)
    _script(kb, NOTES)
    _index(kb, "notes", ["run_id", "variant_id"])


def _v8(kb: KB) -> None:
    """An injected variant may take a value the space's lists lack but its task's declared range admits:
    it is marked off the grid, so the table and `variants --json` never pass it off as a grid point."""
    _add_columns(kb, "variants", '"off_grid" INTEGER NOT NULL DEFAULT 0')


def _v9(kb: KB) -> None:
    """Which GPUs a task run held (CUDA_VISIBLE_DEVICES as granted by the run's pool, e.g. "0,1"; "" for
    none, NULL when no pool was kept): shown by `show`, and what a resumed engine takes back for the
    tasks it adopts, so no GPU stays taken by a dead task nor is handed out twice."""
    _add_columns(kb, "task_runs", '"gpus" TEXT')


SPEC_VERSIONS = """
CREATE TABLE "spec_versions" (
   "run_id" INTEGER NOT NULL REFERENCES "runs"("id"),
   "version" INTEGER NOT NULL,
   "path" TEXT,
   "text" TEXT NOT NULL,
   "hash" TEXT,
   "diff" TEXT,
   "issuer" TEXT,
   "created" REAL NOT NULL,
   "summary" TEXT,
   PRIMARY KEY ("run_id", "version")
);
"""


def _v10(kb: KB) -> None:
    """A run executes a version of its spec, and `amend` adds versions while it runs: each is kept
    (entry text, hash, unified diff from the previous one, who, when, what the engine did), and each
    variant records the version it was sampled under. Existing runs get their first version from
    the spec text they recorded; their variants belong to it."""
    _script(kb, SPEC_VERSIONS)
    kb.conn.execute(
        "INSERT INTO spec_versions (run_id, version, path, text, hash, diff, issuer, created, summary)"
        " SELECT id, 1, spec_path, COALESCE(spec_text, ''), spec_hash, '', NULL, created, '' FROM runs")
    _add_columns(kb, "variants", '"spec_version" INTEGER NOT NULL DEFAULT 1')


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
    _add_columns(kb, "variants", '"held_since" REAL', '"hold_releases_slot" INTEGER NOT NULL DEFAULT 0')


def _v13(kb: KB) -> None:
    """What each task run cost (engine/cost.py): wall, CPU seconds of its whole process tree, GPU-seconds
    (time × GPUs held) and peak resident memory. A cache hit carries the figures of the execution it reused:
    what reuse saved. `stalled` is when a running task was last marked stalled (no output, no metric for its
    `stall_after`), and a variant is flagged while one of its tasks stays stalled (`variants --json`)."""
    _add_columns(kb, "task_runs", '"wall_seconds" REAL', '"cpu_seconds" REAL', '"gpu_seconds" REAL',
                 '"peak_rss_bytes" INTEGER', '"stalled" REAL')
    _add_columns(kb, "variants", '"stalled" INTEGER NOT NULL DEFAULT 0')


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
