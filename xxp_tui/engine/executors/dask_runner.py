"""The function a Dask worker runs for one task execution (submitted by `DaskExecutor`).

Workers need xxp-tui installed (the same version as the orchestrator); this module imports only the
standard library at load time, and `distributed` (which a worker has anyway) when it runs.

`run_task(payload)`:

1. checks that the worker sees the task's folder and params file: tasks' inputs and outputs go
   through a filesystem shared by the orchestrator and the workers; a worker that cannot see them
   says so, naming itself and the path;
2. refuses to run an attempt twice: a marker file created with O_EXCL in the attempt's folder. The
   scheduler re-runs a task whose worker died (when `allowed-failures` is above 0) or went silent
   (after `worker-ttl`); the second copy then reports the attempt as lost at once, and xxp decides
   whether to retry it as a new attempt;
3. starts the command through `guard.py` in a new session (the guard leads the process group and
   kills it if this worker dies), stdout and stderr into the task's log files (capped like the local
   executor's), keeping a bounded tail of stderr;
4. every ~0.1 s: streams new complete metric lines to the orchestrator with their byte offsets
   (`Worker.log_event`), and looks for a cancel: the attempt's `distributed.Event`, the scheduler
   having released the task (its client went away), or the worker closing. A cancel sends SIGTERM
   to the group, SIGKILL after the grace period;
5. returns exit code or signal, the reason it was stopped, the stderr tail, host, worker, pids and
   the final size of the metrics file (the orchestrator reads what the stream missed from there).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

from xxp_tui.engine.executors import tree, worker_gpus
from xxp_tui.engine.executors.groups import end_group, kill_group
from xxp_tui.engine.executors.logs import LogPump

GUARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "guard.py")
POLL = 0.1  # local checks: the process, its output, metrics to send
CANCEL_POLL = 0.5  # asking the scheduler whether the attempt was cancelled: one call per task, kept rare
METRICS_BATCH = 64 * 1024  # streamed per poll at most (the scheduler keeps 1,000 events); the rest: the shared file
MARKER = ".xxp-attempt"
SAMPLE_EVERY = 1.0  # CPU and memory of the task's tree


def shared_path_problem(worker: str, *paths: str) -> str | None:
    """None when this machine sees every path; otherwise the sentence to report."""
    for path in paths:
        if not os.path.exists(path):
            return (f"worker {worker} cannot see {path}: tasks' files must be on a filesystem shared by the "
                    "orchestrator and the workers")
    return None




def run_task(payload: dict) -> dict:
    from distributed import Event, get_worker
    from distributed.worker import thread_state

    worker = get_worker()
    dkey = getattr(thread_state, "key", None)
    host = socket.gethostname()
    out: dict = {"host": host, "worker": worker.address, "pid": None, "pgid": None, "proc_start": None,
                 "exit_code": None, "signal": None, "reason": None, "stderr_tail": "", "lost": False,
                 "cancelled": False, "metrics_size": 0, "no_space": False}
    cwd = payload["cwd"]
    problem = shared_path_problem(f"{worker.address} ({host})", cwd, payload["params_path"])
    if problem:
        out["reason"] = f"could not start: {problem}"
        return out
    try:
        fd = os.open(os.path.join(cwd, MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        out["lost"] = True
        out["reason"] = (f"the scheduler started this attempt a second time (on {worker.address}) after losing "
                         "the worker running it; xxp never runs an attempt twice")
        return out
    with os.fdopen(fd, "w") as fh:
        fh.write(f"{worker.address} {host} {os.getpid()} {time.time()}\n")
    cancel = Event(payload["cancel_event"])
    if _is_set(cancel):
        out["cancelled"] = True
        return out
    amount = float(payload.get("gpus") or 0.0)
    gpus = worker_gpus.acquire(amount, getattr(worker.state, "total_resources", None)
                               or getattr(worker, "total_resources", None))
    try:
        return _run(payload, out, worker, dkey, cancel, gpus)
    finally:
        worker_gpus.release(gpus, amount)


def _is_set(event) -> bool:
    try:
        return bool(event.is_set())
    except Exception:  # the scheduler is unreachable: the worker will learn it soon enough
        return False


def _released(worker, dkey) -> bool:
    """The scheduler let go of this task (its future was cancelled, its client disconnected), or the
    worker is closing (e.g. its batch job ends): the attempt is lost either way, so stop it now
    rather than when the worker process exits."""
    if getattr(getattr(worker, "status", None), "name", "") in ("closing", "closed", "failed"):
        return True
    if dkey is None:
        return False
    ts = worker.state.tasks.get(dkey)
    return ts is None or ts.state in ("cancelled", "released", "forgotten")


def _run(payload: dict, out: dict, worker, dkey, cancel, gpus: tuple[str, ...] = ()) -> dict:
    argv = list(payload["argv"])
    if payload.get("own_python"):
        argv[0] = sys.executable  # the orchestrator's interpreter path may not exist here
    env = {**os.environ, **payload["env"]}
    if payload.get("gpus"):  # this worker's own GPUs (worker_gpus.py), not whatever the worker itself sees
        env["CUDA_VISIBLE_DEVICES"] = out["gpus"] = ",".join(gpus)
    limit = int(payload["max_log_bytes"])
    grace = float(payload["kill_grace"])
    topic, key = payload["topic"], payload["key"]
    stdout = open(payload["stdout_path"], "wb", buffering=0)  # noqa: SIM115 - closed below
    try:
        stderr = open(payload["stderr_path"], "wb", buffering=0)  # noqa: SIM115
    except OSError:
        stdout.close()
        raise
    pid_r, pid_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", GUARD, "--pid-fd", str(pid_w), "--parent", str(os.getpid()), "--", *argv],
            cwd=payload["cwd"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True, close_fds=True, pass_fds=(pid_w,),
        )
    except OSError as exc:
        stdout.close()
        stderr.close()
        os.close(pid_r)
        out["reason"] = f"could not start on {out['worker']} ({out['host']}): {exc.strerror or exc}"
        return out
    finally:
        os.close(pid_w)
    try:  # from here on the task runs: whatever goes wrong in the runner must not leave it behind
        with os.fdopen(pid_r, "rb") as fh:
            told = fh.read().decode(errors="replace").strip()
        out["pgid"] = proc.pid
        if told.isdigit():
            out["pid"] = int(told)
            with contextlib.suppress(Exception):
                import psutil

                out["proc_start"] = psutil.Process(out["pid"]).create_time()
        elif told.startswith("error "):
            out["reason"] = f"could not start {argv[0]} on {out['worker']} ({out['host']}): {told[6:]}"
        worker.log_event(topic, {"kind": "started", "key": key, "dkey": dkey, "host": out["host"],
                                 "worker": out["worker"], "pid": out["pid"], "pgid": proc.pid,
                                 "proc_start": out["proc_start"], "gpus": out.get("gpus")})
        metrics = _MetricStream(worker, topic, key, dkey, payload["metrics_path"])
    except BaseException:
        _kill_tree(proc.pid, env)
        stdout.close()
        stderr.close()
        raise
    logs = LogPump(proc, stdout, stderr, limit)
    usage = _usage()
    next_sample = 0.0
    kill_at: float | None = None
    exited_at: float | None = None
    next_poll = next_cancel_check = 0.0

    def stop(why: str | None, cancelled: bool = False) -> None:
        nonlocal kill_at
        if kill_at is not None:
            return
        out["cancelled"] = cancelled
        if why is not None:
            out["reason"] = why
        kill_group(proc.pid, signal.SIGTERM)
        kill_group(proc.pid, signal.SIGCONT)  # a held (stopped) task must see its SIGTERM
        kill_at = time.monotonic() + grace

    try:
        while True:
            if logs.open:
                over = logs.pump(timeout=POLL)
                if over:
                    stop(over)
            else:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=POLL)  # output closed: the task is ending, or runs on without it
            now = time.monotonic()
            if proc.poll() is not None:
                # Grandchildren may keep the pipes open: give them a moment, then stop reading.
                exited_at = exited_at or now
                if not logs.open or now - exited_at > 1.0:
                    break
            if usage is not None and now >= next_sample:
                next_sample = now + SAMPLE_EVERY
                usage.sample({proc.pid, *tree.descendants({proc.pid}, tree.process_table())})
            if now >= next_poll:
                next_poll = now + POLL
                metrics.send()
                asked = now >= next_cancel_check
                if asked:
                    next_cancel_check = now + CANCEL_POLL
                if kill_at is None and ((asked and _is_set(cancel)) or _released(worker, dkey)):
                    stop(None, cancelled=True)
            if kill_at is not None and now >= kill_at:
                _kill_tree(proc.pid, env)
                kill_at = now + 5.0
    except BaseException:  # the runner itself failed: the task must not outlive it
        _kill_tree(proc.pid, env)
        raise
    finally:
        logs.close()
    rc = proc.wait()
    end_group(proc.pid)  # the guard led the group: anything the task left behind goes with it
    metrics.send()
    out["metrics_size"] = metrics.size()
    out["exit_code"], out["signal"] = (None, -rc) if rc < 0 else (rc, None)
    out["stderr_tail"] = logs.stderr_tail()
    out["no_space"] = logs.no_space
    if usage is not None:
        out["cpu_seconds"], out["peak_rss_bytes"] = usage.totals()
    return out


def _usage():
    """The task tree's CPU and memory sampler (executors/usage.py, which needs psutil), None without psutil."""
    try:
        from xxp_tui.engine.executors.usage import TreeUsage
    except ImportError:
        return None
    return TreeUsage()


def _kill_tree(guard: int, env: dict) -> None:
    """SIGKILL the task's whole tree: the guard's group and every process below the guard (a daemon
    that left the group came back to the guard, its subreaper), found before any of them dies."""
    params = env.get("XXP_PARAMS")
    tree.kill_task(guard, f"XXP_PARAMS={params}".encode() if params else None, under=guard)


class _MetricStream:
    """Sends the complete lines appended to the task's metrics file, each batch with its byte offset."""

    def __init__(self, worker, topic: str, key: str, dkey, path: str) -> None:
        self.worker, self.topic, self.key, self.dkey, self.path = worker, topic, key, dkey, path
        self.offset = 0

    def send(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(METRICS_BATCH)
        except OSError:
            return
        end = chunk.rfind(b"\n")
        if end < 0:
            if len(chunk) >= METRICS_BATCH:  # one line longer than a batch: step over it; the
                self._skip_line()            # orchestrator reads the gap from the shared file
            return
        data = chunk[: end + 1]
        self.worker.log_event(self.topic, {"kind": "metrics", "key": self.key, "dkey": self.dkey,
                                           "start": self.offset, "data": data})
        self.offset += len(data)

    def _skip_line(self) -> None:
        """Move past the end of the over-long line at the offset, once it has one."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                position = self.offset
                while chunk := fh.read(METRICS_BATCH):
                    end = chunk.find(b"\n")
                    if end >= 0:
                        self.offset = position + end + 1
                        return
                    position += len(chunk)
        except OSError:
            return

    def size(self) -> int:
        try:
            return os.path.getsize(self.path)
        except OSError:
            return 0
