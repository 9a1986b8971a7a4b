"""Local executor: task processes on this machine, each in its own process group.

Per running task one watcher thread reads the process's stdout and stderr into their log files
(up to a size limit; past it the task is stopped, so a runaway printer can fill neither memory nor
disk), keeps the last lines of stderr for the failure reason, then reaps the process and posts
`Finished`. Cancelling sends SIGTERM to the group and, after a grace period, SIGKILL; the
controller's `tick()` does the escalation, so nothing ever sleeps on the engine's thread.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

from xxp_tui.engine.executors import Finished, MetricEvent, Started, stop_all
from xxp_tui.engine.executors.groups import end_group
from xxp_tui.engine.executors.logs import LogPump
from xxp_tui.engine.executors.metrics import parse_chunk, parse_rest
from xxp_tui.engine.taskspec import TaskSpec

DEFAULT_MAX_LOG_BYTES = 50 * 2**20
KILL_GRACE = 0.5
METRICS_READ_LIMIT = 2**20  # per task and tick: a flood of metric lines cannot stall the engine


@dataclass
class LocalHandle:
    key: str
    spec: TaskSpec
    host: str
    started: float
    proc: subprocess.Popen | None = None  # set by the task's thread once the process exists
    pid: int | None = None
    pgid: int | None = None
    proc_start: float | None = None
    cancel_reason: str | None = None
    kill_at: float | None = None
    metrics_offset: int = 0
    metrics_partial: bytes = b""
    malformed: int = 0
    finished: bool = False


class TaskThreads:
    """One thread per running task (it starts the process, then copies its output), reused from
    task to task: creating a thread costs the engine's loop about a millisecond each time. Daemon
    threads, unlike a ThreadPoolExecutor's, never hold up the exit of an engine that must go."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.idle = 0
        self.lock = threading.Lock()

    def submit(self, fn, *args) -> None:
        with self.lock:
            spare = self.idle > 0
            if spare:
                self.idle -= 1
        if not spare:
            threading.Thread(target=self._work, daemon=True, name="xxp-task").start()
        self.jobs.put((fn, args))

    def _work(self) -> None:
        while True:
            fn, args = self.jobs.get()
            with contextlib.suppress(Exception):  # each job handles and reports its own errors
                fn(*args)
            with self.lock:
                self.idle += 1


class LocalExecutor:
    name = "local"

    def __init__(self, events: queue.Queue, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
                 kill_grace: float = KILL_GRACE) -> None:
        self.events = events
        self.max_log_bytes = max_log_bytes
        self.kill_grace = kill_grace
        self.handles: dict[str, LocalHandle] = {}
        self.host = socket.gethostname()
        self.threads = TaskThreads()

    # -- interface

    def submit(self, spec: TaskSpec) -> LocalHandle:
        """Start the task on a thread of its own (spawning a process blocks for milliseconds; the
        engine's loop must not pay that once per task); `Started` tells its pids, `Finished` its end."""
        handle = LocalHandle(spec.key, spec, self.host, time.time())
        self.handles[spec.key] = handle
        self.threads.submit(self._run, handle)
        return handle

    def _run(self, handle: LocalHandle) -> None:
        """The task's thread. Whatever goes wrong on it (a bug, a resource error), the task ends
        and `Finished` says why: a thread that died silently left its variant running forever."""
        try:
            self._start_and_watch(handle)
        except Exception as exc:
            self._thread_failed(handle, exc)

    def _thread_failed(self, handle: LocalHandle, exc: Exception) -> None:
        if handle.finished:
            return
        if handle.pgid is not None:
            _signal_group(handle.pgid, signal.SIGKILL)
        if handle.proc is not None:
            with contextlib.suppress(Exception):
                handle.proc.wait(timeout=10)
        handle.finished = True
        why = " ".join(str(exc).split()) or type(exc).__name__
        self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="",
                                 reason=f"was stopped: the executor failed watching it ({why})"))

    def _start_and_watch(self, handle: LocalHandle) -> None:
        spec = handle.spec
        try:
            # Unbuffered: each chunk read from the pipe reaches the log file at once (logs are tailed live).
            stdout = open(spec.stdout_path, "wb", buffering=0)  # noqa: SIM115 - closed by _watch
            try:
                stderr = open(spec.stderr_path, "wb", buffering=0)  # noqa: SIM115
            except OSError:
                stdout.close()
                raise
            try:
                proc = subprocess.Popen(
                    spec.argv, cwd=spec.cwd, env=spec.env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
                )
            except OSError:
                stdout.close()
                stderr.close()
                raise
        except OSError as exc:
            handle.finished = True
            self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="",
                                     reason=f"could not start {spec.argv[0]}: {exc.strerror or exc}"))
            return
        try:
            proc_start = psutil.Process(proc.pid).create_time()
        except psutil.Error:
            proc_start = None
        handle.proc, handle.pid, handle.pgid, handle.proc_start = proc, proc.pid, proc.pid, proc_start
        self.events.put(Started(handle.key, self.host, proc.pid, proc.pid, proc_start))
        if handle.cancel_reason is not None:  # cancelled while it was being started
            _signal_group(proc.pid, signal.SIGTERM)
        self._watch(handle, stdout, stderr)

    def cancel(self, handle: LocalHandle, reason: str) -> None:
        if handle.finished:
            return
        if handle.cancel_reason is None:
            handle.cancel_reason = reason
        if handle.pgid is not None:  # else its thread signals it as soon as it exists
            _signal_group(handle.pgid, signal.SIGTERM)
        if handle.kill_at is None:
            handle.kill_at = time.monotonic() + self.kill_grace

    def tick(self) -> list[MetricEvent]:
        now = time.monotonic()
        out: list[MetricEvent] = []
        for handle in list(self.handles.values()):
            if handle.kill_at is not None and now >= handle.kill_at and handle.pgid is not None:
                _signal_group(handle.pgid, signal.SIGKILL)
                handle.kill_at = now + 5.0  # repeat rarely while the group lingers
            out.extend(self.read_metrics(handle))
        return out

    def read_metrics(self, handle: LocalHandle, limit: int = METRICS_READ_LIMIT) -> list[MetricEvent]:
        """The next complete lines of the task's metrics file. The file is capped like the logs
        (`max_log_bytes`): the task is stopped with that reason when it passes the cap, and past
        it only single values (no step) are kept, so a final metric is never lost to a series."""
        try:
            with open(handle.spec.metrics_path, "rb") as fh:
                fh.seek(handle.metrics_offset)
                chunk = fh.read(limit)
        except OSError:
            return []
        before = handle.metrics_offset
        handle.metrics_offset += len(chunk)
        events = parse_chunk(handle, chunk)
        cap = self.max_log_bytes
        if handle.metrics_offset > cap:
            if before <= cap and handle.cancel_reason is None and not handle.finished:
                self.cancel(handle, f"wrote more than {cap / 2**20:.0f} MB of metrics (the log limit); stopped")
            if before > cap:
                events = [e for e in events if e.step is None]
        return events

    def finish_metrics(self, handle: LocalHandle) -> Iterator[MetricEvent]:
        """Every line left in the metrics file once the task has ended, in batches (a flood of
        lines is read to its end without holding it all in memory); what a process it left
        behind appends later is not waited for."""
        end = self._size(handle)
        while handle.metrics_offset < end:
            before = handle.metrics_offset
            yield from self.read_metrics(handle, limit=8 * METRICS_READ_LIMIT)
            if handle.metrics_offset == before:
                break  # the file shrank
        yield from parse_rest(handle)

    @staticmethod
    def _size(handle: LocalHandle) -> int:
        try:
            return os.path.getsize(handle.spec.metrics_path)
        except OSError:
            return 0

    def release(self, key: str) -> None:
        self.handles.pop(key, None)

    def running(self) -> list[LocalHandle]:
        return [h for h in self.handles.values() if not h.finished]

    def live_workers(self) -> int | None:
        return None  # no cluster: the run's slots are all there is

    def connected(self) -> bool:
        return True

    def shutdown(self, reason: str, wait: float = 5.0) -> None:
        stop_all(self, reason, wait, self._kill)

    @staticmethod
    def _kill(handle: LocalHandle) -> None:
        if handle.pgid is not None:
            _signal_group(handle.pgid, signal.SIGKILL)

    # -- the watcher thread

    def _watch(self, handle: LocalHandle, stdout: IO[bytes], stderr: IO[bytes]) -> None:
        proc = handle.proc
        logs = LogPump(proc, stdout, stderr, self.max_log_bytes)
        exited_at: float | None = None
        try:
            while logs.open:
                stop = logs.pump(timeout=0.2)
                if stop and handle.cancel_reason is None:
                    self.cancel(handle, stop)
                if proc.poll() is not None:
                    # Grandchildren may keep the pipes open: give them a moment, then stop reading.
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 1.0:
                        break
        finally:
            logs.close()
        rc = proc.wait()
        end_group(handle.pgid)  # a background child the task left in its group goes too
        handle.finished = True
        exit_code, sig = (None, -rc) if rc < 0 else (rc, None)
        self.events.put(Finished(
            key=handle.key, exit_code=exit_code, signal=sig, reason=handle.cancel_reason,
            stderr_tail=logs.stderr_tail(),
        ))


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_leftover(pid: int | None, pgid: int | None, proc_start: float | None, cwd: str | None = None) -> bool:
    """Kill the process group of a task a dead engine left behind, if it is still that process
    (same pid and start time, so a reused pid is never hit). True when something was killed.
    Without a pid (the engine died between starting the task and recording it), the task is found
    by its working folder and XXP_PARAMS, which belong to that one task execution."""
    if pid is None or pgid is None:
        return _kill_unrecorded(cwd) if cwd else False
    try:
        proc = psutil.Process(pid)
        if proc_start is not None and abs(proc.create_time() - proc_start) > 1.0:
            return False
    except psutil.Error:
        return False
    _signal_group(pgid, signal.SIGKILL)
    return True


def _kill_unrecorded(cwd: str) -> bool:
    real, params = os.path.realpath(cwd), str(Path(cwd) / "params.json")
    groups = set()
    for proc in psutil.process_iter(["cwd"]):
        try:
            if proc.info["cwd"] == real and proc.environ().get("XXP_PARAMS") == params:
                groups.add(os.getpgid(proc.pid))
        except (psutil.Error, OSError):
            continue
    groups.discard(os.getpgid(0))
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    return bool(groups)
