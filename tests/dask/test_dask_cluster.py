"""The Dask executor against a real cluster: `dask scheduler` and two `dask worker` processes on
127.0.0.1 (see conftest), the real `xxp-tui` CLI and engine, real task processes on the workers.

- the quickstart runs to completion on the cluster;
- pruning a running variant kills its process on the worker within 2 s;
- SIGKILL of a worker process mid-task leaves no orphan, retries that attempt once, and re-runs
  nothing that had finished (counted in the KB and by the tasks themselves);
- the knowledge base holds the same results as a local run of the same deterministic spec, both on
  the cluster and on a LocalCluster (no --scheduler);
- a worker stopped gracefully (SIGTERM) stops its task at once, and the attempt is retried;
- a SIGKILLed engine leaves no task running on the workers, and `resume` finishes its run;
- a task asking for `resources { GPU = 1; }` runs only on the worker started with GPU=1;
- the runner's own checks through the executor: a worker that cannot see the task's folder says
  so, an attempt the scheduler starts twice runs once, only XXP_* variables travel, cancel kills.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.dask.conftest import (
    group_alive,
    ledger,
    make_project,
    pid_alive,
    stop_process,
    wait_until,
    xxp,
    xxp_popen,
)
from xxp_tui.engine.executors import Finished, Started
from xxp_tui.engine.taskspec import TaskSpec
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

QUICKSTART = Path(__file__).resolve().parents[2] / "sample_workflows" / "quickstart"
# The held task would live 60 s: dying well before proves the prune killed it. About 1 s on a quiet
# machine (most of it the `xxp-tui prune` process starting); a loaded one (load 20) took 4 s.
PRUNE_DEADLINE = 20.0


def read_kb(db: Path, fn):
    with open_kb(db, create=False, readonly=True) as kb:
        return fn(kb)


def running_holds(db: Path, count: int):
    """The running Hold task runs once `count` of them run on a worker (their pids recorded) and each
    has begun (its ledger line, beside the KB, is written: the script runs, not only its guard)."""
    def ready(kb):
        if not kb.scalar("SELECT 1 FROM runs"):
            return None
        trs = [tr for tr in kbv.task_runs_in_state(kb, 1, "running") if tr.task == "Hold" and tr.pgid]
        begun = set(ledger(db.parent))
        if len(trs) != count or not all((f"v{tr.variant_id}", "Hold", Path(tr.cwd or "").name) in begun for tr in trs):
            return None
        return trs

    return wait_until(lambda: db.exists() and read_kb(db, ready), 60, f"{count} Hold tasks running on workers")


def results(db: Path) -> dict:
    """params -> (status, every metric as (task, name, step, value)) for run r1: what a run found."""
    def collect(kb):
        out = {}
        for v in kbv.for_run(kb, 1):
            metrics = sorted((m.task, m.name, m.step, m.value, m.text) for m in kbv.metrics(kb, v.id))
            out[json.dumps(v.params, sort_keys=True)] = (v.status, v.objective, metrics)
        return out

    return read_kb(db, collect)


def completed_per_task(db: Path) -> dict[tuple[int, str], int]:
    def count(kb):
        out: dict[tuple[int, str], int] = {}
        for v in kbv.for_run(kb, 1):
            for tr in kbv.task_runs(kb, v.id):
                if tr.status == "completed":
                    out[(v.id, tr.task)] = out.get((v.id, tr.task), 0) + 1
        return out

    return read_kb(db, count)


def test_quickstart_runs_to_completion_on_the_cluster(tmp_path: Path, dask_cluster) -> None:
    root = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, root, ignore=shutil.ignore_patterns(".xxp", "__pycache__"))
    done = xxp("run", root / "quickstart.xxp", "--headless", "--executor", "dask", "--scheduler",
               dask_cluster.address, cwd=root, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"executor dask: {dask_cluster.address}, 2 live worker(s)" in done.stdout
    db = root / ".xxp" / "kb.sqlite"

    def check(kb):
        run = kbr.get_run(kb, 1)
        assert (run.executor, run.scheduler, run.status) == ("dask", dask_cluster.address, "completed")
        assert run.workers == 2  # no --workers: as many slots as the cluster has worker threads
        variants = kbv.for_run(kb, 1)
        assert len(variants) >= 6 and {v.status for v in variants} <= {"completed", "pruned"}, variants
        executed = [tr for v in variants for tr in kbv.task_runs(kb, v.id) if not tr.cache_hit]
        assert executed and all(tr.status in ("completed", "cancelled") for tr in executed)
        assert all(tr.pid and tr.pgid and tr.host not in (None, "dask") for tr in executed)
        return variants

    read_kb(db, check)
    listing = xxp("runs", "--db", db)
    assert f"dask {dask_cluster.address}" in listing.stdout, listing.stdout


def test_pruning_a_running_variant_kills_its_process_on_the_worker(tmp_path: Path, dask_cluster) -> None:
    spec = make_project(tmp_path, n=2, hold=60)
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                     cwd=tmp_path)
    try:
        trs = running_holds(db, 2)
        # `runs` shows the executor, the scheduler and the live workers while the engine runs.
        listed = json.loads(xxp("runs", "--json", "--db", db).stdout)[0]
        assert (listed["executor"], listed["scheduler"], listed["live_workers"]) == ("dask", dask_cluster.address, 2)
        table = xxp("runs", "--db", db).stdout
        assert f"dask {dask_cluster.address}, 2 workers" in table, table
        target = next(tr for tr in trs if tr.variant_id == 1)
        workers = {p.pid for p in dask_cluster.worker_processes()}
        assert psutil.Process(target.pgid).ppid() in workers, "the task should run under a dask worker"
        assert pid_alive(target.pid) and os.getpgid(target.pid) == target.pgid
        start = time.monotonic()
        pruned = xxp("prune", "v1", "--db", db)
        assert pruned.returncode == 0, pruned.stdout + pruned.stderr
        wait_until(lambda: not group_alive(target.pgid), PRUNE_DEADLINE + 1, "the pruned task's group to die")
        elapsed = time.monotonic() - start
        assert elapsed < PRUNE_DEADLINE, f"the pruned task died {elapsed:.2f}s after the command"
        assert not pid_alive(target.pid)
        (tmp_path / "gates" / "ALL").touch()
        assert proc.wait(timeout=60) == 0, stop_process(proc)
    finally:
        out = stop_process(proc)
    statuses = {v.id: v.status for v in read_kb(db, lambda kb: kbv.for_run(kb, 1))}
    assert statuses == {1: "pruned", 2: "completed"}, out
    hold = [tr for tr in read_kb(db, lambda kb: kbv.task_runs(kb, 1)) if tr.task == "Hold"]
    assert [tr.status for tr in hold] == ["cancelled"]


def test_worker_killed_mid_task_no_orphan_one_retry_nothing_finished_rerun(tmp_path: Path, dask_cluster) -> None:
    spec = make_project(tmp_path, n=4, hold=60)
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                     "--workers", "2", cwd=tmp_path)
    victim = None
    try:
        trs = running_holds(db, 2)
        victim = next(tr for tr in trs if tr.variant_id == 1)
        other = next(tr for tr in trs if tr.variant_id == 2)
        worker = psutil.Process(psutil.Process(victim.pgid).ppid())
        assert worker.pid in {p.pid for p in dask_cluster.worker_processes()}
        os.kill(worker.pid, signal.SIGKILL)
        # No orphan: the guard takes the task's whole group down once its worker is gone.
        wait_until(lambda: not group_alive(victim.pgid), 5, "the dead worker's task to die")
        assert not pid_alive(victim.pid)

        def lost(kb):
            return [tr for tr in kbv.task_runs(kb, 1) if tr.task == "Hold" and tr.status == "lost"]

        (gone,) = wait_until(lambda: read_kb(db, lost), 30, "the lost attempt to be recorded")
        assert gone.attempt == 1 and gone.reason.startswith("Hold: the worker tcp://127.0.0.1:")
        assert gone.reason.endswith("running it was lost"), gone.reason
        assert pid_alive(other.pid), "the task on the other worker should not be touched"
        (tmp_path / "gates" / "ALL").touch()
        assert proc.wait(timeout=90) == 0, stop_process(proc)
    finally:
        out = stop_process(proc)
        if victim is not None and group_alive(victim.pgid):  # a failed test leaves no orphan behind either
            os.killpg(victim.pgid, signal.SIGKILL)
        dask_cluster.wait_workers(2)  # the nanny restarts its worker for the next tests
    variants = read_kb(db, lambda kb: kbv.for_run(kb, 1))
    assert [v.status for v in variants] == ["completed"] * 4, out
    hold1 = [(tr.attempt, tr.status) for tr in read_kb(db, lambda kb: kbv.task_runs(kb, 1)) if tr.task == "Hold"]
    assert hold1 == [(1, "lost"), (2, "completed")], out
    # Every task completed exactly once in the KB, and the tasks themselves ran once each: the
    # scheduler re-ran nothing that had finished, and only the lost attempt ran a second time.
    assert completed_per_task(db) == {(v, t): 1 for v in range(1, 5) for t in ("Prep", "Hold")}
    ran: dict[tuple[str, str], list[str]] = {}
    for variant, task, folder in ledger(tmp_path):
        ran.setdefault((variant, task), []).append(folder)
    assert ran.pop(("v1", "Hold")) == ["Hold", "Hold.2"]
    assert ran == {(f"v{v}", t): [t] for v in range(1, 5) for t in ("Prep", "Hold") if (v, t) != (1, "Hold")}, ran


def test_a_worker_stopped_gracefully_mid_task_loses_the_attempt_at_once(tmp_path: Path, dask_cluster) -> None:
    """SIGTERM to a `dask worker` (what the end of its Slurm job sends): the task is stopped at once,
    not when the worker finally exits, and its attempt is retried elsewhere."""
    spec = make_project(tmp_path, n=2, hold=60)
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                     "--workers", "2", cwd=tmp_path)
    victim = None
    try:
        trs = running_holds(db, 2)
        victim = next(tr for tr in trs if tr.variant_id == 1)
        worker = psutil.Process(victim.pgid).ppid()
        cli = next(p for p in dask_cluster.workers if worker in {c.pid for c in psutil.Process(p.pid).children()})
        os.kill(cli.pid, signal.SIGTERM)
        start = time.monotonic()
        wait_until(lambda: not group_alive(victim.pgid), 10, "the stopping worker's task to die")
        assert time.monotonic() - start < PRUNE_DEADLINE
        (tmp_path / "gates" / "ALL").touch()
        assert proc.wait(timeout=90) == 0, stop_process(proc)
        dask_cluster.remove_worker(cli, wait=False)
    finally:
        out = stop_process(proc)
        if victim is not None and group_alive(victim.pgid):
            os.killpg(victim.pgid, signal.SIGKILL)
        while len(dask_cluster.workers) < 2:  # a replacement for the next tests
            dask_cluster.add_worker(f"worker-r{len(dask_cluster.seen)}")
    hold1 = [(tr.attempt, tr.status) for tr in read_kb(db, lambda kb: kbv.task_runs(kb, 1)) if tr.task == "Hold"]
    assert hold1 == [(1, "lost"), (2, "completed")], out
    assert [v.status for v in read_kb(db, lambda kb: kbv.for_run(kb, 1))] == ["completed"] * 2


def test_a_dead_engine_leaves_no_task_running_on_the_workers(tmp_path: Path, dask_cluster) -> None:
    """SIGKILL of the engine: its Dask client disconnects, the scheduler releases its tasks, and each
    runner kills its task's group; `resume` then finishes the run from the KB."""
    spec = make_project(tmp_path, n=3, hold=60)
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                     cwd=tmp_path)
    try:
        trs = running_holds(db, 2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        wait_until(lambda: not any(group_alive(tr.pgid) for tr in trs), 10, "the dead engine's tasks to die")
    finally:
        stop_process(proc)
    (tmp_path / "gates" / "ALL").touch()
    resumed = xxp("resume", "r1", "--headless", "--db", db, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert [v.status for v in read_kb(db, lambda kb: kbv.for_run(kb, 1))] == ["completed"] * 3
    assert completed_per_task(db) == {(v, t): 1 for v in range(1, 4) for t in ("Prep", "Hold")}


def test_results_equal_a_local_run_on_the_cluster_and_on_a_local_cluster(tmp_path: Path, dask_cluster) -> None:
    found = {}
    for mode in ("local", "cluster", "localcluster"):
        root = tmp_path / mode
        root.mkdir()
        spec = make_project(root, n=3)
        db = root / "kb.sqlite"
        extra = {"local": [], "localcluster": ["--executor", "dask", "--workers", "2"], "cluster": []}[mode]
        if mode == "cluster":  # chosen by xxp.toml, not flags
            (root / "xxp.toml").write_text(f'[executor]\nkind = "dask"\nscheduler = "{dask_cluster.address}"\n')
        done = xxp("run", spec, "--headless", "--db", db, *extra, cwd=root, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        run = read_kb(db, lambda kb: kbr.get_run(kb, 1))
        assert (run.executor, run.scheduler) == {"local": ("local", None), "cluster": ("dask", dask_cluster.address),
                                                 "localcluster": ("dask", None)}[mode]
        found[mode] = results(db)
    assert len(found["local"]) == 3
    assert all(status == "completed" for status, _, _ in found["local"].values())
    assert all(len(metrics) == 5 for _, _, metrics in found["local"].values())  # prepared, curve x3, score
    assert found["cluster"] == found["local"]
    assert found["localcluster"] == found["local"]


def spec_for(root: Path, key: str, argv: list[str], env: dict[str, str] | None = None) -> TaskSpec:
    root.mkdir(parents=True, exist_ok=True)
    return TaskSpec(
        key=key, run_id=1, variant_id=1, task="T", attempt=1, argv=argv, cwd=root, env=env or {}, timeout=None,
        stdout_path=root / "stdout.log", stderr_path=root / "stderr.log", metrics_path=root / "metrics.jsonl",
        output_dir=root / "out",
    )


def next_finished(events: queue.Queue, executor, timeout: float = 30) -> tuple[Finished, list]:
    """Tick like the engine until a Finished arrives; the ticks' events too."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen.extend(executor.tick())
        try:
            return events.get(timeout=0.05), seen
        except queue.Empty:
            continue
    raise AssertionError("no Finished event")


def test_runner_checks_through_the_executor(tmp_path: Path, dask_cluster) -> None:
    from xxp_tui.engine.executors.dask import DaskExecutor
    from xxp_tui.engine.executors.dask_runner import run_task

    events: queue.Queue = queue.Queue()
    executor = DaskExecutor(events, scheduler=dask_cluster.address)
    executor.connect()
    try:
        # A folder the worker cannot see: a sentence naming the worker and the path.
        absent = tmp_path / "absent"
        spec = spec_for(tmp_path / "seen", "v1:T:1", [sys.executable, "-c", "pass"])
        spec.cwd = absent
        executor.submit(spec)
        finished, _ = next_finished(events, executor)
        assert finished.reason.startswith("could not start: worker tcp://127.0.0.1:"), finished.reason
        assert f"cannot see {absent}: tasks' files must be on a filesystem shared" in finished.reason
        executor.release("v1:T:1")

        # Only XXP_* (and Python's path settings) travel; stdout reaches the log; metrics stream back.
        folder = tmp_path / "env"
        code = ("import os, json\nprint(os.environ.get('XXP_MARK'), os.environ.get('SECRET_TOKEN'))\n"
                "with open(os.environ['XXP_METRICS'], 'a') as fh:\n"
                "    [fh.write(json.dumps({'name': 'm', 'value': i, 'step': i}) + '\\n') for i in range(5)]\n")
        spec = spec_for(folder, "v1:T:2", [sys.executable, "-c", code],
                        {"XXP_MARK": "mark", "SECRET_TOKEN": "s3cr3t", "XXP_METRICS": str(folder / "metrics.jsonl")})
        (folder / "params.json").write_text("{}")
        handle = executor.submit(spec)
        finished, ticked = next_finished(events, executor)
        assert (finished.exit_code, finished.reason, finished.lost) == (0, None, False), finished
        assert (folder / "stdout.log").read_text().split() == ["mark", "None"]
        # Where it ran is known from the result, and from the stream's Started (which may come later).
        assert handle.pid and handle.host != "dask" and handle.worker.startswith("tcp://127.0.0.1:")
        started = [e for e in ticked if isinstance(e, Started)] or wait_until(
            lambda: [e for e in executor.tick() if isinstance(e, Started)], 10, "the Started event")
        assert (started[0].pid, started[0].host) == (handle.pid, handle.host)
        metrics = [e for e in ticked if not isinstance(e, Started)] + list(executor.finish_metrics(handle))
        assert [(m.name, m.step, m.value) for m in metrics] == [("m", i, float(i)) for i in range(5)]
        executor.release("v1:T:2")

        # The scheduler starting the same attempt a second time: the copy refuses to run, "lost".
        twice = tmp_path / "twice"
        (twice / "params.json").parent.mkdir()
        (twice / "params.json").write_text("{}")
        payload = {"key": "v1:T:3", "topic": "xxp-test", "cancel_event": "xxp-test-cancel",
                   "argv": [sys.executable, "-c", "print('ran')"], "own_python": True, "cwd": str(twice),
                   "env": {}, "params_path": str(twice / "params.json"), "stdout_path": str(twice / "stdout.log"),
                   "stderr_path": str(twice / "stderr.log"), "metrics_path": str(twice / "metrics.jsonl"),
                   "max_log_bytes": 2**20, "kill_grace": 0.5}
        first = executor.client.submit(run_task, payload, key="xxp-test-first", pure=False).result(timeout=30)
        second = executor.client.submit(run_task, payload, key="xxp-test-second", pure=False).result(timeout=30)
        assert first["exit_code"] == 0 and not first["lost"]
        assert second["lost"] and "never runs an attempt twice" in second["reason"] and second["pid"] is None
        assert (twice / "stdout.log").read_text() == "ran\n"

        # A log its disk refuses (/dev/full answers every write with ENOSPC): the task is stopped, and
        # the disk is named as the cause, so the engine interrupts the run rather than fail the variant.
        folder = tmp_path / "full"
        talker = "import time\nwhile True:\n    print('x' * 100, flush=True)\n    time.sleep(0.01)\n"
        spec = spec_for(folder, "v1:T:5", [sys.executable, "-c", talker])
        (folder / "params.json").write_text("{}")
        spec.stdout_path = Path("/dev/full")
        executor.submit(spec)
        finished, _ = next_finished(events, executor)
        assert finished.reason == "was stopped: no space left on device writing stdout.log", finished
        assert finished.no_space and finished.signal is not None, finished
        executor.release("v1:T:5")

        # Cancel a running task: its group is gone in well under the deadline.
        folder = tmp_path / "cancel"
        spec = spec_for(folder, "v1:T:4", [sys.executable, "-c", "import time; time.sleep(60)"])
        (folder / "params.json").write_text("{}")
        handle = executor.submit(spec)
        started = wait_until(lambda: [e for e in executor.tick() if isinstance(e, Started)], 30, "the task to start")
        pgid = started[0].pgid
        assert group_alive(pgid)
        start = time.monotonic()
        executor.cancel(handle, "pruned by a test")
        finished, _ = next_finished(events, executor)
        assert finished.reason == "pruned by a test"
        assert not group_alive(pgid) and time.monotonic() - start < PRUNE_DEADLINE
        executor.release("v1:T:4")
    finally:
        executor.shutdown("the test ended")


def test_a_task_with_resources_runs_only_on_a_worker_that_has_them(tmp_path: Path, dask_cluster) -> None:
    gpu = dask_cluster.add_worker("gpu-worker", "--resources", "GPU=1")
    try:
        gpu_worker = {c.pid for c in psutil.Process(gpu.pid).children()}
        spec = make_project(tmp_path, n=3, resources="GPU = 1;")
        db = tmp_path / "kb.sqlite"
        done = xxp("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                   "--workers", "3", cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        holds = [line for line in ledger(tmp_path, 5) if line[1] == "Hold"]
        assert len(holds) == 3
        assert {int(line[4]) for line in holds} <= gpu_worker, (holds, gpu_worker)
    finally:
        dask_cluster.remove_worker(gpu)


def test_suspend_stops_a_task_on_its_worker_and_resume_continues_it(tmp_path: Path, dask_cluster) -> None:
    spec = make_project(tmp_path, n=2, hold=60)
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", dask_cluster.address, "--db", db,
                     cwd=tmp_path)
    try:
        trs = running_holds(db, 2)
        target = next(tr for tr in trs if tr.variant_id == 1)
        task = psutil.Process(target.pid)
        guard = psutil.Process(target.pgid)
        held = xxp("suspend", "v1", "--db", db)
        assert held.returncode == 0 and "suspended v1" in held.stdout, held.stdout + held.stderr
        wait_until(lambda: task.status() == psutil.STATUS_STOPPED, 20, "the task on the worker to be stopped")
        assert guard.status() != psutil.STATUS_STOPPED, "the guard keeps watching its worker"
        assert read_kb(db, lambda kb: kbv.get(kb, 1).status) == "suspended"
        (tmp_path / "gates" / "v2").touch()
        wait_until(lambda: read_kb(db, lambda kb: kbv.get(kb, 2).status) == "completed", 60, "v2 to complete")
        (tmp_path / "gates" / "ALL").touch()
        assert task.status() == psutil.STATUS_STOPPED, "a stopped task cannot see its gate"
        resumed = xxp("resume", "v1", "--db", db)
        assert resumed.returncode == 0 and "resumed v1" in resumed.stdout, resumed.stdout + resumed.stderr
        assert proc.wait(timeout=60) == 0, stop_process(proc)
    finally:
        out = stop_process(proc)
    statuses = {v.id: v.status for v in read_kb(db, lambda kb: kbv.for_run(kb, 1))}
    assert statuses == {1: "completed", 2: "completed"}, out
    hold = [tr for tr in read_kb(db, lambda kb: kbv.task_runs(kb, 1)) if tr.task == "Hold"]
    assert [(tr.status, tr.pid) for tr in hold] == [("completed", target.pid)], "the same process went on"
