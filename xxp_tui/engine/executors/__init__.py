"""Executors run task processes; they share one small interface and report through events.

`submit(spec) -> handle` starts a task, `cancel(handle, reason)` stops it (its whole process group),
`tick()` does periodic work (kill escalation, metric tailing) and returns metric events (and, for a
distributed executor, `Started` once it knows where a task runs), and a `Finished` event arrives on
the shared queue when a task ends, whatever the cause. The engine never blocks on a task.
`local` runs processes on this machine; `dask` on the workers of a Dask cluster.

An executor whose tasks outlive the engine (`local`: they run under a supervisor) also has
`adopt(spec, pid=, proc_start=, started=, supervisor=)`: a resumed engine watches through it a task
an earlier engine started, as if it had started it itself (see engine/adoption.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:  # kept out at run time: Dask workers import this package for the runner
    from xxp_tui.engine.taskspec import TaskSpec


class ExecutorError(Exception):
    """The executor cannot start (e.g. no Dask scheduler at the address); the message says why."""


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
    lost: bool = False  # the worker running it went away (distributed executors)
    cpu_seconds: float | None = None  # user+system of its whole process tree (executors/usage.py)
    peak_rss_bytes: int | None = None
    no_space: bool = False  # stopped because its log's disk is full: the machine's failure, not the task's


@dataclass(frozen=True)
class Started:
    """A distributed executor learnt where a submitted task actually started (host, process ids)."""

    key: str
    host: str
    pid: int | None
    pgid: int | None
    proc_start: float | None
    worker: str | None = None
    gpus: str | None = None  # the GPU ids the worker gave it (CUDA_VISIBLE_DEVICES), when it asked for GPUs


class Handle(Protocol):
    """A submitted task as the engine sees it: where it runs, since when, why it was cancelled, and how
    many of its metric lines were malformed (ignored, and worth a warning when it ends)."""

    key: str
    spec: TaskSpec
    pid: int | None
    pgid: int | None
    proc_start: float | None
    host: str
    cancel_reason: str | None
    malformed: int

    @property
    def started(self) -> float: ...


class Executor(Protocol):
    name: str

    def submit(self, spec: TaskSpec) -> Handle: ...

    def cancel(self, handle: Handle, reason: str) -> None: ...

    def hold(self, handle: Handle, stop: bool) -> None: ...  # SIGSTOP / SIGCONT its group (holding.py)

    def tick(self) -> list[MetricEvent | Started]: ...

    def finish_metrics(self, handle: Handle) -> Iterable[MetricEvent]: ...

    def release(self, key: str) -> None: ...

    def running(self) -> list[Handle]: ...

    def live_workers(self) -> int | None: ...

    def connected(self) -> bool: ...  # False: the executor itself is gone (a Dask scheduler down)

    def shutdown(self, reason: str) -> None: ...


H = TypeVar("H")


class Stoppable(Protocol[H]):
    """What `stop_all` needs of an executor, in the executor's own handle type."""

    def running(self) -> list[H]: ...

    def cancel(self, handle: H, reason: str) -> None: ...

    def tick(self) -> object: ...


def stop_all(executor: Stoppable[H], reason: str, wait: float, force: Callable[[H], None]) -> None:
    """Cancel every running task, give them `wait` seconds to end (ticking the executor so its
    SIGKILL escalation runs), then `force` what is left: what each executor's shutdown shares."""
    for handle in executor.running():
        executor.cancel(handle, reason)
    deadline = time.monotonic() + wait
    while executor.running() and time.monotonic() < deadline:
        executor.tick()
        time.sleep(0.05)
    for handle in executor.running():
        force(handle)


def make_executor(events, *, kind: str = "local", scheduler: str | None = None, workers: int = 1,
                  max_log_bytes: int | None = None, run_id: int = 0):
    """The executor a run asked for (`runs.executor`); a Dask one connects later, in `connect()`."""
    extra = {"max_log_bytes": max_log_bytes} if max_log_bytes else {}
    if kind == "dask":
        from xxp_tui.engine.executors.dask import DaskExecutor

        return DaskExecutor(events, scheduler=scheduler, workers=workers, run_id=run_id, **extra)
    if kind != "local":
        raise ValueError(f"unknown executor {kind!r} (local or dask)")
    from xxp_tui.engine.executors.local import LocalExecutor

    return LocalExecutor(events, **extra)
