"""End to end: a space's value for a sub-workflow task's param (`task Prep/Scale { param k = k_vp; }`)
reaches that inner task, and the run records it under the flattened key `Prep/Scale.k`."""

from __future__ import annotations

import json

from .conftest import Project, xxp

SCALE_PY = """
import json
import os
from pathlib import Path

from xxp_tui import sdk

k = sdk.param("k")
Path(sdk.output_path("scaled")).write_text(json.dumps({"k": k, "type": type(k).__name__}))
sdk.log_metric("k_seen", k)
"""


def test_the_inner_task_receives_the_space_value(project: Project):
    project.task("lib.scale", """
        task Scale {
            define output data scaled;
            define param k { type Integer; default 1; }
            define metric k_seen { kind single-value; }
            implementation "scale.py";
        }
    """, "scale.py", SCALE_PY)
    (project.root / "workflows").mkdir()
    (project.root / "workflows" / "Preprocess.xxp").write_text(
        'workflow Preprocess { START -> Scale -> END; task Scale { implementation "lib.scale"; } }\n')
    spec = project.spec("""
        workflow W {
            START -> Prep -> END;
            task Prep { subworkflow "Preprocess"; }
        }
        experiment E {
            control { START -> S -> END; }
            space S of W {
                strategy gridsearch;
                param_values k_vp = enum(2, 7);
                task Prep/Scale { param k = k_vp; }
            }
        }
    """)
    done = xxp("run", spec, "--headless", "--db", project.db, cwd=project.root)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = xxp("variants", "--json", "--db", project.db, cwd=project.root)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert sorted(r["params"]["Prep/Scale.k"] for r in rows) == [2, 7]
    assert all(set(r["params"]) == {"Prep/Scale.k"} for r in rows)
    assert sorted(r["metrics"]["k_seen"] for r in rows) == [2, 7]
    written = sorted(json.loads(p.read_text())["k"] for p in
                     project.root.glob(".xxp/runs/r1*/v*/Prep/Scale/out/scaled"))
    assert written == [2, 7]
