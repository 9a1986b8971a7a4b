"""Every query the CLI and the viewer make against a KB uses an index (issue 19: a KB of 1,000 runs).

The statements are not copied here by hand: the real commands run in this process against a KB
written by benchmarks/big_kb.py (a few runs, same shape), every SELECT SQLite executes is traced,
and SQLite's own EXPLAIN QUERY PLAN must show no full SCAN of a table that grows with the runs
(variants, task runs, metrics, events…). A scan of `runs` itself (listing the runs) is allowed.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

BIG_KB = Path(__file__).resolve().parents[2] / "benchmarks" / "big_kb.py"
GROWING = ("variants", "task_runs", "metrics", "events", "artifacts", "commands", "notes", "nodes", "environment")
SCAN = re.compile(r"^SCAN (\w+)")


@pytest.fixture(scope="module")
def small_big_kb(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("big_kb", BIG_KB)
    big_kb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(big_kb)
    root = tmp_path_factory.mktemp("bigkb")
    db = root / ".xxp" / "kb.sqlite"
    big_kb.generate(big_kb.make_project(root), db, runs=4, per_run=30, steps=3)
    return db


@pytest.fixture
def traced(monkeypatch) -> list[str]:
    """Every SQL statement run by any KB connection opened from now on."""
    statements: list[str] = []
    connect = sqlite3.connect

    def tracing_connect(*args, **kwargs):
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(sqlite3, "connect", tracing_connect)
    return statements


def scans(db: Path, statements: list[str]) -> dict[str, list[str]]:
    """Statement -> the plan lines that scan a growing table."""
    bad: dict[str, list[str]] = {}
    conn = sqlite3.connect(str(db))
    try:
        for sql in dict.fromkeys(statements):
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            plan = [row[-1] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            hits = [line for line in plan if (m := SCAN.match(line)) and m.group(1) in GROWING]
            if hits:
                bad[sql] = plan
    finally:
        conn.close()
    return bad


COMMANDS = [["runs"], ["variants", "r2"], ["variants", "r2", "--status", "completed"], ["show", "r2"],
            ["show", "v35"], ["kb", "best", "W"], ["kb", "compare", "r1", "r3"], ["export", "r2"], ["card", "r2"]]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_cli_commands_use_indexes(small_big_kb, traced, args):
    from xxp_tui.cli.main import app

    result = CliRunner().invoke(app, [*args, "--db", str(small_big_kb)])
    assert result.exit_code == 0, result.output
    assert traced, "no statement was traced"
    assert scans(small_big_kb, traced) == {}


def test_the_viewer_and_its_screens_use_indexes(small_big_kb, traced):
    from xxp_tui.kb import open_kb
    from xxp_tui.kb.queries import run_summaries
    from xxp_tui.tui.screens.knowledge import knowledge_report
    from xxp_tui.tui.source import RunSource

    source = RunSource(small_big_kb, 2)
    try:
        while source.poll(force=True) is not None and source.more:
            pass
        assert source.detail(40) is not None
    finally:
        source.close()
    with open_kb(small_big_kb, create=False, readonly=True) as kb:
        assert len(run_summaries(kb)) == 4  # the run picker
    knowledge_report(small_big_kb, 2, with_importance=False)
    assert scans(small_big_kb, traced) == {}
