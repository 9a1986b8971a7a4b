"""Knowledge across runs, through the real CLI on a real KB: rerun repeats a deterministic variant
exactly and flags a changed script; warm start tells the sampler only compatible earlier trials;
`kb best|compare|importance` and the Optuna export read what runs left behind."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from xxp_tui.kb import variants as kbv

from .conftest import Project, xxp

pytestmark = pytest.mark.slow

QUAD_XXP = """
task Quad {
    define param x { type Float; default 0.0; }
    define param k { type Integer; default 1; }
    define metric y { kind single-value; type Float; }
    define metric curve { kind series; type Float; }
    implementation "quad.py";
}
"""
QUAD_PY = """
import random
from xxp_tui import sdk
x, k = float(sdk.param("x")), int(sdk.param("k"))
rng = random.Random(sdk.seed())
for step in range(3):
    sdk.log_metric("curve", -(x - 0.3) ** 2 * (step + 1), step=step)
sdk.log_metric("y", -(x - 0.3) ** 2 + k + rng.random() * 1e-3)  # deterministic for a given seed
"""
SPEC = """
workflow W { START -> Q -> END; task Q { implementation "k.quad"; } }
experiment E {
    control { START -> S -> END; }
    space S of W {
        strategy STRATEGY;
        RUNS
        param_values x_vp = DOMAIN;
        task Q { param x = x_vp; param k = K; }
        objective maximize y;
        WARM
    }
}
"""


class KProject(Project):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.script = self.task("k.quad", QUAD_XXP, "quad.py", QUAD_PY) / "quad.py"

    def write(self, strategy="gridsearch", domain="enum(0.1, 0.2, 0.3, 0.4)", runs=None, k=1, warm="") -> None:
        text = (SPEC.replace("STRATEGY", strategy).replace("DOMAIN", domain).replace("K", str(k))
                .replace("RUNS", f"runs = {runs};" if runs else "").replace("WARM", warm))
        self.spec(text)

    def run(self, *extra: str) -> None:
        done = xxp("run", self.root / "e.xxp", "--headless", "--workers", "2", "--db", self.db, *extra, cwd=self.root)
        assert done.returncode == 0, done.stdout + done.stderr
        self.last_output = done.stdout


@pytest.fixture
def kp(tmp_path: Path) -> KProject:
    return KProject(tmp_path)


def test_rerun_repeats_exactly_and_flags_a_changed_script(kp):
    kp.write()
    kp.run()
    target = next(v for v in kp.variants() if v.params["Q.x"] == 0.2)
    done = xxp("rerun", target.label, "--json", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["repeats"] is True and report["changed"] == []
    assert {m["metric"]: m["verdict"] for m in report["metrics"]} == {"y": "exact", "curve": "exact"}
    with kp.kb() as kb:  # it really ran again: a new run, a rerun variant, a task process with an exit code
        again = kbv.get(kb, int(report["rerun"][1:]))
        assert (again.origin, again.source_variant, again.seed) == ("rerun", target.id, target.seed)
        (tr,) = kbv.task_runs(kb, again.id)
        assert (tr.status, tr.exit_code, tr.cache_hit) == ("completed", 0, False)

    kp.script.write_text(kp.script.read_text().replace("rng.random() * 1e-3", "rng.random() * 1e-3 + 0.5"))
    done = xxp("rerun", target.label, "--json", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["repeats"] is False
    assert report["changed"] == ["the code of task Q changed (script or dependency files)"]
    assert {m["metric"]: m["verdict"] for m in report["metrics"]} == {"y": "different", "curve": "exact"}
    # text form names the verdicts too; a bad reference is one sentence, exit 2
    done = xxp("rerun", "v999", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 2 and "not a variant" in done.stderr and "Traceback" not in done.stderr


def test_warm_start_tells_only_compatible_trials(kp):
    kp.write(domain="enum(0.1, 0.2, 0.3, 0.4, 0.9)")
    kp.run()  # r1: 5 grid points with k = 1
    kp.write(domain="enum(0.5)", k=2)
    kp.run()  # r2: another k: its result is not comparable
    kp.script.write_text(kp.script.read_text() + "\n# different code\n")
    kp.write(domain="enum(0.6)")
    kp.run()  # r3: k = 1 but other code than what runs now... until the comment is removed
    kp.script.write_text(kp.script.read_text().replace("\n# different code\n", ""))

    kp.write(strategy="bayesian", domain="range(0.0, 0.5)", runs=3, warm="warmstart auto;")
    kp.run()
    rows = [v for v in kp.variants() if v.origin == "warm_start"]
    # r1's points inside [0, 0.5] (0.9 is outside); r2 (k = 2) and r3 (other code) are skipped
    assert sorted(v.params["Q.x"] for v in rows) == [0.1, 0.2, 0.3, 0.4]
    assert all(v.status == "completed" and v.objective is not None and v.source_variant for v in rows)
    with kp.kb() as kb:
        assert all(not kbv.task_runs(kb, v.id) for v in rows)  # not re-run
        sources = {v.source_variant: v for v in rows}
        for sid, v in sources.items():
            assert kbv.get(kb, sid).objective == v.objective
    assert "4 earlier trial(s) told to the sampler" in kp.last_output
    assert "1 (outside the space)" in kp.last_output and "1 (different code)" in kp.last_output
    assert "1 (other fixed params)" in kp.last_output
    strategy = [v for v in kp.variants() if v.origin == "strategy"]
    # r2 (k = 2) and r3 (other code) are related spaces, not identical ones: their best point, 0.5 (r3's 0.6
    # moved into the range), is a zero-shot start (transfer); r1's best are known already (warm start)
    transfer = [v for v in kp.variants() if v.origin == "transfer"]
    assert [v.params["Q.x"] for v in transfer] == [0.5]
    assert len(strategy) + len(transfer) == 3  # the budget is the new trials; warm ones do not count

    # --warm-start r1 narrows the source, --warm-start none turns it off
    kp.run("--warm-start", "r1")
    assert len([v for v in kp.variants() if v.origin == "warm_start"]) == 4
    kp.run("--warm-start", "none")
    assert not [v for v in kp.variants() if v.origin == "warm_start"]
    done = xxp("run", kp.root / "e.xxp", "--headless", "--warm-start", "yesterday", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 2 and "--warm-start takes auto" in done.stderr
    done = xxp("run", kp.root / "e.xxp", "--headless", "--warm-start", "r99", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 2 and "--warm-start r99: no run r99" in done.stderr


def test_kb_best_compare_importance_and_optuna_export(kp):
    kp.write(domain="enum(0.1, 0.2, 0.3, 0.4)")
    kp.run()
    kp.write(domain="enum(0.25, 0.35)")
    kp.run()
    best = json.loads(xxp("kb", "best", "W", "--json", "-n", "2", "--db", kp.db, cwd=kp.root).stdout)
    assert [b["params"]["Q.x"] for b in best] == [0.3, 0.25] or [b["params"]["Q.x"] for b in best] == [0.3, 0.35]
    assert best[0]["run"] == "r1" and best[0]["metric"] == "y"
    low = json.loads(xxp("kb", "best", "W", "--metric", "y", "--minimize", "--json", "-n", "1", "--db", kp.db,
                         cwd=kp.root).stdout)
    assert low[0]["params"]["Q.x"] == 0.1
    wrong = xxp("kb", "best", "Wx", "--db", kp.db, cwd=kp.root)
    assert wrong.returncode == 2 and 'did you mean "W"' in wrong.stderr

    cmp = json.loads(xxp("kb", "compare", "r1", "r2", "--json", "--db", kp.db, cwd=kp.root).stdout)
    (space,) = cmp["spaces"]
    assert space["r1"]["counts"] == {"completed": 4} and space["r2"]["counts"] == {"completed": 2}
    assert space["r1"]["best"] > space["r2"]["best"]
    assert cmp["differences"] == ["spec text differs"]
    assert "-        param_values x_vp = enum(0.1, 0.2, 0.3, 0.4);" in cmp["spec_diff"], cmp["spec_diff"]
    assert "+        param_values x_vp = enum(0.25, 0.35);" in cmp["spec_diff"]
    shown = xxp("kb", "compare", "r1", "r2", "--db", kp.db, cwd=kp.root).stdout
    assert "- spec text differs" in shown and "+        param_values x_vp = enum(0.25, 0.35);" in shown, shown

    imp = json.loads(xxp("kb", "importance", "r1", "--json", "--db", kp.db, cwd=kp.root).stdout)
    assert list(imp["importance"]["S"]) == ["Q.x"] and imp["importance"]["S"]["Q.x"] == pytest.approx(1.0)

    nowhere = xxp("export", "r1", "--format", "optuna", "--out", kp.root / "missing" / "s.db", "--db", kp.db)
    assert nowhere.returncode == 1 and "is not a folder you can write to" in nowhere.stderr, nowhere.stderr
    study = kp.root / "study.db"
    done = xxp("export", "r1", "--format", "optuna", "--out", study, "--db", kp.db, cwd=kp.root)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(study) as db:  # an Optuna RDB: optuna-dashboard sqlite:///study.db opens it
        assert db.execute("SELECT study_name FROM studies").fetchall() == [("r1-S",)]
        assert db.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0] == 4
    import optuna

    loaded = optuna.load_study(study_name="r1-S", storage=f"sqlite:///{study}")
    assert loaded.best_params == {"Q.x": 0.3}
    assert (study.stat().st_mode & 0o777) == 0o600


def test_a_rerun_that_cannot_start_leaves_a_failed_run_not_a_running_one(kp):
    kp.write()
    kp.run()
    target = kp.variants()[0]
    spec = kp.root / "e.xxp"
    renamed = spec.read_text().replace("space S of W", "space S2 of W").replace("START -> S ->", "START -> S2 ->")
    spec.write_text(renamed)
    # A rerun runs the spec version its variant was sampled under, not the file as it is now.
    again = xxp("rerun", target.label, "--json", "--db", kp.db, cwd=kp.root)
    assert again.returncode == 0 and json.loads(again.stdout)["changed"] == [], again.stdout + again.stderr
    # A recorded version that no longer defines the variant's space (only a hand-edited KB can have
    # one) makes the engine refuse at start: the run is failed, not left running.
    with sqlite3.connect(kp.db) as conn:
        conn.execute("UPDATE spec_versions SET text = ? WHERE run_id = 1", (renamed,))
    done = xxp("rerun", target.label, "--db", kp.db, cwd=kp.root)
    assert done.returncode == 2 and "no longer has" in done.stderr, done.stdout + done.stderr
    run = kp.latest_run()
    assert run.id == 3 and run.status == "failed" and "no longer has" in run.reason
    assert kp.variants(run.id) == []


def test_warm_start_compares_what_tasks_ran_with_not_only_what_was_bound(kp):
    """An earlier run that left `k` at its default (1) is no prior for a space that fixes k = 2,
    and is one for a space that fixes k = 1."""
    kp.write(domain="enum(0.1, 0.2, 0.3)")
    spec = kp.root / "e.xxp"
    spec.write_text(spec.read_text().replace(" param k = 1;", ""))  # r1: k unbound, runs with its default
    kp.run()
    kp.write(strategy="bayesian", domain="range(0.0, 0.5)", runs=1, k=2, warm="warmstart auto;")
    kp.run()
    assert not [v for v in kp.variants() if v.origin == "warm_start"]
    assert "3 (other fixed params)" in kp.last_output
    kp.write(strategy="bayesian", domain="range(0.0, 0.5)", runs=1, k=1, warm="warmstart r1;")
    kp.run()
    assert sorted(v.params["Q.x"] for v in kp.variants() if v.origin == "warm_start") == [0.1, 0.2, 0.3]
