"""The amendment plan (engine/amendment.py) as a pure function: two versions of a spec, the run's
position, and what the amendment adds, cancels, changes or refuses. Fast: no engine, no KB."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.live import make_project
from xxp_tui.engine.amendment import NodeState, VariantState, in_space, plan, remap_fired
from xxp_tui.lang import load_project

BASE = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> A -> B -> END; }
    space A of W {
        strategy gridsearch;
        param_values x = enum(1, 2, 3, 4);
        task G { param x = x; }
    }
    space B of W {
        strategy bayesian;
        runs = 5;
        param_values x = range(0, 10);
        task G { param x = x; }
        objective maximize score;
    }
}
"""


@pytest.fixture
def versions(tmp_path: Path):
    root = tmp_path / "p"
    root.mkdir()
    path = make_project(root, BASE)

    def load(*edits: tuple[str, str]):
        text = BASE
        for old, new in edits:
            assert old in text, old
            text = text.replace(old, new)
        result = load_project(path, text=text)
        assert result.ok, [d.render() for d in result.errors]
        return next(iter(result.project.experiments.values()))

    return load


def grid_variants(statuses: list[str]) -> list[VariantState]:
    return [VariantState(i + 1, "A", s, "strategy", {"x": i + 1}) for i, s in enumerate(statuses)]


A_RUNNING = {"A": NodeState("running", 1), "B": NodeState("pending")}


def test_grid_values_added_are_counted_and_removed_queued_ones_cancelled(versions):
    old, new = versions(), versions(("enum(1, 2, 3, 4)", "enum(1, 2, 4, 5, 6)"))
    amendment = plan(old, new, A_RUNNING, grid_variants(["completed", "running", "queued", "queued"]))
    assert amendment.ok
    change = amendment.spaces["A"]
    assert change.cancel == [3]  # x=3 is gone; x=4 is still in the grid
    assert change.add_lazily == 2  # 5 and 6
    assert "A: x enum(1, 2, 3, 4) -> enum(1, 2, 4, 5, 6)" in amendment.lines()


def test_a_removed_value_keeps_running_and_finished_variants(versions):
    old, new = versions(), versions(("enum(1, 2, 3, 4)", "enum(4)"))
    change = plan(old, new, A_RUNNING, grid_variants(["completed", "running", "queued", "queued"])).spaces["A"]
    assert change.cancel == [3] and change.add_lazily == 0


def test_a_finished_node_cannot_change(versions):
    old, new = versions(), versions(("enum(1, 2, 3, 4)", "enum(1, 2)"))
    amendment = plan(old, new, {"A": NodeState("done", 1), "B": NodeState("running", 1)}, [])
    assert not amendment.ok
    assert amendment.refusals == ["space A has finished; it cannot change"]


def test_a_started_space_keeps_its_strategy_a_pending_one_may_change_it(versions):
    started = plan(versions(), versions(("strategy bayesian;", "strategy randomsearch;")),
                   {"A": NodeState("done", 1), "B": NodeState("running", 1)}, [])
    assert started.refusals == ["space B has started; its strategy cannot change"]
    pending = plan(versions(), versions(("strategy bayesian;", "strategy randomsearch;")), A_RUNNING, [])
    assert pending.ok and pending.spaces["B"].other == ["strategy changes (the space has not started)"]


def test_a_narrowed_optuna_range_splits_earlier_trials_into_told_and_untold(versions):
    old, new = versions(), versions(("range(0, 10)", "range(5, 10)"), ("runs = 5;", "runs = 8;"))
    trials = [VariantState(i, "B", s, "strategy", {"x": x})
              for i, (s, x) in enumerate([("completed", 2), ("completed", 7), ("pruned", 9), ("queued", 1),
                                          ("running", 3)], start=10)]
    change = plan(old, new, {"A": NodeState("done", 1), "B": NodeState("running", 1)}, trials).spaces["B"]
    assert change.resample and change.inside == [11, 12] and change.outside == [10]
    assert change.cancel == [13]  # queued outside the new range; the running one (x=3) is kept
    assert change.runs == (5, 8)


def test_a_widened_log_range_stays_log(versions):
    from xxp_tui.engine.strategies import distributions

    old = versions(("range(0, 10)", "range(1e-3, 1e-1, log)"))
    new = versions(("range(0, 10)", "range(1e-5, 1.0, log)"))
    change = plan(old, new, {"A": NodeState("done", 1), "B": NodeState("running", 1)}, []).spaces["B"]
    assert change.resample
    dist = distributions(new.spaces["B"])["x"]
    assert dist.log and (dist.low, dist.high) == (1e-5, 1.0)
    assert in_space(new.spaces["B"], {"x": 0.5}) and not in_space(old.spaces["B"], {"x": 0.5})


def test_nodes_and_edges_downstream_of_unfinished_nodes_may_be_added(versions):
    extra = """    space C of W {
        strategy gridsearch;
        param_values x = enum(7);
        task G { param x = x; }
    }
}
"""
    new = versions(("START -> A -> B -> END;", "START -> A -> B -> END; B -> C -> END;"),
                   ("objective maximize score;\n    }\n}\n", "objective maximize score;\n    }\n" + extra))
    amendment = plan(versions(), new, A_RUNNING, [])
    assert amendment.ok, amendment.refusals
    assert amendment.nodes_added == ["C"]
    assert set(amendment.edges_added) == {"B -> C", "C -> END"}
    late = plan(versions(), new, {"A": NodeState("done", 1), "B": NodeState("done", 1)}, [])
    assert late.refusals == ["edge B -> C leaves B, which has finished"]


def test_edge_state_follows_its_edge_when_indices_shift(versions):
    old = versions()
    new = versions(("START -> A -> B -> END;", "START -> A; A -> END; A -> B -> END;"))
    a_to_b_old = next(i for i, e in enumerate(old.edges) if (e.src, e.dst) == ("A", "B"))
    a_to_b_new = next(i for i, e in enumerate(new.edges) if (e.src, e.dst) == ("A", "B"))
    assert remap_fired(old, new, {a_to_b_old: 1}) == {a_to_b_new: 1}


def test_random_search_samples_new_points_up_to_its_budget(versions):
    old = versions(("strategy gridsearch;", "strategy randomsearch; runs = 3;"))
    new = versions(("strategy gridsearch;", "strategy randomsearch; runs = 5;"),
                   ("enum(1, 2, 3, 4)", "enum(1, 2, 3, 4, 5, 6, 7, 8)"))
    change = plan(old, new, A_RUNNING, grid_variants(["completed", "running", "queued"])).spaces["A"]
    assert change.runs == (3, 5) and len(change.add) == 2
    assert all(c["x"] in (4, 5, 6, 7, 8) for c in change.add)


def test_another_experiment_is_refused(versions):
    old = versions()
    new = versions(("experiment E {", "experiment F {"))
    assert not plan(old, new, A_RUNNING, []).ok
