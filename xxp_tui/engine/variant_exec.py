"""The in-memory state of one started variant: which of its workflow's tasks are done, running,
waiting for a retry, or ruled out. Rebuilt from the KB's task runs when an engine resumes, so a
variant interrupted after its first tasks continues from there."""

from __future__ import annotations

from dataclasses import dataclass, field

from xxp_tui.kb.variants import Variant
from xxp_tui.spec.model import Workflow

PENDING, RUNNING, DONE, FAILED, SKIPPED, WAITING = "pending", "running", "done", "failed", "skipped", "waiting"
BLOCKED = "blocked"  # an identical execution (same cache key) runs for another variant: wait and reuse it


@dataclass
class VariantExec:
    variant: Variant
    workflow: Workflow
    extra_inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # task -> port -> path
    state: dict[str, str] = field(default_factory=dict)
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
        for name in self.workflow.tasks:
            self.state.setdefault(name, PENDING)
            self.attempts.setdefault(name, 0)

    @property
    def id(self) -> int:
        return self.variant.id

    def ready(self) -> list[str]:
        if self.failure or self.stopping:
            return []
        out = []
        for name in self.workflow.tasks:
            if self.state[name] != PENDING:
                continue
            if all(self.state.get(p) == DONE for p in self.workflow.predecessors(name)):
                out.append(name)
        return out

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
        return [n for n, s in self.state.items() if s == RUNNING]

    def waiting(self) -> list[str]:
        return [n for n, s in self.state.items() if s == WAITING]

    def blocked(self) -> list[str]:
        return [n for n, s in self.state.items() if s == BLOCKED]

    def rule_out_downstream(self, name: str) -> None:
        """A task failed for good: nothing that depends on it can run."""
        frontier = [name]
        while frontier:
            cur = frontier.pop()
            for a, b in self.workflow.edges:
                if a == cur and self.state.get(b) == PENDING:
                    self.state[b] = SKIPPED
                    frontier.append(b)

    @property
    def settled(self) -> bool:
        """No task runs and none can start: the variant's outcome is known."""
        if self.running() or self.waiting() or self.blocked():
            return False
        if self.failure or self.stopping:
            return True
        return not self.ready() and all(s in (DONE, SKIPPED, FAILED) for s in self.state.values())

    @property
    def succeeded(self) -> bool:
        return self.failure is None and self.stopping is None and all(s == DONE for s in self.state.values())
