"""Stalls: a running task that printed nothing and reported no metric for its `stall_after`.

A hung data loader, a deadlocked collective, a job waiting on a lock: the process lives and uses no
budget a timeout would catch soon, but nothing moves. Activity is seen as growth of the task's stdout,
stderr or metrics file (a `stat` each, at most twice a second, whatever the number of tasks' lines).
A task silent for its `stall_after` (the task's own, else the run's `--stall-after`) is marked stalled:
an event, its task run's `stalled` time and its variant's `stalled` flag, cleared when it moves again or
ends. With `on_stall kill;` it is stopped instead, a failure with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

CHECK_EVERY = 0.5


@dataclass
class Watched:
    key: str
    variant: int
    task: str
    task_run: int
    after: float
    kill: bool
    paths: tuple[str, ...]
    sizes: tuple[int, ...] = ()
    last_activity: float = 0.0
    stalled: bool = False


@dataclass(frozen=True)
class StallChange:
    """A watched task became stalled (`stalled` True) or moved again (False)."""

    key: str
    variant: int
    task: str
    task_run: int
    stalled: bool
    silent_for: float
    kill: bool


def _sizes(paths: Iterable[str]) -> tuple[int, ...]:
    out = []
    for path in paths:
        try:
            out.append(os.stat(path).st_size)
        except OSError:
            out.append(-1)
    return tuple(out)


@dataclass
class StallWatch:
    default_after: float | None = None  # the run's --stall-after
    watched: dict[str, Watched] = field(default_factory=dict)
    next_check: float = 0.0

    def settings_for(self, task) -> tuple[float | None, bool]:
        after = getattr(task, "stall_after", None) or self.default_after
        return after, getattr(task, "on_stall", "mark") == "kill"

    def check(self, now: float, running: Iterable[tuple[str, int, str, int, object, tuple[str, ...]]],
              ) -> tuple[list[StallChange], list[Watched]]:
        """Given the running tasks (key, variant id, task name, task run id, task, watched paths): what
        became stalled or moved again, and the stalled tasks that ended (their variant's flag to clear)."""
        running = list(running)
        seen = {item[0] for item in running}
        ended = [w for k, w in self.watched.items() if k not in seen]  # every turn: a flag never outlives its task
        for w in ended:
            del self.watched[w.key]
        changes: list[StallChange] = []
        if now < self.next_check:
            return changes, [w for w in ended if w.stalled]
        self.next_check = now + CHECK_EVERY
        for key, variant, name, task_run, task, paths in running:
            if key not in self.watched:
                after, kill = self.settings_for(task)
                if after:
                    self.watched[key] = Watched(key, variant, name, task_run, after, kill, paths, _sizes(paths), now)
                continue
            w = self.watched[key]
            sizes = _sizes(w.paths)
            if sizes != w.sizes:
                w.sizes, w.last_activity = sizes, now
                if w.stalled:
                    w.stalled = False
                    changes.append(StallChange(key, variant, name, task_run, False, 0.0, w.kill))
            elif not w.stalled and now - w.last_activity >= w.after:
                w.stalled = True
                changes.append(StallChange(key, variant, name, task_run, True, now - w.last_activity, w.kill))
        return changes, [w for w in ended if w.stalled]

    def stalled_in(self, variant: int) -> bool:
        return any(w.stalled and w.variant == variant for w in self.watched.values())
