"""Amending a running experiment against a real engine process: the amendment goes through the real
`xxp-tui amend` CLI and the KB's command channel; effects are asserted on KB facts (variant states,
reasons, spec versions, which params ran) with the `t.gated` tasks deciding when variants finish."""

from __future__ import annotations

import json

import pytest

from tests.engine.live import LiveRun, wait_until, xxp
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb
from xxp_tui.kb import spec_versions as kbsv

pytestmark = pytest.mark.slow

GRID = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = enum(1, 2, 3, 4);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""
TWO = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> A -> B -> END; }
    space A of W {
        strategy gridsearch;
        param_values x = enum(1);
        task G { param x = x; param gates = "{gates}"; }
    }
    space B of W {
        strategy gridsearch;
        param_values x = enum(2, 3);
        task G { param x = x; param gates = "{gates}"; }
    }
}
"""
TUNE = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Tune -> END; }
    space Tune of W {
        strategy bayesian;
        runs = 4;
        param_values x = range(0, 10);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
        seed = 3;
    }
}
"""



def edit(run: LiveRun, old: str, new: str) -> None:
    text = run.spec.read_text()
    assert old in text
    run.spec.write_text(text.replace(old, new))


def amend(run: LiveRun, *args: str):
    return xxp("amend", f"r{run.run_id}", *args, "--db", str(run.db))


def xs(run: LiveRun, status: str = "completed", space: str | None = None) -> list:
    return sorted(v.params["G.x"] for v in run.variants(status=status, space=space))


def test_amend_grid_adds_and_removes_values_and_survives_an_engine_kill(live):
    run = live(GRID)
    assert run.wait_running(1) == [1]
    edit(run, "enum(1, 2, 3, 4)", "enum(1, 2, 5, 6)")
    done = amend(run, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Grid: x enum(1, 2, 3, 4) -> enum(1, 2, 5, 6)" in done.stdout
    assert "cancels 2 queued variant(s)" in done.stdout and "adds 2 grid point(s)" in done.stdout
    assert "amended to s2" in done.stdout
    removed = {v.params["G.x"]: v for v in run.variants(status="cancelled")}
    assert set(removed) == {3, 4} and {v.reason for v in removed.values()} == {"removed by amendment"}
    versions = kbsv.for_run(run.kb, run.run_id)
    assert [v.version for v in versions] == [1, 2]
    assert "-        param_values x = enum(1, 2, 3, 4);" in versions[1].diff
    assert "+        param_values x = enum(1, 2, 5, 6);" in versions[1].diff
    # The engine dies; the amendment is in the KB, so the resumed engine runs the amended grid.
    run.kill()
    run.start()
    run.release_all()
    assert run.wait_finished().status == "completed", run.engine_log()
    assert xs(run) == [1, 2, 5, 6]
    assert xs(run, "cancelled") == [3, 4]
    by_x = {v.params["G.x"]: v.spec_version for v in run.variants(status="completed")}
    assert by_x[1] == 1 and by_x[5] == 2 and by_x[6] == 2
    (cmd,) = [c for c in kbc.for_run(run.kb, run.run_id) if c.verb == "amend"]
    assert cmd.status == "done"
    shown = xxp("show", f"r{run.run_id}", "--db", str(run.db))
    assert "s2" in shown.stdout and "+        param_values x = enum(1, 2, 5, 6);" in shown.stdout, shown.stdout
    # A rerun uses the variant's own version: v1 ran under s1, whatever the file says now.
    v1 = next(v for v in run.variants(status="completed") if v.params["G.x"] == 1)
    again = xxp("rerun", f"v{v1.id}", "--json", "--db", str(run.db))
    report = json.loads(again.stdout)
    assert again.returncode == 0 and report["repeats"] and report["changed"] == [], again.stdout + again.stderr
    rerun_id = int(report["run"][1:])
    assert "enum(1, 2, 3, 4)" in kbsv.latest(run.kb, rerun_id).text


def test_amend_refuses_to_change_a_finished_node(live):
    run = live(TWO)
    assert run.wait_running(1) == [1]
    run.release(1)
    wait_until(lambda: any(v.space == "B" and v.status == "running" for v in run.variants()), 30, "B running")
    edit(run, "enum(1);", "enum(1, 9);")
    refused = amend(run, "--yes")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "space A has finished; it cannot change" in refused.stderr
    assert [v.version for v in kbsv.for_run(run.kb, run.run_id)] == [1]
    # The same spec through the engine's own check (a command sent by another front end): refused too.
    with open_kb(run.db, create=False) as kb:
        cid = kbc.submit(kb, run.run_id, kbc.Amend(text=run.spec.read_text(), path=str(run.spec)))
    cmd = wait_until(lambda: (c := kbc.get(run.kb, cid)).status != "pending" and c, 30, "the engine's answer")
    assert cmd.status == "refused" and "space A has finished" in cmd.outcome
    run.release_all()
    assert run.wait_finished().status == "completed"
    assert xs(run, space="A") == [1]


def test_amend_bayesian_range_widens_and_raises_the_budget(live):
    run = live(TUNE)
    for _ in range(3):
        (vid,) = run.wait_running(1, gone=tuple(v.id for v in run.variants(status="completed")))
        run.release(vid)
        wait_until(lambda vid=vid: run.variant(vid).status == "completed", 30, f"v{vid} completed")
    before = xs(run)
    assert len(before) == 3 and all(0 <= x < 10 for x in before)
    edit(run, "range(0, 10)", "range(0, 1000)")
    edit(run, "runs = 4;", "runs = 9;")
    done = amend(run, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "budget runs 4 -> 9" in done.stdout
    assert "told the 3 earlier trial(s) inside them" in done.stdout
    events = [e for e in kbc.events(run.kb, run.run_id) if "sampler rebuilt" in e.detail.get("text", "")]
    assert len(events) == 1 and len(events[0].detail["told"]) == 3 and events[0].detail["untold"] == []
    run.release_all()
    assert run.wait_finished().status == "completed", run.engine_log()
    after = [v for v in run.variants(status="completed") if v.spec_version == 2]
    assert len(run.variants(status="completed")) == 9
    assert any(v.params["G.x"] >= 10 for v in after), [v.params for v in after]
    assert all(0 <= v.params["G.x"] < 1000 for v in after)


def test_amend_without_terminal_or_yes_is_misuse_and_without_engine_points_to_resume(live):
    run = live(GRID)
    assert run.wait_running(1) == [1]
    edit(run, "enum(1, 2, 3, 4)", "enum(1, 2, 3, 4, 5)")
    asked = amend(run)
    assert asked.returncode == 2 and "--yes" in asked.stderr
    bad = run.root / "bad.xxp"
    bad.write_text(run.spec.read_text().replace("strategy gridsearch;", "strategy gridsearch"))
    invalid = amend(run, str(bad), "--yes")
    assert invalid.returncode == 2 and "bad.xxp:" in invalid.stderr and "^" in invalid.stderr, invalid.stderr
    run.kill()
    dead = amend(run, "--yes")
    assert dead.returncode == 1 and "resume r1 --allow-changed-spec" in dead.stderr, dead.stderr
    # resume --allow-changed-spec is the same mechanism: the added value runs.
    run.release_all()
    resumed = xxp("resume", f"r{run.run_id}", "--allow-changed-spec", "--headless", "--db", str(run.db))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert run.wait_finished().status == "completed", run.engine_log()
    assert xs(run) == [1, 2, 3, 4, 5]
    (cmd,) = [c for c in kbc.for_run(run.kb, run.run_id) if c.verb == "amend"]
    assert cmd.issuer == "resume --allow-changed-spec" and cmd.status == "done", cmd
    assert json.dumps(cmd.args)  # audited with its text


def test_amend_adds_a_space_downstream_and_changes_one_not_started(live):
    run = live(TWO)
    assert run.wait_running(1) == [1]
    edit(run, "START -> A -> B -> END;", "START -> A -> B -> C -> END;")
    edit(run, "enum(2, 3);", "enum(4);")
    text = run.spec.read_text()
    space_c = """    space C of W {
        strategy gridsearch;
        param_values x = enum(7, 8);
        task G { param x = x; param gates = "GATES"; }
    }
}
""".replace("GATES", str(run.gates))
    run.spec.write_text(text[: text.rstrip().rindex("}")] + space_c)
    done = amend(run, "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "adds node C" in done.stdout and "adds edge B -> C" in done.stdout, done.stdout
    assert "removes edge B -> END" in done.stdout and "B: x enum(2, 3) -> enum(4)" in done.stdout
    run.release_all()
    assert run.wait_finished().status == "completed", run.engine_log()
    assert (xs(run, space="A"), xs(run, space="B"), xs(run, space="C")) == ([1], [4], [7, 8])
