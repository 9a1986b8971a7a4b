"""What an end means: a task's exit as a status and a reason, whether a failed task is tried again,
and a settled variant's final status. Facts in, verdicts out; the engine records them."""

from __future__ import annotations

import signal as signals
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xxp_tui.kb.status import RunStatus, TaskRunStatus, VariantStatus

SIGNAL_NAMES = {s.value: s.name for s in signals.Signals}


@dataclass(frozen=True)
class TaskExit:
    """How one attempt of a task ended, as the executor reported it."""

    task: str
    exit_code: int | None
    signal: int | None = None
    reason: str | None = None  # the executor stopped it (cancel, time limit) or it could not start
    lost: bool = False  # the worker running it went away
    stderr_tail: str = ""


def task_outcome(end: TaskExit, stopping: str | None = None) -> tuple[TaskRunStatus, str | None]:
    """The attempt's status and reason. `stopping`: its variant is being pruned or cancelled, so
    whatever the process did, the attempt was cancelled."""
    name = end.task
    if stopping:
        return TaskRunStatus.CANCELLED, stopping
    if end.lost:
        return TaskRunStatus.LOST, f"{name}: {end.reason or 'the worker running it was lost'}"
    if end.reason:
        status, reason = TaskRunStatus.FAILED, f"{name} {end.reason}"
    elif end.exit_code == 0:
        return TaskRunStatus.COMPLETED, None
    elif end.signal is not None:
        status = TaskRunStatus.FAILED
        reason = f"{name} was killed by signal {end.signal} ({SIGNAL_NAMES.get(end.signal, '?')})"
    else:
        status, reason = TaskRunStatus.FAILED, f"{name} exited with code {end.exit_code}"
    tail = last_line(end.stderr_tail)
    return status, f"{reason}: {tail}" if tail else reason


@dataclass(frozen=True)
class Retry:
    """Whether a failed attempt is tried again, and the lost attempts forgiven from now on."""

    again: bool
    forgiven: int


def retry(*, attempts: int, retries: int, forgiven: int = 0, lost: bool = False, retryable: bool = True,
          stopping: bool = False) -> Retry:
    """A task is tried again while the attempts that count stay within its `retries`. A lost attempt
    (its Dask worker died) is not the task's fault: the first one is forgiven (it does not count, so
    even `retries 0` tries again); further lost attempts count like failures. A task that could not
    even be prepared (`retryable=False`) or whose variant is being stopped is not tried again."""
    if lost and not forgiven:
        forgiven = 1
    used = attempts - forgiven
    return Retry(retryable and not stopping and used <= retries, forgiven)


def variant_outcome(*, stopping: str | None, stop_status: str | None, failure: str | None,
                    objectives: Sequence[str], values: Callable[[], list[float] | None],
                    notes: Sequence[str] = ()) -> tuple[VariantStatus, str | None, list[float] | None]:
    """A settled variant's status, reason and objective values. `objectives`: the labels of its
    space's objectives; `values()` reads what it reported (asked only when it matters)."""
    if stopping:
        return VariantStatus(stop_status or VariantStatus.CANCELLED), stopping, None
    if failure:
        return VariantStatus.FAILED, failure, None
    got = values()
    if objectives and got is None:
        reason = f"the objective {', '.join(objectives)} was not reported"
        if notes:
            reason += f" ({'; '.join(notes)})"
        return VariantStatus.FAILED, reason, None
    return VariantStatus.COMPLETED, None, got


def trial_state(status: str, values: list[float] | None) -> str:
    """The Optuna trial state a finished variant tells its study: only a completed variant with its
    objective values completes a trial; a pruned one is pruned; anything else failed."""
    if status in (VariantStatus.COMPLETED, "complete"):
        return "complete" if values is not None else "fail"
    return "pruned" if status == VariantStatus.PRUNED else "fail"


def last_line(text: str) -> str:
    """The last non-blank line of a task's stderr, cut to 300 characters: what a failure's reason quotes."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return last if len(last) <= 300 else last[:299] + "…"


def run_outcome(*, failed: int, total: int, broken: Sequence[str]) -> tuple[RunStatus, str | None]:
    """How a run that went to its end ended: failed if any variant failed or a node could not run
    (`broken`: a sentence each, "S failed: why"), else completed."""
    if not failed and not broken:
        return RunStatus.COMPLETED, None
    parts = ([f"{failed} of {total} variant(s) failed"] if failed else []) + list(broken)
    return RunStatus.FAILED, "; ".join(parts)


def live_status(*, paused: bool, waiting: bool) -> RunStatus:
    """A going run's status: paused by a user, waiting for an answer, or running."""
    if paused:
        return RunStatus.PAUSED
    return RunStatus.WAITING_INPUT if waiting else RunStatus.RUNNING
