"""The steering channel, its vocabulary, and the audit log.

The vocabulary: one frozen dataclass per steering command (`Prune`, `Prioritize`, `Inject`, …), each
registered under the verb stored in the commands table. A command checks its own arguments when it is
made (`CommandError`, one sentence), so the CLI, the viewer and the engine refuse exactly the same
things; `encode` gives the JSON arguments stored in the KB and `decode` reads them back, refusing a
malformed row with a sentence instead of a KeyError at run time.

Adding a verb: one class here (with `@steering_command`), one handler in `engine/steering.py`
(`HANDLERS`), and its bindings: a `:` line syntax (`tui/commandline.py`), a CLI command
(`cli/steer_commands.py`) and, if it deserves one, a key (`tui/app.py`). Tests check the first three.

The channel: front ends call `submit` (one short INSERT) and `wait` for the outcome; the engine takes
`pending` commands in order and, in the same transaction as their effect, marks each `done` or
`refused` with a sentence and writes the audit event. One transaction per command is what makes
"applied exactly once" hold even if the engine dies half-way.
"""

from __future__ import annotations

import getpass
import json
import math
import socket
import time
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from xxp_tui.kb.connection import KB, row_id

# A variant's priority is stored in an SQLite INTEGER (64 bits); a billion either way is more room
# than ordering a queue needs, and keeps every front end and the engine on one bound.
PRIORITY_LIMIT = 1_000_000_000
WORKERS_LIMIT = 1024
# What a human types as a parameter's or an answer's value (the language's scalars).
Value = int | float | str | bool


class CommandError(ValueError):
    """A steering command that cannot be made or read; the message is one sentence saying why."""


def priority_problem(value: object) -> str | None:
    """Why `value` cannot be a variant's priority (None: it can). Checked by the CLI, the viewer
    and the engine alike, so a command that reaches the engine by any route is held to it."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"priority must be an integer, not {value!r}"
    if not -PRIORITY_LIMIT <= value <= PRIORITY_LIMIT:
        return f"priority must be between {-PRIORITY_LIMIT:,} and {PRIORITY_LIMIT:,}, not {value}"
    return None


# ----------------------------------------------------------------------------- the vocabulary


@dataclass(frozen=True)
class SteerCommand:
    """A steering command: what a human asked the engine to do to a run."""

    verb: ClassVar[str]  # as stored in the commands table; the registry's key
    cli: ClassVar[str | None] = None  # the CLI command that sends it, when not named as the verb

    def encode(self) -> dict[str, Any]:
        """The JSON arguments stored in the commands table. An optional argument left at its default
        value (None, or `Inject`'s priority 1) is omitted, as front ends stored it before this vocabulary."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.default is not MISSING and value == f.default):
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


REGISTRY: dict[str, type[SteerCommand]] = {}


C = TypeVar("C", bound=type[SteerCommand])


def steering_command(cls: C) -> C:
    """Register a command class under its verb (the order of registration is the order of help texts)."""
    assert cls.verb not in REGISTRY, f"two steering commands named {cls.verb}"
    REGISTRY[cls.verb] = cls
    return cls


def decode(verb: str, args: object) -> SteerCommand:
    """The command a stored (verb, args) pair means, or CommandError with the sentence to refuse it with."""
    cls = REGISTRY.get(verb)
    if cls is None:
        raise CommandError(f"unknown command {verb}")
    if not isinstance(args, dict):
        raise CommandError(f"malformed {verb} command: its arguments are not a JSON object")
    known = {f.name: f for f in fields(cls)}
    takes = ", ".join(known) or "no arguments"
    if unknown := sorted(str(k) for k in args if k not in known):
        raise CommandError(f"malformed {verb} command: unknown argument {', '.join(unknown)} (it takes {takes})")
    missing = [name for name, f in known.items()
               if name not in args and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise CommandError(f"malformed {verb} command: {', '.join(missing)} missing (it takes {takes})")
    return cls(**args)


def _refs(value: object, what: str) -> tuple[str, ...]:
    """Variant references as given (`v12` or `12`); which of them name a variant of the run is the engine's call."""
    if not isinstance(value, list | tuple) or not value:
        raise CommandError(f"{what} must be a non-empty list of variants, not {value!r}")
    return tuple(_ref(v, what) for v in value)


def _ref(value: object, what: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"v{value}"
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"{what} must name a variant (v12), not {value!r}")
    return value


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise CommandError(f"{what} must be a name, not {value!r}")
    return value


def _values(value: object) -> dict[str, Value]:
    if not isinstance(value, dict):
        raise CommandError(f"values must be an object of name=value pairs, not {value!r}")
    for key, v in value.items():
        if not isinstance(key, str) or not key:
            raise CommandError(f"a value's name must be text, not {key!r}")
        if not isinstance(v, int | float | str | bool) or (isinstance(v, float) and not math.isfinite(v)):
            raise CommandError(f"{key} must be a number, text or true/false, not {v!r}")
    return dict(value)


def _check_priority(value: object) -> None:
    if problem := priority_problem(value):
        raise CommandError(problem)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)  # a frozen dataclass normalising its own argument


@steering_command
@dataclass(frozen=True)
class Prune(SteerCommand):
    """Prune variants: queued ones never run, running ones are stopped."""

    verb = "prune"
    variants: tuple[str, ...]

    def __post_init__(self) -> None:
        _set(self, "variants", _refs(self.variants, "variants"))


@steering_command
@dataclass(frozen=True)
class Prioritize(SteerCommand):
    """Change a variant's priority; higher runs sooner."""

    verb = "prioritize"
    variant: str
    priority: int

    def __post_init__(self) -> None:
        _set(self, "variant", _ref(self.variant, "variant"))
        _check_priority(self.priority)


@steering_command
@dataclass(frozen=True)
class Inject(SteerCommand):
    """Add a variant with chosen params to a running space."""

    verb = "inject"
    space: str
    values: dict[str, Value] = field(default_factory=dict, hash=False)
    priority: int = 1

    def __post_init__(self) -> None:
        _name(self.space, "space")
        _set(self, "values", _values(self.values))
        _check_priority(self.priority)


@steering_command
@dataclass(frozen=True)
class Pause(SteerCommand):
    """Pause the run: running tasks finish, no new ones start."""

    verb = "pause"


@steering_command
@dataclass(frozen=True)
class Resume(SteerCommand):
    """Resume a paused run."""

    verb = "resume"


@steering_command
@dataclass(frozen=True)
class Parallel(SteerCommand):
    """Change how many tasks run at once."""

    verb = "parallel"
    workers: int

    def __post_init__(self) -> None:
        n = self.workers
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= WORKERS_LIMIT:
            raise CommandError(f"parallelism must be a whole number between 1 and {WORKERS_LIMIT}, not {n!r}")


@steering_command
@dataclass(frozen=True)
class Answer(SteerCommand):
    """Answer a waiting interaction (or a task waiting for a human)."""

    verb = "answer"
    values: dict[str, Value] = field(default_factory=dict, hash=False)
    node: str | None = None  # None: the one thing that waits

    def __post_init__(self) -> None:
        _set(self, "values", _values(self.values))
        if self.node is not None:
            _name(self.node, "node")


@steering_command
@dataclass(frozen=True)
class Stop(SteerCommand):
    """Stop the run for good: running tasks are killed, queued variants cancelled."""

    verb = "stop"


@steering_command
@dataclass(frozen=True)
class Suspend(SteerCommand):
    """Hold variants: a running one's processes are stopped (SIGSTOP), a queued one does not start."""

    verb = "suspend"
    variants: tuple[str, ...]
    release_slot: bool = False  # let another task use its slot meanwhile

    def __post_init__(self) -> None:
        _set(self, "variants", _refs(self.variants, "variants"))
        if not isinstance(self.release_slot, bool):
            raise CommandError(f"release_slot must be true or false, not {self.release_slot!r}")


@steering_command
@dataclass(frozen=True)
class ResumeVariants(SteerCommand):
    """Continue suspended variants (SIGCONT, or back in the queue)."""

    verb = "resume_variant"
    cli = "resume"  # `xxp-tui resume v3 v4`: an argument starting with v is a variant
    variants: tuple[str, ...]

    def __post_init__(self) -> None:
        _set(self, "variants", _refs(self.variants, "variants"))


@steering_command
@dataclass(frozen=True)
class Amend(SteerCommand):
    """Change the running experiment to a new version of its spec (engine/amending.py applies it)."""

    verb = "amend"
    text: str
    path: str | None = None  # the spec file the text is a version of (None: the run's own)

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise CommandError(f"the amended spec must be text, not {type(self.text).__name__}")
        if self.path is not None and not isinstance(self.path, str):
            raise CommandError(f"the amended spec's path must be text, not {self.path!r}")


# ----------------------------------------------------------------------------- the channel


def issuer() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Command:
    """A row of the commands table: a steering command as submitted, with what became of it."""

    id: int
    run_id: int
    verb: str
    args: Any  # the JSON object stored; its raw text if it is not JSON (a hand-written row), which decode refuses
    issuer: str
    status: str
    outcome: str | None
    created: float
    applied: float | None

    def decoded(self) -> SteerCommand:
        """What the row asks for; CommandError (a sentence to refuse it with) when it cannot be read."""
        return decode(self.verb, self.args)


def _command(r) -> Command:
    try:
        args = json.loads(r["args"] or "{}")
    except (TypeError, ValueError):
        args = r["args"]
    return Command(r["id"], r["run_id"], r["verb"], args, r["issuer"], r["status"], r["outcome"], r["created"],
                   r["applied"])


def submit(kb: KB, run_id: int, command: SteerCommand, who: str | None = None) -> int:
    """Queue `command` for the engine of `run_id`; its id, to `wait` on."""
    return submit_raw(kb, run_id, command.verb, command.encode(), who)


def submit_raw(kb: KB, run_id: int, verb: str, args: dict | None = None, who: str | None = None) -> int:
    """Store a verb and arguments as they are, unchecked: what an older client could have stored. Front
    ends use `submit`; this is for tests of how the engine refuses a malformed row."""
    with kb.write():
        return row_id(kb.conn.execute(
            "INSERT INTO commands (run_id, verb, args, issuer, status, created) VALUES (?, ?, ?, ?, 'pending', ?)",
            (run_id, verb, json.dumps(args or {}), who or issuer(), time.time()),
        ))


def get(kb: KB, command_id: int) -> Command:
    return _command(kb.one("SELECT * FROM commands WHERE id = ?", (command_id,)))


def pending(kb: KB, run_id: int, limit: int = 100) -> list[Command]:
    return [_command(r) for r in kb.query(
        "SELECT * FROM commands WHERE run_id = ? AND status = 'pending' ORDER BY id LIMIT ?", (run_id, limit))]


def finish(kb: KB, command: Command, status: str, outcome: str) -> None:
    """Record the outcome; call inside the transaction that applied the command."""
    assert status in ("done", "refused")
    with kb.write():
        kb.conn.execute(
            "UPDATE commands SET status = ?, outcome = ?, applied = ? WHERE id = ? AND status = 'pending'",
            (status, outcome, time.time(), command.id),
        )


def wait(kb: KB, command_id: int, timeout: float, poll: float = 0.05) -> Command:
    """The command once the engine has applied it, or as it stands when `timeout` runs out."""
    deadline = time.monotonic() + timeout
    while True:
        cmd = get(kb, command_id)
        if cmd.status != "pending" or time.monotonic() >= deadline:
            return cmd
        time.sleep(poll)


def for_run(kb: KB, run_id: int) -> list[Command]:
    return [_command(r) for r in kb.query("SELECT * FROM commands WHERE run_id = ? ORDER BY id", (run_id,))]


# ----------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    id: int
    run_id: int
    time: float
    actor: str
    kind: str
    target: str | None
    detail: dict
    command_id: int | None


def log_event(kb: KB, run_id: int, actor: str, kind: str, target: str | None = None,
              detail: dict | None = None, command_id: int | None = None) -> None:
    with kb.write():
        kb.conn.execute(
            "INSERT INTO events (run_id, time, actor, kind, target, detail, command_id) VALUES (?,?,?,?,?,?,?)",
            (run_id, time.time(), actor, kind, target, json.dumps(detail or {}, default=str), command_id),
        )


def events(kb: KB, run_id: int, after_id: int = 0, limit: int = 1000, target: str | None = None) -> list[Event]:
    sql = "SELECT * FROM events WHERE run_id = ? AND id > ?"
    args: list = [run_id, after_id]
    if target is not None:
        sql += " AND target = ?"
        args.append(target)
    rows = kb.query(sql + " ORDER BY id LIMIT ?", (*args, limit))
    return [Event(r["id"], r["run_id"], r["time"], r["actor"], r["kind"], r["target"],
                  json.loads(r["detail"] or "{}"), r["command_id"]) for r in rows]
