"""Value domains of parameters: what a `param_values` line or a `define param` range allows.

Semantics follow ExtremeXP where sound: `range(a, b[, step])` over integers is Python's range
(end exclusive, step 1 by default). Extensions: float ranges need a step, `log` makes a range
geometric (`range(1e-4, 1e-1, log)` is continuous and log-uniform), `uniform(a, b[, log])` is
continuous, and `range [a, b]` (old task.xxp spelling) is a closed interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Scalar = int | float | str | bool

# A float range with a step is enumerated; past this many values it is a spec mistake.
MAX_ENUMERATED = 1_000_000


def _fmt(v: Scalar) -> str:
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


@dataclass(frozen=True)
class EnumDomain:
    values: tuple[Scalar, ...]

    @property
    def is_finite(self) -> bool:
        return True

    def enumerate(self) -> list[Scalar]:
        return list(self.values)

    def contains(self, v: Scalar) -> bool:
        return any(_same(v, x) for x in self.values)

    def describe(self) -> str:
        return f"enum({', '.join(_fmt(v) for v in self.values)})"


@dataclass(frozen=True)
class RangeDomain:
    """`range(start, stop[, step][, log])`; `closed=True` for the `range [a, b]` interval."""

    start: float
    stop: float
    step: float | None = None
    log: bool = False
    closed: bool = False

    @property
    def is_integer(self) -> bool:
        return all(isinstance(x, int) and not isinstance(x, bool) for x in (self.start, self.stop)) and (
            self.step is None or isinstance(self.step, int)
        )

    @property
    def is_finite(self) -> bool:
        if self.log:
            return False
        return self.is_integer or self.step is not None

    def enumerate(self) -> list[Scalar]:
        """The listed values; raises ValueError for a continuous domain."""
        if not self.is_finite:
            raise ValueError(f"{self.describe()} is continuous")
        if self.is_integer and not self.closed:
            return list(range(int(self.start), int(self.stop), int(self.step or 1) or 1))
        step = self.step if self.step else 1
        count = (self.stop - self.start) / step
        n = math.floor(count + 1e-9) + (1 if self.closed else 0)
        if not self.closed and abs(count - round(count)) < 1e-9:
            n = round(count)
        if n > MAX_ENUMERATED:
            raise ValueError(f"{self.describe()} has more than {MAX_ENUMERATED} values")
        out: list[Scalar] = []
        for i in range(max(0, n)):
            v = self.start + i * step
            out.append(int(v) if self.is_integer else round(v, 12))
        return out

    def size(self) -> int | None:
        if not self.is_finite:
            return None
        if self.is_integer and not self.closed:
            return len(range(int(self.start), int(self.stop), int(self.step or 1) or 1))
        return len(self.enumerate())

    def contains(self, v: Scalar) -> bool:
        """Exact membership: one of the listed values, or inside the bounds when continuous."""
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        if self.is_integer and not self.closed:
            r = range(int(self.start), int(self.stop), int(self.step or 1) or 1)
            return float(v).is_integer() and int(v) in r
        if self.is_finite:
            return any(_same(v, x) for x in self.enumerate())
        return self.within_bounds(v)

    def within_bounds(self, v: Scalar) -> bool:
        """Between the two ends, both included: how a declared `define param` range is checked."""
        if isinstance(v, bool) or not isinstance(v, int | float):
            return False
        lo, hi = min(self.start, self.stop), max(self.start, self.stop)
        return lo <= v <= hi

    def describe(self) -> str:
        if self.closed:
            return f"range [{_fmt(self.start)}, {_fmt(self.stop)}]"
        parts = [_fmt(self.start), _fmt(self.stop)]
        if self.step is not None:
            parts.append(_fmt(self.step))
        if self.log:
            parts.append("log")
        return f"range({', '.join(parts)})"


@dataclass(frozen=True)
class UniformDomain:
    low: float
    high: float
    log: bool = False

    @property
    def is_finite(self) -> bool:
        return False

    def enumerate(self) -> list[Scalar]:
        raise ValueError(f"{self.describe()} is continuous")

    def contains(self, v: Scalar) -> bool:
        return not isinstance(v, bool) and isinstance(v, int | float) and self.low <= v <= self.high

    def describe(self) -> str:
        return f"uniform({_fmt(self.low)}, {_fmt(self.high)}{', log' if self.log else ''})"


Domain = EnumDomain | RangeDomain | UniformDomain


def _same(a: Scalar, b: Scalar) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or a == b
    return a == b


def domain_size(domains: list[Domain]) -> int | None:
    """Number of listed values of a variability point (its declarations concatenated)."""
    total = 0
    for d in domains:
        if not d.is_finite:
            return None
        size = d.size() if isinstance(d, RangeDomain) else len(d.enumerate())
        if size is None:
            return None
        total += size
    return total


def domain_values(domains: list[Domain]) -> list[Scalar] | None:
    """Concatenated values, as the ExtremeXP engine enumerates them (no de-duplication)."""
    if any(not d.is_finite for d in domains):
        return None
    out: list[Scalar] = []
    for d in domains:
        out.extend(d.enumerate())
    return out


def describe(domains: list[Domain]) -> str:
    return " + ".join(d.describe() for d in domains)


def value_type(v: Scalar) -> str:
    if isinstance(v, bool):
        return "Boolean"
    if isinstance(v, int):
        return "Integer"
    if isinstance(v, float):
        return "Float"
    return "String"
