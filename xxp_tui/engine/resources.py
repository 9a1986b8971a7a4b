"""What a task asks of the machine, and the pool that grants it: GPUs, cores and memory.

Pure bookkeeping, no I/O: the engine asks `try_acquire` before it starts a task and `release`s the
grant when the task ends. A task that can never fit (more GPUs than the pool has) is refused when
the run starts (`never_fits`), not left waiting. GPUs are granted by index as the user gave them
(`--gpus 0,1,3` grants "3", not "2"), which is what a task sees in CUDA_VISIBLE_DEVICES.

A fractional GPU (`GPU = 0.5`) shares one device: several such tasks pack onto the same GPU while it
has capacity left. A request of one or more GPUs takes whole, otherwise idle devices.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

EPSILON = 1e-9
MEMORY_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12, "tb": 10**12,
    "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40,
}
KNOWN_KEYS = ("GPU", "CPU", "MEMORY")


class ResourceError(ValueError):
    """A resource request that cannot be understood or can never be granted; the message says why."""


def parse_memory(value: float | int | str) -> int:
    """Bytes from `17179869184`, `"16GB"`, `"512 MiB"` or `"1.5g"` (decimal units, binary with `i`)."""
    if isinstance(value, bool):
        raise ResourceError(f"MEMORY {value!r} is not an amount of memory")
    if isinstance(value, int | float):
        amount, unit = float(value), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
        if not m:
            raise ResourceError(f"MEMORY {value!r} is not an amount of memory (e.g. 512MiB, 16GB)")
        amount, unit = float(m.group(1)), m.group(2).lower()
    if unit not in MEMORY_UNITS:
        raise ResourceError(f"MEMORY {value!r}: unknown unit {unit!r} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
    if not math.isfinite(amount) or amount < 0:
        raise ResourceError(f"MEMORY {value!r} must be a positive amount")
    return int(amount * MEMORY_UNITS[unit])


@dataclass(frozen=True)
class Request:
    """What one task asks for; zero means nothing of that kind."""

    gpus: float = 0.0
    cpus: float = 0.0
    memory: int = 0

    @classmethod
    def of(cls, resources: Mapping[str, float | int | str]) -> Request:
        """From a task's `resources { GPU = 1; CPU = 4; MEMORY = "16GB"; }` (keys in any case)."""
        found = {str(k).upper(): v for k, v in resources.items()}
        unknown = sorted(set(found) - set(KNOWN_KEYS))
        if unknown:
            raise ResourceError(f"unknown resource {unknown[0]} (known: {', '.join(KNOWN_KEYS)})")
        gpus = _number("GPU", found.get("GPU", 0))
        if gpus > 1 and not float(gpus).is_integer():
            raise ResourceError(f"GPU = {gpus:g}: ask for a fraction below 1 (to share a GPU) or whole GPUs")
        return cls(gpus=gpus, cpus=_number("CPU", found.get("CPU", 0)), memory=parse_memory(found.get("MEMORY", 0)))

    @property
    def empty(self) -> bool:
        return not (self.gpus or self.cpus or self.memory)


def _number(key: str, value: float | int | str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ResourceError(f"{key} = {value!r} is not a number") from None
    if not math.isfinite(number) or number < 0:
        raise ResourceError(f"{key} = {value!r} must be zero or more")
    return number


@dataclass(frozen=True)
class Grant:
    """What a started task holds: the GPU ids it may see, and its share of cores and memory."""

    gpus: tuple[str, ...] = ()
    gpu_share: float = 0.0  # how much of the GPUs it holds: 0.5 for half of one, 2 for two
    cpus: float = 0.0
    memory: int = 0

    @property
    def cuda_visible_devices(self) -> str:
        return ",".join(self.gpus)


@dataclass
class ResourcePool:
    """GPUs by id (each with capacity 1.0), cores and bytes of memory; None means "not counted"."""

    gpus: list[str] = field(default_factory=list)
    cpus: float | None = None
    memory: int | None = None
    held: dict[object, Grant] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.gpu_free: dict[str, float] = {g: 1.0 for g in self.gpus}

    def never_fits(self, request: Request) -> str | None:
        """Why `request` could not start even on an idle pool, or None."""
        if request.gpus > len(self.gpus) + EPSILON:
            have = f"{len(self.gpus)} GPU(s) ({', '.join(self.gpus)})" if self.gpus else "no GPU"
            return f"asks for {request.gpus:g} GPU(s) but this run has {have}; choose them with --gpus"
        if self.cpus is not None and request.cpus > self.cpus + EPSILON:
            return f"asks for {request.cpus:g} cores but the machine has {self.cpus:g}"
        if self.memory is not None and request.memory > self.memory:
            return f"asks for {_human(request.memory)} of memory but the machine has {_human(self.memory)}"
        return None

    def try_acquire(self, key: object, request: Request) -> Grant | None:
        """A grant if `request` fits now (recorded under `key`), else None: try again later."""
        if key in self.held:
            return self.held[key]
        if self.cpus is not None and request.cpus > self.cpus - self._used_cpus() + EPSILON:
            return None
        if self.memory is not None and request.memory > self.memory - self._used_memory():
            return None
        gpus = self._choose_gpus(request.gpus)
        if gpus is None:
            return None
        share = request.gpus / len(gpus) if gpus else 0.0
        for g in gpus:
            self.gpu_free[g] -= share
        grant = Grant(gpus=tuple(gpus), gpu_share=request.gpus, cpus=request.cpus, memory=request.memory)
        self.held[key] = grant
        return grant

    def release(self, key: object) -> None:
        grant = self.held.pop(key, None)
        if grant is None or not grant.gpus:
            return
        share = grant.gpu_share / len(grant.gpus)
        for g in grant.gpus:
            self.gpu_free[g] = min(1.0, self.gpu_free[g] + share)

    def _choose_gpus(self, want: float) -> list[str] | None:
        if want <= 0:
            return []
        if want < 1:  # share: the fullest GPU that still has room, so whole GPUs stay free for others
            fits = [g for g in self.gpus if self.gpu_free[g] + EPSILON >= want]
            if not fits:
                return None
            return [min(fits, key=lambda g: (self.gpu_free[g], self.gpus.index(g)))]
        idle = [g for g in self.gpus if self.gpu_free[g] >= 1.0 - EPSILON]
        count = int(want)
        return idle[:count] if len(idle) >= count else None

    def _used_cpus(self) -> float:
        return sum(g.cpus for g in self.held.values())

    def _used_memory(self) -> int:
        return sum(g.memory for g in self.held.values())

    def busy_gpus(self) -> list[str]:
        return [g for g in self.gpus if self.gpu_free[g] < 1.0 - EPSILON]


def _human(n: int) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"
