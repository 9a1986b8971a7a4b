"""A task forked by the fork server cannot tell it from one started with Popen (issue 19).

Each comparison runs the same task both ways through the real supervisor (LocalExecutor), and
first proves which way it ran: a forked task's /proc/self/cmdline is the fork server's. The probe
records what a task can see of its process (modules loaded before its first import, environment,
path, argv, `__main__`, signal dispositions and mask, rlimits, session, parent, descriptors,
stdio); exit codes, signals and tracebacks are compared as the engine receives them. The engine
itself is run once with the fork server on and once with `--no-fork-server`, with a native task
reporting a metric, a task importing numpy and an ExtremeXP-style script through the shim.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from tests.engine.conftest import Project, clean_env, wait_until, xxp
from xxp_tui.engine.executors import Finished, Started
from xxp_tui.engine.executors.fork_client import eligible, fork_server_enabled, server_environment
from xxp_tui.engine.executors.local import LocalExecutor
from xxp_tui.engine.executors.records import proc_record
from xxp_tui.engine.taskspec import TaskSpec
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server needs Linux")

PROBE = r'''
import sys
MODULES = sorted(sys.modules)
import json, os, resource, signal, stat, threading

def kind(fd):
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return None
    return "fifo" if stat.S_ISFIFO(mode) else "chr" if stat.S_ISCHR(mode) else "other"

def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read().decode().split("\0")

main = sys.modules["__main__"]
mask = os.umask(0)
os.umask(mask)
found = {
    "modules": MODULES,
    "environ": dict(os.environ),
    "path": sys.path, "argv": sys.argv, "orig_argv": sys.orig_argv, "name": __name__,
    "main": {k: repr(v) if k in ("__file__", "__spec__", "__package__", "__cached__", "__doc__") else type(v).__name__
             for k, v in vars(main).items()},
    "signals": {s.name: str(signal.getsignal(s)) for s in signal.Signals
                if s not in (signal.SIGKILL, signal.SIGSTOP)},
    "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
    "rlimits": {n: resource.getrlimit(getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_")},
    "cwd": os.getcwd(), "umask": mask, "nice": os.nice(0), "affinity": sorted(os.sched_getaffinity(0)),
    "leader": os.getpgid(0) == os.getpid() == os.getsid(0),
    "parent": " ".join(cmdline(os.getppid())[1:3]),
    "fds": sorted(os.listdir("/proc/self/fd")), "stdio": [kind(0), kind(1), kind(2)],
    "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering, sys.stdout.write_through],
    "stderr": [sys.stderr.encoding, sys.stderr.errors, sys.stderr.line_buffering, sys.stderr.write_through],
    "stdin": [sys.stdin.encoding, sys.stdin.read()],
    "flags": list(sys.flags), "threads": threading.active_count(), "executable": sys.executable,
    "proc_cmdline": [a for a in cmdline(os.getpid()) if a],
    "proc_environ": [e for e in open("/proc/self/environ", "rb").read().decode().split("\0") if e],
}
import pathlib, dataclasses
from xxp_tui import sdk
found["modules_after"] = sorted(sys.modules)  # the same modules, warm or not, once imported

with open(os.path.join(os.environ["XXP_OUTPUT_DIR"], "probe.json"), "w") as fh:
    json.dump(found, fh)
'''


def make_spec(root: Path, name: str, argv_tail: list[str], env: dict | None = None) -> TaskSpec:
    """A task folder under `root` as prepare() lays it out, and its spec: the engine's interpreter
    with `argv_tail`, the environment a prepared task gets (PYTHONPATH, PYTHONUNBUFFERED, XXP_*)."""
    cwd = root / name
    (cwd / "out").mkdir(parents=True, exist_ok=True)
    (cwd / "params.json").write_text("{}")
    (cwd / "metrics.jsonl").write_text("")
    lib = root / "lib"
    lib.mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    task_env = {**base, "XXP_PARAMS": str(cwd / "params.json"), "XXP_OUTPUT_DIR": str(cwd / "out"),
                "XXP_METRICS": str(cwd / "metrics.jsonl"), "PYTHONUNBUFFERED": "1",
                "PYTHONPATH": os.pathsep.join([str(lib), str(root)]), **(env or {})}
    return TaskSpec(key=f"v1:{name}:1", run_id=1, variant_id=1, task=name, attempt=1,
                    argv=[sys.executable, *argv_tail], cwd=cwd, env=task_env, timeout=None,
                    stdout_path=cwd / "stdout.log", stderr_path=cwd / "stderr.log",
                    metrics_path=cwd / "metrics.jsonl", output_dir=cwd / "out")


def script(root: Path, name: str, code: str) -> str:
    path = root / f"{name}.py"
    path.write_text(textwrap.dedent(code))
    return str(path)


def next_event(events: queue.Queue, kind: type, timeout: float = 60.0):
    def get():
        try:
            event = events.get(timeout=0.1)
        except queue.Empty:
            return None
        return event if isinstance(event, kind) else None

    return wait_until(get, timeout, f"a {kind.__name__} event", every=0)


def run_tasks(specs: list[TaskSpec], fork: bool) -> dict[str, Finished]:
    """Run each spec to its end, one after the other, through one executor (fork server on or off)."""
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    executor.fork_server = fork
    ended: dict[str, Finished] = {}
    try:
        for spec in specs:
            executor.submit(spec)
            ended[spec.key] = next_event(events, Finished)
    finally:
        executor.shutdown("the test is over")
    return ended


def forked(cwd: Path) -> bool:
    """Whether the supervisor started the task of this folder through the fork server (proc.json)."""
    return proc_record(cwd)["forked"]


@pytest.mark.parametrize("form", ["script", "-c"])
def test_a_task_cannot_tell_the_fork_server_from_popen(tmp_path: Path, form: str):
    argv = [script(tmp_path, "probe", PROBE), "one", "two"] if form == "script" else ["-c", PROBE, "one", "two"]
    spec = make_spec(tmp_path, "probe", argv)
    seen = {}
    for fork in (True, False):
        (run,) = run_tasks([spec], fork).values()
        assert (run.exit_code, run.signal) == (0, None), spec.stderr_path.read_text()
        seen[fork] = json.loads((spec.output_dir / "probe.json").read_text())
        assert forked(spec.cwd) is fork  # it really was forked, or really started its own interpreter
    forked_seen, popened = seen[True], seen[False]
    assert forked_seen["environ"] == spec.env  # exactly the task's environment, in its order
    assert list(forked_seen["environ"]) == list(spec.env)
    assert forked_seen["proc_environ"] == [f"{k}={v}" for k, v in spec.env.items()]  # what tree.py reads
    assert forked_seen["proc_cmdline"] == spec.argv  # what ps shows
    assert "xxp_tui" not in " ".join(forked_seen["modules"])
    assert forked_seen["parent"] == "-m xxp_tui.engine.executors.supervisor"  # the supervisor waits for it
    assert forked_seen["leader"] and forked_seen["stdio"] == ["chr", "fifo", "fifo"]
    for key in popened:
        assert forked_seen[key] == popened[key], key


EXITS = {
    "code": ("import sys\nsys.exit(3)\n", 3, None),
    "message": ("raise SystemExit('no data here')\n", 1, None),
    "raised": ("def load():\n    raise ValueError('bad value')\nload()\n", 1, None),
    "signal": ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\nimport time\ntime.sleep(30)\n",
               None, signal.SIGTERM),
    "interrupt": ("import atexit\natexit.register(print, 'at exit')\nraise KeyboardInterrupt\n", None, signal.SIGINT),
    "thread": ("import threading, time\n"
               "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\n", 0, None),
    "syntax": ("def broken(:\n", 1, None),
}


WARM_PROBE = r"""
import json, os, sys
warm = sys.meta_path[0]
claimed = type(warm).__name__ == "WarmImports" and "json" not in warm.modules and "re" not in warm.modules
import re
del sys.modules["re"]
import re as again  # after `del`, an import runs the module's file again, as in a fresh interpreter
print(json.dumps({"claimed": claimed, "fresh_again": again is not re, "left": "pathlib" in warm.modules}))
"""


def test_warm_modules_are_handed_over_only_where_a_fresh_import_would_find_them(tmp_path: Path):
    """`import json` in a forked task takes the server's json (and re, enum… with it) when the
    task's sys.path finds the same files; a task with its own json.py beside it gets its own."""
    plain = make_spec(tmp_path, "plain", [script(tmp_path, "plain", WARM_PROBE)])
    own = tmp_path / "own"
    own.mkdir()
    (own / "json.py").write_text("MINE = True\ndef dumps(value):\n    return 'mine'\n")
    shadowed = make_spec(tmp_path, "shadowed", [str(own / "task.py")])
    (own / "task.py").write_text("import json\nprint(json.dumps(1), hasattr(json, 'MINE'))\n")
    ended = run_tasks([plain, shadowed], fork=True)
    assert all(run.exit_code == 0 for run in ended.values()), shadowed.stderr_path.read_text()
    assert forked(plain.cwd) and forked(shadowed.cwd)
    assert json.loads(plain.stdout_path.read_text()) == {"claimed": True, "fresh_again": True, "left": True}
    assert shadowed.stdout_path.read_text() == "mine True\n"


def test_no_warm_module_brings_a_module_that_holds_process_state():
    """What the server imports once must hold nothing of a process (clock, random state, threads,
    locks): checked in a fresh interpreter, where importing WARM loads none of STATEFUL."""
    code = ("import sys\nbefore = set(sys.modules)\nfrom xxp_tui.engine.executors import warm_imports as w\n"
            "for name in w.WARM: __import__(name)\n"
            "print(' '.join(sorted((set(sys.modules) - before) & w.STATEFUL)))")
    import subprocess

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == []


def test_exit_codes_signals_and_tracebacks_are_the_same(tmp_path: Path):
    specs = [make_spec(tmp_path, name, [script(tmp_path, f"exit_{name}", code)])
             for name, (code, _, _) in EXITS.items()]
    specs.append(make_spec(tmp_path, "missing", [str(tmp_path / "missing.py")]))
    outputs = {}
    for fork in (True, False):
        ended = run_tasks(specs, fork)
        assert all(forked(spec.cwd) is fork for spec in specs)
        outputs[fork] = {spec.task: (ended[spec.key].exit_code, ended[spec.key].signal, spec.stdout_path.read_text(),
                                     spec.stderr_path.read_text()) for spec in specs}
    for name, (_, code, sig) in EXITS.items():
        assert outputs[True][name][:2] == (code, sig), (name, outputs[True][name])
    assert outputs[True]["missing"][:2] == (2, None)
    assert "no data here" in outputs[True]["message"][3]
    assert 'raise ValueError' in outputs[True]["raised"][3] and "fork_server" not in outputs[True]["raised"][3]
    assert outputs[True]["interrupt"][2] == "at exit\n" and outputs[True]["thread"][2] == "thread done\n"
    assert outputs[True] == outputs[False]


GRANDCHILD = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
with open(os.path.join(os.environ["XXP_OUTPUT_DIR"], "child.pid"), "w") as fh:
    fh.write(str(child.pid))
time.sleep(120)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_kills_a_forked_task_and_its_grandchild(tmp_path: Path):
    """What prune and a timeout do (LocalExecutor.cancel): the task's whole tree goes."""
    spec = make_spec(tmp_path, "spawner", [script(tmp_path, "spawner", GRANDCHILD)])
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events, kill_grace=0.5)
    executor.fork_server = True
    try:
        handle = executor.submit(spec)
        started = next_event(events, Started)
        pid_file = spec.output_dir / "child.pid"
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), 60, "the grandchild to start")
        assert forked(spec.cwd)
        child = int(pid_file.read_text())
        assert not gone(child) and not gone(started.pid)
        executor.cancel(handle, "pruned")
        ended = next_event(events, Finished)
        assert ended.signal == signal.SIGTERM and ended.reason == "pruned"
        wait_until(lambda: gone(child), 30, "the grandchild to be killed")
    finally:
        executor.shutdown("the test is over")


def test_only_plain_starts_of_the_engine_interpreter_are_forked(tmp_path: Path):
    env = server_environment(dict(os.environ))
    task_env = {**env, "PYTHONPATH": "/somewhere", "XXP_PARAMS": "p"}
    assert eligible([sys.executable, "task.py", "--lr", "1"], task_env, env)
    assert eligible([sys.executable, "-c", "print(1)"], task_env, env)
    assert not eligible(["/usr/bin/python3-other", "task.py"], task_env, env)  # another interpreter
    assert not eligible(["/bin/sh", "task.sh"], task_env, env)
    assert not eligible([sys.executable, "-X", "dev", "task.py"], task_env, env)  # an interpreter option
    assert not eligible([sys.executable, "-m", "pkg"], task_env, env)
    assert not eligible([sys.executable, "task.py"], {**task_env, "PYTHONHASHSEED": "7"}, env)
    assert not eligible([sys.executable, "task.py"], {**task_env, "LC_ALL": "C"}, env)
    assert fork_server_enabled({"no_fork_server": True}, {"XXP_FORK_SERVER": "1"}) is False
    assert fork_server_enabled({}, {"XXP_FORK_SERVER": "0"}) is False
    assert fork_server_enabled({}, {"XXP_FORK_SERVER": "1"}) is True
    # A task whose environment an interpreter would start differently is run with Popen, for real.
    spec = make_spec(tmp_path, "probe", [script(tmp_path, "probe", PROBE)], env={"PYTHONHASHSEED": "7"})
    (run,) = run_tasks([spec], fork=True).values()
    assert run.exit_code == 0, spec.stderr_path.read_text()
    assert not forked(spec.cwd)


ENGINE_TASK = """
task Probe {
    define param x { type Integer; default 1; }
    define metric score { kind single-value; type Float; }
    implementation "probe.py";
}
"""
NATIVE = """
import os
from xxp_tui import sdk
sdk.log_metric("score", 2.5)
"""
NUMPY = """
import os
import numpy as np
from xxp_tui import sdk
sdk.log_metric("score", float(np.arange(5).sum()))
"""
EXTREMEXP = """
x = variables.get("x")
resultMap.put("score", float(x) * 3)
"""
ENGINE_SPEC = """
workflow W { START -> A -> B -> C -> END;
    task A { implementation "p.native"; } task B { implementation "p.numeric"; } task C { implementation "p.xxp"; } }
experiment E { control { START -> S -> END; } space S of W { strategy singlerun; task C { param x = 4; } } }
"""


@pytest.mark.slow
@pytest.mark.parametrize("flag", [[], ["--no-fork-server"]])
def test_the_engine_forks_python_tasks_with_metrics_numpy_and_the_shim(tmp_path: Path, flag: list[str]):
    p = Project(tmp_path)
    for name, code in (("native", NATIVE), ("numeric", NUMPY), ("xxp", EXTREMEXP)):
        p.task(f"p.{name}", ENGINE_TASK, "probe.py", code)
    p.spec(ENGINE_SPEC)
    done = xxp("run", p.root / "e.xxp", "--headless", "--db", p.db, *flag, cwd=p.root,
               env=clean_env(XXP_FORK_SERVER="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    (variant,) = p.variants()
    with p.kb() as kb:
        scores = {m.task: m.value for m in kbv.metrics(kb, variant.id, "score")}
    assert scores == {"A": 2.5, "B": 10.0, "C": 12.0}
    records = {f.parent.name: f.parent for f in (p.root / ".xxp").rglob("proc.json")}
    assert set(records) == {"A", "B", "C"}
    for task, cwd in records.items():
        assert forked(cwd) is not bool(flag), task


def test_a_fork_server_that_dies_is_replaced_and_its_tasks_still_run(tmp_path: Path):
    """Killing the fork server between tasks loses nothing: the next task gets a new server."""
    code = "import sys\nprint('ran', sys.argv[1])\n"
    events: queue.Queue = queue.Queue()
    executor = LocalExecutor(events)
    executor.fork_server = True
    try:
        servers = []
        for round_ in range(3):
            spec = make_spec(tmp_path, f"t{round_}", [script(tmp_path, f"t{round_}", code), str(round_)])
            executor.submit(spec)
            ended = next_event(events, Finished)
            assert (ended.exit_code, spec.stdout_path.read_text()) == (0, f"ran {round_}\n")
            assert forked(spec.cwd)
            supervisor = psutil.Process(executor.link.pid)
            (server,) = [p for p in supervisor.children() if "fork_server.py" in " ".join(p.cmdline())]
            assert server.pid not in servers
            servers.append(server.pid)
            server.kill()
            wait_until(lambda s=server: gone(s.pid), 30, "the fork server to die")
    finally:
        executor.shutdown("the test is over")
