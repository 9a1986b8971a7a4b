"""Runs one task command and makes sure it dies with the process that started the guard.

    python -I -S guard.py [--pid-fd N] [--parent PID] -- ARGV...

The Dask runner starts this file in a new session, so the guard leads a fresh process group. The
guard starts ARGV as its child in that same group (stdio, folder and environment are inherited),
writes the child's pid to file descriptor N, and waits for it. Every 0.2 s it also checks that its
original parent (the Dask worker process, `--parent`) is still there: if the worker died — SIGKILL, OOM, node
trouble — the guard kills its whole process group, the task and whatever it started included, so
no training process outlives its worker.

Why not `setpriv --pdeathsig KILL`: the parent-death signal fires when the *thread* that forked
exits, and Dask runs tasks on pool threads that come and go; a poll on the parent pid has no such
trap. Standard library only (not even `subprocess`), run by path with -I -S: it starts in ~10 ms.

SIGTERM/SIGINT/SIGHUP sent to the group reach the guard too: it ignores them (through a handler,
so the child does not inherit an ignored disposition) and keeps waiting; the child decides. The
guard exits like its child: the same code, or killed by the same signal.

The guard is the child subreaper of the task (tree.py, loaded by path from this folder): a daemon
the task starts by double-forking out of its session comes back to the guard instead of init. When
the child ends, whatever is left below the guard is stopped (SIGTERM, SIGKILL after a second) and
reaped before the guard exits; when the worker dies, it is killed with the group.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import types

PARENT_POLL = 0.2
END_GRACE = 1.0


def _load_tree():
    """tree.py beside this file (run with -I -S, the guard cannot import its package; exec is the
    cheapest way in, start-up time counts per task); None if it cannot be loaded."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tree.py")
    namespace: dict = {"__name__": "xxp_guard_tree"}
    try:
        with open(path, encoding="utf-8") as fh:
            exec(compile(fh.read(), path, "exec"), namespace)  # our own module, by path
    except (OSError, SyntaxError, ImportError):
        return None
    return types.SimpleNamespace(**namespace)


TREE = _load_tree()


def main(argv: list[str]) -> int:
    pid_fd, parent = None, os.getppid()
    while len(argv) >= 2 and argv[0] in ("--pid-fd", "--parent"):
        if argv[0] == "--pid-fd":
            pid_fd = int(argv[1])
            os.set_inheritable(pid_fd, False)  # the task must not hold it open
        else:
            parent = int(argv[1])  # the worker may have died before this line: compare with the pid it had
        argv = argv[2:]
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("guard: no command given", file=sys.stderr)
        return 2
    if os.getppid() != parent:
        return 1  # the worker died while the guard started: run nothing
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: None)
    if TREE is not None:
        TREE.become_subreaper()
    try:
        child = os.posix_spawnp(argv[0], argv, os.environ)
    except OSError as exc:
        _report(pid_fd, f"error {exc.strerror or exc}")
        print(f"cannot start {argv[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 127
    _report(pid_fd, str(child))
    code = _wait(child, parent)
    _end_descendants()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code if code >= 0 else 128 - code


def _wait(child: int, parent: int) -> int:
    """The child's exit code (negative: killed by that signal), checking on the parent meanwhile
    and reaping the orphans of the task that came back to the guard."""
    try:
        handle = os.pidfd_open(child)  # wakes the moment the child exits (Linux 5.3+)
    except (AttributeError, OSError):
        handle = None
    ticks = 0
    while True:
        code = _reap(child)
        if code is not None:
            return code
        if handle is not None:
            select.select([handle], [], [], PARENT_POLL)
        else:
            select.select([], [], [], PARENT_POLL / 10)
            ticks += 1
            if ticks % 10:
                continue
        if os.getppid() != parent:  # the worker is gone: take the whole tree down, the guard too
            _signal_descendants(signal.SIGKILL)
            os.killpg(0, signal.SIGKILL)


def _reap(child: int) -> int | None:
    """Reap every ended child; the task's exit code once it is among them."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        if pid == child:
            return os.waitstatus_to_exitcode(status)


def _signal_descendants(sig: int) -> dict:
    if TREE is None:
        return {}
    left = TREE.below()
    TREE.signal_processes(left, sig)
    return left


def _end_descendants() -> None:
    """The task ended: what it left below the guard (children, daemons that came back) goes too."""
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return  # no child at all: as their subreaper, nothing can be left below the guard
    left = _signal_descendants(signal.SIGTERM)
    deadline = time.monotonic() + END_GRACE
    while left and TREE.any_alive(left) and time.monotonic() < deadline:
        _reap(-1)
        time.sleep(0.02)
    if left:
        TREE.signal_processes(left, signal.SIGKILL)
    _reap(-1)


def _report(fd: int | None, text: str) -> None:
    if fd is None:
        return
    try:
        os.write(fd, text.encode() + b"\n")
    finally:
        os.close(fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
