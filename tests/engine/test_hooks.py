"""Conditions, filters and generators are the project's own code (issue 12, defect 7).

A CPU-bound condition froze the engine: no heartbeat ("dead" to every viewer), SIGTERM ignored,
for minutes. They now run in a child process: the engine keeps beating and obeys signals while one
runs, and one that runs past the limit (XXP_HOOK_TIMEOUT, 60 s by default) is stopped and fails
with that reason.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.engine.conftest import clean_env, wait_until, xxp_popen
from tests.engine.live import make_project
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

SPEC = """
workflow W { task P { implementation "t.prep"; } }
experiment E {
    control {
        START -> Grid;
        Grid ?-> Next { condition "sum(1 for _ in iter(int, 1)) > 0" };
        Grid ?-> Fallback { else };
    }
    space Grid of W { strategy gridsearch; param_values x = enum(1, 2); task P { param x = x; } }
    space Next of W { strategy gridsearch; param_values x = enum(3); task P { param x = x; } }
    space Fallback of W { strategy gridsearch; param_values x = enum(4); task P { param x = x; } }
}
"""


def evaluating(db: Path) -> bool:
    """Grid's variants are done and its edges not decided yet: the condition is running."""
    if not db.exists():
        return False
    with open_kb(db, create=False, readonly=True) as kb:
        grid = kbv.for_run(kb, 1, space="Grid")
        nodes = kbr.nodes(kb, 1)
        return len(grid) == 2 and all(v.status == "completed" for v in grid) and nodes["Grid"].status == "running"


def start(tmp_path: Path, timeout: float) -> tuple[subprocess.Popen, Path, Path]:
    spec = make_project(tmp_path, SPEC)
    db = tmp_path / ".xxp" / "kb.sqlite"
    out = tmp_path / "out.txt"
    with open(out, "w") as fh:
        proc = xxp_popen("run", spec, "--headless", "--db", db, cwd=tmp_path, stdout=fh, stderr=subprocess.STDOUT,
                         env=clean_env(XXP_HOOK_TIMEOUT=str(timeout)))
    return proc, db, out


def test_a_condition_past_the_limit_is_stopped_and_the_engine_beats_meanwhile(tmp_path: Path):
    limit = 6.0
    proc, db, out = start(tmp_path, limit)
    try:
        wait_until(lambda: evaluating(db), 60, "the condition to run")
        began = time.monotonic()
        beats = []
        with open_kb(db, create=False, readonly=True) as kb:
            while proc.poll() is None and time.monotonic() - began < limit - 1:
                live = kbr.liveness(kb, 1)
                beats.append(live.age)
                assert live.alive, f"the engine looked dead while the condition ran: {live}"
                time.sleep(0.5)
        assert beats and max(beats) < 3.0, beats  # beating every second, not frozen
        assert proc.wait(timeout=60) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    text = out.read_text()
    assert f"false (the conditions after Grid ran longer than {limit:g} s and was stopped)" in text, text
    with open_kb(db, create=False) as kb:
        nodes = kbr.nodes(kb, 1)
    assert (nodes["Next"].status, nodes["Fallback"].status) == ("skipped", "done")


def test_sigterm_stops_the_engine_while_a_condition_runs(tmp_path: Path):
    proc, db, out = start(tmp_path, 600)
    try:
        wait_until(lambda: evaluating(db), 60, "the condition to run")
        time.sleep(0.5)  # well inside the condition
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, out.read_text()
    assert took < 10, took
    with open_kb(db, create=False) as kb:
        run = kbr.get_run(kb, 1)
        assert run.status == "interrupted" and kbr.nodes(kb, 1)["Grid"].status == "running"
