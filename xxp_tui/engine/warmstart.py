"""Warm start: which earlier trials can seed a new space's sampler, and as which configuration.

An earlier completed variant is compatible when (1) its workflow signature matches: the same task
names, each run with the same code hash (script + dependency files), and (2) its parameters map
onto this space: every value list of the space is bound to a `Task.param` the earlier variant set,
the value lies inside the space's distribution, and every other param it set equals what this
space would run (a fixed binding, or the task's default). Such a result is told to Optuna as a
finished trial; nothing is re-run. Guild's `prev-trials=sourcecode` is the same idea.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from xxp_tui.engine.strategies import to_params
from xxp_tui.engine.taskspec import task_params
from xxp_tui.lang.model import Space, Workflow


@dataclass
class Selection:
    """Compatible earlier variants (source id -> configuration) and why the others were skipped."""

    chosen: dict[int, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1

    def describe(self) -> str:
        parts = [f"{len(self.chosen)} earlier trial(s) told to the sampler"]
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} ({why})" for why, n in sorted(self.skipped.items())))
        return "; ".join(parts)


def inside(dist, value: Any) -> bool:
    """Is `value` a point of an Optuna distribution (Float, Int or Categorical)?"""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    if isinstance(dist, IntDistribution):
        if float(value) != int(value):
            return False
        value = int(value)
        return dist.low <= value <= dist.high and (value - dist.low) % dist.step == 0
    if isinstance(dist, FloatDistribution):
        if not dist.low <= value <= dist.high:
            return False
        if dist.step is not None:
            k = (value - dist.low) / dist.step
            return abs(k - round(k)) < 1e-9
        return True
    return False


def expected_fixed(space: Space, workflow: Workflow) -> dict[str, Any]:
    """`Task.param` -> the value this space runs it with, for params no value list varies."""
    fixed: dict[str, Any] = {}
    for task in workflow.tasks.values():
        if task.signature is not None:
            for p in task.signature.params.values():
                if p.default is not None:
                    fixed[f"{task.name}.{p.name}"] = p.default
        for name, value in task.params.items():
            fixed[f"{task.name}.{name}"] = value
    for b in space.bindings:
        if b.vp is None:
            fixed[b.key] = b.value
        else:
            fixed.pop(b.key, None)
    return fixed


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool | str):
        return float(a) == float(b)
    return a == b


def project(space: Space, dists: dict, fixed: dict[str, Any], params: dict[str, Any]) -> tuple[dict | None, str]:
    """The configuration (by value list) an earlier variant's params stand for in this space, or
    None and the reason it does not fit."""
    config: dict[str, Any] = {}
    for b in space.bindings:
        if b.vp is None or b.vp not in dists:
            continue
        if b.key not in params:
            return None, f"{b.key} not set"
        value = params[b.key]
        if b.vp in config and not _same(config[b.vp], value):
            return None, "inconsistent values"
        if not inside(dists[b.vp], value):
            return None, "outside the space"
        config[b.vp] = value
    if set(config) != set(dists):
        return None, "some value lists unbound"
    for key, value in params.items():
        if key in fixed and not _same(fixed[key], value):
            return None, "other fixed params"
    return config, ""


def ran_as(workflow: Workflow, space: Space, config: dict, ran: dict[str, tuple[str | None, dict | None]]) -> bool:
    """Did every task of an earlier variant run with exactly the params this space would give it
    for `config` (defaults and fixed values included)? Task runs recorded before params were kept
    (None) are judged by `project` alone."""
    variant_params = to_params(space, config)
    for name, task in workflow.tasks.items():
        recorded = ran.get(name, (None, None))[1]
        if recorded is None:
            continue
        expected = task_params(task, variant_params)
        if set(recorded) != set(expected) or not all(_same(recorded[k], expected[k]) for k in expected):
            return False
    return True
