"""A real knowledge base shared by the front-end tests of a module: a small multi-objective grid run
headless through the real CLI (tasks are real subprocesses, metrics real JSONL lines)."""

from __future__ import annotations

import pytest

from tests.engine.conftest import Project, xxp

SIGNATURE = """
task Fit {
    define param x { type Float; default 0.0; range (0.0, 1.0); }
    define param k { type Integer; default 1; }
    define param kind { type String; default "a"; enum ("a", "b"); }
    define metric y { kind single-value; type Float; }
    define metric cost { kind single-value; type Float; }
    define metric curve { kind series; type Float; }
    implementation "fit.py";
}
"""
SCRIPT = """
from xxp_tui import sdk
x, k = float(sdk.param("x")), int(sdk.param("k"))
for step in range(4):
    sdk.log_metric("curve", x * (step + 1), step=step)
print("fitted", x)
sdk.log_metric("y", x)                 # bigger x: better y...
sdk.log_metric("cost", x * x - x / 2)  # ...but a cost that falls then rises: a real Pareto front
"""
SPEC = """
workflow W { START -> Fit -> END; task Fit { implementation "m.fit"; } }
experiment Multi {
    control { START -> Front -> END; }
    space Front of W {
        strategy gridsearch;
        param_values x_vp = enum(0.0, 0.25, 0.5, 1.0);
        task Fit { param x = x_vp; param k = 3; param kind = "b"; }
        objective maximize y, minimize cost;
    }
}
"""


class RunProject(Project):
    """The project with one completed run in `self.db`."""


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> RunProject:
    p = RunProject(tmp_path_factory.mktemp("kb"))
    p.task("m.fit", SIGNATURE, "fit.py", SCRIPT)
    spec = p.spec(SPEC)
    done = xxp("run", spec, "--headless", "--workers", "2", "--db", p.db, cwd=p.root)
    assert done.returncode == 0, done.stdout + done.stderr
    return p
