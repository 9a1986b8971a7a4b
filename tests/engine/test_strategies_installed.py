"""Every strategy the language offers runs from the base install, end to end.

cmaes used to end the engine with ModuleNotFoundError (and leave the run `running`); qmc needs
scipy. Both are dependencies now: a headless run of each completes its whole budget.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import Project, xxp

QUAD_TASK = """
task Quad {
    define param x { type Float; default 0.0; }
    define param y { type Float; default 0.0; }
    define metric loss { kind single-value; type Float; }
    implementation "quad.py";
}
"""

QUAD_PY = """
from xxp_tui import sdk

x, y = float(sdk.param("x")), float(sdk.param("y"))
sdk.log_metric("loss", (x - 0.3) ** 2 + (y + 0.2) ** 2)
"""


def quad_project(project: Project, strategy: str) -> None:
    project.task("t.quad", QUAD_TASK, "quad.py", QUAD_PY)
    return project.spec(f"""
        workflow W {{ task Q {{ implementation "t.quad"; }} }}
        experiment E {{
            control {{ START -> S -> END; }}
            space S of W {{
                strategy {strategy};
                runs = 5;
                param_values x_vp = range(-1.0, 1.0);
                param_values y_vp = range(-1.0, 1.0);
                task Q {{ param x = x_vp; param y = y_vp; }}
                objective minimize loss;
                seed = 3;
            }}
        }}
    """)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["cmaes", "qmc"])
def test_every_optuna_strategy_runs_from_the_base_install(project, strategy):
    spec = quad_project(project, strategy)
    done = xxp("run", spec, "--headless", "--workers", "2", "--db", project.db, cwd=project.root, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr and "internal error" not in done.stderr
    rows = project.variants()
    assert len(rows) == 5 and {v.status for v in rows} == {"completed"}
    assert all(-1.0 <= v.params["Q.x"] <= 1.0 and -1.0 <= v.params["Q.y"] <= 1.0 for v in rows)
    assert project.latest_run().status == "completed"


def test_importance_without_scikit_learn_is_one_sentence_naming_the_extra(tmp_path):
    """fANOVA needs scikit-learn, an extra: its absence is a StudyError the CLI prints, not an ImportError."""
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "from xxp_tui.engine.studies import StudyError, importance\n"
        "try:\n"
        "    importance(None, 1, 'S')\n"
        "except StudyError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "parameter importance needs scikit-learn: pip install 'xxp-tui[importance]'"
