"""Multi-objective end to end, through the real CLI on a real KB after a real headless run:
`variants --json`, `export --format json|csv|optuna`, `show`, `kb best` and `kb importance` report
every declared objective in declared order and the Pareto front of each space.

The task's values are chosen so the front is known: in Grid (maximize quality, minimize cost),
a=1 (1, 1), a=2 and a=3 tie at (2, 4), a=4 (1, 5) is dominated by a=1, and a=5 never reports its
cost (it fails: its entry is null, its pareto null)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from .conftest import Project, xxp

pytestmark = pytest.mark.slow

TRADE_XXP = """
task Trade {
    define param a { type Integer; default 1; range (0, 100); }
    define param lr { type Float; default 0.01; }
    define metric quality { kind single-value; type Float; }
    define metric cost { kind single-value; type Float; }
    implementation "trade.py";
}
"""
TRADE_PY = """
import math
from xxp_tui import sdk
a, lr = int(sdk.param("a")), float(sdk.param("lr"))
sdk.log_metric("quality", {1: 1.0, 2: 2.0, 3: 2.0, 4: 1.0, 5: 3.0}.get(a, a - math.log10(lr)))
if a != 5:
    sdk.log_metric("cost", {1: 1.0, 2: 4.0, 3: 4.0, 4: 5.0}.get(a, a * lr))
"""
SPEC = """
workflow W { START -> T -> END; task T { implementation "m.trade"; } }
experiment E {
    control { START -> Grid -> Single -> Tune -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values a_vp = enum(1, 2, 3, 4, 5);
        task T { param a = a_vp; }
        objective maximize quality, minimize cost;
    }
    space Single of W {
        strategy gridsearch;
        param_values a_vp = enum(1, 2);
        task T { param a = a_vp; }
        objective maximize quality;
    }
    space Tune of W {
        strategy bayesian;
        runs = 5;
        seed = 3;
        param_values a_vp = range(6, 16, 2);
        param_values lr_vp = range(1e-4, 1e-1, log);
        task T { param a = a_vp; param lr = lr_vp; }
        objective maximize quality, minimize cost;
    }
}
"""


@pytest.fixture(scope="module")
def done(tmp_path_factory) -> Project:
    project = Project(tmp_path_factory.mktemp("mo"))
    project.task("m.trade", TRADE_XXP, "trade.py", TRADE_PY)
    project.spec(SPEC)
    ran = xxp("run", project.root / "e.xxp", "--headless", "--db", project.db, cwd=project.root)
    assert ran.returncode == 1, ran.stdout + ran.stderr  # a=5 failed: it did not report its cost
    return project


def cli_json(project: Project, *args: str):
    out = xxp(*args, "--db", project.db, cwd=project.root)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def by_params(rows: list[dict], space: str) -> dict[int, dict]:
    return {r["params"]["T.a"]: r for r in rows if r["space"] == space}


def test_variants_json_carries_every_objective_and_the_front(done):
    rows = cli_json(done, "variants", "--json")
    grid = by_params(rows, "Grid")
    assert {a: (r["status"], r["objective"], r["pareto"]) for a, r in grid.items()} == {
        1: ("completed", [1.0, 1.0], True),
        2: ("completed", [2.0, 4.0], True),  # a tie: both on the front
        3: ("completed", [2.0, 4.0], True),
        4: ("completed", [1.0, 5.0], False),
        5: ("failed", [3.0, None], None),  # declared order, null where not reported
    }
    single = by_params(rows, "Single")
    assert {a: (r["objective"], r["pareto"]) for a, r in single.items()} == {1: ([1.0], None), 2: ([2.0], None)}
    tune = [r for r in rows if r["space"] == "Tune"]
    assert len(tune) == 5 and all(len(r["objective"]) == 2 for r in tune)
    points = {r["id"]: r["objective"] for r in tune}
    for r in tune:  # the front is computed within Tune: on it exactly when no other Tune variant dominates
        q, c = r["objective"]
        dominated = any(q2 >= q and c2 <= c and (q2 > q or c2 < c) for other, (q2, c2) in points.items()
                        if other != r["id"])
        assert r["pareto"] is (not dominated)


def test_export_json_and_csv_carry_the_same_objective_list_and_pareto(done):
    listed = {r["id"]: (r["objective"], r["pareto"]) for r in cli_json(done, "variants", "--json")}
    exported = cli_json(done, "export", "--format", "json")
    assert {r["id"]: (r["objective"], r["pareto"]) for r in exported} == listed
    out = xxp("export", "--format", "csv", "--db", done.db, cwd=done.root)
    assert out.returncode == 0, out.stderr
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    pareto = {"true": True, "false": False, "": None}
    assert {r["id"]: (json.loads(r["objective"]), pareto[r["pareto"]]) for r in rows} == listed


def test_show_lists_objectives_and_fronts(done):
    rows = by_params(cli_json(done, "variants", "--json"), "Grid")
    record = cli_json(done, "show", rows[2]["id"], "--json")["variant"]
    assert record["objectives"] == ["maximize quality", "minimize cost"]
    assert (record["objective"], record["pareto"]) == ([2.0, 4.0], True)
    fronts = cli_json(done, "show", "r1", "--json")["pareto"]
    assert set(fronts) == {"Grid", "Tune"}
    assert fronts["Grid"]["front"] == {rows[a]["id"]: rows[a]["objective"] for a in (1, 2, 3)}


def test_kb_best_lists_the_front(done):
    best = cli_json(done, "kb", "best", "W", "--json")
    rows = cli_json(done, "variants", "--json")
    multi = [r for r in rows if r["space"] in ("Grid", "Tune") and r["status"] == "completed"]
    points = {r["id"]: r["objective"] for r in multi}
    front = {i for i, (q, c) in points.items()
             if not any(q2 >= q and c2 <= c and (q2 > q or c2 < c) for j, (q2, c2) in points.items() if j != i)}
    assert {b["variant"] for b in best} == front and best
    assert all(b["pareto"] and b["objectives"] == ["maximize quality", "minimize cost"] for b in best)
    assert all(b["value"] == points[b["variant"]] for b in best)
    assert [b["value"][0] for b in best] == sorted((b["value"][0] for b in best), reverse=True)
    # A named metric still ranks by that one metric.
    low = cli_json(done, "kb", "best", "W", "--metric", "cost", "--minimize", "-n", "1", "--json")
    assert low[0]["metric"] == "cost" and low[0]["value"] == min(c for _q, c in points.values())


def test_importance_per_objective(done):
    imp = cli_json(done, "kb", "importance", "r1:Tune", "--json")
    per = imp["by_objective"]["Tune"]
    assert list(per) == ["maximize quality", "minimize cost"]
    assert all(set(scores) == {"T.a", "T.lr"} for scores in per.values())
    assert imp["importance"]["Tune"] == per["maximize quality"]


def test_the_optuna_export_has_every_direction_and_the_declared_distributions(done):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    study_file = done.root / "study.db"
    out = xxp("export", "--format", "optuna", "--out", study_file, "--db", done.db, cwd=done.root)
    assert out.returncode == 0, out.stderr
    storage = f"sqlite:///{study_file}"
    tune = optuna.load_study(study_name="r1-Tune", storage=storage)
    assert tune.directions == [optuna.study.StudyDirection.MAXIMIZE, optuna.study.StudyDirection.MINIMIZE]
    assert len(tune.trials) == 5
    for trial in tune.trials:  # declared, not rebuilt from the values observed
        assert trial.distributions == {"T.a": IntDistribution(6, 14, step=2),
                                       "T.lr": FloatDistribution(1e-4, 1e-1, log=True)}
        assert len(trial.values) == 2
    rows = cli_json(done, "variants", "--json")
    front = {r["id"] for r in rows if r["space"] == "Tune" and r["pareto"]}
    assert {t.user_attrs["variant"] for t in tune.best_trials} == front
    grid = optuna.load_study(study_name="r1-Grid", storage=storage)
    assert len(grid.directions) == 2 and len(grid.trials) == 4  # a=5 reported no cost: not a trial
    assert grid.trials[0].distributions == {"T.a": CategoricalDistribution([1, 2, 3, 4, 5])}
    single = optuna.load_study(study_name="r1-Single", storage=storage)
    assert single.direction == optuna.study.StudyDirection.MAXIMIZE and single.best_params == {"T.a": 2}


def test_the_two_objective_front_equals_the_pairwise_definition():
    """kb/objectives.front sweeps once for two objectives: it must agree with the definition
    (no other point at least as good on both and better on one), ties and directions included."""
    import random

    from xxp_tui.kb.objectives import Objective, dominates, front

    rng = random.Random(7)
    for directions in (("maximize", "minimize"), ("minimize", "minimize"), ("maximize", "maximize")):
        objectives = [Objective(d, f"m{i}", None) for i, d in enumerate(directions)]
        for _ in range(200):
            points = {i: [float(rng.randint(0, 6)), float(rng.randint(0, 6))] for i in range(rng.randint(1, 25))}
            expected = {i for i, p in points.items()
                        if not any(j != i and dominates(q, p, objectives) for j, q in points.items())}
            assert front(points, objectives) == expected
