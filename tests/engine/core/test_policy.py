"""The failure policy and when a node may finish, without an engine."""

from __future__ import annotations

from xxp_tui.engine.core import machine
from xxp_tui.engine.core.events import StopRun, VariantFailed
from xxp_tui.engine.core.planning import NodeProgress, may_finish
from xxp_tui.engine.core.policy import FailurePolicy


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
