"""Transfer from related earlier spaces through the real CLI: related-space detection, zero-shot
starts (origin `transfer`, enqueued first, counted in the budget), the learned search space proposed
as a spec snippet or applied with `transfer boundingbox;`, and nothing from unrelated spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxp_tui.engine.transfer import bounding_box, fit, snippet
from xxp_tui.kb import runs as kbr

from .conftest import xxp
from .test_knowledge import KProject

pytestmark = pytest.mark.slow


@pytest.fixture
def kp(tmp_path: Path) -> KProject:
    return KProject(tmp_path)


def events(kp, kind: str = "transfer") -> list[str]:
    with kp.kb() as kb:
        run = kbr.resolve_run(kb, "latest")
        return [__import__("json").loads(r["detail"])["text"]
                for r in kb.query("SELECT detail FROM events WHERE run_id = ? AND kind = ? ORDER BY id", (run, kind))]


def test_zero_shot_starts_and_a_proposed_space_from_a_related_dataset(kp):
    # "dataset" k=1: a grid over x; its best three are 0.3, 0.2 and 0.4 (y peaks at x = 0.3).
    kp.write(domain="enum(0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)")
    kp.run()
    earlier = {v.params["Q.x"]: v for v in kp.variants()}
    # A new "dataset" (k=2: every value shifted, so warm start refuses the trials) searched with TPE.
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=5, k=2, warm="warmstart auto;")
    kp.run("--workers", "1")
    out = kp.last_output
    variants = kp.variants()
    transfer = [v for v in variants if v.origin == "transfer"]
    assert [v.params["Q.x"] for v in transfer] == [0.3, 0.2, 0.4]  # ranked within their own space
    assert [v.source_variant for v in transfer] == [earlier[x].id for x in (0.3, 0.2, 0.4)]
    assert all(v.params["Q.k"] == 2 for v in transfer)
    assert len(variants) == 5 and sum(v.origin == "strategy" for v in variants) == 2  # in the budget
    assert [v.id for v in sorted(variants, key=lambda v: v.started)][:3] == [v.id for v in transfer]  # first
    assert not [v for v in variants if v.origin == "warm_start"]
    log = events(kp)
    assert any("1 related space(s): r1:S (searches the same params (Q.x))" in t for t in log)
    proposal = next(t for t in log if "proposed search space" in t)
    assert "x_vp 0.1..0.5 (was 0..1)" in proposal  # the best three, 0.2..0.4, and a margin
    assert "param_values x_vp = uniform(0.1, 0.5);" in proposal and "amend` is not available yet" in proposal
    assert "param_values x_vp = uniform(0.1, 0.5);" in out  # the headless run prints it
    assert any("3 zero-shot start(s)" in t for t in log)
    from xxp_tui.tui.screens.knowledge import knowledge_report  # the viewer's K screen shows the proposal

    assert any("param_values x_vp = uniform(0.1, 0.5);" in t for t in knowledge_report(kp.db, 2).transfer)


def test_boundingbox_narrows_the_sampler_and_survives_nothing_else(kp):
    kp.write(domain="enum(0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)")
    kp.run()
    kp.write(strategy="random", domain="uniform(0.0, 1.0)", runs=8, k=3,
             warm="warmstart auto; transfer boundingbox;")
    kp.run()
    variants = kp.variants()
    assert len(variants) == 8
    assert all(0.1 <= v.params["Q.x"] <= 0.5 for v in variants), [v.params["Q.x"] for v in variants]
    assert kp.latest_run().settings["transfer_box"] == {"S": {"x_vp": [pytest.approx(0.1), pytest.approx(0.5)]}}
    assert any("narrowed to the bounding box" in t for t in events(kp))


def test_no_transfer_from_unrelated_spaces_nor_with_transfer_none(kp):
    kp.task("k.other", KP_OTHER_XXP, "other.py", KP_OTHER_PY)
    kp.spec(OTHER_SPEC, "other.xxp")
    done = xxp("run", kp.root / "other.xxp", "--headless", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 0, done.stdout + done.stderr
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=3, warm="warmstart auto;")
    kp.run()
    assert not [v for v in kp.variants() if v.origin == "transfer"]
    assert any("no related earlier space" in t for t in events(kp))
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=3, k=2, warm="warmstart auto; transfer none;")
    kp.run()
    assert not [v for v in kp.variants() if v.origin == "transfer"]
    assert any("transfer none" in t for t in events(kp))


def test_same_intent_relates_a_changed_workflow(kp):
    kp.task("k.other", KP_OTHER_XXP, "other.py", KP_OTHER_PY)
    kp.spec(OTHER_SPEC.replace("experiment O {", "experiment O {\n    intent Peak;"), "other.xxp")
    done = xxp("run", kp.root / "other.xxp", "--headless", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 0, done.stdout + done.stderr
    # Same intent but other searched params (Z.z, not Q.x): related by intent, yet nothing maps.
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=3, warm="warmstart auto;")
    kp.spec((kp.root / "e.xxp").read_text().replace("experiment E {", "experiment E {\n    intent Peak;"))
    kp.run()
    assert not [v for v in kp.variants() if v.origin == "transfer"]


def test_a_bad_transfer_mode_is_a_diagnostic(kp):
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=3, warm="warmstart auto; transfer boundingbx;")
    done = xxp("validate", kp.root / "e.xxp", cwd=kp.root)
    assert done.returncode == 1
    assert "e.xxp:11:" in done.stdout + done.stderr
    assert "transfer takes propose, boundingbox, none, not 'boundingbx' (did you mean \"boundingbox\"?)" in \
        done.stdout + done.stderr


def test_box_fit_and_snippet_units():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    dists = {"a": FloatDistribution(0.0, 1.0), "n": IntDistribution(2, 20, step=2),
             "c": CategoricalDistribution(["x", "y", "z"]), "lr": FloatDistribution(1e-4, 1e-1, log=True)}
    assert fit(dists["n"], 9) == (10, True) and fit(dists["a"], 1.7) == (1.0, True) and fit(dists["c"], "w") is None
    box, was = bounding_box(dists, [{"a": 0.2, "n": 6, "c": "x", "lr": 1e-3}, {"a": 0.5, "n": 10, "c": "y",
                                                                               "lr": 1e-2}])
    # the box of the best configurations, with a margin of 10 % of the range (of its log for a log range)
    assert box["a"] == pytest.approx([0.1, 0.6]) and box["n"] == [4, 12] and box["c"] == ["x", "y"]
    assert box["lr"] == pytest.approx([1e-3 / 10 ** 0.3, 1e-2 * 10 ** 0.3])
    assert was == {"a": "0..1", "n": "2..20", "c": "3 choices", "lr": "0.0001..0.1"}
    assert snippet(dists, box) == ["param_values a = uniform(0.1, 0.6);", "param_values n = range(4, 14, 2);",
                                   'param_values c = enum("x", "y");',
                                   "param_values lr = uniform(0.000501187, 0.0199526, log);"]
    point, _ = bounding_box(dists, [{"a": 0.95, "n": 6, "c": "x", "lr": 1e-3}])
    assert point["a"] == pytest.approx([0.85, 1.0])  # a single best point is not a zero-width space; inside


KP_OTHER_XXP = """
task Other {
    define param z { type Float; default 0.0; }
    define metric y { kind single-value; type Float; }
    implementation "other.py";
}
"""
KP_OTHER_PY = """
from xxp_tui import sdk
sdk.log_metric("y", -abs(float(sdk.param("z")) - 0.5))
"""
OTHER_SPEC = """
workflow OW { START -> Z -> END; task Z { implementation "k.other"; } }
experiment O {
    control { START -> G -> END; }
    space G of OW {
        strategy gridsearch;
        param_values z_vp = enum(0.1, 0.5, 0.9);
        task Z { param z = z_vp; }
        objective maximize y;
    }
}
"""


def test_a_resumed_engine_searches_the_same_box_and_keeps_the_budget(kp):
    import os
    import signal
    import subprocess
    import time

    from .conftest import wait_until, xxp_popen

    kp.write(domain="enum(0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)")
    kp.run()
    kp.script.write_text(kp.script.read_text() + "\nimport time\ntime.sleep(0.4)\n")  # slow enough to interrupt
    kp.write(strategy="random", domain="uniform(0.0, 1.0)", runs=10, k=3, warm="warmstart auto; transfer boundingbox;")
    log = kp.root / "run.out"
    with open(log, "w") as out:  # its own session: Ctrl-C reaches the group as a terminal's would
        proc = xxp_popen("run", kp.root / "e.xxp", "--headless", "--workers", "1", "--db", kp.db, cwd=kp.root,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: kp.latest_run().id == 2 and sum(v.status == "completed" for v in kp.variants()) >= 5,
                   timeout=120, what="five variants of the second run")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert kp.latest_run().status == "interrupted"
    started = time.time()
    done = xxp("resume", "latest", "--headless", "--db", kp.db, cwd=kp.root)
    assert done.returncode == 0, done.stdout + done.stderr
    variants = kp.variants()
    assert len(variants) == 10 and sum(v.origin == "transfer" for v in variants) == 3  # transfer counted once
    assert all(0.1 <= v.params["Q.x"] <= 0.5 for v in variants), [v.params["Q.x"] for v in variants]
    assert any(v.created >= started for v in variants)  # the resumed engine sampled some, inside the box
