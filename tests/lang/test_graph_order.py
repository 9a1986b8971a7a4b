"""The loader's task order (lang/graph.py): topological, and among the tasks ready at once the one
declared first; a cycle is named. Answered without networkx."""

from __future__ import annotations

from xxp_tui.lang.graph import has_cycle, ordered


def test_order_is_topological_and_follows_declaration_among_ready_tasks():
    nodes = ["Load", "Split", "TrainB", "TrainA", "Report"]
    edges = [("Load", "Split"), ("Split", "TrainA"), ("Split", "TrainB"), ("TrainA", "Report"), ("TrainB", "Report")]
    assert ordered(nodes, edges) == (["Load", "Split", "TrainB", "TrainA", "Report"], None)
    assert ordered(["C", "B", "A"], []) == (["C", "B", "A"], None)  # no edge: declaration order
    assert ordered(["B", "A"], [("A", "B")]) == (["A", "B"], None)  # an edge beats declaration order


def test_a_cycle_is_found_and_named():
    order, cycle = ordered(["A", "B", "C"], [("A", "B"), ("B", "C"), ("C", "A")])
    assert order == ["A", "B", "C"] and cycle is not None and sorted(cycle) == ["A", "B", "C"]
    assert has_cycle([("A", "B"), ("B", "A")]) and not has_cycle([("A", "B"), ("B", "C")])
