"""The kill/resume torture (see torture.py): 20 random SIGKILLs of the engine during a run of a
control graph with every kind of node and edge cost no task work: every variant completed once,
none lost, no work that had finished or was running done again, the KB intact, no process left.
benchmarks/kill_resume.py runs more rounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.torture import EXPECTED_PATH, torture
from xxp_tui.engine.executors.fork_client import fork_server_enabled
from xxp_tui.engine.executors.records import proc_record

pytestmark = pytest.mark.slow

ROUNDS = 20
BUDGET = 60.0  # seconds for the kill rounds (3 to 5 s each); the run then finishes under one engine


def test_twenty_sigkills_of_the_engine_cost_no_task_work(tmp_path: Path):
    report = torture(tmp_path, ROUNDS, seed=12, budget=BUDGET)
    print(report.as_dict())
    assert report.problems == [], report.problems
    # A machine so loaded that the budget runs out first must still have done half the rounds.
    assert report.rounds == ROUNDS or (report.seconds > BUDGET and report.rounds >= ROUNDS // 2), report
    assert report.kills_with_tasks_running >= ROUNDS // 2, report
    assert report.completed_once and report.lost == 0, report
    assert report.rerun == 0, report
    assert report.adopted + report.collected > 0, report  # the kills did catch tasks, and they were kept
    assert report.integrity == "ok" and report.orphans == 0, report
    # The tasks were started the way this run's setting says (XXP_FORK_SERVER; forked by default).
    forked = [proc_record(f.parent).get("forked") for f in tmp_path.rglob("proc.json")]
    assert forked and all(forked) == fork_server_enabled({}) and any(forked) == all(forked), forked
    assert report.path_ok, f"{report.paths} {report.variants_per_node} vs {EXPECTED_PATH}"
    assert all(path == EXPECTED_PATH for path in report.paths), report.paths
