"""Which of a Dask worker's own GPUs a task gets (standard library only: it runs on the worker).

Dask's resources count (`dask worker --resources GPU=2` lets at most two GPU-units of tasks run there
at once) but do not say *which* GPU a task may use, so two trainings on one worker would share GPU 0.
The runner asks this module for ids and sets CUDA_VISIBLE_DEVICES to them. The worker's GPUs are, in
order of preference:
- `XXP_WORKER_GPUS=2,3` in the worker's environment (the ids on that machine),
- else the worker's own CUDA_VISIBLE_DEVICES (a batch system often sets it for the job),
- else 0..n-1 for the worker's `GPU` resource n.

Grants are per worker process (tasks run on its threads): a whole GPU goes to one task at a time; a
fraction (`GPU = 0.5`) shares the least loaded GPU.
"""

from __future__ import annotations

import math
import os
import threading

_lock = threading.Lock()
_load: dict[str, float] = {}  # GPU id -> share held by running tasks of this worker process


def worker_gpus(resources: dict | None) -> list[str]:
    given = os.environ.get("XXP_WORKER_GPUS") or os.environ.get("CUDA_VISIBLE_DEVICES")
    if given:
        return [g.strip() for g in given.split(",") if g.strip()]
    count = (resources or {}).get("GPU") or (resources or {}).get("gpu") or 0
    try:
        return [str(i) for i in range(int(float(count)))]
    except (TypeError, ValueError):
        return []


def acquire(amount: float, resources: dict | None) -> tuple[str, ...]:
    """The ids for a task asking `amount` GPUs (none asked: none given). Never blocks: Dask already keeps
    the worker's GPU-units from being over-committed; should they be anyway, the least loaded are shared."""
    if amount <= 0:
        return ()
    ids = worker_gpus(resources)
    if not ids:
        return ()
    with _lock:
        for g in ids:
            _load.setdefault(g, 0.0)
        by_load = sorted(ids, key=lambda g: (_load[g], ids.index(g)))
        if amount < 1:
            fits = [g for g in by_load if _load[g] + amount <= 1.0 + 1e-9]
            chosen = (fits or by_load)[:1]
            share = amount
        else:
            chosen = by_load[: min(len(ids), math.ceil(amount))]
            share = 1.0
        for g in chosen:
            _load[g] += share
        return tuple(chosen)


def release(ids: tuple[str, ...], amount: float) -> None:
    share = amount if 0 < amount < 1 else 1.0
    with _lock:
        for g in ids:
            _load[g] = max(0.0, _load.get(g, 0.0) - share)
