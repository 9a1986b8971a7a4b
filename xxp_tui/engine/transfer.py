"""Transfer from related earlier spaces: zero-shot starts and a learned search space.

Warm start (warmstart.py) reuses earlier results that are *the same experiment*: identical code
and params, so their values can be told to the sampler as they are. A new dataset or a changed
workflow breaks that: the values are not comparable any more (an accuracy of 0.8 may be the best
on one dataset and poor on another). What still carries over is *where* the good configurations
were. Two things are taken from related spaces, both with `warmstart auto;`:

- zero-shot starts: the best k (3) distinct configurations of related spaces, each ranked within
  its own space (a rank travels across datasets where a raw value does not), are enqueued first as
  variants of origin `transfer`. They use the budget and are told to the sampler once they have run
  on the new data.
- a learned search space (Perrone et al., NeurIPS 2019, "Learning search spaces for Bayesian
  optimization: another view of hyperparameter transfer learning"): the bounding box of the best
  configurations of related spaces (the top k of each), with a margin (see MARGIN).
  `transfer propose;` (the default) logs it and prints it as a spec snippet for the human to
  accept; `transfer boundingbox;` narrows the sampler's distributions to it at once (kept in the
  run's settings, so a resumed engine narrows them again); `transfer none;` takes nothing from
  related spaces.

A space is *related* when its searched params (`Task.param` names bound to value lists) have the
same names and kinds (number, text, bool) as this space's, or when its experiment has the same
`intent` and searched at least this space's params. Spaces of the same run never count, nor do
unrelated ones: nothing is transferred from them.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from xxp_tui.engine.studies import space_info
from xxp_tui.kb import KB
from xxp_tui.kb import knowledge as kbknow
from xxp_tui.kb import variants as kbv
from xxp_tui.lang.model import Space

TOP_K = 3
# The box gets a margin of this share of the original range on each side (in log space for a log
# range): an optimum that moved a little with the new data stays inside, and a box around a single
# related space's best configurations is not a point. Perrone et al. use the tight box around the
# best configuration of each of many earlier tasks; with the few related runs a team has, a margin is
# what keeps the box from excluding the new optimum (benchmarks/transfer.py measures it).
MARGIN = 0.1


@dataclass(frozen=True)
class Source:
    """A related earlier space and why it is related."""

    run_id: int
    space: str
    why: str

    @property
    def label(self) -> str:
        return f"r{self.run_id}:{self.space}"


@dataclass(frozen=True)
class Ranked:
    """A good configuration of a related space: its quantile there (0 = the best) and its variant."""

    quantile: float
    rank: int
    size: int
    variant: kbv.Variant
    source: Source
    config: dict[str, Any]  # projected onto this space


@dataclass
class Plan:
    sources: list[Source] = field(default_factory=list)
    starts: list[Ranked] = field(default_factory=list)
    box: dict[str, Any] = field(default_factory=dict)  # vp -> [low, high] or [choices]
    was: dict[str, str] = field(default_factory=dict)  # vp -> the original range, described
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, why: str) -> None:
        self.skipped[why] = self.skipped.get(why, 0) + 1


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "text"


def searched_keys(space: Space, dists: dict) -> dict[str, str]:
    """vp -> the `Task.param` it sets (the first one, when a value list feeds several)."""
    out: dict[str, str] = {}
    for b in space.bindings:
        if b.vp is not None and b.vp in dists and b.vp not in out:
            out[b.vp] = b.key
    return out


def dist_kind(dist) -> str:
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        kinds = {kind_of(c) for c in dist.choices}
        return kinds.pop() if len(kinds) == 1 else "mixed"
    return "number"


def _source_keys(model_space: dict, variants: list[kbv.Variant]) -> dict[str, str]:
    """`Task.param` -> kind of the params a recorded space searched (from its bindings when the
    model has them, else the params whose values vary among its variants)."""
    keys: set[str] = {k for ks in (model_space.get("bindings") or {}).values() for k in ks}
    if not keys:
        seen: dict[str, set[str]] = {}
        for v in variants:
            for k, x in v.params.items():
                seen.setdefault(k, set()).add(json.dumps(x, sort_keys=True, default=str))
        keys = {k for k, values in seen.items() if len(values) > 1}
    out = {}
    for k in keys:
        kinds = {kind_of(v.params[k]) for v in variants if k in v.params}
        out[k] = kinds.pop() if len(kinds) == 1 else "mixed"
    return out


def related_sources(kb: KB, run_id: int, space: Space, dists: dict, intent: str | None
                    ) -> list[tuple[Source, list[kbv.Variant], str]]:
    """Related spaces of earlier runs, with their completed variants and objective direction."""
    mine = {key: dist_kind(dists[vp]) for vp, key in searched_keys(space, dists).items()}
    if not mine:
        return []
    out = []
    for rid, experiment, model, _status in kbknow.run_models(kb):
        if rid == run_id:
            continue
        exp = model.get("experiments", {}).get(experiment, {})
        info = space_info(model, experiment)
        for name, sp in exp.get("spaces", {}).items():
            done = [v for v in kbv.for_run(kb, rid, status="completed", space=name)
                    if v.objective is not None and v.origin != "warm_start" and math.isfinite(v.objective)]
            if not done:
                continue
            theirs = _source_keys(sp, done)
            same_kinds = all(theirs.get(k) == kind for k, kind in mine.items())
            if theirs == mine:
                why = f"searches the same params ({', '.join(sorted(mine))})"
            elif intent and exp.get("intent") and exp["intent"].lower() == intent.lower() and same_kinds:
                why = f"same intent {intent}"
            else:
                continue
            out.append((Source(rid, name, why), done, info.get(name, {}).get("direction", "maximize")))
    return out


def fit(dist, value: Any) -> tuple[Any, bool] | None:
    """`value` as a point of `dist` (clipped into its bounds and onto its step), whether it had to
    move, or None when it cannot be (a choice the space does not offer)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        for choice in dist.choices:
            if choice == value and kind_of(choice) == kind_of(value):
                return choice, False
        return None
    if kind_of(value) != "number" or not math.isfinite(value):
        return None
    x = min(max(float(value), dist.low), dist.high)
    step = getattr(dist, "step", None)
    if step:
        x = dist.low + round((x - dist.low) / step) * step
        x = min(x, dist.high)
    if isinstance(dist, IntDistribution):
        x = round(x)
    return x, x != value


def plan(kb: KB, run_id: int, space: Space, dists: dict, intent: str | None, known: list[dict],
         k: int = TOP_K) -> Plan:
    """What to take from related spaces for `space`: the zero-shot starts (not among the `known`
    configurations already told to the sampler) and the bounding box."""
    result = Plan()
    keys = searched_keys(space, dists)
    pool: list[Ranked] = []
    for source, done, direction in related_sources(kb, run_id, space, dists, intent):
        result.sources.append(source)
        sign = -1.0 if direction == "maximize" else 1.0
        ranked = sorted(done, key=lambda v: (sign * (v.objective or 0.0), v.id))  # done: all have one
        taken = 0
        for rank, v in enumerate(ranked):
            if taken == k:
                break
            config, moved = {}, False
            for vp, key in keys.items():
                fitted = fit(dists[vp], v.params.get(key))
                if fitted is None:
                    break
                config[vp], shifted = fitted
                moved = moved or shifted
            else:
                pool.append(Ranked(rank / len(ranked), rank + 1, len(ranked), v, source, config))
                taken += 1
                if moved:
                    result.skip("moved into this space's range")
                continue
            result.skip("a value this space does not offer")
    result.box, result.was = bounding_box(dists, [r.config for r in pool])
    seen = {_point(c) for c in known}
    for r in sorted(pool, key=lambda r: (r.quantile, -r.source.run_id, r.variant.id)):
        if len(result.starts) == k:
            break
        if _point(r.config) in seen:
            continue
        seen.add(_point(r.config))
        result.starts.append(r)
    return result


def _point(config: dict) -> tuple:
    return tuple(sorted((k, json.dumps(v, default=str)) for k, v in config.items()))


def bounding_box(dists: dict, configs: list[dict]) -> tuple[dict[str, Any], dict[str, str]]:
    """vp -> [low, high] (numbers) or the list of choices seen, for the value lists it narrows."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    box: dict[str, Any] = {}
    was: dict[str, str] = {}
    if not configs:
        return box, was
    for vp, dist in dists.items():
        values = [c[vp] for c in configs if vp in c]
        if not values:
            continue
        if isinstance(dist, CategoricalDistribution):
            chosen = [c for c in dist.choices if c in values]
            if len(chosen) < len(dist.choices):
                box[vp], was[vp] = chosen, f"{len(dist.choices)} choices"
            continue
        low, high = min(values), max(values)
        if dist.log:
            pad = MARGIN * math.log(dist.high / dist.low)
            low, high = max(dist.low, low / math.exp(pad)), min(dist.high, high * math.exp(pad))
        else:
            pad = MARGIN * (dist.high - dist.low)
            low, high = max(dist.low, low - pad), min(dist.high, high + pad)
        step = getattr(dist, "step", None)
        if step:
            low = dist.low + math.floor((low - dist.low) / step + 1e-9) * step
            high = dist.low + math.ceil((high - dist.low) / step - 1e-9) * step
        if isinstance(dist, IntDistribution):
            low, high = int(low), int(high)
        if (low, high) != (dist.low, dist.high):
            box[vp], was[vp] = [low, high], f"{dist.low:g}..{dist.high:g}"
    return box, was


def narrowed(dists: dict, box: dict[str, Any]) -> dict:
    """The sampler's distributions inside the box."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = dict(dists)
    for vp, bounds in box.items():
        d = dists.get(vp)
        if d is None:
            continue
        if isinstance(d, CategoricalDistribution):
            out[vp] = CategoricalDistribution([c for c in d.choices if c in bounds] or list(d.choices))
        elif isinstance(d, IntDistribution):
            out[vp] = IntDistribution(int(bounds[0]), int(bounds[1]), log=d.log, step=d.step)
        elif isinstance(d, FloatDistribution):
            out[vp] = FloatDistribution(float(bounds[0]), float(bounds[1]), log=d.log, step=d.step)
    return out


def snippet(dists: dict, box: dict[str, Any]) -> list[str]:
    """The narrowed value lists as lines of a space, for the human to paste."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    lines = []
    for vp, bounds in box.items():
        d = dists[vp]
        if isinstance(d, CategoricalDistribution):
            values = ", ".join(json.dumps(c) if isinstance(c, str) else str(c) for c in bounds)
            lines.append(f"param_values {vp} = enum({values});")
        elif isinstance(d, IntDistribution) and d.log:
            lines.append(f"param_values {vp} = range({bounds[0]}, {bounds[1]}, log);")
        elif isinstance(d, IntDistribution):
            step = f", {d.step}" if d.step != 1 else ""
            lines.append(f"param_values {vp} = range({bounds[0]}, {bounds[1] + d.step}{step});")
        elif d.step:
            lines.append(f"param_values {vp} = range({bounds[0]:.6g}, {bounds[1] + d.step:.6g}, {d.step:g});")
        else:
            log = ", log" if d.log else ""
            lines.append(f"param_values {vp} = uniform({bounds[0]:.6g}, {bounds[1]:.6g}{log});")
    return lines


def describe_box(box: dict[str, Any], was: dict[str, str]) -> str:
    parts = []
    for vp, bounds in box.items():
        now = (f"{bounds[0]:.4g}..{bounds[1]:.4g}" if len(bounds) == 2 and all(kind_of(b) == "number" for b in bounds)
               and vp in was and ".." in was[vp] else ", ".join(map(str, bounds)))
        parts.append(f"{vp} {now} (was {was.get(vp, '?')})")
    return "; ".join(parts)
