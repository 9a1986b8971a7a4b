"""Process groups of tasks: every task runs in its own group (its own session), so it is stopped
as a whole, with whatever it started. Standard library only: the local executor, the Dask runner on
a worker and the guard all use it."""

from __future__ import annotations

import contextlib
import os
import signal
import time


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a task's process group on this worker (the orchestrator's last resort, via Client.run)."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def end_group(pgid: int, grace: float = 1.0) -> None:
    """After a task ended: whatever it left running in its process group (a background child) is
    stopped too, SIGTERM then SIGKILL, so no process outlives its task unwatched. Standard library
    only: the local executor and the Dask runner both use it."""
    if not kill_group(pgid, signal.SIGTERM):
        return  # nothing left
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    kill_group(pgid, signal.SIGKILL)


def hold_group(pgid: int, stop: bool) -> bool:
    """Suspend (SIGSTOP) or continue (SIGCONT) a task's process group on this worker (via Client.run).
    The group's leader is the task's guard (guard.py): it is continued at once after a stop, so that
    it keeps watching its worker and still takes the held task down if the worker dies."""
    if not kill_group(pgid, signal.SIGSTOP if stop else signal.SIGCONT):
        return False
    if stop:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, signal.SIGCONT)
    return True


# `Client.run(..., wait=False)` accepts only coroutine functions (distributed asserts it on the worker):
# these run the signals above on the worker's event loop, so the orchestrator never waits for them.


async def hold_group_soon(pgid: int, stop: bool) -> bool:
    return hold_group(pgid, stop)


async def kill_group_soon(pgid: int, sig: int = signal.SIGKILL) -> bool:
    return kill_group(pgid, sig)
