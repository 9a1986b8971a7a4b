"""The steering channel and the audit log.

Front ends call `submit` (one short INSERT) and `wait` for the outcome; the engine takes
`pending` commands in order and, in the same transaction as their effect, marks each `done` or
`refused` with a sentence and writes the audit event. One transaction per command is what makes
"applied exactly once" hold even if the engine dies half-way.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from dataclasses import dataclass

from xxp_tui.kb.connection import KB

VERBS = ("prune", "prioritize", "inject", "pause", "resume", "parallel", "answer", "stop", "rerun",
         "suspend", "resume_variant")
COMMAND_STATES = ("pending", "done", "refused")
# A variant's priority is stored in an SQLite INTEGER (64 bits); a billion either way is more room
# than ordering a queue needs, and keeps every front end and the engine on one bound.
PRIORITY_LIMIT = 1_000_000_000


def priority_problem(value: object) -> str | None:
    """Why `value` cannot be a variant's priority (None: it can). Checked by the CLI, the viewer
    and the engine alike, so a command that reaches the engine by any route is held to it."""
    if isinstance(value, bool) or not isinstance(value, int):
        return f"priority must be an integer, not {value!r}"
    if not -PRIORITY_LIMIT <= value <= PRIORITY_LIMIT:
        return f"priority must be between {-PRIORITY_LIMIT:,} and {PRIORITY_LIMIT:,}, not {value}"
    return None


def issuer() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True)
class Command:
    id: int
    run_id: int
    verb: str
    args: dict
    issuer: str
    status: str
    outcome: str | None
    created: float
    applied: float | None


def _command(r) -> Command:
    return Command(r["id"], r["run_id"], r["verb"], json.loads(r["args"] or "{}"), r["issuer"], r["status"],
                   r["outcome"], r["created"], r["applied"])


def submit(kb: KB, run_id: int, verb: str, args: dict | None = None, who: str | None = None) -> int:
    assert verb in VERBS, verb
    with kb.write():
        return kb.conn.execute(
            "INSERT INTO commands (run_id, verb, args, issuer, status, created) VALUES (?, ?, ?, ?, 'pending', ?)",
            (run_id, verb, json.dumps(args or {}), who or issuer(), time.time()),
        ).lastrowid


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
