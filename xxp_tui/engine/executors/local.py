"""Local executor: task processes on this machine, started by the engine's supervisor.

The engine does not start tasks itself: one supervisor process per engine (supervisor.py) does,
copies their output to the capped log files, waits for them and writes each one's exit record
beside its files. The engine talks to it over a private socket pair: `submit` and `cancel` are one
message each (never a blocking spawn on the engine's loop), and a reader thread turns its replies
into `Started` and `Finished` events. Because the supervisor outlives the engine, a task survives
its engine's death: the next engine `adopt`s it (it watches the exit record, tails its metrics,
enforces its timeout, kills it on prune) or collects its record if it ended meanwhile.

Cancelling a task the supervisor runs is a message (it sends SIGTERM to the task's whole tree and
SIGKILL after the grace period, even if the engine dies meanwhile); an adopted task, whose
supervisor belongs to a dead engine, is signalled directly and escalated by `tick()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from xxp_tui.engine.executors import Finished, MetricEvent, Started, stop_all, tree
from xxp_tui.engine.executors.fork_client import fork_server_enabled
from xxp_tui.engine.executors.metrics import parse_chunk, parse_rest
from xxp_tui.engine.executors.records import exit_record
from xxp_tui.engine.taskspec import TaskSpec

DEFAULT_MAX_LOG_BYTES = 50 * 2**20
KILL_GRACE = 0.5
METRICS_READ_LIMIT = 2**20  # per task and tick: a flood of metric lines cannot stall the engine
ORPHAN_GRACE = 3.0  # an adopted task gone without an exit record for this long: its supervisor died too


@dataclass
class LocalHandle:
    key: str
    spec: TaskSpec
    host: str
    started: float
    pid: int | None = None
    pgid: int | None = None
    proc_start: float | None = None
    cancel_reason: str | None = None
    kill_at: float | None = None
    metrics_offset: int = 0
    metrics_partial: bytes = b""
    malformed: int = 0
    finished: bool = False
    adopted: bool = False  # started by an earlier engine's supervisor
    supervisor: int | None = None  # adopted: that supervisor's pid (while it lives, the exit record will come)
    gone_since: float | None = None  # adopted: when its process was first seen gone with no exit record


class SupervisorLink:
    """The engine's end of the socket pair to its supervisor, which is started on first use."""

    def __init__(self, on_message) -> None:
        self.on_message = on_message
        self.sock: socket.socket | None = None
        self.proc: subprocess.Popen | None = None
        self.lock = threading.Lock()

    def send(self, message: dict) -> None:
        with self.lock:
            if self.sock is None:
                self._start()
            try:
                if self.sock is None:
                    raise OSError("it did not start")
                self.sock.sendall(json.dumps(message).encode() + b"\n")
            except OSError as exc:
                raise OSError(f"the task supervisor is not there any more ({exc})") from None

    def _start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "xxp_tui.engine.executors.supervisor", "--fd", str(theirs.fileno())],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), start_new_session=True, close_fds=True,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            )
        except OSError:
            mine.close()
            raise
        finally:
            theirs.close()
        self.sock = mine
        threading.Thread(target=self._read, args=(mine,), daemon=True, name="xxp-supervisor").start()

    def _read(self, sock: socket.socket) -> None:
        buffer = b""
        while True:
            try:
                data = sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                self.on_message({"ev": "gone"})
                return
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if isinstance(message, dict):
                    self.on_message(message)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def close(self, wait: float = 2.0) -> None:
        """The engine is going: the supervisor exits once its last task has ended."""
        with self.lock:
            sock, self.sock = self.sock, None  # first: the reader must see a close, not a death
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        if self.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=wait)


class LocalExecutor:
    name = "local"

    def __init__(self, events: queue.Queue, max_log_bytes: int = DEFAULT_MAX_LOG_BYTES,
                 kill_grace: float = KILL_GRACE) -> None:
        self.events = events
        self.max_log_bytes = max_log_bytes
        self.kill_grace = kill_grace
        self.handles: dict[str, LocalHandle] = {}
        self.host = socket.gethostname()
        self.link = SupervisorLink(self._on_message)
        self.fork_server = fork_server_enabled({})  # Python tasks forked warm (fork_server.py); the run may say no

    # -- interface

    def submit(self, spec: TaskSpec) -> LocalHandle:
        """Ask the supervisor to start the task; `Started` tells its pid, `Finished` its end."""
        handle = LocalHandle(spec.key, spec, self.host, time.time())
        self.handles[spec.key] = handle
        try:
            self.link.send({
                "op": "start", "key": spec.key, "argv": list(spec.argv), "cwd": str(spec.cwd), "env": spec.env,
                "stdout": str(spec.stdout_path), "stderr": str(spec.stderr_path), "limit": self.max_log_bytes,
                "grace": self.kill_grace, "tag": spec.env.get("XXP_PARAMS", ""), "fork": self.fork_server,
            })
        except OSError:
            self.handles.pop(spec.key, None)
            raise
        return handle

    def adopt(self, spec: TaskSpec, *, pid: int | None, proc_start: float | None, started: float,
              supervisor: int | None = None) -> LocalHandle:
        """Watch a task an earlier engine's supervisor runs (or ran: its exit record is collected
        at the next tick). Metrics are read again from the start of the task's file."""
        handle = LocalHandle(spec.key, spec, self.host, started, pid=pid, pgid=pid, proc_start=proc_start,
                             adopted=True, supervisor=supervisor)
        self.handles[spec.key] = handle
        return handle

    def _on_message(self, msg: dict) -> None:
        """From the supervisor, on the reader thread. Whatever goes wrong here, the task it is
        about ends with the reason: a reader thread that died silently would leave it running."""
        try:
            self._handle_message(msg)
        except Exception as exc:
            handle = self.handles.get(str(msg.get("key")))
            if handle is not None and not handle.finished:
                handle.finished = True
                self._send_quietly({"op": "kill", "key": handle.key})
                why = " ".join(str(exc).split()) or type(exc).__name__
                self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="",
                                         reason=f"was stopped: the executor failed watching it ({why})"))

    def _handle_message(self, msg: dict) -> None:
        """Only the event queue and handle fields are touched."""
        kind = msg.get("ev")
        if kind == "gone":
            self._supervisor_gone()
            return
        handle = self.handles.get(msg.get("key", ""))
        if handle is None or handle.adopted:
            return
        if kind == "started":
            import psutil  # here, not at import: a run its cache answers never starts a task (~8 ms)

            pid = int(msg["pid"])
            try:
                proc_start = psutil.Process(pid).create_time()
            except psutil.Error:
                proc_start = None
            handle.pid, handle.pgid, handle.proc_start = pid, pid, proc_start
            self.events.put(Started(handle.key, self.host, pid, pid, proc_start))
            if handle.cancel_reason is not None:  # cancelled while it was being started
                self._send_quietly({"op": "cancel", "key": handle.key, "reason": handle.cancel_reason})
        elif kind == "error":
            handle.finished = True
            self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="",
                                     reason=msg.get("reason"), no_space=msg.get("no_space") is True))
        elif kind == "ended":
            handle.finished = True
            self.events.put(self._finished(handle, msg))

    def _finished(self, handle: LocalHandle, record: dict) -> Finished:
        return Finished(key=handle.key, exit_code=record.get("exit_code"), signal=record.get("signal"),
                        reason=handle.cancel_reason or record.get("reason"),
                        stderr_tail=record.get("stderr_tail") or "", cpu_seconds=_number(record.get("cpu_seconds")),
                        peak_rss_bytes=_whole(record.get("peak_rss_bytes")),
                        no_space=record.get("no_space") is True and handle.cancel_reason is None)

    def _supervisor_gone(self) -> None:
        """The supervisor died under a live engine (killed by hand, out of memory): its tasks have
        lost their logs and their parent. They are stopped and reported lost (retried once free)."""
        if self.link.sock is None:
            return  # the engine closed it on purpose
        with self.link.lock:
            self.link.sock = None
        for handle in list(self.handles.values()):
            if handle.finished or handle.adopted:
                continue
            if handle.pgid is not None:
                params = handle.spec.env.get("XXP_PARAMS")
                tree.signal_task(handle.pgid, f"XXP_PARAMS={params}".encode() if params else None,
                                 signal.SIGKILL, under=1)
            handle.finished = True
            self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="", lost=True,
                                     reason="its supervisor process died"))

    def _send_quietly(self, message: dict) -> None:
        with contextlib.suppress(OSError):
            self.link.send(message)

    def cancel(self, handle: LocalHandle, reason: str) -> None:
        if handle.finished:
            return
        first = handle.cancel_reason is None
        if first:
            handle.cancel_reason = reason
        if handle.adopted:
            if handle.pgid is not None and first:
                _signal_group(handle.pgid, signal.SIGTERM)
                _signal_group(handle.pgid, signal.SIGCONT)  # a held (stopped) task must see its SIGTERM
            if handle.kill_at is None:
                handle.kill_at = time.monotonic() + self.kill_grace
        elif first and handle.pid is not None:  # else it is cancelled as soon as it has started
            self._send_quietly({"op": "cancel", "key": handle.key, "reason": reason})

    def hold(self, handle: LocalHandle, stop: bool) -> None:
        """Suspend (SIGSTOP) or continue (SIGCONT) a task's process group: a held variant. Through the
        supervisor, which knows the task as soon as it was asked to start it (so a hold sent before
        `Started` arrives is not lost); an adopted task's group directly."""
        if handle.finished:
            return
        if handle.adopted:
            if handle.pgid is not None:
                _signal_group(handle.pgid, signal.SIGSTOP if stop else signal.SIGCONT)
        else:
            self._send_quietly({"op": "hold" if stop else "continue", "key": handle.key})

    def tick(self) -> list[MetricEvent]:
        now = time.monotonic()
        out: list[MetricEvent] = []
        for handle in list(self.handles.values()):
            if handle.adopted and not handle.finished:
                self._watch_adopted(handle, now)
            out.extend(self.read_metrics(handle))
        return out

    def _watch_adopted(self, handle: LocalHandle, now: float) -> None:
        record = exit_record(handle.spec.cwd)
        if record is not None:
            handle.finished = True
            self.events.put(self._finished(handle, record))
            return
        if handle.kill_at is not None and now >= handle.kill_at and handle.pgid is not None:
            _signal_group(handle.pgid, signal.SIGKILL)
            handle.kill_at = now + 5.0  # repeat rarely while the group lingers
        if _alive(handle.pid, handle.proc_start) or _alive(handle.supervisor, None):
            handle.gone_since = None
            return
        handle.gone_since = handle.gone_since or now
        if now - handle.gone_since > ORPHAN_GRACE:  # ended, and no supervisor wrote its end
            handle.finished = True
            self.events.put(Finished(key=handle.key, exit_code=None, signal=None, stderr_tail="", lost=True,
                                     reason="it ended while no engine watched it, and its end was not recorded"))

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
        self.link.close()

    def _kill(self, handle: LocalHandle) -> None:
        if handle.adopted:
            if handle.pgid is not None:
                _signal_group(handle.pgid, signal.SIGKILL)
        else:
            self._send_quietly({"op": "kill", "key": handle.key})


def _number(value: object) -> float | None:
    """A figure from an exit record (which an older supervisor may lack), None when it is not a number."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: object) -> int | None:
    """A byte count from an exit record, None when it is not a number."""
    number = _number(value)
    return int(number) if number is not None else None


def _alive(pid: int | None, proc_start: float | None) -> bool:
    """The process `pid` still runs and is the one that started at `proc_start` (not a reused pid)."""
    import psutil

    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return proc_start is None or abs(proc.create_time() - proc_start) <= 1.0
    except psutil.Error:
        return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_leftover(pid: int | None, pgid: int | None, proc_start: float | None, cwd: str | None = None) -> bool:
    """Kill the process group of a task a dead engine left behind, if it is still that process
    (same pid and start time, so a reused pid is never hit). True when something was killed.
    Without a pid (the engine died between starting the task and recording it), the task is found
    by its working folder and XXP_PARAMS, which belong to that one task execution."""
    import psutil

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
    import psutil

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
