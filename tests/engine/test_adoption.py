"""A task outlives its engine: the next engine collects its end, or adopts it and then watches it
like its own: its metrics, its timeout, a prune. Real detached engines, SIGKILLed; real tasks."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, group_alive, wait_until, xxp
from xxp_tui.engine.executors.records import exit_record
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import variants as kbv

pytestmark = [pytest.mark.slow, pytest.mark.launchers]  # launchers: also run with the other XXP_FORK_SERVER

ONE = """
workflow W { task G { implementation "t.gated"; TIMEOUT } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(3, 4);
        task G { param x = x; param gates = "{gates}"; param child = true; }
        objective maximize score;
    }
}
"""


def resumed_line(run: LiveRun) -> str:
    lines = wait_until(lambda: [e.detail["text"] for e in kbc.events(run.kb, run.run_id)
                                if "resumed" in e.detail.get("text", "")], 20, "the resume")
    return lines[-1]


def started_once(run: LiveRun, vid: int) -> kbv.TaskRun:
    (tr,) = run.task_runs(vid)
    return tr


def test_a_task_that_ended_while_no_engine_ran_is_collected_not_rerun(tmp_path: Path):
    run = LiveRun(tmp_path, ONE.replace("TIMEOUT", ""))
    try:
        run.start()
        run.wait_running(1)
        tr = started_once(run, 1)
        run.kill()
        run.release_all()
        record = wait_until(lambda: exit_record(tr.cwd), 30, "the exit record the supervisor writes")
        assert (record["exit_code"], record["pid"]) == (0, tr.pid)
        assert not group_alive(tr.pgid)  # its child too: the task's tree went with it
        run.start()
        assert resumed_line(run) == "run r1 resumed: 0 interrupted variant(s) re-queued, " \
                                    "1 task(s) that ended meanwhile collected"
        assert run.wait_finished().status == "completed"
        after = started_once(run, 1)  # the same execution, completed: nothing ran twice
        assert (after.id, after.status, after.exit_code) == (tr.id, "completed", 0)
        scores = [m.value for m in kbv.metrics(run.kb, 1, "score")]
        assert scores == [3.0] and run.variant(1).objective == 3.0
        assert "PARAMS" in Path(tr.stdout_path).read_text()
    finally:
        run.stop()


def test_an_adopted_task_is_pruned_with_its_tree(tmp_path: Path):
    run = LiveRun(tmp_path, ONE.replace("TIMEOUT", ""))
    try:
        run.start()
        run.wait_running(1)
        tr = started_once(run, 1)
        run.kill()
        run.start()
        assert resumed_line(run).endswith("1 running task(s) adopted")
        done = xxp("prune", "v1", "--db", str(run.db))
        assert done.returncode == 0, done.stderr
        wait_until(lambda: not group_alive(tr.pgid), 15, "the adopted task's group to be killed")
        wait_until(lambda: started_once(run, 1).status != "running", 15, "the task run's end")
        assert run.variant(1).status == "pruned"
        assert started_once(run, 1).status == "cancelled"
    finally:
        run.stop()
        if group_alive(tr.pgid):
            os.killpg(tr.pgid, signal.SIGKILL)


def test_an_adopted_task_keeps_its_timeout_from_its_first_start(tmp_path: Path):
    run = LiveRun(tmp_path, ONE.replace("TIMEOUT", "timeout 4s;"))
    try:
        run.start()
        run.wait_running(1)
        tr = started_once(run, 1)
        run.kill()
        run.start()
        assert resumed_line(run).endswith("1 running task(s) adopted")
        final = run.wait_finished(timeout=60)
        after = started_once(run, 1)
        assert final.status == "failed" and after.id == tr.id and after.status == "failed"
        assert "timed out after 4s" in after.reason
        assert after.ended - tr.started < 20  # counted from its first start, not from the adoption
        assert not group_alive(tr.pgid)
    finally:
        run.stop()
        if group_alive(tr.pgid):
            os.killpg(tr.pgid, signal.SIGKILL)
