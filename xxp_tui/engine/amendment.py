"""What an amendment of a running experiment does: a pure function of two versions of the
experiment and the run's position.

`plan(old, new, nodes, variants)` compares the version a run executes with a proposed one and
says, per space, which variants it adds and which queued ones it cancels, what budget,
parallelism, strategy or values change, which nodes and edges it adds, changes or removes, and
which changes it refuses because they would rewrite history (a finished node, a started space's
strategy). The CLI shows this plan before asking; the engine computes it again when it applies
the command (the run moved on meanwhile) and carries it out. No I/O here, so it is tested fast.
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from xxp_tui.engine.core.planning import REMOVED_BY_AMENDMENT
from xxp_tui.engine.strategies import MAX_GRID, StrategyError, config_at, grid_size, value_lists
from xxp_tui.lang.domains import describe as describe_domains
from xxp_tui.lang.model import GRID, RANDOM, Experiment, Space, Workflow

FINISHED_NODE = ("done", "failed")
REMOVED = REMOVED_BY_AMENDMENT
V = TypeVar("V")
SHOWN_POINTS = 5  # configurations listed per space in a summary; the rest are counted


@dataclass(frozen=True)
class NodeState:
    status: str  # pending | running | done | skipped | failed
    iteration: int = 0


@dataclass(frozen=True)
class VariantState:
    """What the plan needs to know of a variant of the run (its current round only)."""

    id: int
    space: str
    status: str
    origin: str
    config: Mapping


@dataclass
class SpaceChange:
    name: str
    started: bool
    add: list[dict] = field(default_factory=list)  # configurations queued now (grid, random)
    add_lazily: int = 0  # grid points the engine queues batch by batch (counted, not listed)
    cancel: list[int] = field(default_factory=list)  # queued variants no longer in the space
    values: dict[str, tuple[str, str]] = field(default_factory=dict)  # value list -> (before, after)
    runs: tuple[int | None, int | None] | None = None
    parallel: tuple[int | None, int | None] | None = None
    other: list[str] = field(default_factory=list)  # changes of a space not started yet
    resample: bool = False  # an Optuna space: rebuild the sampler with the new distributions
    outside: list[int] = field(default_factory=list)  # finished trials outside the new space (not told)
    inside: list[int] = field(default_factory=list)  # finished trials inside it (told to the new sampler)

    def lines(self) -> list[str]:
        out = []
        for vp, (before, after) in self.values.items():
            out.append(f"{self.name}: {vp} {before} -> {after}")
        if self.add:
            shown = ", ".join(_point(c) for c in self.add[:SHOWN_POINTS])
            more = f" and {len(self.add) - SHOWN_POINTS} more" if len(self.add) > SHOWN_POINTS else ""
            out.append(f"{self.name}: adds {len(self.add)} variant(s): {shown}{more}")
        if self.add_lazily:
            out.append(f"{self.name}: adds {self.add_lazily} grid point(s)")
        if self.cancel:
            out.append(f"{self.name}: cancels {len(self.cancel)} queued variant(s) ({REMOVED}): "
                       + ", ".join(f"v{i}" for i in self.cancel[:10]) + (" …" if len(self.cancel) > 10 else ""))
        if self.runs is not None:
            out.append(f"{self.name}: budget runs {_n(self.runs[0])} -> {_n(self.runs[1])}")
        if self.parallel is not None:
            out.append(f"{self.name}: parallel {_n(self.parallel[0])} -> {_n(self.parallel[1])}")
        if self.resample:
            outside = f"; {len(self.outside)} outside it kept but not told" if self.outside else ""
            out.append(f"{self.name}: the sampler continues with the new distributions, told the "
                       f"{len(self.inside)} earlier trial(s) inside them{outside}")
        out.extend(f"{self.name}: {line}" for line in self.other)
        return out


@dataclass
class Amendment:
    spaces: dict[str, SpaceChange] = field(default_factory=dict)
    nodes_added: list[str] = field(default_factory=list)
    nodes_changed: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    edges_added: list[str] = field(default_factory=list)
    edges_changed: list[str] = field(default_factory=list)
    edges_removed: list[str] = field(default_factory=list)
    other: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def empty(self) -> bool:
        return not self.lines()

    def lines(self) -> list[str]:
        out = [line for change in self.spaces.values() for line in change.lines()]
        for label, items in (("adds node", self.nodes_added), ("changes node", self.nodes_changed),
                             ("removes node", self.nodes_removed), ("adds edge", self.edges_added),
                             ("changes edge", self.edges_changed), ("removes edge", self.edges_removed)):
            out.extend(f"{label} {item}" for item in items)
        out.extend(self.other)
        return out

    def refusal(self) -> str:
        """The refusals as one sentence."""
        return "the amendment rewrites history: " + "; ".join(self.refusals)


def _n(value: int | None) -> str:
    return "unset" if value is None else str(value)


def _point(config: Mapping) -> str:
    return "{" + ", ".join(f"{k}={v!r}" for k, v in config.items()) + "}"


def config_key(config: Mapping) -> str:
    return json.dumps(dict(config), sort_keys=True, default=str)


def plain(value: object) -> object:
    """A model value without source positions: two versions of a space that differ only in where
    its lines are compare equal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return tuple((f.name, plain(getattr(value, f.name))) for f in dataclasses.fields(value) if f.name != "pos")
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), plain(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(plain(v) for v in value)
    return value if isinstance(value, int | float | str | bool | type(None)) else str(value)


def in_space(space: Space, config: Mapping) -> bool:
    """Whether a configuration lies inside a space's value lists and ranges."""
    for vp, domains in space.param_values.items():
        if vp not in config or not any(d.contains(config[vp]) for d in domains):
            return False
    return True


def edge_key(edge) -> tuple:
    return (edge.src, edge.dst, edge.is_else)


def edge_label(edge) -> str:
    arrow = "?->" if edge.condition is not None or edge.is_else else "->"
    label = " [else]" if edge.is_else else f" [{edge.condition}]" if edge.condition else ""
    return f"{edge.src} {arrow} {edge.dst}{label}"


# ----------------------------------------------------------------------------- the plan


def plan(old: Experiment, new: Experiment, nodes: Mapping[str, NodeState], variants: Iterable[VariantState],
         old_workflows: Mapping[str, Workflow] | None = None, new_workflows: Mapping[str, Workflow] | None = None,
         seed: int = 0) -> Amendment:
    """The amendment that turns `old` (what the run executes, at position `nodes`, with `variants`
    of each node's current round) into `new`."""
    out = Amendment()
    if old.name != new.name:
        out.refusals.append(f"the experiment is {old.name}, not {new.name}")
        return out
    by_space: dict[str, list[VariantState]] = {}
    for v in variants:
        by_space.setdefault(v.space, []).append(v)
    old_wf, new_wf = old_workflows or {}, new_workflows or {}
    for name in old.nodes:
        state = nodes.get(name, NodeState("pending"))
        if name not in new.nodes:
            if state.status == "pending" and not state.iteration:
                out.nodes_removed.append(name)
            else:
                out.refusals.append(f"{name} has {_ran(state)}; it cannot be removed")
            continue
        if old.node_kind(name) != new.node_kind(name):
            if _started(state):
                out.refusals.append(f"{name} has {_ran(state)}; it cannot become a {new.node_kind(name)}")
            else:
                out.nodes_changed.append(name)
            continue
        if name in old.spaces:
            change = _space(old.spaces[name], new.spaces[name], state, by_space.get(name, []),
                            old_wf.get(old.spaces[name].workflow), new_wf.get(new.spaces[name].workflow), seed,
                            out.refusals)
            if change is not None:
                out.spaces[name] = change
        elif plain(old.tasks[name]) != plain(new.tasks[name]):
            if _started(state):
                out.refusals.append(f"{name} has {_ran(state)}; it cannot change")
            else:
                out.nodes_changed.append(name)
    for name in new.nodes:
        if name not in old.nodes:
            out.nodes_added.append(name)
    _edges(old, new, nodes, out)
    if old.parallel != new.parallel:
        out.other.append(f"experiment parallel {_n(old.parallel)} -> {_n(new.parallel)}")
    return out


def _started(state: NodeState) -> bool:
    return state.status != "pending" or state.iteration > 0


def _ran(state: NodeState) -> str:
    if state.status in FINISHED_NODE:
        return "finished"
    return "been skipped" if state.status == "skipped" else "started"


def _space(old: Space, new: Space, state: NodeState, variants: list[VariantState], old_wf: Workflow | None,
           new_wf: Workflow | None, seed: int, refusals: list[str]) -> SpaceChange | None:
    """What amending one space does, by where it stands: not started (anything may change), finished
    (nothing may), running (its values, budget and parallelism may; how it searches may not)."""
    change = _declared_changes(old, new)
    differs = _search_changes(old, new)
    if old.workflow == new.workflow and plain(old_wf) != plain(new_wf):
        differs.append(f"workflow {old.workflow}")
    if not _started(state):
        change.other.extend(f"{what} changes (the space has not started)" for what in differs)
        return change if (change.values or change.runs or change.parallel or change.other) else None
    if state.status in FINISHED_NODE:
        if differs or change.values or change.runs or change.parallel:
            refusals.append(f"space {old.name} has finished; it cannot change")
        return None
    refused = [f"space {old.name} has started; its {what} cannot change" for what in differs]
    if change.values and (new.filter or new.generator):
        refused.append(f"space {old.name} has a filter or generator; its values cannot change while it runs")
    if refused:
        refusals.extend(refused)
        return None
    if not (change.values or change.runs or change.parallel):
        return None
    try:
        _plan_running(change, new, variants, seed)
    except StrategyError as exc:
        refusals.append(str(exc))
        return None
    return change


def _declared_changes(old: Space, new: Space) -> SpaceChange:
    """The value lists, budget and parallelism that differ (what a running space may change)."""
    change = SpaceChange(old.name, started=False)
    for vp in dict.fromkeys([*old.param_values, *new.param_values]):
        before, after = old.param_values.get(vp, ()), new.param_values.get(vp, ())
        if plain(before) != plain(after):
            change.values[vp] = (describe_domains(list(before)) or "(none)", describe_domains(list(after)) or "(none)")
    if old.runs != new.runs:
        change.runs = (old.runs, new.runs)
    if old.parallel != new.parallel:
        change.parallel = (old.parallel, new.parallel)
    return change


def _search_changes(old: Space, new: Space) -> list[str]:
    """What else of the space differs: how it searches, free before it starts, history after."""
    fixed = {
        "strategy": (old.strategy, new.strategy), "objective": (old.objectives, new.objectives),
        "pruner": (old.pruner, new.pruner), "workflow": (old.workflow, new.workflow),
        "bindings": (old.bindings, new.bindings), "filter/generator": ((old.filter, old.generator),
                                                                       (new.filter, new.generator)),
        "seed": (old.seed, new.seed), "warm start": ((old.warmstart, old.transfer), (new.warmstart, new.transfer)),
        "prune_on": (old.prune_on, new.prune_on),
    }
    return [what for what, (a, b) in fixed.items() if plain(a) != plain(b)]


def _plan_running(change: SpaceChange, new: Space, variants: list[VariantState], seed: int) -> None:
    """A running space's amendment: which queued variants leave it, and what is added (grid points
    queued lazily, random points sampled now, or an Optuna sampler rebuilt on the new distributions)."""
    change.started = True
    mine = [v for v in variants if v.origin in ("strategy", "transfer")]
    if change.values:
        change.cancel = [v.id for v in mine if v.status == "queued" and not in_space(new, v.config)]
    if new.is_optuna:
        if change.values:
            change.resample = True
            finished = [v for v in variants if v.status in ("completed", "failed", "pruned")]
            change.outside = [v.id for v in finished if not in_space(new, v.config)]
            change.inside = [v.id for v in finished if in_space(new, v.config)]
    elif new.strategy == GRID and change.values:
        change.add_lazily = _new_grid_points(new, mine)
    elif new.strategy == RANDOM and (change.values or change.runs):
        change.add = _new_random_points(new, mine, change.cancel, seed)


def _new_grid_points(space: Space, variants: list[VariantState]) -> int:
    """How many points of the new grid no variant of the space holds yet."""
    lists = value_lists(space)
    size = grid_size(lists)
    if size > MAX_GRID:
        raise StrategyError(f"space {space.name} would have {size} configurations; the limit is {MAX_GRID}")
    have = {config_key(v.config) for v in variants}
    return sum(1 for i in range(size) if config_key(config_at(lists, i)) not in have)


def _new_random_points(space: Space, variants: list[VariantState], cancelled: list[int], seed: int) -> list[dict]:
    """Random search: sample (without replacement) new points of the new space until the space
    holds `runs` variants that are still in it."""
    lists = value_lists(space)
    size = grid_size(lists)
    keep = [v for v in variants if v.id not in cancelled and (v.status != "queued" or in_space(space, v.config))]
    want = (size if space.runs is None else min(space.runs, size)) - len(keep)
    have = {config_key(v.config) for v in variants}
    free = [i for i in range(size) if config_key(config_at(lists, i)) not in have]
    if want <= 0 or not free:
        return []
    picked = sorted(random.Random(seed).sample(free, min(want, len(free))))
    return [config_at(lists, i) for i in picked]


def _edges(old: Experiment, new: Experiment, nodes: Mapping[str, NodeState], out: Amendment) -> None:
    """Edges leaving a finished node (or START, once the run started) were followed already:
    adding, removing or changing one would rewrite what happened."""
    before = {edge_key(e): e for e in old.edges}
    after = {edge_key(e): e for e in new.edges}

    def settled(src: str) -> bool:
        if src == "START":
            return any(_started(s) for s in nodes.values())
        return nodes.get(src, NodeState("pending")).status in FINISHED_NODE

    for key, e in after.items():
        if key not in before:
            if settled(e.src):
                out.refusals.append(f"edge {edge_label(e)} leaves {e.src}, which has finished")
            else:
                out.edges_added.append(edge_label(e))
        elif plain(before[key]) != plain(e):
            if settled(e.src):
                out.refusals.append(f"edge {edge_label(before[key])} was evaluated when {e.src} finished; "
                                    "it cannot change")
            else:
                out.edges_changed.append(f"{edge_label(before[key])} -> {edge_label(e)}")
    for key, e in before.items():
        if key not in after:
            if settled(e.src):
                out.refusals.append(f"edge {edge_label(e)} was followed when {e.src} finished; it cannot be removed")
            else:
                out.edges_removed.append(edge_label(e))


def remap_fired(old: Experiment, new: Experiment, fired: Mapping[int, V]) -> dict[int, V]:
    """A node's per-edge state (keyed by edge index in `old.edges`) keyed by index in `new.edges`:
    added or removed edges shift the indices the control flow records."""
    index = {edge_key(e): i for i, e in enumerate(new.edges)}
    out: dict[int, V] = {}
    for i, value in fired.items():
        if 0 <= i < len(old.edges) and (j := index.get(edge_key(old.edges[i]))) is not None:
            out[j] = value
    return out
