"""What each task run cost, end to end: a real engine, real task processes sampled by the real
supervisor, a real KB. A task that burns about a second of CPU (in a child process: the figure is the
whole tree's) records about that, one that holds ~100 MB records at least that peak, a task holding
GPUs records GPU-seconds, and a cache hit counts what it saved."""

from __future__ import annotations

import json
from pathlib import Path

from tests.engine.conftest import Project, xxp
from xxp_tui.kb import open_kb
from xxp_tui.kb import variants as kbv

WORK_XXP = """
task Work {
    define param burn { type Float; default 0.0; }
    define param megabytes { type Integer; default 0; }
    define metric done { kind single-value; type Float; }
    implementation "work.py";
}
"""
# The CPU burns in a child process, the memory is held by this one: both must count.
WORK_PY = """
import subprocess, sys, time
from xxp_tui import sdk

burn = float(sdk.param("burn", 0.0))
if burn:
    subprocess.run([sys.executable, "-c",
                    "import time\\nend = time.process_time() + %r\\nwhile time.process_time() < end: pass" % burn],
                   check=True)
block = bytearray(int(sdk.param("megabytes", 0)) * 2**20)
for i in range(0, len(block), 4096):
    block[i] = 1  # touched, so resident
time.sleep(1.5 if block else 0)
sdk.log_metric("done", 1.0)
"""

SPEC = """
workflow W {
    START -> Work -> END;
    task Work { implementation "c.work"; resources { GPU = 1; } }
}
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values burn_vp = enum(1.0);
        param_values mb_vp = enum(0, 100);
        task Work { param burn = burn_vp; param megabytes = mb_vp; }
    }
}
"""


def _task_runs(db: Path) -> list[kbv.TaskRun]:
    with open_kb(db, create=False) as kb:
        return kbv.task_runs_for_run(kb, 1)


def test_cpu_memory_and_gpu_seconds_are_recorded_and_summed(project: Project) -> None:
    project.task("c.work", WORK_XXP, "work.py", WORK_PY)
    spec = project.spec(SPEC)
    done = xxp("run", spec, "--headless", "--workers", "2", "--gpus", "0,1", "--db", project.db, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = _task_runs(project.db)
    assert len(runs) == 2 and all(t.status == "completed" for t in runs)
    for t in runs:
        assert 0.7 <= t.cpu_seconds <= 6.0, t  # ~1 s burnt by a child, plus the interpreters' start
        assert t.wall_seconds and t.wall_seconds >= 1.0
        assert t.gpus in ("0", "1") and abs(t.gpu_seconds - t.wall_seconds) < 0.01
    big = next(t for t in runs if t.cpu_seconds and json.loads(Path(t.cwd, "params.json").read_text())
               ["params"]["megabytes"] == 100)
    small = next(t for t in runs if t.id != big.id)
    assert big.peak_rss_bytes >= 100 * 2**20, big.peak_rss_bytes
    assert small.peak_rss_bytes < big.peak_rss_bytes

    shown = json.loads(xxp("show", "v1", "--json", "--db", project.db).stdout)
    task = shown["tasks"][0]
    assert {"gpus", "cpu_seconds", "gpu_seconds", "peak_rss_bytes"} <= set(task)
    record = json.loads(xxp("show", "r1", "--json", "--db", project.db).stdout)
    spent = record["cost"]["run"]["spent"]
    assert spent["tasks"] == 2 and abs(spent["cpu_seconds"] - sum(t.cpu_seconds for t in runs)) < 0.01
    assert abs(spent["gpu_hours"] * 3600 - sum(t.gpu_seconds for t in runs)) < 0.1
    assert set(record["cost"]["spaces"]) == {"Grid"}
    listed = json.loads(xxp("runs", "--json", "--db", project.db).stdout)
    assert listed[0]["cost"]["spent"]["cpu_seconds"] == spent["cpu_seconds"]
    assert sum(listed[0]["gpus"].values()) == 2 and set(listed[0]["gpus"]) <= {"0", "1"}
    text = xxp("runs", "--db", project.db).stdout
    assert "CPU 0.00" in text and "GPU 0.00" in text, text

    # The same run again: both tasks are cache hits, which count what they saved, not what was spent.
    again = xxp("run", spec, "--headless", "--gpus", "0,1", "--db", project.db, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    second = json.loads(xxp("show", "r2", "--json", "--db", project.db).stdout)["cost"]["run"]
    assert second["spent"]["tasks"] == 0
    assert second["saved"]["tasks"] == 2 and abs(second["saved"]["cpu_seconds"] - spent["cpu_seconds"]) < 0.01
    assert "reuse saved" in xxp("show", "r2", "--db", project.db).stdout
