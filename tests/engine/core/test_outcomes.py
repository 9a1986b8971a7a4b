"""Outcome rules without an engine: a task's end, retries (lost attempts forgiven once), a variant's
final status, the trial state an Optuna study is told, and the core's event -> actions answers."""

from __future__ import annotations

import signal

import pytest

from xxp_tui.engine.core import machine
from xxp_tui.engine.core.events import (
    FailTask,
    MarkDone,
    MarkSkipped,
    RecordTaskEnd,
    RetryTask,
    TaskEnded,
    TaskFailed,
)
from xxp_tui.engine.core.outcomes import TaskExit, last_line, retry, task_outcome, trial_state, variant_outcome
from xxp_tui.kb.status import TaskRunStatus, VariantStatus


def test_task_outcomes_say_why():
    assert task_outcome(TaskExit("t", 0)) == ("completed", None)
    assert task_outcome(TaskExit("t", 2, stderr_tail="x\nValueError: bad\n\n")) == (
        "failed", "t exited with code 2: ValueError: bad")
    assert task_outcome(TaskExit("t", None, signal=signal.SIGKILL)) == (
        "failed", "t was killed by signal 9 (SIGKILL)")
    assert task_outcome(TaskExit("t", None, reason="timed out after 2s")) == ("failed", "t timed out after 2s")
    assert task_outcome(TaskExit("t", None, lost=True, stderr_tail="ignored")) == (
        "lost", "t: the worker running it was lost")
    # Its variant is being pruned: whatever the process did, the attempt was cancelled.
    assert task_outcome(TaskExit("t", 0), stopping="pruned by you") == ("cancelled", "pruned by you")


def test_last_line_is_cut():
    assert last_line("") == ""
    assert len(last_line("a" * 1000)) == 300


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_a_task_runs_at_most_retries_plus_one_times(retries):
    attempts = 0
    while True:
        attempts += 1
        if not retry(attempts=attempts, retries=retries).again:
            break
    assert attempts == retries + 1


def test_a_first_lost_attempt_is_forgiven_once():
    first = retry(attempts=1, retries=0, lost=True)
    assert first.again and first.forgiven == 1  # retried even with retries 0
    second = retry(attempts=2, retries=0, forgiven=first.forgiven, lost=True)
    assert not second.again  # a second lost attempt counts like a failure


def test_no_retry_when_not_retryable_or_stopping():
    assert not retry(attempts=1, retries=5, retryable=False).again  # could not even be prepared
    assert not retry(attempts=1, retries=5, stopping=True).again  # its variant is being pruned


def test_variant_outcomes():
    never = pytest.fail  # values() must not be asked when the outcome is known without them

    assert variant_outcome(stopping="pruned by you", stop_status="pruned", failure=None, objectives=["acc"],
                           values=never) == (VariantStatus.PRUNED, "pruned by you", None)
    assert variant_outcome(stopping="the run was stopped", stop_status=None, failure=None, objectives=[],
                           values=never)[0] == VariantStatus.CANCELLED
    assert variant_outcome(stopping=None, stop_status=None, failure="t exited with code 1", objectives=[],
                           values=never) == (VariantStatus.FAILED, "t exited with code 1", None)
    assert variant_outcome(stopping=None, stop_status=None, failure=None, objectives=["Train.acc"],
                           values=lambda: [0.5]) == (VariantStatus.COMPLETED, None, [0.5])
    status, reason, _ = variant_outcome(stopping=None, stop_status=None, failure=None, objectives=["Train.acc"],
                                        values=lambda: None, notes=["3 malformed metric line(s) from Train ignored"])
    assert status == VariantStatus.FAILED
    assert reason == "the objective Train.acc was not reported (3 malformed metric line(s) from Train ignored)"
    assert variant_outcome(stopping=None, stop_status=None, failure=None, objectives=[],
                           values=lambda: None)[0] == VariantStatus.COMPLETED


def test_trial_states():
    assert trial_state("completed", [1.0]) == "complete"
    assert trial_state("completed", None) == "fail"  # no objective: Optuna must not learn a value
    assert trial_state("pruned", None) == "pruned"
    assert trial_state("cancelled", None) == trial_state("failed", None) == "fail"


def test_machine_task_end_to_actions():
    ok = machine.handle(TaskEnded(TaskExit("t", 0), attempts=1, retries=0))
    assert ok == [RecordTaskEnd(TaskRunStatus.COMPLETED, None), MarkDone("t")]
    cancelled = machine.handle(TaskEnded(TaskExit("t", -15), attempts=1, retries=2, stopping="pruned by you"))
    assert cancelled == [RecordTaskEnd(TaskRunStatus.CANCELLED, "pruned by you"), MarkSkipped("t")]
    retried = machine.handle(TaskEnded(TaskExit("t", 1), attempts=1, retries=1))
    assert retried[1] == RetryTask("t", 0, "t failed (t exited with code 1); retry 1/1")
    failed = machine.handle(TaskEnded(TaskExit("t", 1), attempts=2, retries=1))
    assert failed[1] == FailTask("t", "t exited with code 1", 0)
    lost = machine.handle(TaskEnded(TaskExit("t", None, lost=True), attempts=1, retries=0))
    assert lost[0].status == TaskRunStatus.LOST
    assert lost[1] == RetryTask("t", 1, "t was lost (t: the worker running it was lost); retrying it as attempt 2")


def test_machine_start_failure_is_not_retried_and_unknown_events_are_refused():
    assert machine.handle(TaskFailed("t", "no such file", attempts=1, retries=3, retryable=False)) == [
        FailTask("t", "no such file", 0)]
    with pytest.raises(TypeError, match="no rule for str"):
        machine.handle("what")
