"""The failure policy: by default a failed variant does not stop the run (the others go on); with
`--max-failures N` the run stops once N variants failed, cancelling what is left, and ends failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Project, xxp

pytestmark = pytest.mark.slow

ODD_XXP = """
task Odd {
    define param x { type Integer; default 0; }
    define metric x_out { kind single-value; type Float; }
    implementation "odd.py";
}
"""
ODD_PY = """
import sys
import time
from xxp_tui import sdk
x = int(sdk.param("x"))
if x % 2:
    sys.exit(f"x={x} is odd")
time.sleep(x / 10)
sdk.log_metric("x_out", x)
"""
SPEC = """
workflow W { START -> T -> END; task T { implementation "p.odd"; } }
experiment E {
    control { START -> S -> END; }
    space S of W { strategy gridsearch; param_values x_vp = range(0, 6); task T { param x = x_vp; } }
}
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    p = Project(tmp_path)
    p.task("p.odd", ODD_XXP, "odd.py", ODD_PY)
    p.spec(SPEC)
    return p


def test_failures_do_not_stop_a_run_by_default(project):
    done = xxp("run", project.root / "e.xxp", "--headless", "--workers", "1", "--db", project.db, cwd=project.root)
    assert done.returncode == 1
    assert sorted(v.status for v in project.variants()) == ["completed"] * 3 + ["failed"] * 3
    assert project.latest_run().reason == "3 of 6 variant(s) failed"


TWO_SPACES = """
workflow W { START -> T -> END; task T { implementation "p.odd"; } }
experiment E {
    control { START -> S -> S2 -> END; }
    space S of W { strategy gridsearch; param_values x_vp = enum(1, 20); task T { param x = x_vp; } }
    space S2 of W { strategy gridsearch; param_values x_vp = enum(10); task T { param x = x_vp; } }
}
"""


def test_a_stopped_run_starts_no_further_node(project):
    """x=1 fails while x=20 still runs: the stop cancels x=20, which empties S; S2 must not start."""
    project.spec(TWO_SPACES)
    done = xxp("run", project.root / "e.xxp", "--headless", "--workers", "2", "--max-failures", "1",
               "--db", project.db, cwd=project.root)
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted((v.params["T.x"], v.status) for v in project.variants()) == [(1, "failed"), (20, "cancelled")]
    with project.kb() as kb:
        from xxp_tui.kb import runs as kbr

        run = project.latest_run()
        assert run.status == "failed"
        assert kbr.nodes(kb, run.id)["S2"].status in ("pending", "skipped")


def test_max_failures_stops_the_run(project):
    done = xxp("run", project.root / "e.xxp", "--headless", "--workers", "1", "--max-failures", "2",
               "--db", project.db, cwd=project.root)
    assert done.returncode == 1, done.stdout + done.stderr
    by_x = {v.params["T.x"]: v for v in project.variants()}
    assert [by_x[x].status for x in range(6)] == ["completed", "failed", "completed", "failed",
                                                   "cancelled", "cancelled"]
    run = project.latest_run()
    assert run.status == "failed"
    assert run.reason == "stopped after 2 failed variant(s) (--max-failures 2)"
    assert "x=3 is odd" in by_x[3].reason
    bad = xxp("run", project.root / "e.xxp", "--headless", "--max-failures", "-1", "--db", project.db)
    assert bad.returncode == 2 and "--max-failures" in bad.stderr
