"""A disk that refuses a task's log stops that task with the reason (issue 12, defect 3), and the
run stops resumably: the machine failed, not the variant.

The log copier's write raised ENOSPC on the task's thread, which swallowed it: `Finished` never
came, the variant stayed `running` forever, and neither timeout, prune nor stop could end it. Later
the task was stopped but its variant failed, so a resume after freeing space left it failed.
The full disk here is real: the task's stdout.log is a symlink to /dev/full, where every write
fails with ENOSPC, as on a full filesystem (or EDQUOT on a quota'd home).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, wait_until
from xxp_tui.engine.taskspec import run_folder, workdir

pytestmark = pytest.mark.slow

SPEC = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = enum(1, 2, 3);
        task G { param x = x; param gates = "{gates}"; param hold = 0.0; }
        objective maximize score;
    }
}
"""


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_under_a_tasks_log_interrupts_the_run_with_the_reason(tmp_path: Path):
    run = LiveRun(tmp_path, SPEC, workers=2)
    folders = run_folder(tmp_path, run.run_id, run.db)
    cwd = workdir(folders, 1, "G", 1)
    cwd.mkdir(parents=True)
    (cwd / "stdout.log").symlink_to("/dev/full")
    try:
        run.start()
        final = wait_until(lambda: (r := run.run()).status == "interrupted" and r, 60, "the run interrupted")
        assert f"the disk under v1's task folder is full ({cwd})" in final.reason, final.reason
        assert "xxp-tui resume r1" in final.reason, final.reason
        assert run.wait_exit(30) == 130, run.engine_log()  # as after Ctrl-C: interrupted, resumable
        assert run.variant(1).status != "failed"
        (tr,) = run.task_runs(1)
        assert tr.status == "interrupted", tr
        assert tr.reason == "G was stopped: no space left on device writing stdout.log", tr.reason
        (cwd / "stdout.log").unlink()  # space again
        run.start()
        final = run.wait_finished(timeout=60)
        assert final.status == "completed", (final, run.engine_log())
        assert [v.status for v in run.variants()] == ["completed"] * 3
    finally:
        run.stop()
