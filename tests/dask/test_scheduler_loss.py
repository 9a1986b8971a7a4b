"""Losing the Dask scheduler is an outage, not a result: the run stops resumably (interrupted,
with the reason), no variant is recorded as failed, and the interrupted attempts run again once
the run is resumed on a scheduler that is back."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.dask.conftest import Cluster, make_project, wait_until, xxp, xxp_popen
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow


def test_losing_the_scheduler_interrupts_the_run_resumably(tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    cluster = Cluster(tmp_path / "cluster").start()
    try:
        spec = make_project(tmp_path / "p", n=2, hold=60)
        db = tmp_path / "p" / ".xxp" / "kb.sqlite"
        run = xxp_popen("run", spec, "--headless", "--executor", "dask", "--scheduler", cluster.address,
                        cwd=tmp_path / "p")

        def running() -> bool:
            if not db.exists():
                return False
            with open_kb(db, create=False, readonly=True) as kb:
                return len(kbv.task_runs_in_state(kb, 1, "running")) == 2

        wait_until(running, 60, "both tasks running on the workers")
        os.kill(cluster.scheduler.pid, signal.SIGKILL)
        assert run.wait(timeout=120) == 130, run.stdout.read()[-3000:]
        with open_kb(db, create=False, readonly=True) as kb:
            state = kbr.get_run(kb, 1)
            assert state.status == "interrupted" and "Dask scheduler" in state.reason, state.reason
            assert not kbv.for_run(kb, 1, status="failed")
    finally:
        for proc in cluster.workers:  # the workers lost their scheduler: stop them with the rest
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        cluster.stop()
    # The scheduler is back (a new one at the same address): resume finishes the run.
    again = Cluster(tmp_path / "cluster2")
    (tmp_path / "cluster2").mkdir()
    again.port, again.address = cluster.port, cluster.address
    again.start()
    try:
        (tmp_path / "p" / "gates" / "ALL").touch()
        done = xxp("resume", "r1", "--headless", "--db", db, cwd=tmp_path / "p", timeout=180)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open_kb(db, create=False, readonly=True) as kb:
            assert {v.status for v in kbv.for_run(kb, 1)} == {"completed"}
    finally:
        again.stop()
