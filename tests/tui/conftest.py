"""Fixtures for the viewer's tests: a real engine process on a real KB, and a frozen KB for snapshots."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xxp_tui.engine.launch import create_run, start_detached, wait_for_engine
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.lang import load_project

SLEEP_TASK = """
task Sleep {
    define param x { type Integer; default 0; range (0, 1000); }
    define param secs { type Float; default 1.0; }
    define param label { type String; default "a"; }
    define metric score { kind single-value; type Float; }
    define metric progress { kind series; type Float; }
    implementation "sleep.py";
}
"""
SLEEP_PY = """
import time
from xxp_tui import sdk
secs = float(sdk.param("secs", 1))
steps = 4
for i in range(steps):
    time.sleep(secs / steps)
    sdk.log_metric("progress", (i + 1) / steps, step=i)
print("x is", sdk.param("x"))
sdk.log_metric("score", float(sdk.param("x", 0)))
"""
SPEC = """
workflow W { task S { implementation "t.sleep"; } }
experiment E {
    control { START -> Grid -> Review -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, {n});
        param_values label = enum("a", "b");
        task S {{ param x = x; param label = label; param secs = {secs}; }}
        objective maximize score;
    }
    interaction Review {
        prompt "Good enough?";
        define param good { type Boolean; default true; }
        define param note { type String; default "ok"; }
    }
}
"""


def make_project(root: Path, n: int = 8, secs: float = 1.5, review: bool = True) -> Path:
    """A grid of 2n sleeping variants, then (with `review`) an interaction that waits for an
    answer. Without it the engine finishes on its own, so even a test killed before its cleanup
    leaves no engine running for long."""
    task_dir = root / "tasks" / "t" / "sleep"
    task_dir.mkdir(parents=True)
    (task_dir / "task.xxp").write_text(textwrap.dedent(SLEEP_TASK))
    (task_dir / "sleep.py").write_text(textwrap.dedent(SLEEP_PY))
    spec = root / "e.xxp"
    text = textwrap.dedent(SPEC).replace("{n}", str(n)).replace("{secs}", str(secs))
    if not review:
        text = text.replace("START -> Grid -> Review -> END", "START -> Grid -> END")
        text = text[: text.index("    interaction Review")] + "}\n"
    spec.write_text(text.replace("{{", "{").replace("}}", "}"))
    return spec


class LiveRun:
    def __init__(self, root: Path, n: int, secs: float, workers: int) -> None:
        self.spec = make_project(root, n, secs)
        self.db = root / ".xxp" / "kb.sqlite"
        result = load_project(self.spec)
        assert result.ok, [d.render() for d in result.diagnostics]
        self.run_id = create_run(result, "E", self.db, workers=workers, seed=0).run_id
        self.proc = start_detached(self.db, self.run_id, root)
        problem = wait_for_engine(self.db, self.run_id, self.proc)
        assert problem is None, problem

    def kb(self):
        return open_kb(self.db, create=False)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except Exception:
                os.killpg(self.proc.pid, signal.SIGKILL)
        # An engine the viewer restarted (R) is not our child: find it by the KB's heartbeat.
        with open_kb(self.db, create=False, readonly=True) as kb:
            pid = kb.scalar("SELECT pid FROM heartbeat WHERE run_id = ?", (self.run_id,))
        if pid and pid != self.proc.pid:
            stop_engine(self.db, pid)


def stop_engine(db: Path, pid: int, timeout: float = 10.0) -> None:
    """SIGTERM the detached engine `pid` of `db` (its own session: the group goes too), SIGKILL if it
    lingers. The pid comes from the KB, so it is checked to still be that engine first."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not is_engine(pid, db):
            return
        try:
            os.killpg(pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and is_engine(pid, db):
            time.sleep(0.05)


def is_engine(pid: int, db: Path) -> bool:
    """`pid` is a live (not zombie) `xxp_tui.engine` process on `db`."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return False
    return "xxp_tui.engine" in argv and str(db) in argv


@pytest.fixture
def live_run(tmp_path: Path):
    runs: list[LiveRun] = []

    def start(n: int = 8, secs: float = 1.5, workers: int = 1) -> LiveRun:
        run = LiveRun(tmp_path, n, secs, workers)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


async def wait_for(pilot, condition: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll `condition`; one that cannot be evaluated yet (the app's first poll has not filled
    `app.summary`, say) counts as not yet true, and its error is named if the deadline passes."""
    deadline = time.monotonic() + timeout
    error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (AttributeError, TypeError, LookupError) as exc:
            error = exc
        await pilot.pause(0.05)
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or condition}" + (f" (last: {error!r})" if error else ""))


# ----------------------------------------------------------------------------- frozen KB for snapshots

T0 = 1_790_000_000.0


def frozen_kb(root: Path) -> tuple[Path, int]:
    """A paused run that no engine drives, with fixed times and values, for deterministic snapshots:
    7 completed variants (with task executions and log files), one failed, one pruned, two queued and
    one waiting for an answer. Nothing in it moves; the app's clock is the only time that could, so
    snapshot tests pass `clock=` (and TZ=UTC for the event times)."""
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import variants as kbv

    spec = make_project(root, n=6, secs=1.0)
    db = root / ".xxp" / "kb.sqlite"
    result = load_project(spec)
    run_id = create_run(result, "E", db, workers=2, seed=0).run_id
    with open_kb(db) as kb:
        new = []
        for i in range(12):
            x, label = i // 2, "ab"[i % 2]
            status = ["completed"] * 7 + ["waiting_input", "queued", "failed", "pruned", "queued"]
            params = {"S.x": x, "S.label": label, "S.secs": 1.0}
            new.append(kbv.NewVariant(space="Grid" if i != 7 else "Review", params=params,
                                      config={"x": x, "label": label}, seed=0, status=status[i], iteration=1,
                                      reason="S exited with code 1: ValueError: boom" if status[i] == "failed"
                                      else "pruned by you@host" if status[i] == "pruned" else None))
        ids = kbv.insert(kb, run_id, new)
        rows = []
        for i, vid in enumerate(ids):
            if i < 7:
                rows.append((vid, "S", "score", float(i // 2) + 0.25 * (i % 2), None, None, T0 + 10 + i))
            for step in range(4):
                rows.append((vid, "S", "progress", (step + 1) / 4, None, step, T0 + 5 + i))
        kbv.insert_metrics(kb, rows)
        kbr.upsert_node(kb, run_id, "Grid", kind="space", status="running", iteration=1, total=12, fired="{}")
        kbr.upsert_node(kb, run_id, "Review", kind="interaction", status="pending", iteration=0, fired="{}")
        kbc.log_event(kb, run_id, "engine", "node", None, {"text": "Grid started: 12 variant(s)"})
        kbc.log_event(kb, run_id, "you@host", "prune", "v11", {"outcome": "pruned v11"})
        kbr.set_status(kb, run_id, "running")
        logs = root / "logs"
        logs.mkdir()
        for i, vid in enumerate(ids):
            if i >= 7 and i != 9:
                continue  # only finished (and the failed) variants ran their task
            out = logs / f"v{vid}.out"
            failed = i == 9
            out.write_text(f"x is {i // 2}\n" + ("Traceback (most recent call last):\nValueError: boom\n"
                                                  if failed else f"score {float(i // 2) + 0.25 * (i % 2)}\n"))
            kbv.insert_task_run(kb, variant_id=vid, task="S", attempt=1, status="failed" if failed else "completed",
                                argv=["python", "sleep.py"], exit_code=1 if failed else 0,
                                started=T0 + 2 * i, ended=T0 + 2 * i + 1.5, stdout_path=str(out),
                                stderr_path=None, cache_hit=1 if i == 6 else 0)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET created=?, started=?, ended=NULL, status='paused', paused=1", (T0, T0))
        conn.execute("UPDATE events SET time=?", (T0 + 30,))
        for i, vid in enumerate(ids):
            started = T0 + 2 * i
            ended = started + 1.5 if i < 7 or i in (9, 10) else None
            started = None if i in (7, 8, 11) else started
            conn.execute("UPDATE variants SET created=?, started=?, ended=?, objective=? WHERE id=?",
                         (T0, started, ended,
                          float(i // 2) + 0.25 * (i % 2) if i < 7 else None, vid))
    return db, run_id
