"""An engine that is there but does not beat (SIGSTOP, or stuck) is "not responding", not "dead"
(issue 12, smaller list): `runs` said "engine dead: xxp-tui resume" and `resume` then said "already
has an engine running", contradicting each other."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, wait_until, xxp
from xxp_tui.kb import runs as kbr

pytestmark = pytest.mark.slow

GRID = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 2);
        task G { param x = x; param gates = "{gates}"; }
    }
}
"""


def test_a_stopped_engine_is_reported_as_not_responding(tmp_path: Path):
    run = LiveRun(tmp_path, GRID).start()
    pid = run.proc.pid
    try:
        run.wait_running(1)
        os.kill(pid, signal.SIGSTOP)
        wait_until(lambda: kbr.liveness(run.kb, run.run_id).hung, 40, "the beat to go stale")
        listed = xxp("runs", "--db", run.db)
        assert re.search(rf"engine not responding \(pid {pid}, last beat \d+ s ago\)", listed.stdout), listed.stdout
        assert "dead" not in listed.stdout
        resumed = xxp("resume", "r1", "--headless", "--db", run.db)
        assert resumed.returncode == 2, resumed.stdout + resumed.stderr
        assert f"engine not responding (pid {pid}" in resumed.stderr and f"kill -CONT {pid}" in resumed.stderr
        os.kill(pid, signal.SIGCONT)
        wait_until(lambda: kbr.liveness(run.kb, run.run_id).alive, 30, "the engine to beat again")
        run.release_all()
        assert run.wait_finished().status == "completed"
    finally:
        os.kill(pid, signal.SIGCONT)
        run.stop()
