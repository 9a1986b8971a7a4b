"""Copying a task's stdout and stderr pipes to its log files, shared by the local supervisor (many
tasks, one selector: `CappedLogs`) and the Dask runner on a worker (one task: `LogPump`); standard
library only. Each log is capped: past the limit nothing more is written (a task printing 100 MB
fills neither memory nor disk) and the caller is told once, to stop the task; a log that cannot be
written (a full disk, a quota) stops the task too, with that reason, and says so (`no_space`): that
is the machine's failure, not the task's, so the engine stops the run resumably instead of failing
the variant. The last bytes of stderr are kept for the failure's reason."""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import subprocess
from typing import IO, Any

STDERR_TAIL = 4096
READ_SIZE = 65536
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # the disk refuses more: full, or the user's quota is used up


class CappedLogs:
    """A task's two log files, each capped at `limit` bytes, and the last bytes of its stderr."""

    def __init__(self, stdout: IO[bytes], stderr: IO[bytes], limit: int) -> None:
        self.files = {"stdout": stdout, "stderr": stderr}
        self.written = {"stdout": 0, "stderr": 0}
        self.limit = limit
        self.over = False
        self.broken: set[str] = set()
        self.no_space = False  # a log could not be written because its disk is full
        self.tail = bytearray()

    def write(self, name: str, data: bytes) -> str | None:
        """Keep what fits of `data` in log `name`; the sentence to stop the task with, the first
        time a log passes the limit."""
        sink = self.files[name]
        room = self.limit - self.written[name]
        if room > 0 and name not in self.broken:
            try:
                sink.write(data[:room])
            except OSError as exc:  # a full disk, a quota: the task cannot be logged, so it is stopped
                self.broken.add(name)
                self.no_space = self.no_space or exc.errno in NO_SPACE
                return f"was stopped: {(exc.strerror or str(exc)).lower()} writing {name}.log"
        self.written[name] += len(data)
        if name == "stderr":
            self.tail.extend(data)
            del self.tail[:-STDERR_TAIL]
        if self.written[name] > self.limit and not self.over:
            self.over = True
            limit_mb = self.limit / 2**20
            with contextlib.suppress(OSError):
                sink.write(f"\n[xxp-tui: {name} passed {limit_mb:.0f} MB; the task was stopped]\n".encode())
            return f"printed more than {limit_mb:.0f} MB to {name} (the log limit); stopped"
        return None

    def stderr_tail(self) -> str:
        return bytes(self.tail).decode("utf-8", errors="replace")

    def close(self) -> None:
        for sink in self.files.values():
            with contextlib.suppress(OSError):
                sink.close()


class LogPump:
    """One task's pipes copied to its capped logs (the Dask runner: one task per pump)."""

    def __init__(self, proc: subprocess.Popen, stdout: IO[bytes], stderr: IO[bytes], limit: int) -> None:
        assert proc.stdout is not None and proc.stderr is not None  # started with both piped
        self.pipes: dict[Any, str] = {proc.stdout: "stdout", proc.stderr: "stderr"}
        self.logs = CappedLogs(stdout, stderr, limit)
        self.sel = selectors.DefaultSelector()
        for pipe in self.pipes:
            self.sel.register(pipe, selectors.EVENT_READ)

    @property
    def open(self) -> bool:
        """Some pipe is still open (the task, or a child it left, may still write)."""
        return bool(self.sel.get_map())

    def pump(self, timeout: float) -> str | None:
        """Copy what the pipes have (waiting at most `timeout`); the sentence to stop the task with,
        the first time a log passes the limit."""
        stop = None
        for key, _ in self.sel.select(timeout=timeout) if self.open else []:
            pipe = key.fileobj
            data = os.read(key.fd, READ_SIZE)
            if not data:
                self.sel.unregister(pipe)
                continue
            stop = self.logs.write(self.pipes[pipe], data) or stop
        return stop

    def stderr_tail(self) -> str:
        return self.logs.stderr_tail()

    @property
    def no_space(self) -> bool:
        return self.logs.no_space

    def close(self) -> None:
        self.sel.close()
        self.logs.close()
        for pipe in self.pipes:
            pipe.close()
