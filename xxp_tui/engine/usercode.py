"""Running the project's own Python hooks (conditions, filters, generators) without losing the engine.

They are trusted code, like the project's tasks: nothing here pretends to sandbox them. What the
engine needs is to stay itself while they run: a hook that loops for minutes must not stop the
heartbeat, nor make the engine deaf to SIGTERM and `stop`. So a hook runs in a forked child
process; the engine waits for its answer in short slices (beating, obeying signals in between)
and kills it once it passes the time limit, which fails the hook with that reason.

Where fork is not available the hook runs in-process, as before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import time
from collections.abc import Callable
from typing import Any

DEFAULT_LIMIT = 60.0  # seconds; XXP_HOOK_TIMEOUT overrides it
SLICE = 0.2


class HookError(Exception):
    """The hook raised, returned something that cannot be sent back, or ran past its limit."""


class HookInterrupted(Exception):
    """The engine was asked to stop while the hook ran; the hook was killed, nothing was decided."""


def limit() -> float:
    try:
        return float(os.environ.get("XXP_HOOK_TIMEOUT", DEFAULT_LIMIT))
    except ValueError:
        return DEFAULT_LIMIT


def call(fn: Callable[..., Any], *args: Any, what: str, while_waiting: Callable[[], bool]) -> Any:
    """`fn(*args)` in a child process; `while_waiting()` is called every slice and returns True
    when the engine must stop (the hook is then killed and HookInterrupted raised)."""
    if not hasattr(os, "fork"):
        return fn(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, send, leave without running any of the engine's cleanup
        os.close(read_fd)
        code = 0
        try:
            try:
                payload = pickle.dumps(("ok", fn(*args)))
            except BaseException as exc:
                payload = pickle.dumps(("error", f"{exc!r}"))
            with os.fdopen(write_fd, "wb") as out:
                out.write(payload)
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_fd)
    data = bytearray()
    deadline = time.monotonic() + limit()
    try:
        with os.fdopen(read_fd, "rb", buffering=0) as pipe:
            while True:
                ready, _, _ = select.select([pipe], [], [], SLICE)
                if ready:
                    chunk = pipe.read(1 << 20)
                    if not chunk:
                        break
                    data.extend(chunk)
                    continue
                if while_waiting():
                    raise HookInterrupted(what)
                if time.monotonic() > deadline:
                    raise HookError(f"{what} ran longer than {limit():g} s and was stopped")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    try:
        status, value = pickle.loads(bytes(data))
    except Exception as exc:
        raise HookError(f"{what} returned nothing usable (it exited, or its result cannot be pickled)") from exc
    if status == "error":
        raise HookError(f"{what} raised {value}")
    return value
