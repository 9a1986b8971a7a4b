"""Real runs for the engine tests: a tiny task library and spec on disk, a real KB, a real detached
engine process (`python -m xxp_tui.engine`), real task subprocesses. Nothing is mocked.

Task library (`tasks/t/...`, referenced as `t.gated`, `t.work`, `t.prep`):

- `t.gated`: prints its params (a `PARAMS {...}` line on stdout), then holds until a gate file
  `<gates>/ALL` or `<gates>/v<id>` exists (or `hold` seconds pass), then reports `score = x`. The
  tests decide exactly when each variant finishes, so steering assertions need no timing luck.
  With `child = true` it also starts a `sleep` child in its process group; with `stubborn = true`
  both ignore SIGTERM.
- `t.work`: sleeps `secs` in three steps (a `progress` series) and reports `score`. Orphaned (its
  engine died) it lingers `linger` more seconds, like a long task would: only an engine that kills
  what a dead engine left behind gets rid of it in time.
- `t.prep`: a quick first task reporting `prepared`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil

from tests.engine.conftest import clean_env, wait_until, xxp  # noqa: F401 - re-exported for the live tests
from xxp_tui.engine.launch import create_run, engine_log_path, start_detached, wait_for_engine
from xxp_tui.kb import KB, open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.lang import load_project

GATED_XXP = """
task Gated {
    define param x { type Integer; default 0; range (0, 1000); }
    define param gates { type String; default ""; }
    define param hold { type Float; default 60.0; }
    define param child { type Boolean; default false; }
    define param stubborn { type Boolean; default false; }
    define metric score { kind single-value; type Float; }
    implementation "gated.py";
}
"""
GATED_PY = """
import json, os, signal, subprocess, time
from pathlib import Path
from xxp_tui import sdk

p = sdk.params()
if p.get("stubborn"):  # ignores SIGTERM (and so does its child): only SIGKILL stops them
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("PARAMS " + json.dumps(p, sort_keys=True), flush=True)
child = subprocess.Popen(["sleep", "120"]) if p.get("child") else None
if child is not None:
    print("CHILD", child.pid, flush=True)
gates = Path(p["gates"])
me = os.environ["XXP_VARIANT"]
deadline = time.monotonic() + float(p.get("hold", 60))
while time.monotonic() < deadline and not (gates / "ALL").exists() and not (gates / me).exists():
    time.sleep(0.02)
if child is not None:
    child.kill()
    child.wait()
sdk.log_metric("score", float(p.get("x", 0)))
"""
WORK_XXP = """
task Work {
    define param x { type Integer; default 0; range (0, 1000); }
    define param secs { type Float; default 0.3; }
    define param linger { type Float; default 0.0; }
    define metric score { kind single-value; type Float; }
    define metric progress { kind series; type Float; }
    implementation "work.py";
}
"""
WORK_PY = """
import os, time
from xxp_tui import sdk

parent = os.getppid()
x = int(sdk.param("x", 0))
secs = float(sdk.param("secs", 0.3))
for i in range(3):
    time.sleep(secs / 3)
    sdk.log_metric("progress", (i + 1) / 3, step=i)
if os.getppid() != parent:  # orphaned: its engine died. Act like a long task: linger.
    time.sleep(float(sdk.param("linger", 0)))
sdk.log_metric("score", 100.0 - abs(x - 37) + x / 1000.0)
"""
PREP_XXP = """
task Prep {
    define param x { type Integer; default 0; range (0, 1000); }
    define metric prepared { kind single-value; type Float; }
    implementation "prep.py";
}
"""
PREP_PY = """
from xxp_tui import sdk

sdk.log_metric("prepared", 2.0 * int(sdk.param("x", 0)) + 1.0)
"""
LIBRARY = {
    "gated": (GATED_XXP, "gated.py", GATED_PY),
    "work": (WORK_XXP, "work.py", WORK_PY),
    "prep": (PREP_XXP, "prep.py", PREP_PY),
}

CLI = Path(sys.executable).with_name("xxp-tui")


def make_project(root: Path, spec: str) -> Path:
    """Write the task library and `spec` (with `{gates}` replaced by the gates folder) under root."""
    for name, (signature, script, code) in LIBRARY.items():
        folder = root / "tasks" / "t" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "task.xxp").write_text(textwrap.dedent(signature))
        (folder / script).write_text(textwrap.dedent(code))
    (root / "gates").mkdir(exist_ok=True)
    path = root / "e.xxp"
    path.write_text(textwrap.dedent(spec).replace("{gates}", str(root / "gates")))
    return path


def script_path(root: Path, name: str) -> Path:
    return root / "tasks" / "t" / name / LIBRARY[name][1]


def script_processes(path: Path) -> list[psutil.Process]:
    """Live (non-zombie) processes whose command line mentions `path`."""
    needle = str(path)
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if any(needle in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.Error, TypeError):
            continue
    return found


def group_alive(pgid: int) -> bool:
    """True while any non-zombie process is left in process group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    for proc in psutil.process_iter(["status"]):
        try:
            if os.getpgid(proc.pid) == pgid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                return True
        except (psutil.Error, ProcessLookupError, OSError):
            continue
    return False


class LiveRun:
    """One run of experiment `E` of a spec, driven by real engine processes."""

    def __init__(self, root: Path, spec: str, workers: int = 1, seed: int = 0) -> None:
        self.root = root
        self.spec = make_project(root, spec)
        self.gates = root / "gates"
        self.db = root / ".xxp" / "kb.sqlite"
        result = load_project(self.spec)
        assert result.ok, [d.render() for d in result.diagnostics]
        self.run_id = create_run(result, "E", self.db, workers=workers, seed=seed).run_id
        self.proc: subprocess.Popen | None = None
        self._kb: KB | None = None

    # -- the engine process

    def start(self) -> LiveRun:
        """Start (or restart, which reconciles) a detached engine and wait for its first beat."""
        self.proc = start_detached(self.db, self.run_id, self.root)
        problem = wait_for_engine(self.db, self.run_id, self.proc)
        assert problem is None, f"{problem}\n{self.engine_log()}"
        return self

    def kill(self) -> None:
        """SIGKILL the engine process only (its tasks live on in their own sessions)."""
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait_exit(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        """Teardown: open every gate, ask the engine to stop cleanly, and make sure it is gone."""
        with contextlib.suppress(OSError):
            (self.gates / "ALL").touch()
        if self._kb is not None:
            self._kb.close()
            self._kb = None
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)

    def engine_log(self) -> str:
        path = engine_log_path(self.root, self.run_id, self.db)
        return path.read_text(errors="replace") if path.exists() else ""

    # -- gates

    def release(self, *variant_ids: int) -> None:
        for vid in variant_ids:
            (self.gates / f"v{vid}").touch()

    def release_all(self) -> None:
        (self.gates / "ALL").touch()

    # -- reading the KB

    @property
    def kb(self) -> KB:
        if self._kb is None:
            self._kb = open_kb(self.db, create=False, readonly=True)
        return self._kb

    def run(self) -> kbr.Run:
        return kbr.get_run(self.kb, self.run_id)

    def variants(self, status: str | None = None, space: str | None = None) -> list[kbv.Variant]:
        return kbv.for_run(self.kb, self.run_id, status=status, space=space)

    def variant(self, vid: int) -> kbv.Variant:
        return kbv.get(self.kb, vid)

    def task_runs(self, vid: int) -> list[kbv.TaskRun]:
        return kbv.task_runs(self.kb, vid)

    def running_task_runs(self) -> list[kbv.TaskRun]:
        return kbv.task_runs_in_state(self.kb, self.run_id, "running")

    def running_ids(self) -> list[int]:
        return [v.id for v in self.variants(status="running")]

    def wait_running(self, count: int = 1, timeout: float = 30.0, gone: tuple[int, ...] = ()) -> list[int]:
        """Wait until exactly `count` variants run, none of them in `gone` (variants expected to have
        left the running state), each with its task process recorded (pgid set); their ids."""
        def ready():
            ids = self.running_ids()
            trs = [tr for tr in self.running_task_runs() if tr.pgid is not None]
            if len(ids) == count and len(trs) == count and not set(ids) & set(gone):
                return ids
            return None

        return wait_until(ready, timeout, f"{count} running variant(s) (not {gone})")

    def wait_finished(self, timeout: float = 60.0) -> kbr.Run:
        return wait_until(lambda: (r := self.run()).finished and r, timeout, "the run to finish")

    def integrity(self) -> str:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0]
