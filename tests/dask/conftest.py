"""Real Dask clusters on 127.0.0.1 for the Dask executor's tests; nothing is mocked.

`dask_cluster` (one per test module) starts the venv's `dask scheduler --host 127.0.0.1 --port P
--no-dashboard` with `allowed-failures` 0 and two `dask worker … --nthreads 1 --nworkers 1`
processes (each a nanny and its worker process), and tears them down by PID, checking that no
process of theirs is left.

`make_project(root, spec)` writes a small task library (`d.prep`, `d.hold`) and a spec. Every task
execution appends a line to `<root>/ledger` (variant, task, attempt, pid), so a test can tell from
the task's side how often each task really ran, whatever the knowledge base says.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

DASK = Path(sys.executable).with_name("dask")
XXP = Path(sys.executable).with_name("xxp-tui")

PREP_XXP = """
task Prep {
    define output data data;
    define param x { type Integer; default 0; range (0, 1000); }
    define metric prepared { kind single-value; type Float; }
    implementation "prep.py";
}
"""
PREP_PY = """
import os
from xxp_tui import sdk

x = int(sdk.param("x", 0))
with open(sdk.param("ledger"), "a") as fh:
    fh.write(f"{os.environ['XXP_VARIANT']} Prep {os.path.basename(os.getcwd())} {os.getpid()}\\n")
sdk.output_path("data").write_text(str(3 * x + 1))
sdk.log_metric("prepared", float(x + 1))
"""
HOLD_XXP = """
task Hold {
    define input data data;
    define param x { type Integer; default 0; range (0, 1000); }
    define param gates { type String; default ""; }
    define param hold { type Float; default 0.0; }
    define metric curve { kind series; type Float; }
    define metric score { kind single-value; type Float; }
    implementation "hold.py";
}
"""
HOLD_PY = """
import os, time
from pathlib import Path
import psutil
from xxp_tui import sdk

x = int(sdk.param("x", 0))
above = psutil.Process(os.getppid()).ppid()  # under a Dask worker: the worker process (the guard's parent)
with open(sdk.param("ledger"), "a") as fh:
    fh.write(f"{os.environ['XXP_VARIANT']} Hold {os.path.basename(os.getcwd())} {os.getpid()} {above}\\n")
base = int(sdk.input_path("data").read_text())
for step in range(3):
    sdk.log_metric("curve", base / (step + 1), step=step)
print("HOLDING", os.getpid(), flush=True)
gates = Path(sdk.param("gates") or ".")
me = os.environ["XXP_VARIANT"]
deadline = time.monotonic() + float(sdk.param("hold", 0.0))
while time.monotonic() < deadline and not (gates / "ALL").exists() and not (gates / me).exists():
    time.sleep(0.02)
sdk.log_metric("score", 2.0 * base + x / 10)
"""
SPEC = """
workflow W {
    START -> Prep -> Hold -> END;
    task Prep { implementation "d.prep"; param ledger = "{ledger}"; }
    task Hold { implementation "d.hold"; param ledger = "{ledger}"; param gates = "{gates}"; param hold = {hold};
                {resources} }
    Prep.data --> Hold.data;
}
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x_vp = range(0, {n});
        task Prep { param x = x_vp; }
        task Hold { param x = x_vp; }
        objective maximize score;
    }
}
"""


def make_project(root: Path, n: int = 2, hold: float = 0.0, resources: str = "") -> Path:
    """The task library and a grid of `n` variants under root; tasks hold until `gates/ALL` or
    `gates/v<id>` exists, at most `hold` seconds; `resources` e.g. "GPU = 1;" for Hold. Returns the
    spec's path."""
    for name, signature, script, code in (("prep", PREP_XXP, "prep.py", PREP_PY),
                                          ("hold", HOLD_XXP, "hold.py", HOLD_PY)):
        folder = root / "tasks" / "d" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "task.xxp").write_text(textwrap.dedent(signature))
        (folder / script).write_text(textwrap.dedent(code))
    (root / "gates").mkdir(exist_ok=True)
    text = (SPEC.replace("{ledger}", str(root / "ledger")).replace("{gates}", str(root / "gates"))
            .replace("{hold}", repr(float(hold))).replace("{n}", str(n))
            .replace("{resources}", f"resources {{ {resources} }}" if resources else ""))
    spec = root / "e.xxp"
    spec.write_text(textwrap.dedent(text))
    return spec


def ledger(root: Path, fields: int = 3) -> list[tuple[str, ...]]:
    """(variant, task, attempt folder[, pid, parent of its guard]) of every task execution, in the
    order they started."""
    path = root / "ledger"
    if not path.exists():
        return []
    return [tuple(line.split()[:fields]) for line in path.read_text().splitlines() if line.strip()]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "XXP_DB" and not k.startswith("DASK_")}
    env.update(extra)
    return env


def xxp(*args: str | Path, timeout: float = 120.0, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(XXP), *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          stdin=subprocess.DEVNULL, env=clean_env())


def xxp_popen(*args: str | Path, cwd: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([str(XXP), *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=cwd, stdin=subprocess.DEVNULL, env=clean_env(), start_new_session=True)


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> str:
    """SIGTERM a background xxp-tui (its group), SIGKILL if it lingers; its output."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=10)
    return out or ""


def wait_until(condition: Callable[[], object], timeout: float = 30.0, what: str = "", poll: float = 0.03):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what or condition}")
        time.sleep(poll)


def group_alive(pgid: int) -> bool:
    """True while a non-zombie process is left in process group `pgid`."""
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (psutil.Error, OSError):
            continue
    return False


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """`dask scheduler` and `dask worker` processes on 127.0.0.1."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.scheduler: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []
        self.seen: dict[int, psutil.Process] = {}  # every process of the cluster ever seen, for the final check
        self.env = clean_env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0")

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115 - the child holds it
        try:
            return subprocess.Popen([str(DASK), *argv], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    cwd=self.root, env=self.env, start_new_session=True)
        finally:
            log.close()

    def start(self, n_workers: int = 2) -> Cluster:
        self.scheduler = self._spawn("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                                   "--no-dashboard"])
        wait_until(self._listening, 30, "the dask scheduler to listen")
        for i in range(n_workers):
            self.workers.append(self._spawn(f"worker{i}", [
                "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers", "1",
                "--no-dashboard", "--local-directory", str(self.root / f"w{i}")]))
        self.wait_workers(n_workers)
        return self

    def add_worker(self, name: str, *extra: str) -> subprocess.Popen:
        """One more `dask worker` (e.g. with --resources GPU=1); wait until the scheduler knows it."""
        proc = self._spawn(name, ["worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers",
                                  "1", "--no-dashboard", "--local-directory", str(self.root / name), *extra])
        self.workers.append(proc)
        self.wait_workers(len(self.workers))
        return proc

    def remove_worker(self, proc: subprocess.Popen, wait: bool = True) -> None:
        """SIGTERM a `dask worker` process (a graceful stop, like the end of its batch job)."""
        self._remember()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        self.workers.remove(proc)
        if wait:
            self.wait_workers(len(self.workers))

    def _listening(self) -> bool:
        assert self.scheduler is not None and self.scheduler.poll() is None, self.logs()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def worker_processes(self) -> list[psutil.Process]:
        """The Worker processes (children of the `dask worker` nannies) that are alive now."""
        found = []
        for nanny in self.workers:
            with contextlib.suppress(psutil.Error):
                for child in psutil.Process(nanny.pid).children():
                    if child.status() != psutil.STATUS_ZOMBIE and "python" in " ".join(child.cmdline()).lower():
                        found.append(child)
        self._remember()
        return found

    def _remember(self) -> None:
        for proc in [self.scheduler, *self.workers]:
            if proc is None:
                continue
            with contextlib.suppress(psutil.Error):
                top = psutil.Process(proc.pid)
                for p in [top, *top.children(recursive=True)]:
                    self.seen.setdefault(p.pid, p)

    def left(self) -> list[int]:
        """Processes of the cluster still alive (the same processes: a reused pid does not count)."""
        out = []
        for pid, proc in self.seen.items():
            with contextlib.suppress(psutil.Error):
                if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(pid)
        return out

    def wait_workers(self, n: int, timeout: float = 60.0) -> None:
        """Until the scheduler knows `n` workers (the nanny restarts a killed one)."""
        from distributed import Client

        with Client(self.address, timeout=20, set_as_default=False) as client:
            wait_until(lambda: len(client.scheduler_info(n_workers=-1)["workers"]) == n, timeout,
                       f"{n} dask workers\n{self.logs()}", poll=0.1)
        self._remember()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.root.glob("*.log"))

    def stop(self) -> None:
        """SIGTERM every process by PID (workers first), SIGKILL what lingers; none may be left."""
        self._remember()
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
            if proc is not None:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: not self.left(), 15, "the cluster's processes to exit")
        stragglers = self.left()
        for pid in stragglers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not stragglers, f"cluster processes left behind: {stragglers}\n{self.logs()}"


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory) -> Cluster:
    cluster = Cluster(tmp_path_factory.mktemp("dask-cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()
