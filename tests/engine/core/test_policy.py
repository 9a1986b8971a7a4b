"""The failure policy and when a node may finish, without an engine."""

from __future__ import annotations

from xxp_tui.engine.core import machine
from xxp_tui.engine.core.events import StopRun, VariantFailed
from xxp_tui.engine.core.outcomes import live_status, run_outcome
from xxp_tui.engine.core.planning import NodeProgress, RunPosition, may_ask, may_finish, resume_node, run_over
from xxp_tui.engine.core.policy import FailurePolicy
from xxp_tui.kb.variants import Variant


def test_failures_never_stop_a_run_by_default():
    policy = FailurePolicy.from_settings({})
    assert all(policy.stop_reason(n) is None for n in range(100))
    assert machine.handle(VariantFailed(50)) == []


def test_max_failures_stops_at_the_nth_failure():
    policy = FailurePolicy.from_settings({"max_failures": 3})
    assert policy.stop_reason(2) is None
    assert policy.stop_reason(3) == "stopped after 3 failed variant(s) (--max-failures 3)"
    assert machine.handle(VariantFailed(2, 3)) == []
    assert machine.handle(VariantFailed(4, 3)) == [StopRun("stopped after 4 failed variant(s) (--max-failures 3)")]


def test_a_node_finishes_when_nothing_is_open_or_left():
    assert may_finish(NodeProgress())
    assert not may_finish(NodeProgress(open_variants=1))
    assert not may_finish(NodeProgress(), stopping=True)  # a stopping run follows no more edges


def test_an_optuna_space_finishes_once_its_budget_is_asked():
    assert not may_finish(NodeProgress(asked=4, budget=5))
    assert may_finish(NodeProgress(asked=5, budget=5))
    assert not may_finish(NodeProgress(open_variants=2, asked=5, budget=5))


def test_a_lazy_grid_finishes_once_every_configuration_was_queued():
    assert not may_finish(NodeProgress(grid_left=True))
    assert may_finish(NodeProgress(grid_left=False))


def test_an_optuna_space_asks_only_when_a_trial_could_start_now():
    idle = lambda: 0  # noqa: E731
    assert may_ask(asked=0, budget=5, queued=0, running=idle, limit=None)
    assert not may_ask(asked=5, budget=5, queued=0, running=idle, limit=None)  # budget used
    assert not may_ask(asked=1, budget=5, queued=1, running=idle, limit=None)  # one already waits to start
    assert not may_ask(asked=2, budget=5, queued=0, running=lambda: 2, limit=2)  # at its parallel limit
    assert may_ask(asked=2, budget=5, queued=0, running=lambda: 1, limit=2)


def test_when_a_run_is_over():
    assert run_over(RunPosition(graph_finished=True))
    assert not run_over(RunPosition(graph_finished=True, running_tasks=1))  # tasks always end first
    assert not run_over(RunPosition(graph_finished=True, queued_variants=1))
    assert not run_over(RunPosition(graph_finished=True, waiting_variants=1))  # an interaction waits
    assert not run_over(RunPosition(graph_finished=False))
    assert run_over(RunPosition(stopping=True, queued_variants=3, active_variants=2))  # stopped: at once
    assert not run_over(RunPosition(stopping=True, running_tasks=1))
    assert run_over(RunPosition(rerun=True))  # a rerun has no graph to finish
    assert not run_over(RunPosition(rerun=True, active_variants=1))


def test_how_a_run_ends():
    assert run_outcome(failed=0, total=4, broken=[]) == ("completed", None)
    assert run_outcome(failed=1, total=4, broken=[]) == ("failed", "1 of 4 variant(s) failed")
    assert run_outcome(failed=0, total=0, broken=["S failed: grid too large"]) == ("failed", "S failed: grid too large")
    assert live_status(paused=True, waiting=True) == "paused"
    assert live_status(paused=False, waiting=True) == "waiting_input"
    assert live_status(paused=False, waiting=False) == "running"


def _v(vid: int, status: str, origin: str = "strategy") -> Variant:
    return Variant(id=vid, run_id=1, space="S", iteration=1, status=status, reason=None, params={}, config={},
                   seed=0, priority=0, origin=origin, trial=None, objective=None, created=0.0, started=None,
                   ended=None, attempts=0, rev=0)


def test_a_resumed_space_continues_where_it_stood():
    variants = [_v(1, "completed"), _v(2, "failed", "transfer"), _v(3, "queued"), _v(4, "queued", "injected"),
                _v(5, "waiting_input"), _v(6, "completed", "warm_start")]
    pos = resume_node("space", variants)
    assert pos.open == {3, 4, 5}
    assert pos.enqueue == [3, 4, 5]  # a variant whose task waited for an answer is queued again
    assert pos.waiting == []
    assert pos.told == [1, 2, 6]  # every finished one is told to the rebuilt study
    assert pos.asked == 4  # strategy and transfer variants count in the budget; injected and warm starts do not
    assert pos.grid_taken == 3  # v1, v3, v5 came from the strategy


def test_a_resumed_interaction_still_waits_for_its_answer():
    pos = resume_node("interaction", [_v(9, "waiting_input", "node")])
    assert pos.waiting == [9] and pos.enqueue == [] and pos.open == {9}
    done = resume_node("interaction", [_v(9, "completed", "node")])
    assert done.open == set() and may_finish(NodeProgress(open_variants=len(done.open)))
