"""The supervisor's side of the fork server (fork_server.py): which tasks it may start, and asking it.

A task goes to the fork server only when a fresh `python …` could not have started differently:
its argv is the engine's own interpreter running a script or `-c` code with no interpreter option,
and every variable of its environment that an interpreter reads while starting (PYTHON* but
PYTHONPATH, which the fork honours; locale, HOME for the user site, TZ…) has the value the server
started with. Anything else (a shell script, a task's own environment, an option such as `-X`)
is started with `Popen` as before, and so is every task once the server has failed.

The setting (`fork_server_enabled`): `run --no-fork-server` turns it off for a run; otherwise the
environment variable XXP_FORK_SERVER (0 or 1) of the engine decides, else `DEFAULT`.
"""

from __future__ import annotations

import contextlib
import errno
import marshal
import os
import select
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO

DEFAULT = True
ENV_SWITCH = "XXP_FORK_SERVER"
SERVER = Path(__file__).with_name("fork_server.py")
REPLY_TIMEOUT = 10.0  # a healthy server answers in about a millisecond
MAX_STARTS = 3  # the server is started again after a failure, this many times at most
ARGV_ROOM = 4096  # bytes: a task's argv longer than this shows cut in /proc/PID/cmdline
ENV_ROOM = 65536  # bytes: a task environment larger than this keeps its first variables in /proc/PID/environ
ROOM_VARIABLE = "XXP_FORK_ROOM"
RETRY = -1
STARTUP_NAMES = frozenset({"HOME", "TZ", "LANG", "LANGUAGE", "SETUPTOOLS_USE_DISTUTILS"})


def fork_server_enabled(settings: dict, environ: dict | None = None) -> bool:
    """Whether a run's engine starts its Python tasks through a fork server."""
    if settings.get("no_fork_server"):
        return False
    value = (os.environ if environ is None else environ).get(ENV_SWITCH, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return DEFAULT


def configure(executor, settings: dict) -> None:
    """The engine's hook: an executor with a fork server (the local one) follows the run's setting."""
    if hasattr(executor, "fork_server"):
        executor.fork_server = fork_server_enabled(settings)


def startup_environment(env: dict) -> dict:
    """The part of an environment an interpreter reads while it starts (besides PYTHONPATH)."""
    return {k: v for k, v in env.items()
            if (k.startswith("PYTHON") and k != "PYTHONPATH") or k.startswith("LC_") or k in STARTUP_NAMES}


def server_environment(env: dict) -> dict:
    """The server's environment: the supervisor's, without PYTHONPATH (each task brings its own)
    and unbuffered like every task the engine prepares (taskspec.prepare)."""
    out = {k: v for k, v in env.items() if k != "PYTHONPATH"}
    out["PYTHONUNBUFFERED"] = "1"
    return out


def server_argv(fd: int) -> list[str]:
    """The server's command line, with room for a task's (fork_server.rewrite_area)."""
    return [sys.executable, str(SERVER), "--fd", str(fd), "--room", "-" * ARGV_ROOM]


def eligible(argv: list[str], env: dict, server_env: dict) -> bool:
    """Whether `argv` run in `env` is a plain start of the engine's interpreter the fork can replace."""
    if len(argv) < 2 or argv[0] != sys.executable:
        return False
    if argv[1] == "-c":
        if len(argv) < 3:
            return False
    elif argv[1].startswith("-") or not argv[1].endswith(".py"):
        return False
    return startup_environment(env) == startup_environment(server_env)


@dataclass
class ForkedProcess:
    """What the supervisor needs of a task process: like the Popen it replaces (pid, pipes, returncode)."""

    pid: int
    stdout: IO[bytes]
    stderr: IO[bytes]
    returncode: int | None = None


class ForkServer:
    """One fork server, the supervisor's child, started on the first task it can take."""

    def __init__(self, environ: dict | None = None) -> None:
        self.env = server_environment(dict(os.environ if environ is None else environ))
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        self.starts = 0
        self.failure: str | None = None  # why it is not used any more

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def can_start(self, argv: list[str], env: dict) -> bool:
        return self.failure is None and eligible(argv, env, self.env)

    def start(self, argv: list[str], cwd: str, env: dict) -> ForkedProcess | None:
        """Start the task through the server; None when the server cannot (the caller uses Popen).
        Raises OSError when the server died after it had the request: the task may have started,
        so starting it again with Popen could run it twice."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        pid = None
        try:
            request = {"argv": list(argv), "cwd": cwd, "env": dict(env)}
            for _ in range(2):  # a server found dead before it had the request is replaced once
                if self.sock is None and not self._launch():
                    break
                pid = self._ask(request, [out_w, err_w])
                if pid != RETRY:
                    break
            pid = pid if isinstance(pid, int) and pid > 0 else None
        finally:
            os.close(out_w)
            os.close(err_w)
            if pid is None:
                os.close(out_r)
                os.close(err_r)
        if pid is None:
            return None
        return ForkedProcess(pid, os.fdopen(out_r, "rb", buffering=0), os.fdopen(err_r, "rb", buffering=0))

    def _launch(self) -> bool:
        if self.starts >= MAX_STARTS:
            self.failure = self.failure or "it failed too often"
            return False
        self.starts += 1
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen(
                server_argv(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={**self.env, ROOM_VARIABLE: "-" * ENV_ROOM}, close_fds=True,
            )
        except OSError as exc:
            mine.close()
            self.failure = f"it could not be started ({exc.strerror or exc})"
            return False
        finally:
            theirs.close()
        self.sock = mine
        hello = self._receive()
        if not (isinstance(hello, dict) and hello.get("ready")):
            why = hello.get("error") if isinstance(hello, dict) else None
            self.close(wait=0.5)
            self.failure = why or "it did not start"
            return False
        return True

    def _receive(self):
        """The server's next message, or None when it does not come."""
        try:
            ready, _, _ = select.select([self.sock], [], [], REPLY_TIMEOUT)
            data = self.sock.recv(1 << 16) if ready else b""
            return marshal.loads(data) if data else None
        except (OSError, EOFError, ValueError, TypeError):
            return None

    def _ask(self, request: dict, fds: list[int]) -> int | None:
        """Send one request, wait for its reply: the new task's pid, None (refused: Popen takes it)
        or RETRY (the server was gone before it had the request)."""
        assert self.sock is not None  # _ask follows a launch that set it
        try:
            self.sock.sendmsg([marshal.dumps(request)], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _pack(fds))])
        except OSError as exc:
            if exc.errno == errno.EMSGSIZE:
                return None  # this request only (an enormous environment): Popen takes it
            self._drop()
            return RETRY
        reply = self._receive()
        if reply is None:
            self._drop()
            raise OSError("its fork server died while starting it")
        pid = reply.get("pid") if isinstance(reply, dict) else None
        return pid if isinstance(pid, int) and pid > 0 else None

    def _drop(self) -> None:
        """The server died or hangs: it goes; the next task starts a new one (up to MAX_STARTS)."""
        self.close(wait=0.5)

    def close(self, wait: float = 2.0) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None
        if self.proc is not None:
            try:
                self.proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=wait)
            self.proc = None


def _pack(fds: list[int]) -> bytes:
    return b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
