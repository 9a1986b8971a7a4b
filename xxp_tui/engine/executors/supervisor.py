"""One supervisor process per engine: the parent of the engine's local tasks, which outlives it.

    python -m xxp_tui.engine.executors.supervisor --fd N

Why a process of its own: a task started by the engine dies with it, or loses its logs (its pipes
lead to a dead process) and its end (nobody waits for it). The supervisor starts each task the engine
asks for, copies its stdout and stderr to the capped log files, waits for it, and writes its exit
record (`exit.json`, see records.py) beside the task's files, then tells the engine. When the engine
dies, the supervisor carries on: the tasks run to their end, their logs and exit records are written,
and a resumed engine *adopts* them (a task still running) or *collects* them (a task that ended
meanwhile) instead of running them again. Once the engine is gone and no task is left, it exits.

One supervisor serves every task of an engine, so a task costs no interpreter start of its own.
A Python task of the engine's interpreter does not even start an interpreter: the supervisor has it forked
by its fork server (fork_server.py, fork_client.py), and the fork is re-parented to the supervisor,
so it is waited for, logged, recorded and killed like a task started with Popen.

It is the child subreaper of its tasks (`prctl(PR_SET_CHILD_SUBREAPER)`): a daemon a task starts by
double-forking and `setsid` comes back to it instead of init, and when a task ends, or is cancelled,
its whole tree goes (tree.py), not only its process group.

Protocol: JSON lines over a Unix socket pair the engine created (no name on any filesystem, so no
other user can reach it). Engine -> supervisor: `start` (key, argv, cwd, env, log paths, log limit,
grace, tag), `cancel` (key, reason: SIGTERM to the task's tree, SIGKILL after the grace), `kill`
(key: SIGKILL now), `hold` / `continue` (key: SIGSTOP / SIGCONT to the task's tree: a suspended
variant; a cancelled task is continued too, so that a held one really gets its SIGTERM).
Supervisor -> engine: `started` (key, pid), `error` (key, reason), `ended` (the exit record). The
supervisor's own escalation (SIGTERM, then SIGKILL) runs even when the engine that asked for it has
died meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from xxp_tui.engine.executors import records, tree
from xxp_tui.engine.executors.fork_client import ForkedProcess, ForkServer
from xxp_tui.engine.executors.logs import NO_SPACE, READ_SIZE, CappedLogs
from xxp_tui.engine.executors.usage import TreeUsage

LINGER = 1.0  # after a task exited: how long its children may still print before the logs close
END_GRACE = 1.0  # what a finished task left running: SIGTERM, then SIGKILL after this
SCAN_EVERY = 1.0  # how often the tasks' trees are looked at (processes that left the group are remembered)
TICK = 0.2


@dataclass
class Task:
    key: str
    cwd: str
    tag: bytes  # b"XXP_PARAMS=…": unique to this task execution, inherited by whatever it starts
    proc: subprocess.Popen | ForkedProcess
    logs: CappedLogs
    grace: float
    started: float
    pipes: dict = field(default_factory=dict)  # pipe -> "stdout" | "stderr"
    reason: str | None = None
    kill_at: float | None = None
    status: int | None = None
    rusage: object = None
    exited_at: float | None = None
    known: dict[int, int] = field(default_factory=dict)  # pid -> start time, every process seen in its tree
    usage: TreeUsage = field(default_factory=TreeUsage)  # CPU and memory of its tree, sampled at each scan

    @property
    def pid(self) -> int:
        return self.proc.pid


class Supervisor:
    def __init__(self, sock: socket.socket, forks: ForkServer | None = None) -> None:
        self.sock: socket.socket | None = sock
        self.forks = forks  # None: every task is started with Popen (no subreaper to inherit forked tasks)
        self.inbox = b""
        self.tasks: dict[str, Task] = {}
        self.by_pid: dict[int, Task] = {}
        self.ending: list[tuple[float, dict[int, int]]] = []  # (deadline, processes) finished tasks left
        self.terminate = False
        self.next_scan = 0.0
        self.sel = selectors.DefaultSelector()
        self.sel.register(sock, selectors.EVENT_READ, "engine")
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        self.sel.register(wake_r, selectors.EVENT_READ, "wake")
        self.wake_r = wake_r
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select at once when a task exits
        for sig in (signal.SIGINT, signal.SIGHUP):  # a handler, not SIG_IGN, which tasks would inherit
            signal.signal(sig, lambda *_: None)
        signal.signal(signal.SIGTERM, self._on_term)

    def _on_term(self, *_) -> None:
        self.terminate = True

    # -- the loop

    def run(self) -> None:
        while True:
            if self.terminate:  # asked to go (SIGTERM): its tasks go first, nothing outlives it unwatched
                self.terminate = False
                for task in self.tasks.values():
                    self._kill(task)
                self._engine_gone()
            for key, _ in self.sel.select(TICK):
                if key.data == "engine":
                    self._read_engine()
                elif key.data == "wake":
                    with contextlib.suppress(OSError):
                        os.read(self.wake_r, 4096)
                else:
                    self._read_pipe(key.data, key.fileobj)
            self._reap()
            now = time.monotonic()
            for task in list(self.tasks.values()):
                if task.status is not None:
                    if not task.pipes or task.exited_at is None or now - task.exited_at > LINGER:
                        self._finish(task)
                elif task.kill_at is not None and now >= task.kill_at:
                    task.known = tree.signal_task(task.pid, task.tag, signal.SIGKILL, task.known)
                    task.kill_at = now + 5.0  # repeat, rarely, while it lingers
            self._end_leftovers(now)
            if now >= self.next_scan and self.tasks:
                self.next_scan = now + SCAN_EVERY
                self._scan()
            if self.sock is None and not self.tasks and not self.ending:
                if self.forks is not None:
                    self.forks.close()
                return

    # -- the engine's side

    def _read_engine(self) -> None:
        try:
            data = self.sock.recv(1 << 20) if self.sock is not None else b""
        except OSError:
            data = b""
        if not data:
            self._engine_gone()
            return
        self.inbox += data
        *lines, self.inbox = self.inbox.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            msg = None
            try:
                msg = json.loads(line)
                self._command(msg)
            except Exception as exc:  # one bad request must not take the other tasks' supervisor down
                key = msg.get("key") if isinstance(msg, dict) else None
                self._send({"ev": "error", "key": key, "reason": f"the supervisor refused it: {exc}"})

    def _engine_gone(self) -> None:
        """The engine died or closed: its tasks run on; their records wait for the next engine."""
        if self.sock is not None:
            self.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def _send(self, message: dict) -> None:
        if self.sock is None:
            return
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            self._engine_gone()

    def _command(self, msg: dict) -> None:
        op, key = msg.get("op"), msg.get("key")
        if op == "start":
            self._start(msg)
            return
        task = self.tasks.get(key) if isinstance(key, str) else None
        if task is None:
            return
        if op == "cancel":
            self._cancel(task, msg.get("reason"))
        elif op == "kill":
            self._kill(task)
        elif op in ("hold", "continue") and task.status is None:
            sig = signal.SIGSTOP if op == "hold" else signal.SIGCONT
            task.known = tree.signal_task(task.pid, task.tag, sig, task.known)

    # -- tasks

    def _start(self, msg: dict) -> None:
        key = msg["key"]
        try:
            stdout = open(msg["stdout"], "wb", buffering=0)  # noqa: SIM115 - closed with the task's logs
            try:
                stderr = open(msg["stderr"], "wb", buffering=0)  # noqa: SIM115
            except OSError:
                stdout.close()
                raise
            try:
                proc = self._spawn(msg)
            except (OSError, ValueError, subprocess.SubprocessError):
                stdout.close()
                stderr.close()
                raise
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            self._send({"ev": "error", "key": key, "reason": f"could not start {msg['argv'][0]}: {why}",
                        "no_space": getattr(exc, "errno", None) in NO_SPACE})
            return
        tag = f"XXP_PARAMS={msg['tag']}".encode() if msg.get("tag") else b""
        task = Task(key=key, cwd=msg["cwd"], tag=tag, proc=proc,
                    logs=CappedLogs(stdout, stderr, int(msg["limit"])), grace=float(msg.get("grace", 0.5)),
                    started=time.time())
        task.pipes = {proc.stdout: "stdout", proc.stderr: "stderr"}
        for pipe in task.pipes:
            self.sel.register(pipe, selectors.EVENT_READ, task)
        self.tasks[key] = task
        self.by_pid[proc.pid] = task
        with contextlib.suppress(OSError):
            records.write_record(os.path.join(msg["cwd"], records.PROC_RECORD), {
                "key": key, "pid": proc.pid, "pgid": proc.pid, "supervisor": os.getpid(), "started": task.started,
                "forked": isinstance(proc, ForkedProcess)})
        self._send({"ev": "started", "key": key, "pid": proc.pid})

    def _spawn(self, msg: dict):
        """The task's process: forked by the fork server when the engine asks for it and the task is
        a plain start of the engine's interpreter (fork_client.py), else started with Popen."""
        if msg.get("fork") and self.forks is not None and self.forks.can_start(msg["argv"], msg["env"]):
            forked = self.forks.start(msg["argv"], msg["cwd"], msg["env"])
            if forked is not None:
                return forked
        return subprocess.Popen(
            msg["argv"], cwd=msg["cwd"], env=msg["env"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, close_fds=True,
        )

    def _read_pipe(self, task: Task, pipe) -> None:
        try:
            data = os.read(pipe.fileno(), READ_SIZE)
        except OSError:
            data = b""
        if not data:
            self._close_pipe(task, pipe)
            return
        stop = task.logs.write(task.pipes[pipe], data)
        if stop:
            self._cancel(task, stop)

    def _close_pipe(self, task: Task, pipe) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(pipe)
        pipe.close()
        task.pipes.pop(pipe, None)

    def _cancel(self, task: Task, reason: str | None) -> None:
        if task.reason is None:
            task.reason = reason
        if task.status is None and task.kill_at is None:
            task.known = tree.signal_task(task.pid, task.tag, signal.SIGTERM, task.known)
            tree.signal_processes(task.known, signal.SIGCONT)  # a held (stopped) task must see its SIGTERM
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(task.pid, signal.SIGCONT)
            task.kill_at = time.monotonic() + task.grace

    def _kill(self, task: Task) -> None:
        task.known = tree.signal_task(task.pid, task.tag, signal.SIGKILL, task.known)

    def _reap(self) -> None:
        """Wait for every child that ended: tasks, and orphans of tasks that came back to us."""
        while True:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            task = self.by_pid.get(pid)
            if task is not None and task.status is None:
                task.status, task.rusage, task.exited_at = status, rusage, time.monotonic()
                task.proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait for it again

    def _scan(self) -> None:
        """Remember the processes of each task's tree, so one that leaves it (double fork, setsid,
        a cleared environment) later is still known to be the task's."""
        leaders = {t.pid: t.key for t in self.tasks.values() if t.status is None}
        tags = {t.tag: t.key for t in self.tasks.values() if t.tag}
        for key, found in tree.owners(leaders, tags).items():
            self.tasks[key].known.update(found)
        for task in self.tasks.values():
            if task.status is None:
                task.usage.sample({task.pid, *task.known})

    def _finish(self, task: Task) -> None:
        for pipe in list(task.pipes):
            self._close_pipe(task, pipe)
        task.logs.close()
        assert task.status is not None  # only a reaped task is finished
        code = os.waitstatus_to_exitcode(task.status)
        left = {}
        if self._may_have_left(task):  # what it left running: SIGTERM now, SIGKILL after END_GRACE
            left = tree.signal_task(task.pid, task.tag, signal.SIGTERM, task.known)
            left.pop(task.pid, None)
        if left:
            self.ending.append((time.monotonic() + END_GRACE, left))
        ru = task.rusage
        cpu_seconds, peak_rss = task.usage.totals(ru)
        record = {
            "key": task.key, "pid": task.pid, "exit_code": code if code >= 0 else None,
            "signal": -code if code < 0 else None, "reason": task.reason, "stderr_tail": task.logs.stderr_tail(),
            "no_space": task.logs.no_space,
            "started": task.started, "ended": time.time(),
            "cpu_user": getattr(ru, "ru_utime", None), "cpu_system": getattr(ru, "ru_stime", None),
            "max_rss_kb": getattr(ru, "ru_maxrss", None), "cpu_seconds": cpu_seconds, "peak_rss_bytes": peak_rss,
        }
        with contextlib.suppress(OSError):
            records.write_record(os.path.join(task.cwd, records.EXIT_RECORD), record)
        del self.tasks[task.key]
        self.by_pid.pop(task.pid, None)
        self._send({"ev": "ended", **record})

    def _may_have_left(self, task: Task) -> bool:
        """Whether an ended task may have left a process: its group is not empty, or this
        supervisor has a child that is no running task (as subreaper, it inherits every orphan).
        Answered without a scan of /proc in the common case: a task that left nothing."""
        try:
            os.killpg(task.pid, 0)
            return True
        except ProcessLookupError:
            pass
        except PermissionError:
            return True
        children = tree.children()
        if children is None:
            return True
        leaders = {t.pid for t in self.tasks.values() if t.status is None}
        server = self.forks.pid if self.forks is not None else None
        return bool(children - leaders - {task.pid, server})

    def _end_leftovers(self, now: float) -> None:
        keep = []
        for deadline, left in self.ending:
            if not tree.any_alive(left):
                continue
            if now >= deadline:
                tree.signal_processes(left, signal.SIGKILL)
                continue
            keep.append((deadline, left))
        self.ending = keep


def main(argv: list[str]) -> int:
    if argv[:1] != ["--fd"] or len(argv) < 2:
        print("usage: python -m xxp_tui.engine.executors.supervisor --fd N", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(argv[1]))
    forks = ForkServer() if tree.become_subreaper() else None  # forked tasks must come back to us
    Supervisor(sock, forks).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
