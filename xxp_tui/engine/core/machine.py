"""The core's one entry point: `handle(event) -> actions`, dispatched on the event's type.

Like Dask's `WorkerState.handle_stimulus`: the answer depends only on the event (which carries the
facts it needs), so the same event always gets the same actions, and the shell is left with carrying
them out: writing the KB, starting or stopping processes, telling the user.
"""

from __future__ import annotations

from functools import singledispatch

from xxp_tui.engine.core import outcomes
from xxp_tui.engine.core.events import (
    Action,
    FailTask,
    MarkDone,
    MarkSkipped,
    RecordTaskEnd,
    RetryTask,
    StopRun,
    TaskEnded,
    TaskFailed,
    VariantFailed,
)
from xxp_tui.engine.core.policy import FailurePolicy
from xxp_tui.kb.status import TaskRunStatus


@singledispatch
def handle(event: object) -> list[Action]:
    raise TypeError(f"the engine core has no rule for {type(event).__name__}")


@handle.register
def _task_ended(event: TaskEnded) -> list[Action]:
    status, reason = outcomes.task_outcome(event.exit, event.stopping)
    task = event.exit.task
    record: list[Action] = [RecordTaskEnd(status, reason)]
    if status is TaskRunStatus.COMPLETED:
        return [*record, MarkDone(task)]
    if status is TaskRunStatus.CANCELLED:
        return [*record, MarkSkipped(task)]
    failed = TaskFailed(task, reason or str(status), event.attempts, event.retries, event.forgiven,
                        lost=status is TaskRunStatus.LOST, stopping=bool(event.stopping))
    return record + handle(failed)


@handle.register
def _task_failed(event: TaskFailed) -> list[Action]:
    decision = outcomes.retry(attempts=event.attempts, retries=event.retries, forgiven=event.forgiven,
                              lost=event.lost, retryable=event.retryable, stopping=event.stopping)
    if not decision.again:
        return [FailTask(event.task, event.reason, decision.forgiven)]
    if event.lost:
        note = f"{event.task} was lost ({event.reason}); retrying it as attempt {event.attempts + 1}"
    else:
        note = f"{event.task} failed ({event.reason}); retry {event.attempts}/{event.retries}"
    return [RetryTask(event.task, decision.forgiven, note)]


@handle.register
def _variant_failed(event: VariantFailed) -> list[Action]:
    reason = FailurePolicy(event.max_failures).stop_reason(event.failed)
    return [StopRun(reason)] if reason is not None else []
