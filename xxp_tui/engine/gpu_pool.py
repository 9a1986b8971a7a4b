"""The local executor's GPU pool as the engine uses it: which task may start now, and which GPUs it sees.

The bookkeeping itself is resources.ResourcePool; this module ties it to the engine's tasks:
- a run refuses at start a task that could never fit the pool (more GPUs than `--gpus` gave), rather
  than leaving it waiting forever;
- a task starts only with a grant; without one it waits (its variant holds no worker slot meanwhile)
  and is tried again on the next scheduling turn;
- a started task sees its GPUs in CUDA_VISIBLE_DEVICES, and a task that asks none sees "" so that
  a CPU task cannot grab a GPU a training holds;
- the grant is released when the task ends, whatever the way it ends;
- a resumed engine takes back the GPUs recorded for the tasks it adopts.

Only the local executor keeps a pool: Dask workers have their own resources.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from xxp_tui.engine.gpus import GpuChoice
from xxp_tui.engine.resources import Grant, Request, ResourceError, ResourcePool
from xxp_tui.lang.model import Task

CUDA = "CUDA_VISIBLE_DEVICES"


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


class TaskPool:
    """Grants by task (variant id, task name): at most one attempt of a task runs at a time."""

    def __init__(self, choice: GpuChoice) -> None:
        self.pool = ResourcePool(gpus=list(choice.ids), cpus=float(os.cpu_count() or 1), memory=_machine_memory())
        self.note = choice.note
        self.waited = False  # a task found no grant during the current scheduling turn
        self.waiting: set[tuple[int, str]] = set()  # tasks that found no grant, until they get one

    @property
    def ids(self) -> list[str]:
        return list(self.pool.gpu_free)

    def refusal(self, tasks: Iterable[tuple[str, str, Task]]) -> str | None:
        """One sentence on the first (node, task name, task) that could never start, else None."""
        for node, name, task in tasks:
            try:
                why = self.pool.never_fits(Request.of(task.resources))
            except ResourceError as exc:
                return f"task {name} of {node}: {exc}"
            if why:
                return f"task {name} of {node} {why}"
        return None

    def admit(self, key: tuple[int, str], task) -> tuple[bool, bool]:
        """Take what `task` asks for, if it is free now (else it waits for another turn); and whether
        that changed: it starts to wait, or stops waiting (its variant's reason says so)."""
        try:
            request = Request.of(task.resources)
        except ResourceError:
            request = Request()  # refused at start (refusal); a spec changed on resume runs it unconstrained
        if self.pool.try_acquire(key, request) is not None:
            was_waiting = key in self.waiting
            self.waiting.discard(key)
            return True, was_waiting
        self.waited = True
        new = key not in self.waiting
        self.waiting.add(key)
        return False, new

    def devices(self, key: tuple[int, str]) -> str:
        grant = self.pool.held.get(key)
        return grant.cuda_visible_devices if grant is not None else ""

    def release(self, key: tuple[int, str]) -> None:
        self.pool.release(key)

    def readopt(self, key: tuple[int, str], task, gpus: str | None) -> None:
        """A task a dead engine started and this one adopts keeps the GPUs it was given."""
        try:
            request = Request.of(task.resources)
        except ResourceError:
            request = Request()
        ids = tuple(g for g in (gpus or "").split(",") if g in self.pool.gpu_free)
        share = request.gpus / len(ids) if ids else 0.0
        for g in ids:
            self.pool.gpu_free[g] = max(0.0, self.pool.gpu_free[g] - share)
        self.pool.held[key] = Grant(gpus=ids, gpu_share=request.gpus if ids else 0.0, cpus=request.cpus,
                                    memory=request.memory)
