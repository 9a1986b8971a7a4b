"""Dask executor: each task execution runs on a Dask worker through `dask_runner.run_task`.

The engine, Optuna and the knowledge base stay here; workers are stateless and see the task's
files through a shared filesystem. Dask is imported only when a run uses this executor.

- **Connect**: to `--scheduler tcp://HOST:PORT` (with the security of the user's Dask configuration),
  or with none to a `LocalCluster` of `workers` single-threaded worker processes on 127.0.0.1 (its
  scheduler, in this process, has `allowed-failures: 0`). A cluster's workers run any code a client
  sends them, as the user who started them: the local cluster speaks only mutual TLS with a
  certificate made for this run and kept in memory (`Security.temporary()`), so another local user
  who finds its port cannot connect, and its HTTP servers (dashboard, health, metrics) serve nothing.
- **Submit**: one Dask task per attempt, with a key unique to the attempt, `pure=False`, and the
  task's `resources` as Dask worker resources (ignored by a LocalCluster, whose workers have none,
  like the local executor ignores them). Only the XXP_* variables, PYTHONPATH and PYTHONUNBUFFERED
  travel to the worker, not this process's whole environment.
- **Results**: a collector thread reads each future as soon as it is done, releases it at once (a
  result the scheduler still holds is one it would recompute after losing a worker) and posts
  `Finished`; results of a released key are never looked at again.
- **Metrics**: the runner streams new metric lines with their byte offsets (`log_event`; the
  scheduler keeps only the last 1,000 events of a topic); a gap in the offsets is read from the
  shared metrics file, and so is whatever the stream had not delivered when the task ended.
- **Cancel**: the attempt's `distributed.Event` is set (the runner polls it every 0.1 s: SIGTERM to
  the group, SIGKILL after the grace period); a task still queued is also cancelled in the
  scheduler. If a started task has still not ended 10 s after its grace period, its group is killed
  through `Client.run` on its worker.
- **Worker loss**: a task whose worker died ends `lost` (`KilledWorker` with allowed-failures 0; or
  the runner's marker refusing a second run of the attempt when the scheduler retried it itself);
  the engine records the lost attempt and decides whether to retry.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xxp_tui.engine.executors import ExecutorError, Finished, MetricEvent, Started, stop_all
from xxp_tui.engine.executors.local import DEFAULT_MAX_LOG_BYTES, KILL_GRACE, METRICS_READ_LIMIT
from xxp_tui.engine.executors.metrics import parse_chunk, parse_rest
from xxp_tui.engine.taskspec import TaskSpec

CONNECT_TIMEOUT = 10.0
FALLBACK_KILL_AFTER = 10.0  # seconds past the grace period before killing through Client.run
SHIPPED_ENV = ("PYTHONPATH", "PYTHONUNBUFFERED")
CLUSTER_INFO_EVERY = 1.0


@dataclass
class DaskHandle:
    key: str
    spec: TaskSpec
    dkey: str
    event_name: str
    future: Any  # a distributed.Future until it is collected, then None
    submitted: float
    pid: int | None = None
    pgid: int | None = None
    proc_start: float | None = None
    host: str = "dask"
    worker: str | None = None
    start_time: float | None = None
    cancel_reason: str | None = None
    cancel_sent: bool = False
    kill_deadline: float | None = None
    fallback_sent: bool = False
    held: bool = False  # its variant is suspended: stopped on its worker as soon as it runs there
    metrics_offset: int = 0
    metrics_partial: bytes = b""
    metrics_size: int = 0
    malformed: int = 0
    finished: bool = False
    gpus: str | None = None  # the worker's GPU ids it was given (CUDA_VISIBLE_DEVICES), from its start

    @property
    def started(self) -> float:
        """When the task started on a worker: timeouts do not count the time spent queued."""
        return self.start_time if self.start_time is not None else time.time()


def _run_security():
    """TLS for this run's local cluster: a fresh self-signed key and certificate that every member
    (scheduler, workers, our client) presents and requires; they never touch the disk."""
    from distributed.security import Security

    try:
        return Security.temporary()
    except ImportError:
        raise ExecutorError("the local Dask cluster is secured with TLS, which needs the cryptography "
                            "package: pip install 'xxp-tui[dask]'") from None


def shipped_env(env: dict[str, str]) -> dict[str, str]:
    """What a worker adds to its own environment for a task: the XXP_* variables and the Python
    path settings, never the orchestrator's other variables (secrets, paths of this machine)."""
    return {k: v for k, v in env.items() if k.startswith("XXP_") or k in SHIPPED_ENV}


class DaskExecutor:
    name = "dask"

    def __init__(self, events: queue.Queue, *, scheduler: str | None = None, workers: int = 2, run_id: int = 0,
                 max_log_bytes: int = DEFAULT_MAX_LOG_BYTES, kill_grace: float = KILL_GRACE,
                 connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.events = events
        self.scheduler = scheduler
        self.workers = max(1, workers)
        self.run_id = run_id
        self.max_log_bytes = max_log_bytes
        self.kill_grace = kill_grace
        self.connect_timeout = connect_timeout
        self.host = "dask"
        self.handles: dict[str, DaskHandle] = {}
        self.by_dkey: dict[str, DaskHandle] = {}
        self.topic = f"xxp-r{run_id}-{secrets.token_hex(4)}"
        self.client: Any = None  # a distributed.Client once connected
        self.cluster: Any = None  # the LocalCluster the run started, if it started one
        self._scratch: str | None = None
        self._stream: queue.SimpleQueue = queue.SimpleQueue()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._collector: threading.Thread | None = None
        self._info: tuple[int, int] | None = None  # (workers, threads), refreshed by _watch_cluster
        self._closing = threading.Event()

    # -- connection

    @property
    def address(self) -> str | None:
        if self.client is None:
            return self.scheduler
        return self.client.scheduler.address

    def connect(self) -> None:
        """Connect to the scheduler, or start the LocalCluster; ExecutorError with a sentence if not."""
        try:
            import dask
            from distributed import Client
        except ImportError:
            raise ExecutorError("this run uses the Dask executor, but Dask distributed is not installed here: "
                                "pip install 'xxp-tui[dask]'") from None

        try:
            if self.scheduler:
                self.client = Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
            else:
                from distributed import LocalCluster

                # The workers' scratch space is ours and private, and goes when the cluster does;
                # one a killed engine left behind is swept here (its pid is in the name).
                security = _run_security()
                _sweep_scratch()
                self._scratch = tempfile.mkdtemp(prefix=f"xxp-dask-{os.getpid()}-")
                # Dask starts an HTTP server in every scheduler, nanny and worker even without a
                # dashboard (health, metrics, cluster info), readable by any local user: no routes.
                quiet: dict[str, list] = {f"distributed.{role}.http.routes": []
                                          for role in ("scheduler", "nanny", "worker")}
                with dask.config.set({"distributed.scheduler.allowed-failures": 0, **quiet}):
                    self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                host="127.0.0.1", protocol="tls://", security=security,
                                                dashboard_address=None, local_directory=self._scratch)
                self.client = Client(self.cluster, security=security, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            self.close()
            where = f"the Dask scheduler at {self.scheduler}" if self.scheduler else "a local Dask cluster"
            raise ExecutorError(f"cannot reach {where}: {_first_line(exc)}") from None
        self.client.subscribe_topic(self.topic, self._on_stream)
        self._collector = threading.Thread(target=self._collect, daemon=True, name="xxp-dask-collector")
        self._collector.start()
        self._refresh_cluster_info()
        threading.Thread(target=self._watch_cluster, daemon=True, name="xxp-dask-cluster").start()

    def _refresh_cluster_info(self) -> None:
        try:
            info = self.client.scheduler_info(n_workers=0)
            self._info = (int(info.get("n_workers", 0)), int(info.get("total_threads", 0)))
        except Exception:
            pass  # keep the last known value: a scheduler that does not answer now may answer soon

    def _watch_cluster(self) -> None:
        """Asks the scheduler about its workers every second, off the engine's thread: a scheduler
        that went away makes this call hang for seconds, which the engine's loop must not."""
        while not self._closing.wait(CLUSTER_INFO_EVERY):
            if self.client is None:
                return
            self._refresh_cluster_info()

    def close(self) -> None:
        self._closing.set()
        if self._collector is not None:
            self._done.put(None)
            self._collector.join(timeout=5)
            self._collector = None
        if self.client is not None:
            with contextlib.suppress(Exception):
                self.client.unsubscribe_topic(self.topic)
            with contextlib.suppress(Exception):
                self.client.close(timeout=5)
            self.client = None
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close(timeout=10)
            self.cluster = None
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # -- interface

    def submit(self, spec: TaskSpec) -> DaskHandle:
        if self.client is None:
            raise OSError("the Dask executor is not connected")
        from xxp_tui.engine.executors.dask_runner import run_task

        token = secrets.token_hex(4)
        dkey = f"xxp-r{spec.run_id}-v{spec.variant_id}-{spec.task}-{spec.attempt}-{token}"
        event_name = f"{dkey}-cancel"
        payload = {
            "key": spec.key, "topic": self.topic, "cancel_event": event_name,
            "argv": list(spec.argv), "own_python": bool(spec.argv) and spec.argv[0] == sys.executable,
            "cwd": str(spec.cwd), "env": shipped_env(spec.env), "params_path": str(spec.cwd / "params.json"),
            "stdout_path": str(spec.stdout_path), "stderr_path": str(spec.stderr_path),
            "metrics_path": str(spec.metrics_path), "max_log_bytes": self.max_log_bytes,
            "kill_grace": self.kill_grace, "gpus": _gpus_asked(spec.resources),
        }
        # A LocalCluster's workers have no resources: like the local executor, it ignores them.
        resources = dict(spec.resources) if spec.resources and self.cluster is None else None
        try:
            future = self.client.submit(run_task, payload, key=dkey, pure=False, resources=resources)
        except Exception as exc:  # the scheduler went away
            raise OSError(f"cannot submit to the Dask scheduler: {_first_line(exc)}") from exc
        handle = DaskHandle(spec.key, spec, dkey, event_name, future, time.time())
        self.handles[spec.key] = handle
        self.by_dkey[dkey] = handle
        future.add_done_callback(self._done.put)
        return handle

    def cancel(self, handle: DaskHandle, reason: str) -> None:
        if handle.finished:
            return
        if handle.cancel_reason is None:
            handle.cancel_reason = reason
        if handle.cancel_sent:
            return
        handle.cancel_sent = True
        handle.kill_deadline = time.monotonic() + self.kill_grace + FALLBACK_KILL_AFTER
        if not self.connected():
            return  # no scheduler to tell; a worker that lost it stops its tasks itself
        from distributed import Event

        with contextlib.suppress(Exception):
            Event(handle.event_name, client=self.client).set()
        future = handle.future
        if handle.start_time is None and future is not None:
            # Not started yet (as far as we know): drop it from the queue. If it started meanwhile,
            # the runner sees the scheduler release it and kills its process group.
            with contextlib.suppress(Exception):
                future.cancel()

    def hold(self, handle: DaskHandle, stop: bool) -> None:
        """Suspend or continue a task on its worker (SIGSTOP / SIGCONT to its process group, through
        `Client.run`); one not started on a worker yet is stopped as soon as it starts (see tick)."""
        if handle.finished:
            return
        handle.held = stop
        if handle.pgid is not None and handle.worker is not None:
            self._hold_on_worker(handle, stop)

    def _hold_on_worker(self, handle: DaskHandle, stop: bool) -> None:
        if self.client is None:
            return
        from xxp_tui.engine.executors.groups import hold_group_soon

        with contextlib.suppress(Exception):
            self.client.run(hold_group_soon, handle.pgid, stop, workers=[handle.worker], wait=False)

    def tick(self) -> list[MetricEvent | Started]:
        out: list[MetricEvent | Started] = []
        while True:
            try:
                msg = self._stream.get_nowait()
            except queue.Empty:
                break
            handle = self.by_dkey.get(msg.get("dkey"))
            if handle is None:
                continue  # a released attempt, or one of another engine
            if msg.get("kind") == "started":
                handle.pid, handle.pgid, handle.proc_start = msg.get("pid"), msg.get("pgid"), msg.get("proc_start")
                handle.host, handle.worker = msg.get("host") or handle.host, msg.get("worker")
                handle.start_time = time.time()
                handle.gpus = msg.get("gpus")
                out.append(Started(handle.key, handle.host, handle.pid, handle.pgid, handle.proc_start,
                                   handle.worker, gpus=handle.gpus))
                if handle.held:  # suspended before it reached a worker
                    self._hold_on_worker(handle, True)
            elif msg.get("kind") == "metrics" and not handle.finished:
                out.extend(self._from_stream(handle, int(msg["start"]), bytes(msg["data"])))
        now = time.monotonic()
        for handle in self.running():
            if handle.kill_deadline is not None and now >= handle.kill_deadline and not handle.fallback_sent:
                handle.fallback_sent = True
                self._kill_on_worker(handle)
        return out

    def finish_metrics(self, handle: DaskHandle) -> Iterator[MetricEvent]:
        """Everything the stream had not delivered when the task ended, from the shared file (which a
        network filesystem may show complete a moment later: wait up to 3 s for the runner's size);
        every line, in batches."""
        deadline = time.monotonic() + 3.0
        while self._size(handle) < handle.metrics_size and time.monotonic() < deadline:
            time.sleep(0.05)
        while True:
            batch, read = self._read_file(handle, 8 * METRICS_READ_LIMIT)
            yield from batch
            if not read:
                break
        yield from parse_rest(handle)

    def release(self, key: str) -> None:
        handle = self.handles.pop(key, None)
        if handle is None:
            return
        self.by_dkey.pop(handle.dkey, None)
        if handle.cancel_sent and self.client is not None:  # a set Event stays on the scheduler until cleared
            from distributed import Event

            with contextlib.suppress(Exception):
                Event(handle.event_name, client=self.client).clear()

    def running(self) -> list[DaskHandle]:
        return [h for h in self.handles.values() if not h.finished]

    def connected(self) -> bool:
        """The client still talks to its scheduler (it stops "running" when the scheduler is lost)."""
        return self.client is not None and self.client.status == "running"

    def live_workers(self) -> int | None:
        info = self.cluster_info()
        return info[0] if info else None

    def slots(self) -> int | None:
        """Threads of the live workers: how many tasks the cluster runs at once."""
        info = self.cluster_info()
        return info[1] if info else None

    def cluster_info(self) -> tuple[int, int] | None:
        """(live workers, their threads) as last heard from the scheduler; never waits for it."""
        return self._info if self.client is not None else None

    def shutdown(self, reason: str, wait: float = 5.0) -> None:
        stop_all(self, reason, wait, self._kill_on_worker)
        self.close()

    # -- internals

    def _on_stream(self, event) -> None:
        """subscribe_topic handler (the client's thread): hand over to the engine's thread."""
        msg = event[1] if isinstance(event, tuple | list) and len(event) == 2 else event
        if isinstance(msg, dict):
            self._stream.put(msg)

    def _collect(self) -> None:
        """Read each finished future once, release it at once, post Finished."""
        while True:
            future = self._done.get()
            if future is None:
                return
            handle = self.by_dkey.get(future.key)
            result: dict | None = None
            error: str | BaseException | None = None  # "cancelled" or the task's exception
            try:
                if future.cancelled():
                    error = "cancelled"
                else:
                    result = future.result(timeout=60)
            except Exception as exc:  # the task's error, e.g. KilledWorker
                error = exc
            finally:
                with contextlib.suppress(Exception):
                    future.release()
            if handle is None or handle.finished:
                continue
            handle.future = None
            finished = self._finished(handle, result, error)
            if error == "cancelled" and handle.cancel_reason is not None and self._had_started(handle):
                # We cancelled an attempt the runner had already started: it stops the process group
                # within its grace period. Say the task ended only then, so its slot is not reused
                # while the process still runs.
                threading.Timer(self.kill_grace + 1.0, self._post, (handle, finished)).start()
                continue
            self._post(handle, finished)

    def _post(self, handle: DaskHandle, finished: Finished) -> None:
        handle.finished = True
        self.events.put(finished)

    @staticmethod
    def _had_started(handle: DaskHandle) -> bool:
        from xxp_tui.engine.executors.dask_runner import MARKER

        return handle.start_time is not None or (Path(handle.spec.cwd) / MARKER).exists()

    def _finished(self, handle: DaskHandle, result: dict | None, error) -> Finished:
        key, reason = handle.key, handle.cancel_reason
        if isinstance(result, dict):
            handle.host = result.get("host") or handle.host
            handle.worker = result.get("worker") or handle.worker
            handle.pid = handle.pid or result.get("pid")
            handle.pgid = handle.pgid or result.get("pgid")
            handle.proc_start = handle.proc_start or result.get("proc_start")
            handle.metrics_size = int(result.get("metrics_size") or 0)
            tail = result.get("stderr_tail") or ""
            if reason is None and result.get("lost"):
                return Finished(key, None, None, result.get("reason") or self._lost(handle), tail, lost=True)
            if reason is None and result.get("cancelled"):  # released by the scheduler, not by us
                return Finished(key, None, None, f"the scheduler took it back from the worker {handle.worker} "
                                                 "(was the worker closing?)", tail, lost=True)
            if reason is None:
                reason = result.get("reason")
            return Finished(key, result.get("exit_code"), result.get("signal"), reason, tail,
                            cpu_seconds=result.get("cpu_seconds"), peak_rss_bytes=result.get("peak_rss_bytes"),
                            no_space=result.get("no_space") is True and handle.cancel_reason is None)
        if reason is not None:  # we cancelled it (or it went away meanwhile: we wanted it gone anyway)
            return Finished(key, None, None, reason, "")
        if error == "cancelled":
            return Finished(key, None, None, "was dropped by the Dask scheduler (did it restart?)", "", lost=True)
        name = type(error).__name__
        if name == "KilledWorker":
            return Finished(key, None, None, self._lost(handle, error), "", lost=True)
        if isinstance(error, ImportError) and "xxp_tui" in str(error):
            return Finished(key, None, None, "could not start: a Dask worker cannot import xxp_tui (install xxp-tui, "
                                             "the same version, on every worker)", "")
        return Finished(key, None, None, f"could not run on the Dask cluster: {name}: {_first_line(error)}", "")

    def _lost(self, handle: DaskHandle, error=None) -> str:
        worker = handle.worker
        if worker is None and error is not None:
            last = getattr(error, "last_worker", None)
            worker = getattr(last, "address", None) or (last if isinstance(last, str) else None)
        return f"the worker {worker or '(unknown)'} running it was lost"

    def _kill_on_worker(self, handle: DaskHandle) -> None:
        """Last resort for a task whose runner does not answer: kill its group through the scheduler."""
        if self.client is None or handle.pgid is None or handle.worker is None:
            return
        from xxp_tui.engine.executors.groups import kill_group_soon

        with contextlib.suppress(Exception):  # wait=False needs a coroutine function (see groups.py)
            self.client.run(kill_group_soon, handle.pgid, int(signal.SIGKILL), workers=[handle.worker], wait=False)

    def _size(self, handle: DaskHandle) -> int:
        try:
            return os.path.getsize(handle.spec.metrics_path)
        except OSError:
            return 0

    def _from_stream(self, handle: DaskHandle, start: int, data: bytes) -> list[MetricEvent]:
        events: list[MetricEvent] = []
        if start > handle.metrics_offset:  # the scheduler dropped batches: read the gap from the file
            events, _ = self._read_file(handle, start - handle.metrics_offset)
            if handle.metrics_offset != start:
                return events  # not visible here yet: the read at the end will catch up
        if start < handle.metrics_offset:
            skip = handle.metrics_offset - start
            if skip >= len(data):
                return events
            data = data[skip:]
        handle.metrics_offset += len(data)
        return events + parse_chunk(handle, data)

    def _read_file(self, handle: DaskHandle, count: int) -> tuple[list[MetricEvent], int]:
        """At most `count` bytes of the shared metrics file from the handle's offset, parsed."""
        try:
            with open(handle.spec.metrics_path, "rb") as fh:
                fh.seek(handle.metrics_offset)
                chunk = fh.read(count)
        except OSError:
            return [], 0
        handle.metrics_offset += len(chunk)
        return parse_chunk(handle, chunk), len(chunk)


def _sweep_scratch() -> None:
    """Remove the local-cluster scratch folders of engines that are gone (SIGKILLed ones)."""
    for folder in Path(tempfile.gettempdir()).glob("xxp-dask-*-*"):
        pid = folder.name.split("-")[2]
        if not pid.isdigit() or folder.stat().st_uid != os.getuid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            continue


def _first_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


def _gpus_asked(resources) -> float:
    """The GPUs a task asks for (its `resources { GPU = n; }`), 0 when none or unreadable."""
    for key, value in (resources or {}).items():
        if str(key).upper() == "GPU":
            try:
                return max(0.0, float(value))
            except (TypeError, ValueError):
                return 0.0
    return 0.0
