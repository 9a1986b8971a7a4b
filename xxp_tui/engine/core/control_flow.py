"""Which control nodes run when: the experiment's control graph as a small state machine.

Pure logic, no I/O: the engine tells it that a node finished and how to evaluate a condition;
it answers which nodes to start and which are skipped. Its state is plain data, saved in the KB
after every change, so a resumed engine continues exactly where the dead one stopped.

Semantics (ExtremeXP's where sound, with documented extensions):
- after a node finishes, every outgoing edge whose condition holds fires (branching is inclusive);
  an `else` edge fires only when none of the node's conditional edges did;
- a node with several incoming edges is a join: it starts once every incoming forward edge has
  either fired or been ruled out (dead path elimination), and is skipped if none fired;
- an edge back to an earlier node is a loop: it restarts that node (next iteration) until that node
  has run `max_iterations` rounds, the first included (100 when the spec gives no bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xxp_tui.kb.status import NodeStatus
from xxp_tui.lang.check import DEFAULT_MAX_ITERATIONS
from xxp_tui.lang.model import END, START, ControlEdge, Experiment

PENDING, ACTIVE, DONE, SKIPPED, FAILED = (NodeStatus.PENDING, NodeStatus.RUNNING, NodeStatus.DONE, NodeStatus.SKIPPED,
                                          NodeStatus.FAILED)


@dataclass
class NodeRun:
    status: NodeStatus = PENDING
    iteration: int = 0  # how many times it has been started
    fired: dict[int, int] = field(default_factory=dict)  # edge index -> times fired
    inputs: dict[int, str] = field(default_factory=dict)  # forward incoming edge index -> fired|dead

    def to_json(self) -> dict:
        return {"fired": {str(k): v for k, v in self.fired.items()},
                "inputs": {str(k): v for k, v in self.inputs.items()}}

    @classmethod
    def from_json(cls, status: str, iteration: int, data: dict) -> NodeRun:
        return cls(NodeStatus(status), iteration, {int(k): v for k, v in data.get("fired", {}).items()},
                   {int(k): v for k, v in data.get("inputs", {}).items()})


@dataclass(frozen=True)
class Step:
    """What the engine should do after an event: start these nodes, mark those skipped."""

    start: list[str]
    skipped: list[str]
    notes: list[str]  # human-readable: condition results, loop limits reached


class ControlFlow:
    def __init__(self, experiment: Experiment, state: dict[str, NodeRun] | None = None) -> None:
        self.exp = experiment
        self.edges: list[ControlEdge] = list(experiment.edges)
        self.nodes: dict[str, NodeRun] = {n: NodeRun() for n in experiment.nodes}
        if state:
            self.nodes.update({k: v for k, v in state.items() if k in self.nodes})
        self.back = self._back_edges()
        self.in_loop = self._loop_nodes()

    # -- structure

    def _back_edges(self) -> set[int]:
        """Edges that close a cycle, found by depth-first search from the start."""
        out_edges: dict[str, list[int]] = {}
        for i, e in enumerate(self.edges):
            out_edges.setdefault(e.src, []).append(i)
        roots = [START, *self.exp.start_nodes()]
        back: set[int] = set()
        visited: set[str] = set()
        for root in roots:
            if root in visited:
                continue
            stack = [(root, iter(out_edges.get(root, [])))]
            on_path = {root}
            visited.add(root)
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    on_path.discard(node)
                    continue
                dst = self.edges[nxt].dst
                if dst in on_path:
                    back.add(nxt)
                elif dst not in visited:
                    visited.add(dst)
                    on_path.add(dst)
                    stack.append((dst, iter(out_edges.get(dst, []))))
        return back

    def _loop_nodes(self) -> set[str]:
        """Nodes inside a loop (between a loop's target and the node whose edge goes back to it):
        they may run again, so what they rule out in one round may still be reached in a later one."""
        succ: dict[str, set[str]] = {}
        pred: dict[str, set[str]] = {}
        for e in self.edges:
            succ.setdefault(e.src, set()).add(e.dst)
            pred.setdefault(e.dst, set()).add(e.src)

        def reach(start: str, nxt: dict[str, set[str]]) -> set[str]:
            seen, todo = {start}, [start]
            while todo:
                for n in nxt.get(todo.pop(), ()):
                    if n not in seen:
                        seen.add(n)
                        todo.append(n)
            return seen

        inside: set[str] = set()
        for i in self.back:
            e = self.edges[i]
            inside |= reach(e.dst, succ) & reach(e.src, pred)
        return inside

    def may_be_reached_later(self, name: str) -> bool:
        """A skipped node fed by a node inside a loop can still start in a later round."""
        return any(self.edges[i].src in self.in_loop for i in self.forward_inputs(name))

    def forward_inputs(self, node: str) -> list[int]:
        return [i for i, e in enumerate(self.edges) if e.dst == node and i not in self.back]

    # -- progress

    def start(self) -> Step:
        """Nodes to run first: those entered from START (or with no incoming edge)."""
        if any(n.status != PENDING or n.iteration for n in self.nodes.values()):
            return Step([], [], [])
        start_edges = [i for i, e in enumerate(self.edges) if e.src == START]
        if start_edges:
            return self._after(START, {i: True for i in start_edges}, [])
        return self._activate_all(self.exp.start_nodes())

    def _activate_all(self, names: list[str]) -> Step:
        for name in names:
            self._activate(name)
        return Step(list(names), [], [])

    def _activate(self, name: str) -> None:
        node = self.nodes[name]
        node.status = ACTIVE
        node.iteration += 1
        # Inputs are kept: in a loop, a join restarts when any of its branches fires again.

    def finish(self, name: str, evaluate: Callable[[ControlEdge], tuple[bool, str | None]],
               failed: bool = False) -> Step:
        """`name` finished; `evaluate(edge)` says whether a conditional edge holds (and why not)."""
        node = self.nodes[name]
        node.status = FAILED if failed else DONE
        notes: list[str] = []
        outcome: dict[int, bool] = {}
        conditional_fired = False
        mine = [i for i, e in enumerate(self.edges) if e.src == name]
        for i in mine:
            e = self.edges[i]
            if e.is_else:
                continue
            holds = True
            if e.condition is not None:
                holds, note = evaluate(e)
                if note:
                    notes.append(note)
            limit = e.max_iterations or (DEFAULT_MAX_ITERATIONS if i in self.back else None)
            # A loop's bound counts rounds of the node it restarts (`max_iterations 3`: at most 3
            # rounds, the first included); a forward edge's bound counts how often it fired.
            done = self.nodes[e.dst].iteration if i in self.back and e.dst in self.nodes else node.fired.get(i, 0)
            if holds and limit is not None and done >= limit:
                notes.append(f"{e.src} -> {e.dst}: loop limit of {limit} reached")
                holds = False
            outcome[i] = holds
            if holds and e.condition is not None:
                conditional_fired = True
        for i in mine:
            if self.edges[i].is_else:
                outcome[i] = not conditional_fired
        return self._after(name, outcome, notes)

    def _after(self, src: str, outcome: dict[int, bool], notes: list[str]) -> Step:
        start: list[str] = []
        skipped: list[str] = []
        for i, holds in outcome.items():
            e = self.edges[i]
            if holds and src in self.nodes:
                self.nodes[src].fired[i] = self.nodes[src].fired.get(i, 0) + 1
            if e.dst == END:
                continue
            if i in self.back:
                if holds:
                    self._activate(e.dst)
                    start.append(e.dst)
                continue
            self._resolve_input(e.dst, i, "fired" if holds else "dead", start, skipped)
        return Step(start, skipped, notes)

    def _resolve_input(self, name: str, edge: int, value: str, start: list[str], skipped: list[str]) -> None:
        node = self.nodes[name]
        node.inputs[edge] = value
        needed = self.forward_inputs(name)
        if any(i not in node.inputs for i in needed):
            return  # a join still waiting for another branch
        if any(node.inputs[i] == "fired" for i in needed):
            if node.status != ACTIVE:
                self._activate(name)
                start.append(name)
            return
        if node.status == PENDING:
            node.status = SKIPPED
            skipped.append(name)
            # A skipped node rules out everything it would have fed.
            for i, e in enumerate(self.edges):
                if e.src == name and e.dst != END and i not in self.back:
                    self._resolve_input(e.dst, i, "dead", start, skipped)

    @property
    def active(self) -> list[str]:
        return [n for n, s in self.nodes.items() if s.status == ACTIVE]

    @property
    def finished(self) -> bool:
        return not self.active
