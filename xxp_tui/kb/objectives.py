"""A space's objectives as declared, each variant's values for them, and the Pareto front.

Why its own module: `objective maximize quality, minimize cost;` drives a multi-objective sampler, and
every reader of results (`variants --json`, `export`, `show`, `kb best`, the viewer) must report the
same values in the same declared order and agree on which variants are on the front. The variants
table keeps only the first objective (`variants.objective`); the values of all objectives are the
variant's final metrics, found here by the declared `Task.metric` names.

- `objective` is a list in declared order, an entry None when the variant did not report it;
- `pareto` is True/False for completed variants of a space with two or more objectives (the front is
  computed within that space; equal points do not dominate each other, so ties are all on it), and
  None otherwise (single objective, or not completed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import KB


@dataclass(frozen=True)
class Objective:
    direction: str  # "maximize" | "minimize"
    metric: str
    task: str | None

    @property
    def label(self) -> str:
        return f"{self.task}.{self.metric}" if self.task else self.metric

    @property
    def minimize(self) -> bool:
        return self.direction == "minimize"


def declared(model: dict, experiment: str) -> dict[str, list[Objective]]:
    """space -> its objectives in declared order, from a run's recorded model."""
    out: dict[str, list[Objective]] = {}
    for name, sp in model.get("experiments", {}).get(experiment, {}).get("spaces", {}).items():
        terms = []
        for text in sp.get("objectives") or []:
            direction, _, label = str(text).partition(" ")
            task, _, metric = label.rpartition(".")
            terms.append(Objective("minimize" if direction.startswith("minimi") else "maximize", metric, task or None))
        out[name] = terms
    return out


def for_run(kb: KB, run_id: int) -> dict[str, list[Objective]]:
    run = kbr.get_run(kb, run_id)
    return declared(kbr.spec_record(kb, run_id)[2], run.experiment)


def values(objectives: list[Objective], finals: dict) -> list[float | None]:
    """The variant's value of each objective (finals: (task, metric) -> value), None where missing."""
    out: list[float | None] = []
    for obj in objectives:
        found = [x for (task, name), x in finals.items()
                 if name == obj.metric and (obj.task is None or task == obj.task)]
        x = found[-1] if found else None
        usable = isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
        out.append(float(x) if usable and x is not None else None)
    return out


def dominates(a: list[float], b: list[float], objectives: list[Objective]) -> bool:
    """`a` is at least as good as `b` on every objective and better on one."""
    better = False
    for x, y, obj in zip(a, b, objectives, strict=True):
        if obj.minimize:
            x, y = -x, -y
        if x < y:
            return False
        better = better or x > y
    return better


def front(points: dict[int, list[float]], objectives: list[Objective]) -> set[int]:
    """The ids whose point no other point dominates (two objectives: one sort, so a viewer of
    100,000 variants can afford it at every poll; more: each pair is compared)."""
    if len(objectives) != 2:
        return {i for i, p in points.items()
                if not any(j != i and dominates(q, p, objectives) for j, q in points.items())}
    signs = [-1.0 if o.minimize else 1.0 for o in objectives]
    gained = sorted(((signs[0] * p[0], signs[1] * p[1], i) for i, p in points.items()), reverse=True)
    out: set[int] = set()
    best_before = -math.inf  # the best second value among points with a strictly better first one
    k = 0
    while k < len(gained):
        x = gained[k][0]
        group = []
        while k < len(gained) and gained[k][0] == x:
            group.append(gained[k])
            k += 1
        top = group[0][1]  # sorted: the group's best second value comes first
        out.update(i for _x, y, i in group if y == top and y > best_before)
        best_before = max(best_before, top)
    return out


Row = tuple[int, str, list[float | None]]  # (variant id, status, objective values)


def pareto_flags(objectives: list[Objective], rows: list[Row]) -> dict[int, bool | None]:
    """id -> pareto flag for (id, status, values) rows of ONE space (see the module's docstring)."""
    if len(objectives) < 2:
        return {i: None for i, _s, _v in rows}
    complete = {i: [x for x in vals if x is not None] for i, status, vals in rows
                if status == "completed" and all(x is not None for x in vals)}
    best = front(complete, objectives)
    return {i: (i in best if status == "completed" else None) for i, status, _v in rows}


@dataclass(frozen=True)
class Scored:
    objective: list[float | None]
    pareto: bool | None


def score(kb: KB, run_id: int, variants: list[kbv.Variant], finals: dict[int, dict]) -> dict[int, Scored]:
    """Each variant's objective list and Pareto flag. The front of a space is computed over all its
    completed variants, also when only some of them are asked about."""
    objectives = for_run(kb, run_id)
    asked_spaces = {v.space for v in variants}
    pool = {v.id: v for v in variants}
    for space in asked_spaces:
        if len(objectives.get(space, [])) >= 2:
            for v in kbv.for_run(kb, run_id, status="completed", space=space):
                pool.setdefault(v.id, v)
    missing = [vid for vid in pool if vid not in finals]
    all_finals = {**finals, **(kbv.final_metrics(kb, missing) if missing else {})}
    by_space: dict[str, list[Row]] = {}
    for v in pool.values():
        by_space.setdefault(v.space, []).append((v.id, v.status, values(objectives.get(v.space, []), all_finals[v.id])))
    scored: dict[int, Scored] = {}
    for space, rows in by_space.items():
        flags = pareto_flags(objectives.get(space, []), rows)
        scored.update({vid: Scored(vals, flags[vid]) for vid, _status, vals in rows})
    return {v.id: scored[v.id] for v in variants}
