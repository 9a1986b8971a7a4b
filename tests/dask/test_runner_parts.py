"""The Dask runner's parts that need no cluster: the guard that ties a task to its worker's life,
the shared-filesystem check, and what environment travels to a worker. Real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.dask.conftest import group_alive, pid_alive, wait_until
from xxp_tui.engine.executors.dask import shipped_env
from xxp_tui.engine.executors.dask_runner import GUARD, shared_path_problem

# A stand-in for a Dask worker: starts the guard (in a new session, like the runner) with a long
# task that starts a child of its own, prints the pids, then waits to be killed.
FAKE_WORKER = """
import json, os, subprocess, sys, time
guard, task = sys.argv[1], sys.argv[2]
r, w = os.pipe()
proc = subprocess.Popen([sys.executable, "-I", "-S", guard, "--pid-fd", str(w), "--parent", str(os.getpid()),
                         "--", sys.executable, "-c", task], start_new_session=True, pass_fds=(w,),
                        stdout=subprocess.PIPE)
os.close(w)
child = int(os.read(r, 64).decode().strip())
grandchild = int(proc.stdout.readline().decode().strip())
print(json.dumps({"guard": proc.pid, "child": child, "grandchild": grandchild}), flush=True)
time.sleep(600)
"""
TASK = """
import subprocess, sys, time
kid = subprocess.Popen(["sleep", "600"])
print(kid.pid, flush=True)
time.sleep(600)
"""


def test_guard_kills_the_task_group_when_its_worker_dies() -> None:
    worker = subprocess.Popen([sys.executable, "-c", FAKE_WORKER, GUARD, TASK], stdout=subprocess.PIPE, text=True)
    pids: dict[str, int] = {}
    try:
        pids = json.loads(worker.stdout.readline())
        assert all(pid_alive(p) for p in pids.values()), pids
        assert os.getpgid(pids["child"]) == pids["guard"] == os.getpgid(pids["grandchild"])
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        start = time.monotonic()
        wait_until(lambda: not group_alive(pids["guard"]), 3.0, "the task group to die with its worker")
        assert time.monotonic() - start < 1.5
        assert not any(pid_alive(p) for p in pids.values())
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        if pids and group_alive(pids["guard"]):  # a failed test leaves nothing behind either
            os.killpg(pids["guard"], signal.SIGKILL)


def test_guard_exits_like_its_task(tmp_path: Path) -> None:
    def run(code: str) -> int:
        return subprocess.run([sys.executable, "-I", "-S", GUARD, "--", sys.executable, "-c", code],
                              start_new_session=True, timeout=30).returncode

    assert run("import sys; sys.exit(3)") == 3
    assert run("pass") == 0
    assert run("import os, signal; os.kill(os.getpid(), signal.SIGTERM)") == -signal.SIGTERM
    missing = subprocess.run([sys.executable, "-I", "-S", GUARD, "--", str(tmp_path / "no-such-program")],
                             capture_output=True, text=True, timeout=30)
    assert missing.returncode == 127 and "cannot start" in missing.stderr


def test_shared_path_problem_names_the_worker_and_the_path(tmp_path: Path) -> None:
    (tmp_path / "params.json").write_text("{}")
    assert shared_path_problem("tcp://10.0.0.7:4242 (node7)", str(tmp_path), str(tmp_path / "params.json")) is None
    absent = tmp_path / "not" / "here"
    problem = shared_path_problem("tcp://10.0.0.7:4242 (node7)", str(absent), str(absent / "params.json"))
    assert problem == (f"worker tcp://10.0.0.7:4242 (node7) cannot see {absent}: tasks' files must be on a "
                       "filesystem shared by the orchestrator and the workers")


def test_only_xxp_variables_and_python_settings_travel_to_workers() -> None:
    env = {"XXP_PARAMS": "/p/params.json", "XXP_SEED": "3", "PYTHONPATH": "/lib", "PYTHONUNBUFFERED": "1",
           "AWS_SECRET_ACCESS_KEY": "s3cr3t", "HOME": "/root", "PATH": "/usr/bin", "LD_LIBRARY_PATH": "/x"}
    assert shipped_env(env) == {"XXP_PARAMS": "/p/params.json", "XXP_SEED": "3", "PYTHONPATH": "/lib",
                                "PYTHONUNBUFFERED": "1"}


def test_a_metric_line_longer_than_a_batch_does_not_stop_the_stream(tmp_path: Path) -> None:
    """The runner steps over it (the orchestrator reads that gap from the shared file and counts
    the line malformed) and goes on streaming the lines after it."""
    from xxp_tui.engine.executors.dask_runner import METRICS_BATCH, _MetricStream

    class Worker:
        def __init__(self) -> None:
            self.events: list[dict] = []

        def log_event(self, topic: str, msg: dict) -> None:
            self.events.append(msg)

    path = tmp_path / "metrics.jsonl"
    first, last = b'{"name": "a", "value": 1}\n', b'{"name": "b", "value": 2}\n'
    huge = b'{"name": "x", "value": "' + b"y" * 2 * METRICS_BATCH + b'"}\n'
    path.write_bytes(first + huge + last)
    worker = Worker()
    stream = _MetricStream(worker, "topic", "key", "dkey", str(path))
    for _ in range(4):
        stream.send()
    assert [(e["start"], e["data"]) for e in worker.events] == [(0, first), (len(first) + len(huge), last)]


def test_scratch_folders_of_dead_engines_are_swept(tmp_path: Path, monkeypatch) -> None:
    import tempfile

    from xxp_tui.engine.executors.dask import _sweep_scratch

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone, alive, other = (tmp_path / f"xxp-dask-{dead.pid}-x", tmp_path / f"xxp-dask-{os.getpid()}-y",
                          tmp_path / "xxp-dask-notapid-z")
    for folder in (gone, alive, other):
        (folder / "w0").mkdir(parents=True)
    _sweep_scratch()
    assert not gone.exists() and alive.exists() and other.exists()


DAEMON_TASK = """
import os, sys, time
if os.fork() == 0:  # fork, setsid, fork again: the daemon leaves the task's group and its parent
    os.setsid()
    if os.fork() == 0:
        print(os.getpid(), flush=True)
        time.sleep(600)
        os._exit(0)
    os._exit(0)
time.sleep(float(sys.argv[1]))
"""


def test_guard_stops_a_double_forked_daemon_when_its_task_ends() -> None:
    """The guard is the task's child subreaper: the daemon comes back to it, and goes with the task."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", GUARD, "--", sys.executable, "-c", DAEMON_TASK, "0.5"],
                            start_new_session=True, stdout=subprocess.PIPE, text=True)
    daemon = int(proc.stdout.readline())
    try:
        assert os.getpgid(daemon) != proc.pid  # it did leave the group: killpg alone would miss it
        assert proc.wait(timeout=30) == 0
        wait_until(lambda: not pid_alive(daemon), 5.0, f"the daemon {daemon} to be stopped with its task")
    finally:
        if pid_alive(daemon):
            os.kill(daemon, signal.SIGKILL)


def test_guard_kills_a_double_forked_daemon_when_its_worker_dies() -> None:
    task = DAEMON_TASK.replace("float(sys.argv[1])", "600")
    worker = subprocess.Popen([sys.executable, "-c", FAKE_WORKER, GUARD, task], stdout=subprocess.PIPE, text=True)
    pids: dict[str, int] = {}
    try:
        pids = json.loads(worker.stdout.readline())
        daemon = pids["grandchild"]  # the first line the task prints: here, the daemon's pid
        assert os.getpgid(daemon) != pids["guard"]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_until(lambda: not pid_alive(daemon) and not group_alive(pids["guard"]), 5.0,
                   "the task and its daemon to die with the worker")
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        for pid in pids.values():
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
