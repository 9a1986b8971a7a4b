"""The statuses the knowledge base records, as enums (after Optuna's `TrialState`).

They are `StrEnum`s, so a member *is* its string: what the KB stores, what a front end reads and
what a test compares stay the plain words they always were ("completed", "queued", …); a typo in
engine code becomes an AttributeError instead of a status nobody handles. `is_finished()` says
whether a thing in that status can still change, in one place instead of a tuple per module.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_INPUT = "waiting_input"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # resumable
    STOPPED = "stopped"

    def is_finished(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.STOPPED)


class VariantStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    PRUNED = "pruned"
    CANCELLED = "cancelled"
    WAITING_INPUT = "waiting_input"
    SUSPENDED = "suspended"  # held by a human (`suspend`): its process stopped, or kept from starting

    def is_finished(self) -> bool:
        return self in (VariantStatus.COMPLETED, VariantStatus.FAILED, VariantStatus.PRUNED, VariantStatus.CANCELLED)


class TaskRunStatus(StrEnum):
    """One attempt of one task (a row of `task_runs`)."""

    RUNNING = "running"
    COMPLETED = "completed"
    CACHED = "cached"  # a cache hit: another execution's outputs reused, no process
    FAILED = "failed"
    LOST = "lost"  # the Dask worker running it went away
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # the engine stopped under it; resume runs it again

    def is_finished(self) -> bool:
        return self is not TaskRunStatus.RUNNING

    def succeeded(self) -> bool:
        return self in (TaskRunStatus.COMPLETED, TaskRunStatus.CACHED)


class NodeStatus(StrEnum):
    """A control node of the experiment (a space, a task, an interaction)."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"

    def is_finished(self) -> bool:
        return self in (NodeStatus.DONE, NodeStatus.SKIPPED, NodeStatus.FAILED)


RUN_STATES = tuple(RunStatus)
FINISHED_RUN_STATES = tuple(s for s in RunStatus if s.is_finished())
VARIANT_STATES = tuple(VariantStatus)
FINISHED_VARIANT_STATES = tuple(s for s in VariantStatus if s.is_finished())
