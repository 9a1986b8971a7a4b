"""Whole process trees of tasks, not only their process groups (Linux; standard library only).

A task may start children that leave its process group (`setsid`) and double-fork so that their
parent exits: `killpg` misses them, and without help they are re-parented to init and outlive
their task. Two things close that gap:

- the process that starts tasks (the local supervisor, the Dask runner's guard) makes itself a
  *child subreaper* (`prctl(PR_SET_CHILD_SUBREAPER)`): orphaned descendants come back to it, so
  they stay in its tree instead of escaping to init;
- a task's processes are found as its process group, plus every descendant of the starter whose
  environment carries the task's own `XXP_PARAMS` (inherited by whatever it starts, and unique to
  one task execution), plus the descendants of all those. Killing a task kills that set.

Everything is read from /proc; elsewhere the functions fall back to the process group alone.
"""

from __future__ import annotations

import os
import signal
import sys

PR_SET_CHILD_SUBREAPER = 36
PROC = "/proc"


def become_subreaper() -> bool:
    """Make this process the child subreaper of its descendants; False where Linux's prctl is not there."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def process_table() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, process group, start time in clock ticks) of every live process (zombies
    left out: they have nothing left to kill)."""
    table: dict[int, tuple[int, int, int]] = {}
    try:
        names = os.listdir(PROC)
    except OSError:
        return table
    for name in names:
        if not name.isdigit():
            continue
        stat = _stat(int(name))
        if stat is not None:
            table[int(name)] = stat
    return table


def _stat(pid: int) -> tuple[int, int, int] | None:
    try:
        with open(f"{PROC}/{pid}/stat", "rb") as fh:
            raw = fh.read()
    except OSError:
        return None
    fields = raw[raw.rfind(b")") + 2:].split()  # the command name may hold spaces and parentheses
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[1]), int(fields[2]), int(fields[19])


def descendants(roots: set[int], table: dict[int, tuple[int, int, int]]) -> set[int]:
    """Every process below `roots` (not the roots themselves)."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - roots


def below(under: int | None = None) -> dict[int, int]:
    """Every live process below `under` (default: this process); pid -> start time."""
    table = process_table()
    return {pid: table[pid][2] for pid in descendants({under if under is not None else os.getpid()}, table)}


def children() -> set[int] | None:
    """The live children of this process (zombies included), or None where Linux does not say."""
    found: set[int] = set()
    try:
        for thread in os.listdir(f"{PROC}/self/task"):
            with open(f"{PROC}/self/task/{thread}/children", "rb") as fh:
                found.update(int(pid) for pid in fh.read().split())
    except (OSError, ValueError):
        return None
    return found


def carries(pid: int, entry: bytes) -> bool:
    """True when process `pid`'s environment holds `entry` (e.g. b"XXP_PARAMS=/…/params.json")."""
    return entry in _environ(pid)


def _environ(pid: int) -> list[bytes]:
    try:
        with open(f"{PROC}/{pid}/environ", "rb") as fh:
            return fh.read().split(b"\0")
    except OSError:
        return []


def owners(leaders: dict[int, str], tags: dict[bytes, str], under: int | None = None) -> dict[str, dict[int, int]]:
    """One scan for many tasks: key -> its live processes (pid -> start time). A process belongs to
    the task whose group it is in (`leaders`: pgid -> key), else to the task whose tag its
    environment carries (`tags`), else to the task of its nearest owned ancestor."""
    table = process_table()
    below = descendants({under if under is not None else os.getpid()}, table)
    owner: dict[int, str] = {}
    for pid in below:
        key = leaders.get(table[pid][1])
        if key is None:
            key = next((tags[e] for e in _environ(pid) if e in tags), None)
        if key is not None:
            owner[pid] = key
    for pid in sorted(below):  # a process with no mark of its own belongs to its ancestor's task
        chain, up = [], pid
        while up in below and up not in owner:
            chain.append(up)
            up = table[up][0]
        for p in chain:
            if up in owner:
                owner[p] = owner[up]
    out: dict[str, dict[int, int]] = {}
    for pid, key in owner.items():
        out.setdefault(key, {})[pid] = table[pid][2]
    return out


def task_processes(pgid: int | None, tag: bytes | None, under: int | None = None) -> dict[int, int]:
    """The live processes of one task: its group, the descendants of `under` (the starter, by
    default this process) carrying `tag` in their environment, and everything below those;
    pid -> start time, so a later kill never hits a reused pid."""
    table = process_table()
    found = {pid for pid, (_, group, _) in table.items() if pgid is not None and group == pgid}
    if tag:
        below = descendants({under if under is not None else os.getpid()}, table)
        found |= {pid for pid in below - found if carries(pid, tag)}
    found |= descendants(found, table)
    found.discard(os.getpid())
    return {pid: table[pid][2] for pid in found if pid in table}


def signal_processes(processes: dict[int, int], sig: int) -> int:
    """Send `sig` to each process still the one recorded (same start time); how many were signalled."""
    sent = 0
    for pid, start in processes.items():
        stat = _stat(pid)
        if stat is None or stat[2] != start:
            continue
        try:
            os.kill(pid, sig)
            sent += 1
        except (ProcessLookupError, PermissionError):
            continue
    return sent


def signal_task(pgid: int | None, tag: bytes | None, sig: int, known: dict[int, int] | None = None,
                under: int | None = None) -> dict[int, int]:
    """Signal a task's whole tree (and the processes seen in it before, `known`); what was signalled.
    Without /proc, the process group only."""
    processes = {**(known or {}), **task_processes(pgid, tag, under)} if os.path.isdir(PROC) else {}
    if pgid is not None:
        try:  # noqa: SIM105 - no contextlib: it would add milliseconds to the guard's start, per task
            os.killpg(pgid, sig)  # first: a group member forked since the scan is caught too
        except (ProcessLookupError, PermissionError):
            pass
    signal_processes(processes, sig)
    return processes


def any_alive(processes: dict[int, int]) -> bool:
    return any((stat := _stat(pid)) is not None and stat[2] == start for pid, start in processes.items())


def kill_task(pgid: int | None, tag: bytes | None, known: dict[int, int] | None = None,
              under: int | None = None, rounds: int = 5) -> None:
    """SIGKILL a task's whole tree, a few rounds (a process may fork while it is being killed)."""
    for _ in range(rounds):
        hit = signal_task(pgid, tag, signal.SIGKILL, known, under)
        known = None
        if not any_alive(hit):
            return
