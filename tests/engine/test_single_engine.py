"""One engine per run: a second engine on a run that already has one refuses to start, says so,
and leaves the run and its engine exactly as they were (even if the heartbeat looked stale)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, wait_until
from tests.engine.test_steering import grid
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr

pytestmark = pytest.mark.slow


def test_a_second_engine_on_the_same_run_is_refused(tmp_path: Path):
    run = LiveRun(tmp_path, grid(3), workers=1).start()
    try:
        wait_until(lambda: run.running_ids(), what="a running variant")
        with open_kb(run.db, create=False) as kb, kb.write():  # make the engine look dead, as a stalled beat would
            kb.conn.execute("UPDATE heartbeat SET beat = beat - 60 WHERE run_id = ?", (run.run_id,))
        second = subprocess.run([sys.executable, "-m", "xxp_tui.engine", "--db", str(run.db), "--run",
                                 str(run.run_id)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert second.returncode == 2
        # Whether the first engine has beaten again by now depends on the machine's load: either way
        # the refusal names the run and says an engine still holds it.
        assert (f"r{run.run_id} already has an engine running" in second.stderr
                or (f"r{run.run_id}: engine not responding" in second.stderr
                and "it still holds the run" in second.stderr)), second.stderr
        assert "Traceback" not in second.stderr
        assert run.proc.poll() is None  # the first engine goes on
        assert run.run().status in ("running", "waiting_input")
        wait_until(lambda: kbr.liveness(run.kb, run.run_id).alive, what="the first engine beating again")
    finally:
        run.stop()


def test_two_knowledge_bases_in_one_folder_run_side_by_side(tmp_path: Path):
    """The lock is per KB file and run: r1 of kbA.sqlite and r1 of kbB.sqlite are different runs."""
    import shutil

    from tests.engine.conftest import clean_env, xxp_executable

    root = Path(__file__).resolve().parents[2]
    project = tmp_path / "q"
    shutil.copytree(root / "sample_workflows" / "quickstart", project, ignore=shutil.ignore_patterns(".xxp"))
    procs = [subprocess.Popen([xxp_executable(), "run", str(project / "quickstart.xxp"), "--headless", "--db",
                               str(tmp_path / name)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              stdin=subprocess.DEVNULL, env=clean_env(), text=True)
             for name in ("kbA.sqlite", "kbB.sqlite")]
    for proc in procs:
        assert proc.wait(timeout=180) == 0, proc.stderr.read()
