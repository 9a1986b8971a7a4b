"""Executors run task processes; they share one small interface and report through events.

`submit(spec) -> handle` starts a task, `cancel(handle, reason)` stops it (its whole process group),
`tick()` does periodic work (kill escalation, metric tailing) and returns metric events, and a
`Finished` event arrives on the shared queue when a task ends, whatever the cause. The controller
never blocks on a task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from xxp_tui.engine.taskspec import TaskSpec


@dataclass(frozen=True)
class MetricEvent:
    key: str
    name: str
    value: float | None
    text: str | None
    step: int | None
    time: float


@dataclass(frozen=True)
class Finished:
    key: str
    exit_code: int | None
    signal: int | None
    reason: str | None  # set when the executor stopped it (cancel, limit) or it could not start
    stderr_tail: str
    malformed_metrics: int = 0
    lost: bool = False  # the worker running it went away (distributed executors)


class Handle(Protocol):
    key: str
    spec: TaskSpec
    pid: int | None
    pgid: int | None
    proc_start: float | None
    host: str
    started: float
    cancel_reason: str | None


class Executor(Protocol):
    name: str

    def submit(self, spec: TaskSpec) -> Handle: ...

    def cancel(self, handle: Handle, reason: str) -> None: ...

    def tick(self) -> list[MetricEvent]: ...

    def shutdown(self, reason: str) -> None: ...
