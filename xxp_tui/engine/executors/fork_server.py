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

`/proc/PID/cmdline` and `/proc/PID/environ` show what the kernel recorded at this server's exec, not
the task's, unless they are rewritten: the server starts with room to spare in both (a long
argument and the variable `ROOM`, see fork_client.py), and the task writes its own argv and
environment over them through /proc/self/mem (its own memory, copied on write). So `ps` shows the
task's command and, above all, the task's tree can be found by its `XXP_PARAMS` (tree.py), also a
daemon it double-forks out of its session: what kills a task's whole tree depends on it. The server
checks at start-up that it can do so, and refuses to serve otherwise (tasks then use Popen).
An environment larger than the room keeps its first variables, `XXP_PARAMS` first.

Most tasks then import json, pathlib or our sdk, which would cost as much again: the server
imports those once (warm_imports.py) and hands each to a task when the task imports it, only where
a fresh interpreter would load the same file. Before serving it freezes what it holds for the
collector (`gc.freeze`), so that a task's collections and exit never touch those pages.

What a task could still notice: the string hash seed is shared by the tasks of one server (set
PYTHONHASHSEED, or use `--no-fork-server`), its start time is when it was forked, `sys.meta_path`
starts with the warm imports' finder, `gc.get_freeze_count()` is not 0, and its resident memory
starts about 5 MB higher (the server's modules, shared with it until written).

Protocol: one SOCK_SEQPACKET message each way, `marshal`led (built in, no import). First the
server says {"ready": True} or {"error": "…"}. Then each request is {"argv", "cwd", "env"} with the
task's stdout and stderr write ends attached (SCM_RIGHTS); the reply is {"pid": N} or {"error": "…"}.
End of file on the socket: the server exits.
"""

import sys

BASELINE = frozenset(sys.modules)  # first of all: what a fresh interpreter has loaded, nothing of ours

import _socket  # noqa: E402 - built in, after BASELINE on purpose; `socket` would import enum, selectors…
import marshal  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

import warm_imports  # type: ignore[import-not-found]  # noqa: E402 - this file's folder is sys.path[0]; it imports nothing

MAX_REQUEST = 1 << 20
PARENT_WAIT = 2.0  # the task waits at most this long to be re-parented to the supervisor


class Task:
    """What the grandchild must become; returned out of the server loop, so the task runs at the
    top level of this program and ends through the interpreter's own shutdown."""

    def __init__(self, argv: list, cwd: str, env: dict, base_path: list, warm) -> None:
        self.argv, self.cwd, self.env, self.base_path, self.warm = argv, cwd, env, base_path, warm


ROOM = "XXP_FORK_ROOM"  # the variable that makes room in this server's recorded environment


def process_areas() -> tuple[tuple[int, int], tuple[int, int]]:
    """(start, end) of the argument and the environment areas /proc shows for this process."""
    with open("/proc/self/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    arg_start, arg_end, env_start, env_end = (int(x) for x in fields[45:49])  # fields 48 to 51 of proc(5)
    return (arg_start, arg_end), (env_start, env_end)


def rewrite_area(area: tuple[int, int], entries: list[bytes]) -> None:
    """Write NUL-terminated `entries` over a recorded area, as many whole ones as fit, the rest zeros."""
    start, end = area
    data = b""
    for entry in entries:
        if len(data) + len(entry) + 1 > end - start:
            break
        data += entry + b"\0"
    fd = os.open("/proc/self/mem", os.O_RDWR)
    try:
        os.pwrite(fd, data + bytes(end - start - len(data)), start)
    finally:
        os.close(fd)


def check_rewrite() -> str | None:
    """None when this process can rewrite its recorded argv and environment (with room left)."""
    try:
        args, env = process_areas()
        if os.environ.get(ROOM) is None or env[1] - env[0] < len(os.environ[ROOM]):
            return f"it was started without {ROOM}"
        fd = os.open("/proc/self/mem", os.O_RDWR)
        try:
            for start, end in (args, env):
                os.pwrite(fd, os.pread(fd, end - start, start), start)  # the same bytes: a test
        finally:
            os.close(fd)
    except (OSError, ValueError, IndexError) as exc:
        return f"it cannot rewrite /proc/self/environ ({exc})"
    return None


def serve(fd: int) -> Task | None:
    base_path = sys.path[1:]  # without this file's folder; the server runs without PYTHONPATH
    sock = _socket.socket(fileno=fd)
    refusal = check_rewrite()
    _reply(sock, {"error": refusal} if refusal else {"ready": True})
    if refusal:
        return None
    warm = warm_imports.preload(warm_imports.WARM, BASELINE | {"__main__", "warm_imports"})
    _freeze()
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
            task = Task(list(request["argv"]), str(request["cwd"]), dict(request["env"]), base_path, warm)
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
                try:
                    _become(task, fds, me)
                except (OSError, ValueError) as exc:  # its folder is gone, say: it fails as a start that failed
                    os.write(2, f"cannot start {task.argv[0]}: {getattr(exc, 'strerror', None) or exc}\n".encode())
                    os._exit(127)
                return task
            os.write(pid_w, str(grandchild).encode())
            os._exit(0)
        os.close(pid_w)
        _close(fds)
        os.waitpid(middle, 0)
        with os.fdopen(pid_r, "rb") as fh:
            text = fh.read()
        _reply(sock, {"pid": int(text)} if text.isdigit() else {"error": "fork failed"})


def _freeze() -> None:
    """Make what the server holds cost a task nothing. `gc.freeze` moves every object into the
    collector's permanent generation: a task's collections (and the last one at its exit) never
    walk them, so never write to their pages, which a fork shares until written. And an object of a
    cycle is only ever freed by the collector: the warm modules, tied into one, are never torn
    down at a task's exit either (a task that imports one tears it down, as a fresh one would)."""
    import gc

    gc.collect()
    gc.freeze()


def _received_fds(ancillary: list) -> list[int]:
    fds: list[int] = []
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
    args, env = process_areas()
    rewrite_area(args, [a.encode("utf-8", "surrogateescape") for a in task.argv])
    entries = [f"{k}={v}".encode("utf-8", "surrogateescape") for k, v in task.env.items()]
    if sum(len(e) + 1 for e in entries) > env[1] - env[0]:
        entries.sort(key=lambda e: not e.startswith(b"XXP_PARAMS="))  # too large: the tag first, it must fit
    rewrite_area(env, entries)


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
    sys.meta_path.insert(0, task.warm)  # the modules imported above, each when the task imports it
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
    import _signal  # type: ignore[import-not-found]  # the C module under signal: no stub exists
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
