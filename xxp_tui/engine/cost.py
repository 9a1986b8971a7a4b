"""What one task execution cost, as recorded on its task run when it ends.

- wall: from its start to its end as the engine saw them;
- CPU: user+system seconds of its whole process tree (sampled by its starter, executors/usage.py);
- GPU-seconds: wall × the GPUs it held (a task sharing a GPU with `GPU = 0.5` counts half);
- peak RSS: the largest resident memory of its tree at one time.

A cache hit records the figures of the execution it reused (kb/cache.py): summed apart, they say
what knowledge reuse saved.
"""

from __future__ import annotations

from collections.abc import Mapping

from xxp_tui.engine.executors import Finished
from xxp_tui.engine.resources import Request, ResourceError


def gpus_held(gpus: str | None, resources: Mapping[str, float]) -> float:
    """How many GPUs a task held: what it asked for when it was given devices, else none."""
    ids = [g for g in (gpus or "").split(",") if g.strip()]
    if not ids:
        return 0.0
    try:
        asked = Request.of(resources).gpus
    except ResourceError:
        asked = 0.0
    return asked if 0 < asked < len(ids) else float(len(ids))


def task_cost(f: Finished, started: float | None, ended: float, gpus: str | None,
              resources: Mapping[str, float]) -> dict:
    """The task_runs columns for an execution that ended (None where it is not known)."""
    wall = max(0.0, ended - started) if started is not None else None
    held = gpus_held(gpus, resources)
    return {
        "wall_seconds": round(wall, 3) if wall is not None else None,
        "cpu_seconds": f.cpu_seconds,
        "peak_rss_bytes": int(f.peak_rss_bytes) if f.peak_rss_bytes is not None else None,
        "gpu_seconds": round(wall * held, 3) if wall is not None else None,
    }
