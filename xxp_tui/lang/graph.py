"""Graph questions about a spec: a stable topological order, the edge that closes a cycle, the
control graph's cycles and what START reaches.

Used by the loader (task order, cycles) and the checker (loops, unreachable nodes). The questions
every load asks of a graph without cycles are answered with the standard library (graphlib, a
breadth-first walk); networkx (about 0.1 s to import, on every command that reads a spec) is
imported only for a graph that has a cycle: to name it, or to list a control graph's loops.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:

    from xxp_tui.lang.model import Experiment


def ordered(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[list[str], list[str] | None]:
    """Topological order stable on declaration order (of all the nodes ready, the one declared first
    comes first), and a cycle (as a node list) if there is one."""
    import graphlib
    import heapq

    nodes = list(nodes)
    rank = {n: i for i, n in enumerate(nodes)}
    sorter = _sorter(nodes, edges)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        return nodes, list(exc.args[1][:-1])
    ready = [(rank.get(n, len(rank)), n) for n in sorter.get_ready()]
    heapq.heapify(ready)
    order = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        sorter.done(n)
        for m in sorter.get_ready():
            heapq.heappush(ready, (rank.get(m, len(rank)), m))
    return order, None


def has_cycle(edges: Iterable[tuple[str, str]]) -> bool:
    import graphlib

    try:
        _sorter((), edges).prepare()
    except graphlib.CycleError:
        return True
    return False


def _sorter(nodes: Iterable[str], edges: Iterable[tuple[str, str]]):
    """A graphlib sorter of the graph (each edge a -> b: b waits for a)."""
    import graphlib

    sorter: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
    for n in nodes:
        sorter.add(n)
    for a, b in edges:
        sorter.add(b, a)
    return sorter


def closing_edge(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], list[str]] | None:
    """The first edge, in declaration order, that closes a cycle, and that cycle (starting at the
    edge's target): where the user wrote the step back, which is what a diagnostic should point at."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(nodes)
    for a, b in edges:
        if a == b:
            return (a, b), [a]
        if a in g and b in g and nx.has_path(g, b, a):
            return (a, b), nx.shortest_path(g, b, a)
        g.add_edge(a, b)
    return None


def control_cycles(experiment: Experiment) -> list[list[str]]:
    """Every elementary cycle of the control graph (loops made of back-edges or self-loops)."""
    if not has_cycle((e.src, e.dst) for e in experiment.edges):
        return []
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((e.src, e.dst) for e in experiment.edges)
    return [list(c) for c in nx.simple_cycles(g)]


def reachable_from_start(experiment: Experiment) -> set[str]:
    """The nodes a walk from START's nodes reaches (themselves included)."""
    following: dict[str, list[str]] = {}
    for e in experiment.edges:
        following.setdefault(e.src, []).append(e.dst)
    known = set(experiment.nodes) | set(following) | {e.dst for e in experiment.edges}
    seen: set[str] = set()
    todo = [s for s in experiment.start_nodes() if s in known]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(following.get(node, ()))
    return seen


def format_cycle(cycle: list[str]) -> str:
    return " -> ".join([*cycle, cycle[0]])
