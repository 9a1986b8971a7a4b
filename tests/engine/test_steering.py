"""Steering semantics against a real engine process: every command goes through the real `xxp-tui`
CLI and the KB's command channel; every effect is asserted on KB facts (variant states, task runs
with their pids and process groups, trial numbers) and on the task processes themselves.

The tasks are `t.gated`: each holds until the test opens its gate, so "which variant starts next"
or "nothing starts while paused" is decided by the engine alone, not by timing luck.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.engine.live import CLI, LiveRun, clean_env, group_alive, wait_until, xxp
from xxp_tui.kb import commands as kbc

pytestmark = pytest.mark.slow

GRID = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, {n});
        task G { param x = x; param gates = "{gates}"; param child = {child}; param stubborn = {stubborn}; }
        objective maximize score;
    }
}
"""
TUNE = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Tune -> END; }
    space Tune of W {
        strategy bayesian;
        runs = 3;
        param_values x = range(0, 100);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
        seed = 5;
    }
}
"""
PAUSE_WATCH = 1.0  # seconds to watch that nothing starts while paused (the engine looks every 50 ms)
PRUNE_DEADLINE = 1.0  # a pruned running variant's process group is gone this soon after the command


def grid(n: int, child: bool = False, stubborn: bool = False) -> str:
    flag = {True: "true", False: "false"}
    return GRID.replace("{n}", str(n)).replace("{child}", flag[child]).replace("{stubborn}", flag[stubborn])



def steer(run: LiveRun, *args: str) -> str:
    """Run a steering command through the CLI; it must succeed. Returns its output."""
    done = xxp(*args, "--db", str(run.db))
    assert done.returncode == 0, f"xxp-tui {' '.join(args)} -> {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def starts(run: LiveRun) -> list[int]:
    """Variant ids in the order they started."""
    started = [v for v in run.variants() if v.started is not None]
    return [v.id for v in sorted(started, key=lambda v: v.started)]


def finish(run: LiveRun, expected_status: str = "completed") -> None:
    run.release_all()
    final = run.wait_finished()
    assert final.status == expected_status, final
    assert run.wait_exit(30) == 0, run.engine_log()


def test_prune_queued_variant_never_starts(live):
    run = live(grid(4))
    assert run.wait_running(1) == [1]
    out = steer(run, "prune", "v4")
    assert "pruned v4" in out
    v4 = run.variant(4)
    assert (v4.status, v4.started) == ("pruned", None)
    assert v4.reason.startswith("pruned by ")
    finish(run)
    statuses = {v.id: v.status for v in run.variants()}
    assert statuses == {1: "completed", 2: "completed", 3: "completed", 4: "pruned"}
    assert run.task_runs(4) == [], "a pruned queued variant must never start a task"
    assert run.variant(4).started is None
    assert starts(run) == [1, 2, 3]


@pytest.mark.parametrize("stubborn", [False, True], ids=["obeys-sigterm", "ignores-sigterm"])
def test_prune_running_variant_kills_its_process_group_within_a_second(live, stubborn):
    run = live(grid(3, child=True, stubborn=stubborn))
    assert run.wait_running(1) == [1]
    (tr,) = run.task_runs(1)
    assert tr.status == "running" and tr.pgid is not None and tr.pid == tr.pgid
    child = wait_until(lambda: _child_pid(tr.stdout_path), 15, "the task's child process")
    assert group_alive(tr.pgid) and psutil.pid_exists(child)
    assert _pgid(child) == tr.pgid, "the task's child must share its process group"

    proc = subprocess.Popen([str(CLI), "prune", "v1", "--db", str(run.db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL, env=clean_env())
    try:
        cmd = wait_until(lambda: next(iter(kbc.for_run(run.kb, run.run_id)), None), 20, "the prune command")
        while group_alive(tr.pgid) and time.time() - cmd.created < 5:
            time.sleep(0.005)
        gone_after = time.time() - cmd.created
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "pruned v1" in out
    assert gone_after <= PRUNE_DEADLINE, f"process group {tr.pgid} lived {gone_after:.2f}s after the prune"
    assert not group_alive(tr.pgid)
    assert not _alive(child), "the task's child process survived the prune"

    v1 = run.variant(1)
    assert v1.status == "pruned" and v1.reason.startswith("pruned by ")
    ended = wait_until(lambda: (t := run.task_runs(1)[0]).status != "running" and t, 10, "the task run's end")
    assert ended.status == "cancelled"
    assert ended.signal == (signal.SIGKILL if stubborn else signal.SIGTERM), ended
    assert run.wait_running(1, gone=(1,)) == [2], "the freed slot goes to the next queued variant"
    finish(run)
    assert {v.id: v.status for v in run.variants()} == {1: "pruned", 2: "completed", 3: "completed"}
    assert run.variant(1).objective is None


def test_prioritize_changes_which_variant_starts_next(live):
    run = live(grid(5))
    assert run.wait_running(1) == [1]
    out = steer(run, "prioritize", "v5", "--priority", "10")
    assert "v5 priority 0 -> 10" in out
    assert run.variant(5).priority == 10
    assert run.variant(1).status == "running", "v1 must still hold its slot for this test to mean anything"
    run.release(1)
    assert run.wait_running(1, gone=(1,)) == [5], "the prioritized variant must be the next to start"
    assert run.variant(2).started is None
    finish(run)
    assert starts(run) == [1, 5, 2, 3, 4]


def test_pause_stops_new_starts_and_resume_continues(live):
    run = live(grid(3))
    assert run.wait_running(1) == [1]
    assert "paused" in steer(run, "pause", f"r{run.run_id}")
    assert run.run().paused
    wait_until(lambda: run.run().status == "paused", 10, "the run to show paused")
    run.release(1)
    wait_until(lambda: run.variant(1).status == "completed", 15, "v1 (running when paused) to finish")
    watch_until = time.monotonic() + PAUSE_WATCH
    while time.monotonic() < watch_until:
        assert starts(run) == [1], "a variant started while the run was paused"
        assert run.running_task_runs() == []
        time.sleep(0.05)
    assert run.run().status == "paused"
    assert [v.status for v in run.variants()] == ["completed", "queued", "queued"]

    assert "resumed" in steer(run, "resume", f"r{run.run_id}")
    assert run.wait_running(1, gone=(1,)) == [2]
    assert not run.run().paused
    wait_until(lambda: run.run().status == "running", 10, "the run to show running")
    finish(run)
    assert starts(run) == [1, 2, 3]
    kinds = [e.kind for e in kbc.events(run.kb, run.run_id) if e.command_id is not None]
    assert kinds == ["pause", "resume"]


def test_parallel_changes_the_slot_count_live(live):
    run = live(grid(6))
    assert run.wait_running(1) == [1]
    time.sleep(0.3)  # the engine gets several turns with free work queued: it must still run only one
    assert run.running_ids() == [1]
    assert "workers 1 -> 3" in steer(run, "parallel", f"r{run.run_id}", "3")
    assert run.run().workers == 3
    assert run.wait_running(3) == [1, 2, 3]
    run.release(1)
    assert run.wait_running(3, gone=(1,)) == [2, 3, 4], "a freed slot is refilled up to the new count"
    finish(run)

    (cmd,) = kbc.for_run(run.kb, run.run_id)
    intervals = [(tr.started, tr.ended) for v in run.variants() for tr in run.task_runs(v.id)]
    assert len(intervals) == 6 and all(end is not None for _, end in intervals)
    assert _max_overlap([i for i in intervals if i[0] < cmd.applied]) == 1
    assert _max_overlap(intervals) == 3


def test_inject_runs_the_injected_params_and_optuna_is_told(live):
    run = live(TUNE)
    assert run.wait_running(1) == [1]
    v1 = run.variant(1)
    assert (v1.origin, v1.trial) == ("strategy", 0)
    out = steer(run, "inject", f"r{run.run_id}", "--space", "Tune", "--set", "G.x=77")
    assert "injected v2 into Tune" in out
    v2 = run.variant(2)
    assert (v2.origin, v2.config, v2.priority, v2.trial) == ("injected", {"x": 77}, 1, None)
    assert v2.params["G.x"] == 77

    run.release(1)
    assert run.wait_running(1, gone=(1,)) == [2], "the injected variant (priority 1) runs next"
    (tr,) = run.task_runs(2)
    seen = wait_until(lambda: _printed_params(tr.stdout_path), 15, "the injected task's params line")
    assert seen["x"] == 77 and isinstance(seen["x"], int), seen
    run.release(2)
    wait_until(lambda: run.variant(2).status == "completed", 15, "the injected variant to complete")
    assert run.variant(2).objective == 77.0
    finish(run)

    variants = run.variants()
    strategy = [v for v in variants if v.origin == "strategy"]
    assert len(strategy) == 3, "the budget (runs = 3) counts strategy variants only"
    assert all(v.status == "completed" for v in variants)
    # The study numbers trials in the order it learns of them: v1 was asked as trial 0; the
    # injected v2 finished next and was added to the study as trial 1, before the next ask.
    # Had Optuna not been told of it, the later asks would be trials 1 and 2.
    assert [v.trial for v in strategy] == [0, 2, 3]
    warnings = [e for e in kbc.events(run.kb, run.run_id) if e.kind == "warning"]
    assert warnings == []


# ---------------------------------------------------------------------------- helpers


def _child_pid(stdout_path: str) -> int | None:
    for line in Path(stdout_path).read_text().splitlines():
        if line.startswith("CHILD "):
            return int(line.split()[1])
    return None


def _printed_params(stdout_path: str) -> dict | None:
    for line in Path(stdout_path).read_text().splitlines():
        if line.startswith("PARAMS "):
            return json.loads(line[len("PARAMS "):])
    return None


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, delta in points:
        cur += delta
        best = max(best, cur)
    return best


def test_inject_by_short_name_off_the_grid_within_the_declared_range(live):
    """README's `:inject Grid x=…` form: the short name is enough when one task has it; a value the grid
    lacks but the task's declared range (0, 1000) admits is run and marked off the grid; one outside
    that range is refused, naming the range."""
    run = live(grid(3))
    assert run.wait_running(1) == [1]
    out = steer(run, "inject", f"r{run.run_id}", "--space", "Grid", "--set", "x=500")
    assert "injected v4 into Grid" in out and "off the grid: G.x" in out
    v4 = run.variant(4)
    assert (v4.origin, v4.off_grid, v4.params["G.x"]) == ("injected", True, 500)
    assert steer(run, "inject", f"r{run.run_id}", "--space", "Grid", "--set", "G.x=2").startswith("injected v5")
    assert run.variant(5).off_grid is False  # a grid value: not off the grid, even when injected
    refused = xxp("inject", f"r{run.run_id}", "--space", "Grid", "--set", "x=5000", "--db", run.db)
    assert refused.returncode != 0
    assert "G.x=5000 is outside G.x's declared range" in refused.stdout + refused.stderr
    assert "(0, 1000)" in refused.stdout + refused.stderr
    rows = json.loads(xxp("variants", f"r{run.run_id}", "--json", "--db", run.db).stdout)
    assert {r["id"]: r["off_grid"] for r in rows if r["origin"] == "injected"} == {"v4": True, "v5": False}
    table = xxp("variants", f"r{run.run_id}", "--db", run.db).stdout
    assert "injected (off grid)" in table
    run.release_all()
    finish(run)
    assert run.variant(4).status == "completed" and run.variant(4).objective == 500.0
