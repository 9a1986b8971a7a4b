"""When a control node is over. The control graph itself (which nodes start after it, joins, loop
bounds) is `engine/control.py`; this is the part that looks at the node's own variants."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeProgress:
    """What a running node still has: open variants (queued, running or waiting), trials an Optuna
    space may still ask within its budget, configurations a lazy grid has not queued yet."""

    open_variants: int = 0
    asked: int = 0
    budget: int | None = None  # an Optuna space's `runs`; None for other nodes
    grid_left: bool = False


def may_finish(progress: NodeProgress, *, stopping: bool = False) -> bool:
    """A node finishes once nothing of it is open and nothing more will be asked or queued. A run
    that is stopping follows no more edges, so none of its nodes finishes (nothing after may start)."""
    if progress.open_variants or stopping:
        return False
    if progress.budget is not None and progress.asked < progress.budget:
        return False  # budget left: more trials will be asked
    return not progress.grid_left  # configurations left: the next batch is queued as the queue runs low
