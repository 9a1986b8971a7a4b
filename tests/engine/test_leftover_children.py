"""A task that exits while a child it started is still running does not leave that child behind:
the task's whole process group is stopped when the task ends."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from .conftest import Project, wait_until, xxp

pytestmark = [pytest.mark.slow, pytest.mark.launchers]  # launchers: also run with the other XXP_FORK_SERVER

TASK = """
task Spawner {
    define metric done { kind single-value; type Float; }
    implementation "spawner.py";
}
"""
SCRIPT = """
import subprocess
from pathlib import Path
from xxp_tui import sdk
child = subprocess.Popen(["sleep", "120"])  # in the task's own process group
(Path(sdk.output_path("x")).parent.parent / "child.pid").write_text(str(child.pid))
sdk.log_metric("done", 1)
"""
SPEC = """
workflow W { START -> T -> END; task T { implementation "s.spawner"; } }
experiment E { control { START -> S -> END; } space S of W { strategy singlerun; } }
"""


def test_a_child_left_running_by_a_finished_task_is_stopped(tmp_path: Path):
    p = Project(tmp_path)
    p.task("s.spawner", TASK, "spawner.py", SCRIPT)
    p.spec(SPEC)
    done = xxp("run", p.root / "e.xxp", "--headless", "--db", p.db, cwd=p.root)
    assert done.returncode == 0, done.stdout + done.stderr
    (pid_file,) = list((p.root / ".xxp").rglob("child.pid"))
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_until(gone, timeout=10, what=f"the task's child {pid} to be stopped")
