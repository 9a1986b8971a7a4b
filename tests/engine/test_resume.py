"""Crash safety: SIGKILL the engine at random points of a running experiment, several times, then
resume; nothing finished is lost or redone, the budget is a total, the KB stays sound, and no task
process is left behind.

A real detached engine process runs a grid space then a bayesian space (workflow Prep -> Work, 2
workers) on a real KB. Each round waits a random time (seeded), SIGKILLs the engine (its task
processes live on under their supervisor), and checks the KB; the next round restarts the engine
(alternately `python -m xxp_tui.engine` detached, as `xxp-tui run` does, and `xxp-tui resume
--headless`), which must reconcile: tasks the dead engine left are adopted or collected, never run
twice. The last `xxp-tui resume --headless` runs the experiment to the end and must exit 0.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.engine.live import (
    CLI,
    LiveRun,
    clean_env,
    group_alive,
    script_path,
    script_processes,
    wait_until,
    xxp,
)
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

KILL_ROUNDS = 5
KILL_SEED = 3_2024
KILL_DELAY = (0.05, 1.5)  # seconds after the engine's first beat
GRID_SIZE = 6
BUDGET = 20  # enough work that five kills all land before the end, now that resume loses no work
LINGER = 60.0  # a Work task whose parent died lingers this long (under its supervisor, none does)

SPEC = """
workflow W {
    START -> Prep -> Work -> END;
    task Prep { implementation "t.prep"; }
    task Work { implementation "t.work"; }
}
experiment E {
    control { START -> Grid -> Tune -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, GRID_SIZE);
        task Prep { param x = x; }
        task Work { param x = x; param secs = 0.6; param linger = LINGER; }
        objective maximize score;
    }
    space Tune of W {
        strategy bayesian;
        runs = BUDGET;
        parallel = 2;
        param_values x = range(0, 100);
        task Prep { param x = x; }
        task Work { param x = x; param secs = 0.6; param linger = LINGER; }
        objective maximize score;
        seed = 11;
    }
}
""".replace("GRID_SIZE", str(GRID_SIZE)).replace("BUDGET", str(BUDGET)).replace("LINGER", str(LINGER))


@pytest.fixture
def crash_run(tmp_path: Path):
    run = LiveRun(tmp_path, SPEC, workers=2)
    scripts = [script_path(tmp_path, "work"), script_path(tmp_path, "prep")]
    yield run
    run.stop()
    for path in scripts:  # a failed test must not leave lingering tasks behind
        for proc in script_processes(path):
            with contextlib.suppress(Exception):
                proc.kill()


def completed_state(run: LiveRun) -> dict[int, tuple]:
    """Every completed variant with what it produced: objective, end time, all metric rows."""
    out = {}
    for v in run.variants(status="completed"):
        rows = [(m.task, m.name, m.value, m.text, m.step) for m in kbv.metrics(run.kb, v.id)]
        out[v.id] = (v.space, v.params, v.objective, v.ended, rows)
    return out


def task_processes(run: LiveRun) -> set[int]:
    return {p.pid for name in ("work", "prep") for p in script_processes(script_path(run.root, name))}


def restart_with_cli(run: LiveRun, log: Path) -> subprocess.Popen:
    """`xxp-tui resume rN --headless`: the engine runs in that process (its pid beats)."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(CLI), "resume", f"r{run.run_id}", "--headless", "--db", str(run.db)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, env=clean_env())
    run.proc = proc
    wait_until(lambda: _beating(run, proc.pid) or proc.poll() is not None, 30, "the resumed engine's beat")
    assert proc.poll() is None, f"xxp-tui resume exited with {proc.returncode}:\n{log.read_text()}"
    return proc


def _beating(run: LiveRun, pid: int) -> bool:
    row = run.kb.one("SELECT pid FROM heartbeat WHERE run_id = ?", (run.run_id,))
    return row is not None and row["pid"] == pid and kbr.liveness(run.kb, run.run_id).alive


def test_sigkill_at_random_points_then_resume_loses_and_repeats_nothing(crash_run: LiveRun):
    run = crash_run
    rng = random.Random(KILL_SEED)
    cli_log = run.root / "resume.log"
    kept: dict[int, tuple] = {}  # completed before some kill -> what it was then
    caught = 0  # kills that interrupted running variants
    run.start()
    for round_no in range(KILL_ROUNDS):
        if round_no:
            left_behind = task_processes(run)
            if round_no % 2:
                run.start()
            else:
                restart_with_cli(run, cli_log)
            # The new engine adopts what the dead one left running: those tasks run to their end.
            wait_until(lambda left=left_behind: not (left & task_processes(run)), 30,
                       f"the tasks the killed engine left behind ({sorted(left_behind)}) to end")
        time.sleep(rng.uniform(*KILL_DELAY))
        assert run.proc.poll() is None, f"the engine exited before kill {round_no + 1}:\n{run.engine_log()}"
        run.kill()

        status = run.run().status
        assert status not in kbr.FINISHED_RUN_STATES, f"kill {round_no + 1} came after the run ended ({status})"
        assert run.integrity() == "ok"
        now = completed_state(run)
        for vid, before in kept.items():
            assert now.get(vid) == before, f"v{vid} completed before a kill, and changed or vanished after it"
        kept.update(now)
        caught += any(v.status == "running" for v in run.variants())

    assert len(kept) >= 2, "the kills all came too early to test anything"
    assert caught >= KILL_ROUNDS // 2, f"only {caught} of {KILL_ROUNDS} kills caught a variant running"
    left_behind = task_processes(run)
    done = xxp("resume", f"r{run.run_id}", "--headless", "--db", str(run.db), timeout=300)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "resumed" in done.stdout
    assert not (left_behind & task_processes(run))

    # The run finished, nothing completed was lost or changed.
    final = run.run()
    assert final.status == "completed", final
    assert run.integrity() == "ok"
    now = completed_state(run)
    for vid, before in kept.items():
        assert now.get(vid) == before, f"v{vid} completed before a kill, and changed or vanished after it"

    # Every variant ran to completion once: one completed execution per task, no more.
    variants = run.variants()
    assert all(v.status == "completed" for v in variants), [(v.id, v.status, v.reason) for v in variants]
    for v in variants:
        runs = kbv.task_runs(run.kb, v.id)
        for task in ("Prep", "Work"):
            finished = [tr for tr in runs if tr.task == task and tr.status in ("completed", "cached")]
            assert len(finished) == 1, f"v{v.id} {task} finished {len(finished)} times: {finished}"
    twice = run.kb.query(
        "SELECT t.variant_id, t.task, COUNT(*) AS n FROM task_runs t JOIN variants v ON v.id = t.variant_id"
        " WHERE v.run_id = ? AND t.status = 'completed' GROUP BY t.variant_id, t.task HAVING n > 1",
        (run.run_id,))
    assert [tuple(r) for r in twice] == []
    assert not kbv.task_runs_in_state(run.kb, run.run_id, "running")

    # The grid is its configurations once each; the bayesian budget is a total over all engines.
    grid = [v for v in variants if v.space == "Grid"]
    assert sorted(v.params["Work.x"] for v in grid) == list(range(GRID_SIZE))
    tune = [v for v in variants if v.space == "Tune"]
    assert len(tune) == BUDGET and all(v.origin == "strategy" for v in tune)
    assert all(v.objective is not None for v in variants)

    # Every engine but the first reconciled once (one "resumed" line per restart).
    resumed = [e for e in kbc.events(run.kb, run.run_id) if e.kind == "run" and "resumed" in e.detail["text"]]
    assert len(resumed) == KILL_ROUNDS

    # No task process outlives the run.
    for name in ("work", "prep"):
        wait_until(lambda name=name: not script_processes(script_path(run.root, name)), 10,
                   f"no {name} task process left")


GATED_ONE = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 1);
        task G { param x = x; param gates = "{gates}"; param child = true; }
        objective maximize score;
    }
}
"""


def test_resume_adopts_a_task_whose_pid_was_never_recorded(tmp_path: Path):
    """An engine killed after starting a task but before recording its pid leaves a running task
    run without pid: the next engine finds the task through the record its supervisor wrote
    (proc.json), adopts it instead of starting it again beside itself, and records its pid."""
    run = LiveRun(tmp_path, GATED_ONE, workers=1)
    try:
        run.start()
        assert run.wait_running(1) == [1]
        (tr,) = run.task_runs(1)
        child = wait_until(lambda: _child_of(tr.stdout_path), 15, "the task's child")
        run.kill()
        # The on-disk state of a crash in that window: the task run is recorded, its pid is not.
        with open_kb(run.db, create=False) as kb:
            kbv.update_task_run(kb, tr.id, pid=None, pgid=None, proc_start=None)
        run.start()
        resumed = wait_until(lambda: [e.detail["text"] for e in kbc.events(run.kb, run.run_id)
                                      if "resumed" in e.detail.get("text", "")], 15, "the resume")
        assert resumed == ["run r1 resumed: 0 interrupted variant(s) re-queued, 1 running task(s) adopted"]
        assert group_alive(tr.pgid) and psutil.pid_exists(child)  # adopted, not killed
        assert run.task_runs(1)[0].pid == tr.pid  # found again
        run.release_all()
        assert run.wait_finished().status == "completed"
        (after,) = run.task_runs(1)
        assert (after.id, after.status, after.exit_code) == (tr.id, "completed", 0)
    finally:
        run.stop()
        if group_alive(tr.pgid):
            os.killpg(tr.pgid, signal.SIGKILL)


def _child_of(stdout_path: str) -> int | None:
    for line in Path(stdout_path).read_text().splitlines():
        if line.startswith("CHILD "):
            return int(line.split()[1])
    return None
