"""The local executor's supervisor, with real processes: it outlives its engine, keeps the task's
logs and writes its end beside its files; a new executor adopts a task still running; and no
descendant of a task outlives it, not even a daemon that double-forked out of its session."""

from __future__ import annotations

import os
import queue
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.engine.conftest import wait_until
from xxp_tui.engine import adoption
from xxp_tui.engine.executors import Finished, Started
from xxp_tui.engine.executors.local import LocalExecutor
from xxp_tui.engine.executors.records import exit_record, proc_record
from xxp_tui.engine.taskspec import TaskSpec
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.launchers  # CI runs these again with the other XXP_FORK_SERVER setting

DAEMON = """
import os, sys, time
from pathlib import Path
here = Path(os.environ["XXP_OUTPUT_DIR"])
if os.fork() == 0:  # the classic daemon: fork, setsid, fork again, the middle one exits
    os.setsid()
    if os.fork() == 0:
        (here / "daemon.pid").write_text(str(os.getpid()))
        time.sleep(300)
        os._exit(0)
    os._exit(0)
while not (here / "daemon.pid").exists():
    time.sleep(0.01)
print("daemon started", flush=True)
time.sleep(float(sys.argv[1]))
"""
STEPS = """
import os, sys, time
from pathlib import Path
gate = Path(sys.argv[1])
print("first", flush=True)
while not gate.exists():
    time.sleep(0.02)
print("second", flush=True)
print("to stderr", file=sys.stderr, flush=True)
sys.exit(3)
"""


def spec_for(tmp_path: Path, name: str, code: str, *args: str) -> TaskSpec:
    cwd = tmp_path / name
    (cwd / "out").mkdir(parents=True)
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(code))
    (cwd / "params.json").write_text("{}")
    (cwd / "metrics.jsonl").write_text("")
    env = {**os.environ, "XXP_PARAMS": str(cwd / "params.json"), "XXP_OUTPUT_DIR": str(cwd / "out")}
    return TaskSpec(key=f"v1:{name}:1", run_id=1, variant_id=1, task=name, attempt=1,
                    argv=[sys.executable, str(script), *args], cwd=cwd, env=env, timeout=None,
                    stdout_path=cwd / "stdout.log", stderr_path=cwd / "stderr.log",
                    metrics_path=cwd / "metrics.jsonl", output_dir=cwd / "out")


def next_event(events: queue.Queue, kind: type, timeout: float = 30.0):
    def get():
        try:
            event = events.get(timeout=0.1)
        except queue.Empty:
            return None
        return event if isinstance(event, kind) else None

    return wait_until(get, timeout, f"a {kind.__name__} event", every=0)


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_double_forked_daemon_dies_with_its_task_when_it_completes(tmp_path: Path):
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    try:
        spec = spec_for(tmp_path, "Daemon", DAEMON, "0.1")
        executor.submit(spec)
        ended = next_event(events, Finished)
        assert (ended.exit_code, ended.reason) == (0, None), ended
        daemon = int((spec.output_dir / "daemon.pid").read_text())
        wait_until(lambda: gone(daemon), 10, f"the daemon {daemon} the task left to be stopped")
        record = exit_record(spec.cwd)
        assert record["exit_code"] == 0 and record["max_rss_kb"] > 0 and record["cpu_user"] >= 0
    finally:
        executor.shutdown("test over")


def test_a_double_forked_daemon_dies_when_its_task_is_cancelled(tmp_path: Path):
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    try:
        spec = spec_for(tmp_path, "Daemon", DAEMON, "300")
        handle = executor.submit(spec)
        next_event(events, Started)
        wait_until(lambda: (spec.output_dir / "daemon.pid").exists(), 15, "the daemon")
        daemon = int((spec.output_dir / "daemon.pid").read_text())
        executor.cancel(handle, "pruned by a test")
        ended = next_event(events, Finished)
        assert ended.reason == "pruned by a test"
        wait_until(lambda: gone(daemon), 10, f"the daemon {daemon} of the cancelled task to be stopped")
    finally:
        executor.shutdown("test over")


def test_a_task_outlives_its_engine_keeps_its_logs_and_is_adopted(tmp_path: Path):
    """The engine's end of the supervisor link closes as when it is SIGKILLed: the task runs on,
    its output still reaches its log, its exit record is written; a second executor adopts it and
    reports its end; the supervisor then leaves."""
    gate = tmp_path / "gate"
    first: queue.Queue = queue.Queue()
    executor = LocalExecutor(first)
    spec = spec_for(tmp_path, "Steps", STEPS, str(gate))
    executor.submit(spec)
    started = next_event(first, Started)
    supervisor = psutil.Process(executor.link.pid)
    wait_until(lambda: "first" in spec.stdout_path.read_text(), 15, "the task's first line")
    executor.link.sock.close()  # the engine is gone, without a word
    assert proc_record(spec.cwd)["pid"] == started.pid

    second: queue.Queue = queue.Queue()
    adopter = LocalExecutor(second)
    try:
        adopter.adopt(spec, pid=started.pid, proc_start=started.proc_start, started=0.0,
                      supervisor=supervisor.pid)
        assert adopter.tick() == [] and second.empty()  # still running: nothing to report
        gate.touch()
        ended = wait_until(lambda: adopter.tick() or (not second.empty() and second.get()), 30, "the adopted end")
        assert isinstance(ended, Finished) and (ended.exit_code, ended.signal) == (3, None), ended
        assert "to stderr" in ended.stderr_tail
        assert spec.stdout_path.read_text() == "first\nsecond\n"  # written while no engine listened
        wait_until(lambda: not supervisor.is_running() or supervisor.status() == psutil.STATUS_ZOMBIE, 15,
                   "the orphaned supervisor to leave once its task ended")
    finally:
        adopter.shutdown("test over")
        gate.touch()


def test_a_log_that_cannot_be_written_stops_its_task_with_the_reason(tmp_path: Path):
    """/dev/full answers every write with ENOSPC, as a full disk or an exhausted quota would."""
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    try:
        spec = spec_for(tmp_path, "Talker", "import time\nwhile True:\n    print('x' * 100, flush=True)\n"
                                            "    time.sleep(0.01)\n")
        spec.stdout_path = Path("/dev/full")
        executor.submit(spec)
        ended = next_event(events, Finished)
        assert ended.reason == "was stopped: no space left on device writing stdout.log", ended
        assert ended.signal is not None  # it was stopped, not left to run unlogged
        assert ended.no_space  # the machine's failure: the engine interrupts the run rather than fail the variant
        record = wait_until(lambda: exit_record(spec.cwd), 30, "the exit record")
        assert record["no_space"] is True  # an engine that collects it later runs the task again
        survivor = adoption._survivor(kbv.TaskRun(
            id=1, variant_id=1, task="Talker", attempt=1, status="running", reason=None, argv=spec.argv,
            cwd=str(spec.cwd), pid=record["pid"], pgid=record["pid"], proc_start=None, host=None, exit_code=None,
            signal=None, started=record["started"], ended=None, stdout_path=None, stderr_path=None, cache_key=None,
            cache_hit=False, cache_source=None, code_hash=None, inputs_hash=None, outputs={}))
        assert survivor is None, survivor
    finally:
        executor.shutdown("test over")


def test_a_supervisor_killed_under_a_live_engine_loses_its_tasks_and_a_new_one_serves(tmp_path: Path):
    """Its tasks lost their logs and their parent: they are killed and reported lost (the engine
    retries a lost attempt once for free); the next task gets a new supervisor."""
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    try:
        spec = spec_for(tmp_path, "Steps", STEPS, str(tmp_path / "never"))
        executor.submit(spec)
        started = next_event(events, Started)
        first = executor.link.pid
        os.kill(first, 9)
        ended = next_event(events, Finished)
        assert ended.lost and ended.reason == "its supervisor process died", ended
        wait_until(lambda: gone(started.pid), 10, "the task of the dead supervisor to be killed")
        again = spec_for(tmp_path, "Daemon", DAEMON, "0")
        executor.submit(again)
        assert next_event(events, Finished).exit_code == 0
        assert executor.link.pid != first
        assert oct(os.stat(again.cwd / "exit.json").st_mode & 0o777) == "0o600"
        assert oct(os.stat(again.cwd / "proc.json").st_mode & 0o777) == "0o600"
    finally:
        executor.shutdown("test over")


BACKGROUND = """
import subprocess, sys, time
from pathlib import Path
gate = Path(sys.argv[1])
child = subprocess.Popen(["sleep", "300"])  # in the task's own group, left running when it exits
print(child.pid, flush=True)
while not gate.exists():
    time.sleep(0.02)
"""


def test_a_background_child_is_stopped_when_its_task_ends_after_the_engine_died(tmp_path: Path):
    gate = tmp_path / "gate"
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    spec = spec_for(tmp_path, "Leaver", BACKGROUND, str(gate))
    executor.submit(spec)
    next_event(events, Started)
    child = int(wait_until(lambda: spec.stdout_path.read_text().strip(), 15, "the child's pid"))
    executor.link.sock.close()  # the engine dies
    gate.touch()  # then the task ends, its child still running in its group
    wait_until(lambda: exit_record(spec.cwd), 15, "the task's exit record")
    wait_until(lambda: gone(child), 10, f"the task's background child {child} to be stopped")
