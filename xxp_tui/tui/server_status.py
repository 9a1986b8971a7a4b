"""The compute server in the viewer's status line: the run's GPUs busy or free (with utilisation and
memory when NVML answers) and what the run cost so far (CPU-hours, GPU-hours).

NVML is asked at most every few seconds, and only for a run whose engine kept a GPU pool; without
NVML the line still says which GPUs are busy and which are free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from xxp_tui.kb.cost import hours

SAMPLE_EVERY = 5.0


@dataclass
class GpuSampler:
    samples: dict = field(default_factory=dict)  # id -> engine.gpus.GpuSample
    at: float = 0.0

    def read(self, ids: list[str]) -> dict:
        if not ids:
            return {}
        now = time.monotonic()
        if now - self.at >= SAMPLE_EVERY:
            self.at = now
            from xxp_tui.engine import gpus  # NVML, imported only for a run that has GPUs

            self.samples = gpus.sample(ids)
        return self.samples


def gpu_text(pool: list[str], busy: dict[str, int], samples: dict) -> str:
    """`GPU 0 busy 35% 2.0/16G · 1 free`: each busy GPU, then how many are free (and their load)."""
    if not pool:
        return ""
    parts = []
    for gpu in pool:
        if gpu not in busy:
            continue
        s = samples.get(gpu)
        extra = ""
        if s is not None and s.utilisation is not None:
            extra += f" {s.utilisation}%"
        if s is not None and s.memory_used is not None and s.memory_total:
            extra += f" {s.memory_used / 2**30:.1f}/{s.memory_total / 2**30:.0f}G"
        parts.append(f"GPU {gpu} busy{extra}")
    free = [g for g in pool if g not in busy]
    if free:
        parts.append(f"{len(free)} GPU{'s' if len(free) != 1 else ''} free ({','.join(free)})")
    return " · ".join(parts)


def cost_text(summary) -> str:
    """`CPU 0.42 h GPU 1.0 h` spent so far; empty while nothing was recorded."""
    spent = summary.cost.spent
    if not spent.tasks:
        return ""
    text = f"CPU {hours(spent.cpu_seconds)}"
    if spent.gpu_seconds:
        text += f" GPU {hours(spent.gpu_seconds)}"
    return text
