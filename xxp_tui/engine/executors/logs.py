"""Copying a task's stdout and stderr pipes to its log files, shared by the local executor and the
Dask runner on a worker (standard library only). Each log is capped: past the limit nothing more is
written (a task printing 100 MB fills neither memory nor disk) and the caller is told once, to stop
the task. The last bytes of stderr are kept for the failure's reason."""

from __future__ import annotations

import contextlib
import os
import selectors
import subprocess
from typing import IO

STDERR_TAIL = 4096
READ_SIZE = 65536


class LogPump:
    def __init__(self, proc: subprocess.Popen, stdout: IO[bytes], stderr: IO[bytes], limit: int) -> None:
        self.sinks = {proc.stdout: ("stdout", stdout), proc.stderr: ("stderr", stderr)}
        self.written = {"stdout": 0, "stderr": 0}
        self.limit = limit
        self.over = False
        self.failed: dict[str, str] = {}  # log -> why it cannot be written
        self.tail = bytearray()
        self.sel = selectors.DefaultSelector()
        for pipe in self.sinks:
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
            data = os.read(pipe.fileno(), READ_SIZE)
            name, sink = self.sinks[pipe]
            if not data:
                self.sel.unregister(pipe)
                continue
            room = self.limit - self.written[name]
            if room > 0:
                stop = self._write(name, sink, data[:room]) or stop
            self.written[name] += len(data)
            if name == "stderr":
                self.tail.extend(data)
                del self.tail[:-STDERR_TAIL]
            if self.written[name] > self.limit and not self.over:
                self.over = True
                limit_mb = self.limit / 2**20
                note = f"\n[xxp-tui: {name} passed {limit_mb:.0f} MB; the task was stopped]\n"
                self._write(name, sink, note.encode())
                stop = stop or f"printed more than {limit_mb:.0f} MB to {name} (the log limit); stopped"
        return stop

    def _write(self, name: str, sink: IO[bytes], data: bytes) -> str | None:
        """Write to a log; when the disk refuses (ENOSPC, EDQUOT on a quota'd home, EIO), the
        sentence to stop the task with, once: its output can no longer be kept. The pipes are
        still drained, so the task is never blocked on a full pipe while it is being stopped."""
        if name in self.failed:
            return None
        try:
            sink.write(data)
        except OSError as exc:
            why = (exc.strerror or str(exc)).lower()
            self.failed[name] = why
            return f"was stopped: {why} writing {name}.log"
        return None

    def stderr_tail(self) -> str:
        return bytes(self.tail).decode("utf-8", errors="replace")

    def close(self) -> None:
        self.sel.close()
        for pipe, (_, sink) in self.sinks.items():
            with contextlib.suppress(OSError):  # a full disk may refuse the last flush too
                sink.close()
            pipe.close()
