"""Per-task Python environments: `venv "Task/requirements.txt"; python_version "3.9";` in a task.xxp.

A task that declares them runs with its own interpreter instead of the engine's:

- `python_version "X.Y"` picks an installed interpreter of that version: the engine's own when it
  matches, else `pythonX.Y` on PATH, else one of pyenv's. Each candidate is run once to ask its
  version, since a PATH entry may be a shim that only fails (pyenv's do for versions not selected).
  Nothing is downloaded. When none is installed the task runs with the engine's interpreter and the
  run records a warning; `--strict-task-envs` makes that a failure of the task instead.
- `venv "req.txt"` builds a virtual environment from that interpreter with the requirements
  installed (`uv` when it is on PATH, else `venv` + pip, which honours the user's pip configuration),
  once: it is kept under the user's cache folder (`~/.cache/xxp-tui/envs/`, private, 0700), named by
  a hash of the requirements (and of the local files they name) and of the interpreter. That hash
  also goes into the task's cache key and its task run row, so a changed requirement re-runs the task.
- Two tasks that need the same environment at once build it once: within an engine the builds are
  keyed by hash, and across engines a file lock serialises them (the second finds it ready). A build
  is marked complete only at its end, so one cut short is rebuilt, never used half-made.

The task's interpreter still runs our shim and sdk (stdlib only): the folder holding the `xxp_tui`
package goes on its PYTHONPATH through a private link folder, so xxp-tui is never installed into a
task's environment and the engine's other packages do not leak into it.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xxp_tui.engine.hashing import file_sha256, tree_sha256
from xxp_tui.lang.model import TaskSignature

ENV_FORMAT = "xxp-env-1"  # bump when the layout of a built environment changes
READY_MARK = "xxp-env.json"  # written last: its presence means the environment is complete
BUILD_TIMEOUT = 1800.0  # a pip install that hangs this long will not finish
PROBE_TIMEOUT = 15.0


class TaskEnvError(Exception):
    """The task cannot get its environment; the message is the task's failure reason."""


def cache_root() -> Path:
    """`~/.cache/xxp-tui` (or `$XDG_CACHE_HOME/xxp-tui`), the folder the grammar tables use too."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "xxp-tui"


def private_folder(path: Path) -> Path:
    """Make `path` (and missing parents) and keep it 0700: environments hold code that tasks run."""
    for missing in reversed([p for p in (path, *path.parents) if not p.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)  # each level: mkdir(parents=True) gives parents the umask's
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o700)
    return path


# ---------------------------------------------------------------------- interpreters


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: tuple[int, int, int]

    @property
    def short(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def full(self) -> str:
        return ".".join(map(str, self.version))


def engine_interpreter() -> Interpreter:
    major, minor, micro = sys.version_info[:3]
    return Interpreter(sys.executable, (major, minor, micro))


def wanted_version(raw: str) -> tuple[int, int]:
    """`"3.9"`, `3.9` or `"3.9.18"` -> (3, 9); anything else is the task's failure reason."""
    match = re.fullmatch(r"\s*(\d+)\.(\d+)(\.\d+)?\s*", str(raw))
    if not match:
        raise TaskEnvError(f'python_version "{raw}" is not a version such as "3.9"')
    return int(match[1]), int(match[2])


@functools.cache
def probe(path: str) -> tuple[int, int, int] | None:
    """The version an interpreter reports when run, or None if it does not run (a shim that fails)."""
    try:
        out = subprocess.run([path, "-c", "import sys; print(*sys.version_info[:3])"], capture_output=True,
                             text=True, timeout=PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 3 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1]), int(parts[2])


def _candidates(major: int, minor: int) -> list[Path]:
    """Where an interpreter of that version may be: each PATH folder, then pyenv's versions."""
    name = f"python{major}.{minor}"
    found = [Path(folder) / name for folder in os.environ.get("PATH", "").split(os.pathsep) if folder]
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv") / "versions"
    with contextlib.suppress(OSError):
        found += sorted((v / "bin" / name for v in pyenv.iterdir()), reverse=True)
    return [p for p in found if p.is_file() and os.access(p, os.X_OK)]


@functools.cache
def find_interpreter(major: int, minor: int) -> Interpreter | None:
    """An installed interpreter of version major.minor (the engine's own first), or None."""
    own = engine_interpreter()
    if own.version[:2] == (major, minor):
        return own
    for path in _candidates(major, minor):
        version = probe(str(path))
        if version is not None and version[:2] == (major, minor):
            return Interpreter(str(path), version)
    return None


# ---------------------------------------------------------------------- plans


@dataclass(frozen=True)
class EnvPlan:
    """What a task runs with: `python`, and the environment to build first when `folder` is set."""

    hash: str  # into the task's cache key and its task run row
    python: str  # the interpreter the task is started with
    base: Interpreter  # the interpreter the environment is made from
    requirements: Path | None = None
    folder: Path | None = None  # the environment (None: the base interpreter itself, nothing to build)
    warning: str | None = None  # the wanted Python is not installed; the engine's is used

    @property
    def label(self) -> str:
        return f"env {self.hash[:12]}"

    def ready(self) -> bool:
        return self.folder is None or (self.folder / READY_MARK).is_file()


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogatepass") + b"\0")
    return h.hexdigest()


def _local_files(requirements: Path, text: str) -> list[str]:
    """Digests of local files and folders the requirements name (`./pkg`, `wheels/x.whl`): their
    content changes what gets installed although the requirements text stays the same."""
    parts = []
    for line in text.splitlines():
        item = line.split(" #", 1)[0].strip()
        option, _, rest = item.partition(" ")
        if option in ("-e", "--editable", "-r", "--requirement", "-c", "--constraint"):
            item = rest.strip()  # a local package, or another requirements file: their content counts
        if not item or item.startswith(("#", "-")):
            continue
        if option in ("-r", "--requirement", "-c", "--constraint"):
            path = requirements.parent / item
            if path.is_file():
                parts.append(f"{item}:{file_sha256(path)}")
            continue
        item = item.removeprefix("file://")
        if not (item.startswith((".", "/", "~")) or item.endswith((".whl", ".tar.gz", ".zip"))):
            continue
        path = Path(item).expanduser()
        path = path if path.is_absolute() else requirements.parent / path
        if path.is_file():
            parts.append(f"{item}:{file_sha256(path)}")
        elif path.is_dir():
            parts.append(f"{item}:{tree_sha256(path)[0]}")
    return parts


def plan(sig: TaskSignature, *, strict: bool, root: Path | None = None) -> EnvPlan | None:
    """The environment a task declares, or None when it declares none (it runs as any task).
    Raises TaskEnvError with the reason when it cannot be had."""
    if sig.venv is None and sig.python_version is None:
        return None
    base, warning = engine_interpreter(), None
    if sig.python_version is not None:
        major, minor = wanted_version(sig.python_version)
        found = find_interpreter(major, minor)
        if found is not None:
            base = found
        else:
            missing = (f"task {sig.name} asks for Python {major}.{minor}, which is not installed here "
                       f"(no python{major}.{minor} on PATH or in pyenv)")
            if strict:
                raise TaskEnvError(f"{missing}; --strict-task-envs forbids running it with another")
            warning = f"{missing}: it runs with the engine's Python {base.short} instead"
    if sig.venv is None:
        return EnvPlan(_digest(ENV_FORMAT, "interpreter", os.path.realpath(base.path), base.full),
                       base.path, base, warning=warning)
    if sig.venv_file is None:
        raise TaskEnvError(f'task {sig.name}: its requirements file "{sig.venv}" was not found')
    try:
        text = sig.venv_file.read_text(encoding="utf-8")
        local = _local_files(sig.venv_file, text)
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskEnvError(f"task {sig.name}: cannot read {sig.venv_file}: {exc}") from exc
    digest = _digest(ENV_FORMAT, os.path.realpath(base.path), base.full, text, *local)
    folder = (root or cache_root() / "envs") / digest[:24]
    return EnvPlan(digest, str(folder / "bin" / "python"), base, sig.venv_file, folder, warning)


# ---------------------------------------------------------------------- building


def _tool() -> str:
    """`uv` when installed; else the engine's own pip driving the new environment (`pip --python`,
    pip 22.3+), which spares installing pip into every environment (seconds each); else the
    environment's own pip."""
    if shutil.which("uv"):
        return "uv"
    try:
        import pip
    except ImportError:
        return "venv-pip"
    major, minor = (int(x) for x in re.findall(r"\d+", pip.__version__)[:2])
    return "engine-pip" if (major, minor) >= (22, 3) else "venv-pip"


def _run(argv: list[str], log, lock_fd: int, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run one build step. The step inherits the lock: if the engine dies meanwhile, the lock stays
    held until the step ends too, so the next builder never removes a folder pip still writes."""
    log.write(f"$ {' '.join(argv)}\n")
    log.flush()
    done = subprocess.run(argv, cwd=cwd, stdout=log, stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL, pass_fds=(lock_fd,))
    log.write(done.stderr)
    log.flush()
    return done


def _last_error(stderr: str) -> str:
    """The line of pip's (or uv's) complaint that says what went wrong."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        if line.startswith("ERROR:") or line.startswith("error:"):
            return line
    return lines[-1] if lines else "no message"


def build(env: EnvPlan) -> str:
    """Build `env` unless it is ready; returns "built" or "ready" (another process built it meanwhile).
    Raises TaskEnvError with the reason. Safe to call from several threads and processes at once."""
    if env.folder is None or env.requirements is None:
        return "ready"
    root = private_folder(env.folder.parent)
    with open(root / f"{env.folder.name}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a build in another engine holds it until it ends
        try:
            if env.ready():
                return "ready"
            _build_locked(env, root / f"{env.folder.name}.log", lock.fileno())
            return "built"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_locked(env: EnvPlan, log_path: Path, lock_fd: int) -> None:
    folder, requirements = env.folder, env.requirements
    assert folder is not None and requirements is not None
    if folder.exists():
        shutil.rmtree(folder)  # a build cut short: never used half-made
    started = time.time()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as log:
        tool = _tool()
        try:
            if tool == "uv":
                made = _run(["uv", "venv", "--python", env.base.path, str(folder)], log, lock_fd)
            elif tool == "engine-pip":
                made = _run([env.base.path, "-m", "venv", "--without-pip", str(folder)], log, lock_fd)
            else:
                made = _run([env.base.path, "-m", "venv", str(folder)], log, lock_fd)
            if made.returncode != 0:
                raise TaskEnvError(f"making the environment with Python {env.base.short} failed: "
                                   f"{_last_error(made.stderr)} (log: {log_path})")
            if tool == "uv":
                argv = ["uv", "pip", "install", "--python", env.python, "-r", str(requirements)]
            elif tool == "engine-pip":
                argv = [sys.executable, "-m", "pip", "--python", env.python, "install", "--disable-pip-version-check",
                        "-r", str(requirements)]
            else:
                argv = [env.python, "-m", "pip", "install", "--disable-pip-version-check", "-r", str(requirements)]
            installed = _run(argv, log, lock_fd, cwd=requirements.parent)  # `./pkg` is relative to the requirements
            if installed.returncode != 0:
                raise TaskEnvError(f"installing {requirements.name} failed: {_last_error(installed.stderr)} "
                                   f"(log: {log_path})")
        except subprocess.TimeoutExpired as exc:
            raise TaskEnvError(f"building the environment took more than {BUILD_TIMEOUT:.0f} s") from exc
        except OSError as exc:
            raise TaskEnvError(f"building the environment failed: {exc}") from exc
    mark = {"hash": env.hash, "python": env.base.path, "version": env.base.full, "requirements": str(requirements),
            "tool": tool, "built": time.time(), "seconds": round(time.time() - started, 2)}
    (folder / READY_MARK).write_text(json.dumps(mark, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------- the engine's view


@dataclass(frozen=True)
class EnvBuilt:
    """Posted to the engine's event queue when a build ends (error None: it is ready)."""

    hash: str
    seconds: float
    error: str | None = None
    outcome: str = "built"


@functools.cache
def sdk_path() -> str:
    """A private folder holding only a link to the `xxp_tui` package: on a task interpreter's
    PYTHONPATH it gives the shim and the sdk, and nothing else the engine has installed."""
    package = Path(__file__).resolve().parents[1]
    folder = private_folder(cache_root() / "sdk" / _digest(str(package))[:16])
    link = folder / "xxp_tui"
    if not link.is_symlink() or link.resolve() != package:
        tmp = folder / f"xxp_tui.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(package, target_is_directory=True)
        tmp.replace(link)
    return str(folder)


class TaskEnvs:
    """The engine's per-task environments: plans by task signature, builds in background threads
    (one per environment, whatever the number of tasks waiting for it), outcomes kept for the run."""

    def __init__(self, post: Callable[[EnvBuilt], None], *, enabled: bool = True, strict: bool = False,
                 root: Path | None = None) -> None:
        self.post = post
        self.enabled = enabled
        self.strict = strict
        self.root = root
        self.building: set[str] = set()
        self.failed: dict[str, str] = {}  # hash -> reason: the tasks needing it fail at once
        self.warned: set[str] = set()
        self._plans: dict[tuple, EnvPlan | None] = {}

    def plan(self, sig: TaskSignature | None) -> EnvPlan | None:
        """Memoised while the requirements file is unchanged: a task starts many times in a run, and
        hashing the local packages its requirements name each time would cost a read of them."""
        if not self.enabled or sig is None or (sig.venv is None and sig.python_version is None):
            return None
        try:
            st = sig.venv_file.stat() if sig.venv_file else None
        except OSError:
            st = None
        key = (sig.name, str(sig.folder), str(sig.venv_file), sig.python_version,
               (st.st_mtime_ns, st.st_size) if st else None)
        if key not in self._plans:
            self._plans[key] = plan(sig, strict=self.strict, root=self.root)
        return self._plans[key]

    def start(self, env: EnvPlan) -> bool:
        """Start building `env` unless a build already runs; True when this call started it."""
        if env.hash in self.building:
            return False
        self.building.add(env.hash)
        threading.Thread(target=self._build, args=(env,), name=f"xxp-env-{env.hash[:8]}", daemon=True).start()
        return True

    def _build(self, env: EnvPlan) -> None:
        started = time.time()
        try:
            outcome = build(env)
        except TaskEnvError as exc:
            self.post(EnvBuilt(env.hash, time.time() - started, str(exc)))
        except Exception as exc:  # never let a build thread die silently
            self.post(EnvBuilt(env.hash, time.time() - started, f"building the environment failed: {exc!r}"))
        else:
            self.post(EnvBuilt(env.hash, time.time() - started, None, outcome))

    def finished(self, event: EnvBuilt) -> None:
        self.building.discard(event.hash)
        if event.error is not None:
            self.failed[event.hash] = event.error
