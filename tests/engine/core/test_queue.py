"""The variant queue without an engine: order, priorities, per-node limits, pruning of queued variants."""

from __future__ import annotations

from dataclasses import dataclass

from xxp_tui.engine.core.queue import VariantQueue, below_limit


@dataclass(frozen=True)
class V:
    id: int
    space: str = "s"
    priority: int = 0


def drain(q: VariantQueue, may_start=lambda node: True) -> list[int]:
    out = []
    while (v := q.pop_next(may_start)) is not None:
        out.append(v.id)
    return out


def test_equal_priorities_start_oldest_first():
    q = VariantQueue()
    for vid in (3, 1, 2):
        q.push(V(vid))
    assert drain(q) == [1, 2, 3]
    assert len(q) == 0 and not q


def test_higher_priority_starts_first_then_id():
    q = VariantQueue()
    q.push(V(1, priority=0))
    q.push(V(2, priority=5))
    q.push(V(3, priority=-1))
    q.push(V(4, priority=5))
    assert drain(q) == [2, 4, 1, 3]


def test_reprioritising_a_queued_variant_moves_it_and_leaves_no_duplicate():
    q = VariantQueue()
    for vid in (1, 2, 3):
        q.push(V(vid))
    q.push(V(3, priority=10))  # `prioritize v3 10`
    q.push(V(1, priority=-10))
    assert len(q) == 3 and q.count("s") == 3
    assert drain(q) == [3, 2, 1]


def test_pruning_a_queued_variant_removes_it_for_good():
    q = VariantQueue()
    for vid in (1, 2, 3):
        q.push(V(vid, space="a" if vid < 3 else "b"))
    pruned = q.remove(2)
    assert pruned is not None and pruned.id == 2
    assert q.remove(2) is None  # pruned twice: nothing left to remove
    assert 2 not in q and q.count("a") == 1 and q.count("b") == 1
    assert drain(q) == [1, 3]


def test_a_node_at_its_limit_is_passed_over_not_dropped():
    running = {"a": 2, "b": 0}
    limits = {"a": 2, "b": None}
    q = VariantQueue()
    q.push(V(1, "a", priority=9))
    q.push(V(2, "b"))
    q.push(V(3, "a"))
    may_start = below_limit(limits.get, running.__getitem__)
    assert q.pop_next(may_start).id == 2  # a (parallel 2) has 2 running: its higher-priority v1 waits
    assert q.pop_next(may_start) is None
    assert q.ids() == [1, 3]
    running["a"] = 1  # one of a's variants ended
    assert q.pop_next(may_start).id == 1
    running["a"] = 2
    assert q.pop_next(may_start) is None
    running["a"] = 0
    assert drain(q, may_start) == [3]


def test_limit_counts_running_variants_per_node():
    running: dict[str, int] = {}
    q = VariantQueue()
    for vid in range(1, 7):
        q.push(V(vid, "a" if vid % 2 else "b"))
    may_start = below_limit({"a": 1, "b": 2}.get, lambda node: running.get(node, 0))
    started = []
    while (v := q.pop_next(may_start)) is not None:
        started.append(v.id)
        running[v.space] = running.get(v.space, 0) + 1
    assert started == [1, 2, 4]  # one of a, two of b
    assert q.count("a") == 2 and q.count("b") == 1


def test_clear_empties_everything():
    q = VariantQueue()
    for vid in range(5):
        q.push(V(vid))
    q.clear()
    assert len(q) == 0 and q.count("s") == 0 and q.pop_next() is None
    q.push(V(9))
    assert drain(q) == [9]
