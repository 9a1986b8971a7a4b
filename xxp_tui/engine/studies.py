"""Optuna studies rebuilt from the knowledge base, for what Optuna's own tools do well: parameter
importance (its fANOVA evaluator) and an RDB export that `optuna-dashboard` opens. Also the
cross-run "best configurations of a workflow" query.

Distributions are the ones the run's spec declared (log ranges stay log, steps stay steps), read
from the spec text the run recorded, keyed `Task.param`; only when that text cannot be loaded any
more (its libraries are gone) are they rebuilt from the recorded values (numbers: their min..max,
anything else: the set of choices). Multi-objective spaces become multi-objective studies (every
direction, every value, in the declared order).
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xxp_tui.kb import KB
from xxp_tui.kb import knowledge as kbknow
from xxp_tui.kb import objectives as kbo
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.queries import metric_dict


class StudyError(Exception):
    """Not enough data for what was asked; the message says what is missing."""


def space_info(model: dict, experiment: str) -> dict[str, dict]:
    """space -> {"workflow", "direction", "objective"} from a run's recorded model."""
    out = {}
    for name, sp in model.get("experiments", {}).get(experiment, {}).get("spaces", {}).items():
        first = (sp.get("objectives") or ["maximize -"])[0].split(" ", 1)
        direction = "minimize" if first[0].startswith("minimi") else "maximize"
        out[name] = {"workflow": sp.get("workflow"), "direction": direction, "objective": first[1]}
    return out


def finished_trials(kb: KB, run_id: int, space: str) -> list[kbv.Variant]:
    """Completed variants of a space that have an objective value, in the order they ran; not the
    warm-start copies of earlier runs' results (they belong to those runs)."""
    return [v for v in kbv.for_run(kb, run_id, status="completed", space=space)
            if v.objective is not None and v.origin != "warm_start"]


def distributions(variants: list[kbv.Variant]) -> dict[str, Any]:
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

    keys = sorted({k for v in variants for k in v.params})
    out: dict[str, BaseDistribution] = {}
    for key in keys:
        values = [v.params.get(key) for v in variants]
        numbers = [x for x in values if isinstance(x, int | float) and not isinstance(x, bool)]
        if len(numbers) == len(values) and all(math.isfinite(x) for x in numbers):
            low, high = min(numbers), max(numbers)
            if low == high:
                continue  # fixed: not a parameter of the search
            if all(isinstance(x, int) for x in numbers):
                out[key] = IntDistribution(int(low), int(high))
            else:
                out[key] = FloatDistribution(float(low), float(high))
        else:
            choices = sorted({str(x) for x in values})
            if len(choices) > 1:
                out[key] = CategoricalDistribution(choices)
    return out


def declared_distributions(kb: KB, run_id: int) -> dict[str, dict[str, Any]] | None:
    """space -> {Task.param: the distribution its spec declared}, from the spec text the run recorded;
    None when that text cannot be loaded any more."""
    from xxp_tui.engine.strategies import StrategyError
    from xxp_tui.engine.strategies import distributions as space_distributions
    from xxp_tui.lang import load_project

    run = kbr.get_run(kb, run_id)
    text, _files, _model = kbr.spec_record(kb, run_id)
    try:
        result = load_project(run.spec_path, text=text)
    except OSError:
        return None
    if not result.ok or result.project is None or run.experiment not in result.project.experiments:
        return None
    out: dict[str, dict[str, Any]] = {}
    for name, space in result.project.experiments[run.experiment].spaces.items():
        try:
            by_vp = space_distributions(space)
        except StrategyError:
            continue
        out[name] = {b.key: by_vp[b.vp] for b in space.bindings if b.vp in by_vp}
    return out


def build_study(variants: list[kbv.Variant], objectives: list[kbo.Objective], values: dict[int, list],
                dists: dict[str, Any] | None = None, storage=None, name: str | None = None):
    """A study of the variants that reported every objective: one direction per objective, the
    declared distributions (`dists`; None: rebuilt from the values). A variant whose params lie
    outside them (injected off the grid) is left out: Optuna cannot hold it."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    variants = [v for v in variants if values.get(v.id) and all(x is not None for x in values[v.id])]
    observed = dists is None
    dists = distributions(variants) if dists is None else dists
    directions = [optuna.study.StudyDirection[o.direction.upper()] for o in objectives] or \
        [optuna.study.StudyDirection.MAXIMIZE]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions)
    for v in variants:
        params = {k: (str(v.params[k]) if observed and isinstance(d, CategoricalDistribution) else v.params[k])
                  for k, d in dists.items() if k in v.params}
        if set(params) != set(dists) or not all(_inside(dists[k], x) for k, x in params.items()):
            continue
        study.add_trial(optuna.trial.create_trial(
            params=params, distributions=dists, values=values[v.id],
            user_attrs={"variant": v.label, "origin": v.origin, "seed": v.seed}))
    return study


def _inside(dist, value) -> bool:
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def _objective_values(kb: KB, variants: list[kbv.Variant], objectives: list[kbo.Objective]) -> dict[int, list]:
    finals = kbv.final_metrics(kb, [v.id for v in variants])
    return {v.id: kbo.values(objectives, finals[v.id]) for v in variants}


def export_optuna(kb: KB, run_id: int, out: Path) -> list[str]:
    """One study per space of the run in an Optuna RDB (SQLite) file; returns the study names."""
    run = kbr.get_run(kb, run_id)
    _, _, model = kbr.spec_record(kb, run_id)
    info = space_info(model, run.experiment)
    out = Path(out)
    if out.exists():
        raise StudyError(f"{out} exists; choose a new file (an export never overwrites)")
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise StudyError(f"cannot write {out}: {out.parent} is not a folder you can write to")
    storage = f"sqlite:///{out}"
    names = []
    declared = kbo.for_run(kb, run_id)
    dists = declared_distributions(kb, run_id) or {}
    for space in info:
        trials = finished_trials(kb, run_id, space)
        if not trials:
            continue
        name = f"r{run_id}-{space}"
        objectives = declared.get(space, [])
        build_study(trials, objectives, _objective_values(kb, trials, objectives), dists.get(space),
                    storage=storage, name=name)
        names.append(name)
    if not names:
        raise StudyError(f"r{run_id} has no completed variant with an objective to export")
    out.chmod(0o600)
    return names


def importance(kb: KB, run_id: int, space: str) -> dict[str, float]:
    """Parameter importance of a space for its first objective (see importance_by_objective)."""
    return next(iter(importance_by_objective(kb, run_id, space).values()))


def importance_by_objective(kb: KB, run_id: int, space: str) -> dict[str, dict[str, float]]:
    """Parameter importance of a space (Optuna's fANOVA evaluator), highest first, for each of its
    objectives in declared order (keyed by `direction Task.metric`)."""
    import optuna

    try:
        import sklearn.ensemble  # noqa: F401 - fANOVA fits scikit-learn's forests: say so, not ImportError
    except ImportError:
        raise StudyError("parameter importance needs scikit-learn: pip install 'xxp-tui[importance]'") from None

    run = kbr.get_run(kb, run_id)
    _, _, model = kbr.spec_record(kb, run_id)
    info = space_info(model, run.experiment)
    if space not in info:
        raise StudyError(f"{space} is not a space of r{run_id} (spaces: {', '.join(info) or 'none'})")
    trials = finished_trials(kb, run_id, space)
    objectives = kbo.for_run(kb, run_id).get(space) or [kbo.Objective("maximize", info[space]["objective"], None)]
    study = build_study(trials, objectives, _objective_values(kb, trials, objectives))
    if len(study.trials) < 2 or not distributions(trials):
        raise StudyError(f"{space} of r{run_id} needs at least 2 completed variants with varying params "
                         f"(it has {len(study.trials)})")
    out = {}
    for i, obj in enumerate(objectives):
        target = functools.partial(_objective_value, i) if len(objectives) > 1 else None
        out[f"{obj.direction} {obj.label}"] = optuna.importance.get_param_importances(
            study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0), target=target)
    return out


@dataclass(frozen=True)
class Best:
    variant: kbv.Variant
    run: kbr.Run
    space: str
    value: float
    metric: str


def best(kb: KB, workflow: str, metric: str | None = None, minimize: bool | None = None, top: int = 5) -> list[Best]:
    """The best completed variants, across every run, of the spaces that ran `workflow`: by each
    space's objective (and its direction), or by a named final metric."""
    spaces: dict[str, dict[int, dict]] = {}  # space name -> {run id: its meta in that run}
    directions: set[str] = set()
    for run_id, experiment, model, _status in kbknow.run_models(kb):
        for space, meta in space_info(model, experiment).items():
            if meta["workflow"] == workflow:
                spaces.setdefault(space, {})[run_id] = meta
                directions.add(meta["direction"])
    if metric is None and minimize is None:
        minimize = directions == {"minimize"}
    found: list[tuple[kbv.Variant, str, float, str]] = []
    for space, metas in spaces.items():
        if metric:
            found += _by_metric(kb, space, metas, metric)
        else:
            found += _by_objective(kb, space, metas, bool(minimize), top)
    found.sort(key=lambda f: (-f[2] if not minimize else f[2], f[0].id))
    distinct: dict[str, tuple] = {}  # one row per configuration: its earliest run at its best value
    for f in found:
        distinct.setdefault(json.dumps(f[0].params, sort_keys=True, default=str), f)
    runs: dict[int, kbr.Run] = {}
    out = []
    for v, space, value, name in list(distinct.values())[:top]:
        run = runs.get(v.run_id) or runs.setdefault(v.run_id, kbr.get_run(kb, v.run_id))
        out.append(Best(v, run, space, value, name))
    return out


def _by_objective(kb: KB, space: str, metas: dict[int, dict], minimize: bool, top: int
                  ) -> list[tuple[kbv.Variant, str, float, str]]:
    """Best first from the index, only until `top` distinct configurations are in hand (and the rows
    tied with the last of them): any configuration of the overall top is among them."""
    out: list[tuple[kbv.Variant, str, float, str]] = []
    seen: set[str] = set()
    boundary: float | None = None
    for v in kbknow.best_first(kb, space, set(metas), descending=not minimize):
        value = v.objective
        if not isinstance(value, int | float) or not math.isfinite(value):
            continue
        if boundary is not None and value != boundary:
            break
        out.append((v, space, float(value), metas[v.run_id]["objective"]))
        seen.add(json.dumps(v.params, sort_keys=True, default=str))
        if len(seen) >= top and boundary is None:
            boundary = value
    return out


def _by_metric(kb: KB, space: str, metas: dict[int, dict], metric: str) -> list[tuple[kbv.Variant, str, float, str]]:
    out = []
    for run_id in metas:
        variants = [v for v in kbv.for_run(kb, run_id, status="completed", space=space) if v.origin != "warm_start"]
        finals = kbv.final_metrics(kb, [v.id for v in variants])
        for v in variants:
            value = metric_dict(finals[v.id]).get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                out.append((v, space, float(value), metric))
    return out


@dataclass(frozen=True)
class FrontMember:
    variant: kbv.Variant
    run: kbr.Run
    space: str
    values: list[float]


def pareto_front(kb: KB, workflow: str) -> tuple[list[kbo.Objective], list[FrontMember]] | None:
    """The Pareto front a workflow reached across every run: the completed variants no other one
    dominates, among the spaces that ran it with the same two or more objectives (those of the first
    such space), best first objective first. None when no space ran it with several objectives."""
    reference: list[kbo.Objective] | None = None
    members: list[FrontMember] = []
    for run in kbr.list_runs(kb):
        _, _, model = kbr.spec_record(kb, run.id)
        declared = kbo.declared(model, run.experiment)
        for space, meta in space_info(model, run.experiment).items():
            objectives = declared.get(space, [])
            if meta["workflow"] != workflow or len(objectives) < 2:
                continue
            reference = reference or objectives
            if objectives != reference:
                continue  # other objectives: not comparable on one front
            variants = [v for v in kbv.for_run(kb, run.id, status="completed", space=space) if v.origin != "warm_start"]
            for v, vals in zip(variants, _objective_values(kb, variants, objectives).values(), strict=True):
                if all(x is not None for x in vals):
                    members.append(FrontMember(v, run, space, [float(x) for x in vals]))
    if reference is None:
        return None
    on_front = kbo.front(dict(enumerate(m.values for m in members)), reference)
    sign = -1.0 if reference[0].minimize else 1.0
    chosen = sorted((members[i] for i in on_front), key=lambda m: (-sign * m.values[0], m.variant.id))
    return reference, chosen


def workflows_in(kb: KB) -> list[str]:
    names: set[str] = set()
    for _run_id, experiment, model, _status in kbknow.run_models(kb):
        names.update(m["workflow"] for m in space_info(model, experiment).values() if m["workflow"])
    return sorted(names)


def _objective_value(i: int, trial: Any) -> float:
    """The i-th objective of a finished trial (what importance is computed for, per objective)."""
    return float(trial.values[i])
