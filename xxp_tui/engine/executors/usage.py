"""What a task's whole process tree used: CPU time and peak resident memory, sampled with psutil.

Why sample: the rusage `wait4` returns for a task covers its leader and the children it waited for,
not a worker pool it started and killed, a daemon that left its group, nor the memory of processes
that ran side by side (ru_maxrss is the largest *single* process). The starter (the local supervisor,
the Dask runner) samples the task's processes about once a second; at the end the task's figures are
the larger of the samples and the leader's rusage, so a task shorter than one sample still counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil


@dataclass
class TreeUsage:
    cpu: dict[int, float] = field(default_factory=dict)  # pid -> user+system seconds last seen
    peak_rss: int = 0  # the largest sum of the tree's resident memory seen at one sample

    def sample(self, pids: Iterable[int]) -> None:
        rss = 0
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
            except (psutil.Error, OSError):
                continue
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), times.user + times.system)
        self.peak_rss = max(self.peak_rss, rss)

    def totals(self, rusage: object = None) -> tuple[float | None, int | None]:
        """(CPU seconds, peak RSS bytes): the samples, or the leader's rusage when that says more."""
        cpu = sum(self.cpu.values())
        peak = self.peak_rss
        if rusage is not None:
            cpu = max(cpu, float(getattr(rusage, "ru_utime", 0.0)) + float(getattr(rusage, "ru_stime", 0.0)))
            peak = max(peak, int(getattr(rusage, "ru_maxrss", 0)) * 1024)  # kilobytes on Linux
        return round(cpu, 3), peak
