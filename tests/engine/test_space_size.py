"""Space size (issue 12, defect 9): grids are enumerated lazily, and a space that fails fails the run.

A 10^12 grid validated "ok", then the run ended "completed: no variants" with exit 0 while the space
had failed; a 10^6 grid (allowed) took 52 s and 3.1 GB to build before its first task started.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.engine.conftest import wait_until, xxp, xxp_popen
from tests.engine.live import make_project
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

SPEC = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values a = range(0, SIDE);
        param_values b = range(0, SIDE);
        param_values c = range(0, SIDE);
        task G { param x = a; param hold = b; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""


def test_a_space_past_the_limit_fails_the_run(tmp_path: Path):
    spec = make_project(tmp_path, SPEC.replace("SIDE", "10000"))  # 10^12 configurations
    done = xxp("run", spec, "--headless", "--db", tmp_path / "kb.sqlite", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Grid failed: space Grid has 1000000000000 configurations; the limit is 1000000" in done.stdout
    with open_kb(tmp_path / "kb.sqlite", create=False) as kb:
        run = kbr.get_run(kb, 1)
    assert run.status == "failed" and "the limit is 1000000" in run.reason, run


def test_a_million_point_grid_starts_at_once_in_little_memory(tmp_path: Path):
    spec = make_project(tmp_path, SPEC.replace("SIDE", "100").replace("param hold = b;", "param hold = 0.0;"))
    db = tmp_path / "kb.sqlite"
    proc = xxp_popen("run", spec, "--headless", "--db", db, cwd=tmp_path, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
    began = time.monotonic()
    try:
        def progressed():
            if not db.exists():
                return None
            with open_kb(db, create=False, readonly=True) as kb:
                done = kbv.counts(kb, 1).get("completed", 0)
                return done >= 3 and kbv.counts(kb, 1)
        counts = wait_until(progressed, 60, "variants of the grid to complete")
        took = time.monotonic() - began
        rss = psutil.Process(proc.pid).memory_info().rss
        assert sum(counts.values()) <= 1000 + 10, counts  # recorded ahead: a batch, not the grid
        with open_kb(db, create=False, readonly=True) as kb:
            assert kbr.nodes(kb, 1)["Grid"].total == 1_000_000
            first = [v.config for v in kbv.for_run(kb, 1)[:3]]
        assert first == [{"a": 0, "b": 0, "c": 0}, {"a": 0, "b": 0, "c": 1}, {"a": 0, "b": 0, "c": 2}]
        assert took < 30, took
        assert rss < 400 * 2**20, rss
        print(f"first 3 of a 10^6 grid done in {took:.1f} s; engine RSS {rss / 2**20:.0f} MB")
    finally:
        proc.terminate()
        proc.wait(30)
