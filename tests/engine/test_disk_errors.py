"""A disk that refuses a task's log ends that task as failed, with the reason (issue 12, defect 3).

The log copier's write raised ENOSPC on the task's thread, which swallowed it: `Finished` never
came, the variant stayed `running` forever, and neither timeout, prune nor stop could end it.
The full disk here is real: the task's stdout.log is a symlink to /dev/full, where every write
fails with ENOSPC, as on a full filesystem (or EDQUOT on a quota'd home).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.engine.live import LiveRun
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
def test_a_full_disk_under_a_tasks_log_fails_the_task_with_the_reason(tmp_path: Path):
    run = LiveRun(tmp_path, SPEC, workers=2)
    folders = run_folder(tmp_path, run.run_id, run.db)
    cwd = workdir(folders, 1, "G", 1)
    cwd.mkdir(parents=True)
    (cwd / "stdout.log").symlink_to("/dev/full")
    try:
        run.start()
        final = run.wait_finished(timeout=60)
        assert final.status == "failed" and final.reason == "1 of 3 variant(s) failed", final
        v1, v2, v3 = (run.variant(i) for i in (1, 2, 3))
        assert v1.status == "failed" and "no space left on device writing stdout.log" in v1.reason, v1.reason
        assert v2.status == v3.status == "completed"
        (tr,) = run.task_runs(1)
        assert tr.status == "failed" and tr.reason.startswith("G was stopped: no space left on device"), tr.reason
        assert run.wait_exit(30) == 1, run.engine_log()
    finally:
        run.stop()
