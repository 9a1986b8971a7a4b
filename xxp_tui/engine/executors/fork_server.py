"""A warm interpreter for Python tasks: forks a fresh task process per request (Linux).

    python fork_server.py --fd N        (run by path, by the supervisor: see fork_client.py)

Why: a trivial Python task spends most of its cost starting an interpreter (~20 ms of CPU: exec,
dynamic loading, `site`, encodings). This process has started once, has imported nothing but what
every fresh interpreter has (`BASELINE`, taken before anything else; the rest it needs is built in),
and forks. The fork becomes the task exactly as `python SCRIPT ARGS…` or `python -c CODE ARGS…`
started by the supervisor would be: its own session and process group, the task's folder,
environment (`os.environ`), `sys.argv`, `sys.orig_argv` and `sys.path` as that interpreter would
compute them, stdin on /dev/null, stdout and stderr on the supervisor's pipes (so the logs stay
capped), every other descriptor closed, a fresh `__main__` module, no module loaded that a fresh
interpreter would not have, and the signal dispositions a fresh interpreter has (this process
changes none: it was started exactly like a task). It ends the way such an interpreter ends: the
same traceback for an uncaught exception, exit status 1 (SystemExit's code; killed by SIGINT for a
KeyboardInterrupt), atexit handlers and non-daemon threads run.

It forks twice and the middle process exits at once: the task is then re-parented to the
supervisor, the child subreaper of everything below it, which waits for it (exit status, resource
usage) and owns its tree as it owns a task it started with `Popen`; so a task started here is
adopted after an engine's SIGKILL like any other.

What a task could still notice: `/proc/self/cmdline` and `/proc/self/environ` show this server's
(the C library's environment, `os.environ` and child processes are the task's), and the string hash
seed is shared by the tasks of one server (set PYTHONHASHSEED, or use `--no-fork-server`).

Protocol: one request per SOCK_SEQPACKET message, `marshal`led (built in, no import):
{"argv", "cwd", "env"} with the task's stdout and stderr write ends attached (SCM_RIGHTS). The
reply is {"pid": N} or {"error": "…"}. End of file on the socket: the server exits.
"""

import sys

BASELINE = frozenset(sys.modules)  # first of all: what a fresh interpreter has loaded, nothing of ours

import _socket  # noqa: E402 - built in, after BASELINE on purpose; `socket` would import enum, selectors…
import marshal  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

MAX_REQUEST = 1 << 20
PARENT_WAIT = 2.0  # the task waits at most this long to be re-parented to the supervisor


class Task:
    """What the grandchild must become; returned out of the server loop, so the task runs at the
    top level of this program and ends through the interpreter's own shutdown."""

    def __init__(self, argv: list, cwd: str, env: dict, base_path: list) -> None:
        self.argv, self.cwd, self.env, self.base_path = argv, cwd, env, base_path


def serve(fd: int) -> Task | None:
    base_path = sys.path[1:]  # without this file's folder; the server runs without PYTHONPATH
    sock = _socket.socket(fileno=fd)
    while True:
        try:
            data, ancillary, _, _ = sock.recvmsg(MAX_REQUEST, _socket.CMSG_SPACE(2 * 4))
        except InterruptedError:
            continue
        except OSError:
            return None
        if not data:
            return None  # the supervisor closed or died
        fds = _received_fds(ancillary)
        try:
            request = marshal.loads(data)
            if len(fds) != 2:
                raise ValueError("expected the task's stdout and stderr")
            task = Task(list(request["argv"]), str(request["cwd"]), dict(request["env"]), base_path)
        except Exception as exc:  # a malformed request is refused, the server goes on
            _close(fds)
            _reply(sock, {"error": f"bad request: {exc}"})
            continue
        pid_r, pid_w = os.pipe()
        try:
            middle = os.fork()
        except OSError as exc:
            _close([*fds, pid_r, pid_w])
            _reply(sock, {"error": f"fork failed: {exc.strerror or exc}"})
            continue
        if middle == 0:
            os.close(pid_r)
            me = os.getpid()
            try:
                grandchild = os.fork()
            except OSError:
                os._exit(1)
            if grandchild == 0:  # the task
                os.close(pid_w)
                sock.close()
                _become(task, fds, me)
                return task
            os.write(pid_w, str(grandchild).encode())
            os._exit(0)
        os.close(pid_w)
        _close(fds)
        os.waitpid(middle, 0)
        with os.fdopen(pid_r, "rb") as fh:
            text = fh.read()
        _reply(sock, {"pid": int(text)} if text.isdigit() else {"error": "fork failed"})


def _received_fds(ancillary: list) -> list[int]:
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % 4
            fds.extend(int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True) for i in range(0, usable, 4))
    return fds


def _close(fds: list[int]) -> None:
    for fd in fds:
        try:  # noqa: SIM105 - no contextlib: the server imports nothing a fresh interpreter lacks
            os.close(fd)
        except OSError:
            pass


def _reply(sock, message: dict) -> None:
    try:  # noqa: SIM105
        sock.send(marshal.dumps(message))
    except OSError:
        pass


def _become(task: Task, fds: list[int], middle: int) -> None:
    """Process-level state: session, descriptors, folder, environment."""
    os.setsid()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(fds[0], 1)
    os.dup2(fds[1], 2)
    _close_from(3)
    deadline = time.monotonic() + PARENT_WAIT
    while os.getppid() == middle and time.monotonic() < deadline:
        time.sleep(0.0002)  # the middle process is exiting: the supervisor becomes the parent
    os.chdir(task.cwd)
    os.environ.clear()
    os.environ.update(task.env)


def _close_from(lowest: int) -> None:
    """Close every descriptor from `lowest` up, as Popen's close_fds does."""
    try:
        fds = [int(name) for name in os.listdir("/proc/self/fd")]
    except OSError:
        os.closerange(lowest, 65536)
        return
    _close([fd for fd in fds if fd >= lowest])


def _task_path(task: Task) -> list:
    """sys.path as `python ARGV…` would start with it in the task's folder and environment."""
    if task.argv[1] == "-c":
        first = ""
    else:
        first = os.path.dirname(os.path.realpath(task.argv[1]))
    extra = [os.path.abspath(p) for p in task.env.get("PYTHONPATH", "").split(os.pathsep)] \
        if task.env.get("PYTHONPATH") else []
    return [first, *extra, *task.base_path]


def run(task: Task) -> None:
    """Become the interpreter of the task and run it as `__main__`."""
    import builtins

    for name in [m for m in sys.modules if m not in BASELINE]:
        del sys.modules[name]
    sys.path[:] = _task_path(task)
    sys.path_importer_cache.clear()
    sys.orig_argv = list(task.argv)
    main = type(sys)("__main__")
    scope = main.__dict__
    scope.update({"__doc__": None, "__package__": None, "__spec__": None, "__annotations__": {}})
    if task.argv[1] == "-c":
        sys.argv = ["-c", *task.argv[3:]]
        source, filename = task.argv[2], "<string>"
        scope["__loader__"] = _frozen_loader()
    else:
        script = task.argv[1]
        sys.argv = task.argv[1:]
        filename = os.path.abspath(script)
        try:
            with open(script, "rb") as fh:
                source = fh.read()
        except OSError as exc:
            sys.stderr.write(f"{sys.executable}: can't open file {filename!r}: [Errno {exc.errno}] {exc.strerror}\n")
            sys.exit(2)
        scope["__loader__"] = _source_loader(filename)
        scope["__file__"] = filename
        scope["__cached__"] = None
    scope["__builtins__"] = builtins
    sys.modules["__main__"] = main
    try:
        code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, scope)
    except SystemExit:
        raise  # the interpreter's own handling: its code, or its message on stderr and 1
    except BaseException as exc:  # as the interpreter reports an uncaught exception
        tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
        exc.__traceback__ = tb
        sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
        sys.excepthook(type(exc), exc, tb)
        if isinstance(exc, KeyboardInterrupt):
            _die_of_sigint()
        sys.exit(1)


def _frozen_loader():
    return sys.modules["_frozen_importlib"].BuiltinImporter


def _source_loader(path: str):
    return sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", path)


def _die_of_sigint() -> None:
    """An uncaught KeyboardInterrupt: the interpreter shuts down, then kills itself with SIGINT."""
    import _signal
    import atexit

    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:  # noqa: SIM105
            stream.flush()
        except Exception:
            pass
    _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    os.kill(os.getpid(), _signal.SIGINT)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--fd"] or len(sys.argv) < 3:
        sys.stderr.write("usage: python fork_server.py --fd N\n")
        sys.exit(2)
    _task = serve(int(sys.argv[2]))
    if _task is None:
        sys.exit(0)
    run(_task)
