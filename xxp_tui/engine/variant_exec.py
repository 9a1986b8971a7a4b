"""The in-memory state of one started variant: which of its workflow's tasks are done, running,
waiting for a retry, or ruled out. Rebuilt from the KB's task runs when an engine resumes, so a
variant interrupted after its first tasks continues from there."""

from __future__ import annotations

from dataclasses import dataclass, field

from xxp_tui.kb.variants import Variant
from xxp_tui.lang.model import Workflow

PENDING, RUNNING, DONE, FAILED, SKIPPED, WAITING = "pending", "running", "done", "failed", "skipped", "waiting"
BLOCKED = "blocked"  # an identical execution (same cache key) runs for another variant: wait and reuse it


class TaskStates(dict):
    """task -> state, keeping on every change what `ready()` and `settled` need: how many tasks
    are in each state, how many predecessors of each task are not done yet, and which pending
    tasks may start. A variant's step then costs the same in a workflow of 10 or 10,000 tasks
    (scanning every task on every step made long chains quadratic)."""

    def __init__(self, workflow: Workflow) -> None:
        super().__init__()
        self.position = {name: i for i, name in enumerate(workflow.tasks)}
        self.successors = {name: set(workflow.successors(name)) for name in workflow.tasks}
        self.missing = {name: len(set(workflow.predecessors(name))) for name in workflow.tasks}
        self.counts: dict[str, int] = {}
        self.startable: set[str] = set()

    def __setitem__(self, name: str, state: str) -> None:
        old = self.get(name)
        super().__setitem__(name, state)
        if old is not None:
            self.counts[old] -= 1
        self.counts[state] = self.counts.get(state, 0) + 1
        if old == DONE and state != DONE:
            for nxt in self.successors.get(name, ()):
                self.missing[nxt] += 1
                self.startable.discard(nxt)
        elif state == DONE and old != DONE:
            for nxt in self.successors.get(name, ()):
                self.missing[nxt] -= 1
                if self.missing[nxt] == 0 and self.get(nxt) == PENDING:
                    self.startable.add(nxt)
        if state == PENDING and self.missing.get(name, 0) == 0:
            self.startable.add(name)
        else:
            self.startable.discard(name)

    def setdefault(self, name: str, state: str) -> str:  # type: ignore[override]  # always given a state
        if name not in self:
            self[name] = state
        return self[name]

    def count(self, *states: str) -> int:
        return sum(self.counts.get(s, 0) for s in states)


@dataclass
class VariantExec:
    variant: Variant
    workflow: Workflow
    extra_inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> port -> path
    state: TaskStates = field(default_factory=dict)  # type: ignore[assignment]  # a dict given becomes TaskStates
    attempts: dict[str, int] = field(default_factory=dict)
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    handles: dict[str, str] = field(default_factory=dict)  # task -> executor key
    failure: str | None = None
    stopping: str | None = None  # set when the variant is being pruned/cancelled
    stop_status: str | None = None
    notes: list[str] = field(default_factory=list)  # warnings worth adding to a failure reason
    forgiven: dict[str, int] = field(default_factory=dict)  # task -> lost attempts not counted as retries
    puts: dict[str, dict] = field(default_factory=dict)  # task -> what its ExtremeXP script `variables.put`

    def __post_init__(self) -> None:
        given, self.state = self.state, TaskStates(self.workflow)
        for name, state in given.items():
            self.state[name] = state
        for name in self.workflow.tasks:
            self.state.setdefault(name, PENDING)
            self.attempts.setdefault(name, 0)

    @property
    def id(self) -> int:
        return self.variant.id

    def ready(self) -> list[str]:
        if self.failure or self.stopping:
            return []
        return sorted(self.state.startable, key=self.state.position.__getitem__)  # in workflow order

    def received(self, name: str) -> dict:
        """What a task's `variables` get from earlier tasks: the puts of its ancestors in the workflow,
        nearer ones (later in the flow) winning a clash, as ProActive propagates variables to successors."""
        ancestors: list[str] = []
        frontier = list(self.workflow.predecessors(name))
        while frontier:
            cur = frontier.pop()
            if cur not in ancestors:
                ancestors.append(cur)
                frontier.extend(self.workflow.predecessors(cur))
        merged: dict = {}
        for task in sorted(ancestors, key=lambda t: self._depth(t)):
            merged.update(self.puts.get(task, {}))
        return merged

    def _depth(self, name: str) -> tuple[int, str]:
        depth, frontier, seen = 0, [name], set()
        while True:
            nxt = [p for t in frontier for p in self.workflow.predecessors(t) if p not in seen]
            if not nxt:
                return depth, name
            seen.update(nxt)
            depth += 1
            frontier = nxt

    def running(self) -> list[str]:
        return self._in(RUNNING)

    def waiting(self) -> list[str]:
        return self._in(WAITING)

    def blocked(self) -> list[str]:
        return self._in(BLOCKED)

    def _in(self, state: str) -> list[str]:
        if not self.state.count(state):
            return []
        return [n for n, s in self.state.items() if s == state]

    def stop(self, status: str, reason: str) -> None:
        """Prune or cancel the variant: nothing more of it starts (what waits is skipped); what runs
        is stopped by the engine, and the variant settles as `status` once those tasks have ended."""
        self.stopping, self.stop_status = reason, status
        for name, state in self.state.items():
            if state in (PENDING, WAITING, BLOCKED):
                self.state[name] = SKIPPED

    def rule_out_downstream(self, name: str) -> None:
        """A task failed for good: nothing that depends on it can run."""
        frontier = [name]
        while frontier:
            cur = frontier.pop()
            for b in self.workflow.successors(cur):
                if self.state.get(b) == PENDING:
                    self.state[b] = SKIPPED
                    frontier.append(b)

    @property
    def settled(self) -> bool:
        """No task runs and none can start: the variant's outcome is known."""
        if self.state.count(RUNNING, WAITING, BLOCKED):
            return False
        if self.failure or self.stopping:
            return True
        return self.state.count(DONE, SKIPPED, FAILED) == len(self.state)

    @property
    def succeeded(self) -> bool:
        return self.failure is None and self.stopping is None and all(s == DONE for s in self.state.values())
