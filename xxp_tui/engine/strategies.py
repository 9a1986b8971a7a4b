"""Search strategies: which configurations of a space to run.

A configuration maps value-list names (variability points) to values, as in ExtremeXP; the
space's bindings turn it into task parameters (`Task.param`).

- gridsearch: every combination, in declaration order (ExtremeXP's itertools.product);
- randomsearch: `runs` configurations sampled without replacement from the grid;
- singlerun: one configuration, the first value of each list;
- bayesian/tpe, cmaes, qmc, random: Optuna samplers through ask/tell, `runs` being the total
  budget. The study lives in memory and is rebuilt from the KB's variants on every start, so
  there is no sampler state a crash could lose (Optuna's RDB storage would cost ~20 ms a trial).

filter/generator hooks (ExtremeXP): `filter(configs) -> configs` and `generator() -> configs`
from the configurations module; duplicates are dropped afterwards.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xxp_tui.lang.domains import EnumDomain, RangeDomain, UniformDomain
from xxp_tui.lang.model import GRID, RANDOM, SINGLE, Space

if TYPE_CHECKING:
    import optuna

MAX_GRID = 1_000_000


class StrategyError(Exception):
    """A space cannot produce configurations (a hook failed, the grid is too large…)."""


def derive_seed(*parts: object) -> int:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def value_lists(space: Space) -> dict[str, list]:
    out = {}
    for vp in space.param_values:
        values = space.values(vp)
        if values is None:
            raise StrategyError(f"space {space.name}: {vp} is continuous; {space.strategy} needs listed values")
        out[vp] = values
    return out


def grid_size(lists: dict[str, list]) -> int:
    return math.prod(len(v) for v in lists.values()) if lists else 1


def config_at(lists: dict[str, list], index: int) -> dict:
    """The `index`-th combination of itertools.product over the lists (mixed-radix decoding)."""
    names = list(lists)
    out = {}
    for name in reversed(names):
        values = lists[name]
        index, pos = divmod(index, len(values))
        out[name] = values[pos]
    return {n: out[n] for n in names}


class LazyGrid:
    """A grid space's configurations handed out a batch at a time, in itertools.product order (as
    ExtremeXP's lazy product): memory and start-up do not grow with the grid's size."""

    def __init__(self, space: Space, taken: int = 0) -> None:
        self.lists = value_lists(space)
        self.size = grid_size(self.lists)
        if self.size > MAX_GRID:
            raise StrategyError(f"space {space.name} has {self.size} configurations; the limit is {MAX_GRID}")
        self.next = taken  # how many were handed out (a resumed run counts its variants)

    @staticmethod
    def applies(space: Space) -> bool:
        return space.strategy == GRID and not space.filter and not space.generator

    @property
    def left(self) -> int:
        return max(0, self.size - self.next)

    def take(self, n: int) -> list[dict]:
        end = min(self.size, self.next + max(0, n))
        out = [config_at(self.lists, i) for i in range(self.next, end)]
        self.next = end
        return out


def configurations(space: Space, seed: int, module: Path | None) -> list[dict]:
    """The configurations a finite space runs, after filter and generator."""
    lists = value_lists(space)
    size = grid_size(lists)
    if space.strategy == SINGLE:
        configs = [{vp: values[0] for vp, values in lists.items()}] if size else []
    elif space.strategy == RANDOM:
        k = size if space.runs is None else min(space.runs, size)
        rng = random.Random(seed)
        configs = [config_at(lists, i) for i in sorted(rng.sample(range(size), k))] if size else []
    elif space.strategy == GRID:
        if size > MAX_GRID:
            raise StrategyError(f"space {space.name} has {size} configurations; the limit is {MAX_GRID}")
        names = list(lists)
        configs = [dict(zip(names, combo, strict=True)) for combo in itertools.product(*lists.values())]
    else:
        raise StrategyError(f"strategy {space.strategy} does not enumerate configurations")
    if space.filter:
        configs = list(_hook(module, space.filter)(configs))
    if space.generator:
        configs = configs + list(_hook(module, space.generator)())
    return _unique(configs)


def _unique(configs: list[dict]) -> list[dict]:
    seen, out = set(), []
    for c in configs:
        if not isinstance(c, dict):
            raise StrategyError(f"a filter/generator returned {c!r}, not a dict of values")
        key = json.dumps(c, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def _hook(module: Path | None, name: str):
    if module is None:
        raise StrategyError(f"no configurations module found for {name}")
    spec = importlib.util.spec_from_file_location(f"xxp_configurations_{abs(hash(str(module)))}", module)
    if spec is None or spec.loader is None:
        raise StrategyError(f"{module.name} cannot be loaded as a Python module")
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as exc:  # user code: report, do not crash the engine
        raise StrategyError(f"{module.name} failed to load: {exc!r}") from exc
    fn = getattr(mod, name, None)
    if not callable(fn):
        raise StrategyError(f"{module.name} defines no function {name}")

    def call(*args):
        try:
            return fn(*args)
        except Exception as exc:
            raise StrategyError(f"{name}() in {module.name} failed: {exc!r}") from exc

    return call


def to_params(space: Space, config: dict) -> dict[str, Any]:
    """Configuration (by value list) -> task parameters `Task.param` via the space's bindings."""
    params = {}
    for b in space.bindings:
        if b.vp is not None:
            if b.vp in config:
                params[b.key] = config[b.vp]
        else:
            params[b.key] = b.value
    return params


# ----------------------------------------------------------------------------- Optuna


def distributions(space: Space) -> dict[str, optuna.distributions.BaseDistribution]:
    from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, BaseDistribution] = {}
    for vp, domains in space.param_values.items():
        if len(domains) > 1 or isinstance(domains[0], EnumDomain):
            values = space.values(vp)
            if values is None:
                raise StrategyError(f"{vp}: mixing continuous and listed values is not supported")
            out[vp] = CategoricalDistribution(list(dict.fromkeys(values)))
            continue
        d = domains[0]
        if isinstance(d, UniformDomain):
            out[vp] = FloatDistribution(d.low, d.high, log=d.log)
        elif isinstance(d, RangeDomain):
            ints = isinstance(d.start, int) and isinstance(d.stop, int)
            if d.log:
                out[vp] = (IntDistribution(int(d.start), int(d.stop), log=True) if ints
                           else FloatDistribution(float(d.start), float(d.stop), log=True))
            elif d.is_finite:
                values = d.enumerate()
                if not values:
                    raise StrategyError(f"{vp} = {d.describe()} is empty")
                step = d.step or 1
                if step < 0:
                    out[vp] = CategoricalDistribution(values)
                elif d.is_integer:
                    out[vp] = IntDistribution(int(values[0]), int(values[-1]), step=int(step))
                else:
                    out[vp] = FloatDistribution(float(values[0]), float(values[-1]), step=float(step))
            else:
                out[vp] = FloatDistribution(float(d.start), float(d.stop))
    return out


def good_fraction(n: int) -> int:
    """TPE's split of the trials into "good" and "bad": the best 25 % (Hyperopt's default; Optuna's
    10 % exploits earlier results, e.g. a warm start's, much less: see benchmarks/reuse.py)."""
    return min(math.ceil(0.25 * n), 25)


def make_sampler(strategy: str, seed: int) -> optuna.samplers.BaseSampler:
    """The sampler of a strategy. Optuna's ExperimentalWarning (QMC, constant_liar), with its source
    path, would land in the user's progress lines: it is about Optuna's API, not their run."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if strategy in ("bayesian", "tpe"):
            warnings.simplefilter("ignore", FutureWarning)  # `gamma` is deprecated (not removed) since 4.9; pinned < 6
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=4,
                                              gamma=good_fraction)
        if strategy == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if strategy == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
        return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(name: str | None) -> optuna.pruners.BasePruner:
    import optuna

    if name in (None, "none"):
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1)
    if name == "percentile":
        return optuna.pruners.PercentilePruner(25.0, n_startup_trials=3, n_warmup_steps=1)
    if name in ("sha", "successive_halving"):
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.HyperbandPruner()


class OptunaSearch:
    """An in-memory Optuna study for one space, fed from the KB."""

    def __init__(self, space: Space, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.dists = distributions(space)
        directions = [optuna.study.StudyDirection[d.upper()]
                      for d in [o.direction for o in space.objectives] or ["maximize"]]
        self.study = optuna.create_study(
            directions=directions, sampler=make_sampler(space.strategy, seed), pruner=make_pruner(space.pruner)
        )
        self.live: dict[int, optuna.trial.Trial] = {}  # variant id -> asked trial

    def ask(self) -> optuna.trial.Trial:
        """A new trial of the space's distributions; its `params` are the next configuration to run."""
        return self.study.ask(self.dists)

    def bind(self, variant_id: int, trial: optuna.trial.Trial) -> None:
        """The variant that runs an asked trial: its reports and its end go to that trial."""
        self.live[variant_id] = trial

    def report(self, variant_id: int, value: float, step: int) -> bool:
        """Report an intermediate objective value; True when the pruner says stop."""
        trial = self.live.get(variant_id)
        if trial is None or not math.isfinite(value):
            return False
        try:
            trial.report(value, step)
        except (NotImplementedError, ValueError):  # multi-objective studies cannot prune
            return False
        return trial.should_prune()

    def tell(self, variant_id: int, config: dict, values: Sequence[float] | None, state: str,
             intermediate: dict[int, float] | None = None) -> str | None:
        """Record a finished variant; asked trials are told, others (injected, from an earlier engine)
        are added as finished trials. Returns a note when Optuna refuses the point."""
        import optuna
        from optuna.trial import TrialState

        states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}
        trial = self.live.pop(variant_id, None)
        if trial is not None:
            try:
                if states[state] is TrialState.COMPLETE:
                    self.study.tell(trial, list(values or []))
                else:
                    self.study.tell(trial, state=states[state])
            except (ValueError, RuntimeError) as exc:
                return f"optuna refused the result: {exc}"
            return None
        params = {k: v for k, v in config.items() if k in self.dists}
        if set(params) != set(self.dists):
            return "not told to the sampler: some parameters of the space are missing"
        try:
            frozen = optuna.trial.create_trial(
                params=params, distributions=self.dists, state=states[state],
                values=list(values or []) if states[state] is TrialState.COMPLETE else None,
                intermediate_values=intermediate or {},
            )
            self.study.add_trial(frozen)
        except ValueError as exc:
            return f"not told to the sampler: {exc}"
        return None
