"""Graph questions about a spec, answered with networkx: a stable topological order, the edge that
closes a cycle, the control graph's cycles and what START reaches.

Used by the loader (task order, cycles) and the checker (loops, unreachable nodes). networkx is
imported here only, and only when a question is asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:

    from xxp_tui.lang.model import Experiment


def ordered(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> tuple[list[str], list[str] | None]:
    """Topological order stable on declaration order, and a cycle (as a node list) if there is one."""
    import networkx as nx

    g = nx.DiGraph()
    nodes = list(nodes)
    g.add_nodes_from(nodes)
    g.add_edges_from(edges)
    rank = {n: i for i, n in enumerate(nodes)}
    try:
        return list(nx.lexicographical_topological_sort(g, key=lambda n: rank.get(n, len(rank)))), None
    except nx.NetworkXUnfeasible:
        cycle = [a for a, _ in nx.find_cycle(g)]
        return nodes, cycle


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
    import networkx as nx

    g = nx.DiGraph()
    g.add_edges_from((e.src, e.dst) for e in experiment.edges)
    return [list(c) for c in nx.simple_cycles(g)]


def reachable_from_start(experiment: Experiment) -> set[str]:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(experiment.nodes)
    g.add_edges_from((e.src, e.dst) for e in experiment.edges)
    seen: set[str] = set()
    for s in experiment.start_nodes():
        if s in g:
            seen |= {s} | nx.descendants(g, s)
    return seen


def format_cycle(cycle: list[str]) -> str:
    return " -> ".join([*cycle, cycle[0]])
