"""Holding a variant (`suspend` / `resume VARIANT`) against a real engine process and real task
processes: the task's process really is stopped (state 'T') and runs again, a held queued variant
does not start, held time does not count toward the timeout, prune kills a held task, and a hold
survives an engine SIGKILL."""

from __future__ import annotations

import time

import psutil
import pytest

from tests.engine.live import group_alive, wait_until
from tests.engine.test_steering import finish, grid, steer
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb

pytestmark = pytest.mark.slow

WATCH = 1.0  # seconds to watch that nothing starts (the engine looks every 50 ms)

TIMED = """
workflow W { task G { implementation "t.gated"; timeout 6s; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 2);
        task G { param x = x; param gates = "{gates}"; param hold = 30.0; }
        objective maximize score;
    }
}
"""



def task_process(run, vid: int) -> psutil.Process:
    tr = wait_until(lambda: next((t for t in run.task_runs(vid) if t.status == "running" and t.pid), None), 20,
                    f"v{vid}'s running task")
    return psutil.Process(tr.pid)


def stopped(proc: psutil.Process) -> bool:
    return proc.status() == psutil.STATUS_STOPPED


def test_suspend_stops_the_task_process_and_resume_continues_it(live):
    run = live(grid(2))
    assert run.wait_running(1) == [1]
    proc = task_process(run, 1)
    assert not stopped(proc)

    assert "suspended v1" in steer(run, "suspend", "v1")
    wait_until(lambda: stopped(proc), 10, "the task process to be stopped (state T)")
    v1 = run.variant(1)
    assert v1.status == "suspended" and v1.held_since is not None and v1.reason.startswith("suspended by ")
    run.release(1)  # its gate opens, but a stopped process cannot see it
    watch_until = time.monotonic() + WATCH
    while time.monotonic() < watch_until:  # it keeps its slot: v2 does not start, v1 does not end
        assert stopped(proc)
        assert run.variant(2).status == "queued" and run.variant(1).status == "suspended"
        time.sleep(0.05)

    assert "resumed v1" in steer(run, "resume", "v1")
    wait_until(lambda: run.variant(1).status == "completed", 20, "v1 to run again and complete")
    assert run.variant(1).held_since is None
    finish(run)
    assert [v.status for v in run.variants()] == ["completed", "completed"]
    (tr,) = run.task_runs(1)
    assert tr.status == "completed" and tr.pid == proc.pid, "the same process went on: nothing was re-run"


def test_a_suspended_queued_variant_is_held_back_and_release_slot_frees_the_slot(live):
    run = live(grid(3))
    assert run.wait_running(1) == [1]
    assert "suspended v2" in steer(run, "suspend", "v2")
    assert run.variant(2).status == "suspended"
    run.release(1)
    assert run.wait_running(1, gone=(1,)) == [3], "the held variant must not start"
    assert run.variant(2).started is None

    # A running variant held with --release-slot gives its slot to the held-back one once resumed.
    proc = task_process(run, 3)
    assert "suspended v3" in steer(run, "suspend", "v3", "--release-slot")
    wait_until(lambda: stopped(proc), 10, "v3's process to be stopped")
    assert "resumed v2" in steer(run, "resume", "v2")
    wait_until(lambda: run.variant(2).status == "running", 20, "v2 to start in the slot v3 released")
    assert stopped(proc) and run.variant(3).status == "suspended"
    assert "resumed v3" in steer(run, "resume", "v3")
    finish(run)
    assert [v.status for v in run.variants()] == ["completed"] * 3


def test_time_suspended_does_not_count_toward_the_timeout(live):
    run = live(TIMED, workers=1)
    assert run.wait_running(1) == [1]
    # Straight into the command channel, not through a CLI process that a loaded machine may take
    # seconds to start: the hold must come well within the 6 s timeout.
    with open_kb(run.db, create=False) as kb:
        kbc.submit(kb, run.run_id, kbc.Suspend(("v1",)))
    wait_until(lambda: run.variant(1).status == "suspended", 10, "v1 to be suspended")
    proc = task_process(run, 1)
    wait_until(lambda: stopped(proc), 10, "v1's process to be stopped")
    held_from = time.monotonic()
    while time.monotonic() - held_from < 7.0:  # longer than its 6 s timeout
        assert run.variant(1).status == "suspended", run.variant(1).reason
        time.sleep(0.05)
    run.release(1)  # first: a stopped process cannot see its gate; once continued it sees it at once
    steer(run, "resume", "v1")
    wait_until(lambda: run.variant(1).finished, 20, "v1 to end")
    v1 = run.variant(1)
    assert v1.status == "completed", v1.reason
    # The timeout still holds for time really run: v2 waits at its gate and is killed after 6 s.
    v2 = wait_until(lambda: (v := run.variant(2)).finished and v, 30, "v2 to time out")
    assert v2.status == "failed" and "timed out after 6s" in v2.reason, v2.reason


def test_prune_and_stop_kill_a_suspended_variant(live):
    run = live(grid(3, child=True))
    assert run.wait_running(1) == [1]
    proc = task_process(run, 1)
    steer(run, "suspend", "v1", "v3")
    wait_until(lambda: stopped(proc), 10, "v1's process to be stopped")
    assert "pruned v1" in steer(run, "prune", "v1")
    wait_until(lambda: not group_alive(proc.pid), 10, "the held task's process group to die")
    assert run.variant(1).status == "pruned"
    assert run.wait_running(1, gone=(1,)) == [2]
    steer(run, "stop", f"r{run.run_id}")
    final = run.wait_finished()
    assert final.status == "stopped"
    assert {v.id: v.status for v in run.variants()} == {1: "pruned", 2: "cancelled", 3: "cancelled"}


def test_a_hold_survives_an_engine_sigkill(live):
    run = live(grid(2))
    assert run.wait_running(1) == [1]
    proc = task_process(run, 1)
    steer(run, "suspend", "v1")
    wait_until(lambda: stopped(proc), 10, "v1's process to be stopped")
    run.kill()
    assert proc.is_running() and stopped(proc), "the task lives on, still stopped, under its supervisor"
    run.start()
    wait_until(lambda: "resumed" in run.engine_log(), 20, "the engine to reconcile")
    watch_until = time.monotonic() + WATCH
    while time.monotonic() < watch_until:
        assert stopped(proc), "a resumed engine must keep a held task stopped"
        assert run.variant(1).status == "suspended" and run.variant(2).status == "queued"
        time.sleep(0.05)
    run.release(1)
    assert "resumed v1" in steer(run, "resume", "v1")
    wait_until(lambda: run.variant(1).status == "completed", 20, "the adopted held task to run on and complete")
    finish(run)
    (tr,) = run.task_runs(1)
    assert tr.pid == proc.pid, "adopted, not run again"


def test_a_task_left_stopped_by_a_crash_is_continued(live):
    """A crash between a resume (written to the KB) and its SIGCONT leaves a running variant's task
    stopped: the next engine continues it."""
    run = live(grid(1))
    assert run.wait_running(1) == [1]
    proc = task_process(run, 1)
    run.kill()
    proc.suspend()  # SIGSTOP, as a crash half-way through a resume would leave it
    run.start()
    wait_until(lambda: not stopped(proc), 20, "the next engine to continue the stopped task")
    finish(run)
