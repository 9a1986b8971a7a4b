"""What the shell tells the core (events) and what the core answers (actions): plain frozen
dataclasses, so a test can write down a whole exchange without an engine."""

from __future__ import annotations

from dataclasses import dataclass

from xxp_tui.engine.core.outcomes import TaskExit
from xxp_tui.kb.status import TaskRunStatus

# ---------------------------------------------------------------- events (shell -> core)


@dataclass(frozen=True)
class TaskEnded:
    """An attempt's process ended (the executor's `Finished`)."""

    exit: TaskExit
    attempts: int  # attempts made so far, this one included
    retries: int  # the task's `retries`
    forgiven: int = 0  # lost attempts already forgiven
    stopping: str | None = None  # its variant is being pruned or cancelled (the reason)


@dataclass(frozen=True)
class TaskFailed:
    """An attempt failed: its process failed, or the task could not start at all (`retryable=False`)."""

    task: str
    reason: str
    attempts: int
    retries: int
    forgiven: int = 0
    lost: bool = False
    retryable: bool = True
    stopping: bool = False


@dataclass(frozen=True)
class VariantFailed:
    """A variant ended failed; `failed`: how many of the run's variants have failed in all."""

    failed: int
    max_failures: int = 0


# ---------------------------------------------------------------- actions (core -> shell)


@dataclass(frozen=True)
class RecordTaskEnd:
    """Record the attempt's outcome (its task run's status and reason)."""

    status: TaskRunStatus
    reason: str | None


@dataclass(frozen=True)
class MarkDone:
    """The task completed: its successors may start."""

    task: str


@dataclass(frozen=True)
class MarkSkipped:
    """The task was cancelled with its variant: it will not run."""

    task: str


@dataclass(frozen=True)
class RetryTask:
    """Run the task again; `note` is the sentence that says so."""

    task: str
    forgiven: int
    note: str


@dataclass(frozen=True)
class FailTask:
    """The task failed for good: its variant fails, what depends on it is ruled out, its siblings stop."""

    task: str
    reason: str
    forgiven: int


@dataclass(frozen=True)
class StopRun:
    """The failure policy ends the run: cancel the rest, and the run fails with `reason`."""

    reason: str


Event = TaskEnded | TaskFailed | VariantFailed
Action = RecordTaskEnd | MarkDone | MarkSkipped | RetryTask | FailTask | StopRun
