"""Long chains of cache hits (issue 12, defect 8).

Cache hits start no process and take no slot, so the engine's scheduling went on through a whole
chain of them in one turn: no heartbeat, no signal, no command for as long as it took, and each step
scanned the whole workflow. Worse, a hit copied the source's metrics under the source's task name,
so when tasks of one workflow share a key each hit doubled the rows. Now scheduling stops after a
short budget and the next turn goes on, a step costs the same whatever the workflow's size, and a
hit's copies carry the reusing task's name.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.engine.conftest import clean_env, xxp_popen
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import cache_chain  # the benchmark's own project: a chain of N tasks sharing one cache key

pytestmark = pytest.mark.slow

N = 400


def test_a_chain_of_cache_hits_completes_beating_and_linear(tmp_path: Path):
    lib = tmp_path / "tasks" / "t" / "step"
    lib.mkdir(parents=True)
    (lib / "task.xxp").write_text(cache_chain.STEP_XXP)
    (lib / "step.py").write_text(cache_chain.STEP_PY)
    (tmp_path / "e.xxp").write_text(cache_chain.spec(N))
    db = tmp_path / "kb.sqlite"
    gaps: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=cache_chain.watch_beats, args=(db, 1, stop, gaps), daemon=True)
    watcher.start()
    proc = xxp_popen("run", "e.xxp", "--headless", "--db", db, cwd=tmp_path, stdout=subprocess.DEVNULL,
                     env=clean_env())
    try:
        code = proc.wait(timeout=300)
    finally:
        stop.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    watcher.join()
    assert code == 0, proc.stderr.read()
    with open_kb(db, create=False, readonly=True) as kb:
        assert kbr.get_run(kb, 1).status == "completed"
        assert kb.scalar("SELECT COUNT(*) FROM task_runs WHERE status = 'cached'") == N - 1
        # one `done` metric per task, under each task's own name
        assert kb.scalar("SELECT COUNT(*) FROM metrics") == N
        assert kb.scalar("SELECT COUNT(DISTINCT task) FROM metrics") == N
    assert max(gaps, default=0) < 3.0, f"the heartbeat stopped for {max(gaps):.1f} s"


def test_sigterm_is_obeyed_in_the_middle_of_a_long_chain_of_hits(tmp_path: Path):
    lib = tmp_path / "tasks" / "t" / "step"
    lib.mkdir(parents=True)
    (lib / "task.xxp").write_text(cache_chain.STEP_XXP)
    (lib / "step.py").write_text(cache_chain.STEP_PY)
    (tmp_path / "e.xxp").write_text(cache_chain.spec(3000))
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", "e.xxp", "--headless", "--db", db, cwd=tmp_path, stdout=subprocess.DEVNULL,
                     env=clean_env())
    try:
        deadline = time.monotonic() + 120
        hits = 0
        while time.monotonic() < deadline and hits < 20:
            time.sleep(0.2)
            if db.exists():
                with open_kb(db, create=False, readonly=True) as kb:
                    hits = kb.scalar("SELECT COUNT(*) FROM task_runs WHERE status = 'cached'") or 0
        assert hits >= 20, "the chain never got going"
        asked = time.monotonic()
        proc.terminate()
        code = proc.wait(timeout=60)
        took = time.monotonic() - asked
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 130 and took < 10, (code, took)
    with open_kb(db, create=False, readonly=True) as kb:
        hits = kb.scalar("SELECT COUNT(*) FROM task_runs WHERE status = 'cached'")
        assert kbr.get_run(kb, 1).status == "interrupted"
    assert hits < 2999, "it finished the chain before it obeyed"
