"""When a control node is over. The control graph itself (which nodes start after it, joins, loop
bounds) is `control_flow.py`; this is the part that looks at the node's own variants."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xxp_tui.kb.status import VariantStatus
from xxp_tui.kb.variants import Variant

# The reason a queued variant gets when an amendment takes its point out of the space (engine/amendment.py).
REMOVED_BY_AMENDMENT = "removed by amendment"


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


def may_ask(*, asked: int, budget: int, queued: int, running: Callable[[], int], limit: int | None) -> bool:
    """An Optuna space asks its sampler for a new trial only when one could start now: budget left,
    none of its variants queued, and below its `parallel` limit. Asking ahead would fix trials
    before the results of those still running are known. (`running()` counts the space's running
    variants; asked only when the limit decides.)"""
    return asked < budget and not queued and (limit is None or running() < limit)


@dataclass(frozen=True)
class RunPosition:
    """What a run still has in hand, as the engine's loop sees it after a turn."""

    running_tasks: int = 0
    active_variants: int = 0
    queued_variants: int = 0
    waiting_variants: int = 0  # interactions waiting for an answer
    held_variants: int = 0  # suspended by a human: the run waits for them to be resumed or pruned
    graph_finished: bool = False  # every control node finished or was ruled out
    stopping: bool = False  # stopped by a user or the failure policy
    rerun: bool = False  # a run of one variant: no control graph to follow


def run_over(pos: RunPosition) -> bool:
    """The run ends once no task runs and nothing is left to do: for a stopped run, at once; for a
    rerun, when its variant ended; else when the graph is finished and nothing is queued or waits."""
    if pos.running_tasks:
        return False
    if pos.stopping:
        return True
    if pos.active_variants or pos.queued_variants or pos.held_variants:
        return False
    return pos.rerun or (pos.graph_finished and not pos.waiting_variants)


@dataclass(frozen=True)
class ResumedNode:
    """A running node's position rebuilt from its variants of the current round, as the KB has them."""

    open: set[int]  # variants not finished: the node waits for them
    enqueue: list[int]  # to queue again (queued, or a task of theirs waited for an answer)
    waiting: list[int]  # interactions still waiting for their answer
    told: list[int]  # finished variants a rebuilt Optuna study is told
    grid_taken: int  # configurations of a lazy grid already recorded
    asked: int  # trials an Optuna space already had (asked, or zero-shot starts): counted in its budget


def resume_node(kind: str | None, variants: Sequence[Variant]) -> ResumedNode:
    """Where a running node stood when its engine stopped (`kind`: space, task or interaction).
    Variants the dead engine ran were re-queued before (see the shell's `_reconcile`)."""
    open_: set[int] = set()
    enqueue: list[int] = []
    waiting: list[int] = []
    for v in variants:
        if v.finished:
            continue
        open_.add(v.id)
        if v.status == VariantStatus.WAITING_INPUT and kind == "interaction":
            waiting.append(v.id)
        elif v.status in (VariantStatus.QUEUED, VariantStatus.WAITING_INPUT):
            enqueue.append(v.id)
    return ResumedNode(
        open=open_, enqueue=enqueue, waiting=waiting, told=[v.id for v in variants if v.finished],
        grid_taken=sum(1 for v in variants if v.origin == "strategy"),
        asked=sum(1 for v in variants if v.origin in ("strategy", "transfer")
                  and v.reason != REMOVED_BY_AMENDMENT))  # cancelled by an amendment: never ran
