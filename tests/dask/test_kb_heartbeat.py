"""Schema v3: the engine's heartbeat carries the live Dask workers; an older knowledge base gains
the column when it is opened, and `runs` describes the executor from it."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb.queries import run_summary
from xxp_tui.kb.schema import SCHEMA_VERSION


def new_run(kb, executor: str = "dask", scheduler: str | None = "tcp://10.0.0.5:8786") -> int:
    return kbr.create_run(kb, experiment="E", spec_path="/p/e.xxp", project_dir="/p", spec_hash="h", spec_text="",
                          spec_files={}, model={}, settings={}, workers=2, seed=0, executor=executor,
                          scheduler=scheduler)



def columns(kb, table: str) -> set[str]:
    return {row["name"] for row in kb.query(f"PRAGMA table_info({table})")}

def test_a_version_2_knowledge_base_is_migrated_and_keeps_its_runs(tmp_path: Path) -> None:
    db = tmp_path / "kb.sqlite"
    with open_kb(db) as kb:
        run_id = new_run(kb)
    with sqlite3.connect(db) as conn:  # what xxp-tui before schema 3 wrote
        conn.execute("ALTER TABLE heartbeat DROP COLUMN live_workers")
        conn.execute("DROP INDEX idx_task_runs_cache_source")  # schema 4
        conn.execute("ALTER TABLE task_runs DROP COLUMN params")  # schema 5
        conn.execute("ALTER TABLE task_runs DROP COLUMN env_hash")  # schema 6
        conn.execute("DROP INDEX idx_runs_uid")  # schema 7
        for column in ("uid", "merged_from", "merged_run", "merged_at"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("DROP TABLE notes")
        conn.execute("ALTER TABLE variants DROP COLUMN off_grid")  # schema 8
        conn.execute("ALTER TABLE task_runs DROP COLUMN gpus")  # schema 9
        conn.execute("DROP TABLE spec_versions")  # schema 10
        conn.execute("ALTER TABLE variants DROP COLUMN spec_version")
        conn.execute("DROP INDEX idx_variants_space_status_objective")  # schema 11
        conn.execute("DROP INDEX idx_events_run_id_target")
        conn.execute("ALTER TABLE variants DROP COLUMN held_since")  # schema 12
        conn.execute("ALTER TABLE variants DROP COLUMN hold_releases_slot")
        for column in ("wall_seconds", "cpu_seconds", "gpu_seconds", "peak_rss_bytes", "stalled"):  # schema 13
            conn.execute(f"ALTER TABLE task_runs DROP COLUMN {column}")
        conn.execute("ALTER TABLE variants DROP COLUMN stalled")
        conn.execute("PRAGMA user_version = 2")
    with open_kb(db) as kb:
        assert kb.scalar("PRAGMA user_version") == SCHEMA_VERSION == 13
        indexes = {r[0] for r in kb.query("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"idx_variants_space_status_objective", "idx_events_run_id_target", "idx_notes_variant_id"} <= indexes
        assert {"params", "env_hash", "gpus", "cpu_seconds", "gpu_seconds", "peak_rss_bytes", "stalled"} <= columns(
            kb, "task_runs")
        assert "stalled" in columns(kb, "variants")
        assert len(kb.scalar("SELECT uid FROM runs WHERE id = ?", (run_id,))) == 32  # given to older runs too
        assert kb.scalar("SELECT count(*) FROM notes") == 0
        assert {"off_grid", "spec_version", "held_since", "hold_releases_slot"} <= columns(kb, "variants")
        assert kb.scalar("SELECT version FROM spec_versions WHERE run_id = ?", (run_id,)) == 1
        assert "live_workers" in columns(kb, "heartbeat")
        assert kbr.get_run(kb, run_id).scheduler == "tcp://10.0.0.5:8786"


def test_live_workers_are_shown_while_the_engine_beats(tmp_path: Path) -> None:
    with open_kb(tmp_path / "kb.sqlite") as kb:
        dask_run, local_run, cluster_run = new_run(kb), new_run(kb, "local", None), new_run(kb, scheduler=None)
        for run_id in (dask_run, local_run, cluster_run):
            kbr.beat(kb, run_id, os.getpid(), time.time(), None, live_workers=None if run_id == local_run else 3)
        summary = run_summary(kb, dask_run)
        assert summary.to_json()["live_workers"] == 3
        assert summary.executor_label == "dask tcp://10.0.0.5:8786, 3 workers"
        assert run_summary(kb, local_run).executor_label == "local"
        assert run_summary(kb, cluster_run).executor_label == "dask local cluster, 3 workers"
        kb.conn.execute("UPDATE heartbeat SET beat = beat - 60 WHERE run_id = ?", (dask_run,))
        stale = run_summary(kb, dask_run)  # a dead engine's last count is not "live"
        assert stale.to_json()["live_workers"] is None
        assert stale.executor_label == "dask tcp://10.0.0.5:8786"
