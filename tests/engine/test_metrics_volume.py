"""Metrics are never silently dropped, and their file is capped (issue 12, defect 5).

At a task's end at most about a million remaining lines were read: a task that wrote 1.1 million
`loss` points then its `accuracy` was failed with "the objective accuracy was not reported". Now
every kept line is read (in batches), and metrics.jsonl is capped like the logs: a task that passes
the cap is stopped with that reason, and past the cap its single values are still kept.
"""

from __future__ import annotations

import pytest

from tests.engine.conftest import xxp
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

TASK = """
task Flood {
    define param lines { type Integer; default 10; }
    define param chatty { type Boolean; default false; }
    define metric loss { kind series; type Float; }
    define metric accuracy { kind single-value; type Float; }
    implementation "flood.py";
}
"""
SCRIPT = """
import json, os, time
from xxp_tui import sdk

n = int(sdk.param("lines"))
target = os.environ["XXP_METRICS"]
# Written aside and put in place at once (as a task that copies its log in at the end does): the
# engine finds every line waiting when the task ends, none read live while it ran.
with open(target + ".part", "w") as fh:
    fh.writelines('{"name":"loss","value":%d,"step":%d}\\n' % (i % 7, i) for i in range(n))
    fh.write('{"name":"accuracy","value":0.875}\\n')
os.replace(target + ".part", target)
if sdk.param("chatty"):  # waits for the engine to stop it (SIGTERM), as a long training would run on
    time.sleep(60)
"""
SPEC = """
workflow W { task F { implementation "t.flood"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values lines_vp = enum(LINES);
        param_values chatty_vp = enum(CHATTY);
        task F { param lines = lines_vp; param chatty = chatty_vp; }
        objective maximize accuracy;
    }
}
"""


def test_every_line_of_a_large_metrics_file_is_kept_with_its_final_metric(project):
    project.task("t.flood", TASK, "flood.py", SCRIPT)
    lines = 1_100_000  # past the million (and a batch) the engine used to stop reading at
    spec = project.spec(SPEC.replace("LINES", str(lines)).replace("CHATTY", "false"))
    done = xxp("run", spec, "--headless", "--max-log-mb", "100", "--db", project.db, cwd=project.root,
               timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (v,) = project.variants()
    assert v.status == "completed" and v.objective == 0.875, v
    with project.kb() as kb:
        assert kb.scalar("SELECT COUNT(*) FROM metrics WHERE variant_id = ? AND name = 'loss'", (v.id,)) == lines


def test_a_metrics_file_past_the_cap_stops_the_task_and_keeps_its_final_values(project):
    project.task("t.flood", TASK, "flood.py", SCRIPT)
    lines = 200_000  # about 6.5 MB, past a 2 MB cap
    spec = project.spec(SPEC.replace("LINES", str(lines)).replace("CHATTY", "true"))
    done = xxp("run", spec, "--headless", "--max-log-mb", "2", "--db", project.db, cwd=project.root, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    (v,) = project.variants()
    assert v.status == "failed" and v.reason.startswith("F wrote more than 2 MB of metrics (the log limit); stopped")
    with project.kb() as kb:
        finals = kbv.final_metrics(kb, [v.id])[v.id]
        kept = kb.scalar("SELECT COUNT(*) FROM metrics WHERE variant_id = ? AND name = 'loss'", (v.id,))
    assert finals[("F", "accuracy")] == 0.875  # written after the cap: still kept
    assert 0 < kept < lines  # the series up to the cap
