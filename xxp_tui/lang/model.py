"""The resolved, frozen model of a project: what the engine runs and the TUI draws.

Built by `loader.py` from the syntax trees of the entry spec, its imports, sub-workflows and task
signatures. Variants are already applied and sub-workflows flattened, so a `Workflow` here is a
plain DAG of tasks whose names are unique (`Prep/Split` for a task of the sub-workflow `Prep`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import MappingProxyType

from xxp_tui.lang.diagnostics import Pos
from xxp_tui.lang.domains import Domain, Scalar, domain_size, domain_values

START, END = "START", "END"

GRID, RANDOM, SINGLE = "gridsearch", "randomsearch", "singlerun"
OPTUNA_STRATEGIES = {"bayesian": "tpe", "tpe": "tpe", "cmaes": "cmaes", "qmc": "qmc", "random": "random"}
STRATEGIES = (GRID, RANDOM, SINGLE, *OPTUNA_STRATEGIES)
TRANSFER_MODES = ("propose", "boundingbox", "none")  # what `warmstart auto` does with related spaces
PRUNERS = ("none", "median", "percentile", "sha", "successive_halving", "hyperband")

PARAM_TYPES = ("Integer", "Float", "String", "Boolean")
TYPE_ALIASES = {
    "int": "Integer", "integer": "Integer", "float": "Float", "double": "Float", "real": "Float",
    "number": "Float", "str": "String", "string": "String", "bool": "Boolean", "boolean": "Boolean",
}


def frozen_map(d: Mapping | None = None) -> Mapping:
    return MappingProxyType(dict(d or {}))


def normalise_type(name: str | None) -> str | None:
    if name is None:
        return None
    return TYPE_ALIASES.get(name.lower(), name)


@dataclass(frozen=True)
class ParamSpec:
    """A parameter a task declares (`define param p { type; default; range|enum }`)."""

    name: str
    type: str | None = None
    default: Scalar | None = None
    domain: Domain | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    kind: str = "single-value"  # or "series"
    type: str | None = None
    semantic_type: str | None = None


@dataclass(frozen=True)
class TaskSignature:
    """What a task is: ports, params, metrics and how to run it (task.xxp or inline)."""

    name: str
    source: str  # the file that declared it
    folder: Path | None = None  # the task folder in a library, None for an inline task
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    params: Mapping[str, ParamSpec] = field(default_factory=frozen_map)
    metrics: Mapping[str, MetricSpec] = field(default_factory=frozen_map)
    script: Path | None = None  # resolved implementation file, when found
    script_ref: str | None = None  # as written
    dependencies: tuple[str, ...] = ()
    dependency_root: Path | None = None  # eexp_config.py's Python dependencies folder, where `dependency` looks first
    venv: str | None = None  # as written: the requirements file of the task's own environment
    venv_file: Path | None = None  # resolved, when found
    python_version: str | None = None
    task_type: str | None = None
    timeout: float | None = None
    stall_after: float | None = None
    on_stall: str | None = None
    retries: int | None = None
    cache: bool | None = None

    @property
    def interactive(self) -> bool:
        return self.task_type == "interactive"


@dataclass(frozen=True)
class Task:
    """A task of a (flattened) workflow."""

    name: str
    pos: Pos
    implementation: str | None = None  # as written; None for an abstract task
    signature: TaskSignature | None = None
    params: Mapping[str, Scalar] = field(default_factory=frozen_map)  # fixed in the workflow
    timeout: float | None = None
    retries: int = 0
    cache: bool = True
    stall_after: float | None = None  # seconds without output or metric before it is marked stalled
    on_stall: str = "mark"  # mark | kill (a failure with that reason)
    resources: Mapping[str, float] = field(default_factory=frozen_map)

    @property
    def is_abstract(self) -> bool:
        return self.implementation is None

    @property
    def interactive(self) -> bool:
        return bool(self.signature and self.signature.interactive)


@dataclass(frozen=True)
class Endpoint:
    """One end of a data link: a task port, or workflow data when `task` is None."""

    task: str | None
    port: str

    def __str__(self) -> str:
        return f"{self.task}.{self.port}" if self.task else self.port


@dataclass(frozen=True)
class DataLink:
    src: Endpoint
    dst: Endpoint
    pos: Pos


@dataclass(frozen=True)
class DataSpec:
    """Workflow-level data: `define input|output data D;` plus its `configure data` properties."""

    name: str
    direction: str
    props: Mapping[str, Scalar] = field(default_factory=frozen_map)
    pos: Pos | None = None

    @property
    def path(self) -> str | None:
        value = self.props.get("path")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class Workflow:
    name: str
    pos: Pos
    base: str | None = None
    tasks: Mapping[str, Task] = field(default_factory=frozen_map)  # in topological order
    edges: tuple[tuple[str, str], ...] = ()  # task -> task ordering (flow and data)
    links: tuple[DataLink, ...] = ()
    data: Mapping[str, DataSpec] = field(default_factory=frozen_map)

    @property
    def order(self) -> list[str]:
        return list(self.tasks)

    def predecessors(self, task: str) -> list[str]:
        return list(self._into[task]) if task in self._into else []

    def successors(self, task: str) -> list[str]:
        return list(self._out_of[task]) if task in self._out_of else []

    def inputs_of(self, task: str) -> list[DataLink]:
        return list(self._links_into.get(task, ()))

    # Indexes built once per workflow (a frozen value): asking about one task costs the same
    # in a workflow of 10 tasks or of 10,000.
    @cached_property
    def _into(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for a, b in self.edges:
            out.setdefault(b, []).append(a)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _out_of(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for a, b in self.edges:
            out.setdefault(a, []).append(b)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _links_into(self) -> dict[str | None, tuple[DataLink, ...]]:
        out: dict[str | None, list[DataLink]] = {}
        for link in self.links:
            out.setdefault(link.dst.task, []).append(link)
        return {k: tuple(v) for k, v in out.items()}

    def declared_params(self) -> dict[str, ParamSpec]:
        """`Task.param` -> spec, for every param a task of this workflow declares."""
        out = {}
        for t in self.tasks.values():
            if t.signature:
                for p in t.signature.params.values():
                    out[f"{t.name}.{p.name}"] = p
        return out

    def declared_metrics(self) -> dict[str, list[str]]:
        """metric name -> tasks that declare it."""
        out: dict[str, list[str]] = {}
        for t in self.tasks.values():
            if t.signature:
                for m in t.signature.metrics:
                    out.setdefault(m, []).append(t.name)
        return out


@dataclass(frozen=True)
class Objective:
    direction: str  # "maximize" | "minimize"
    metric: str
    task: str | None = None

    @property
    def label(self) -> str:
        return f"{self.task}.{self.metric}" if self.task else self.metric


@dataclass(frozen=True)
class Binding:
    """`task T { param p = x; }` in a space: `T.p` takes value list `x` (or a fixed value)."""

    task: str
    param: str
    vp: str | None = None
    value: Scalar | None = None
    pos: Pos | None = None

    @property
    def key(self) -> str:
        return f"{self.task}.{self.param}"


@dataclass(frozen=True)
class Space:
    name: str
    workflow: str
    pos: Pos
    strategy: str = GRID
    runs: int | None = None
    param_values: Mapping[str, tuple[Domain, ...]] = field(default_factory=frozen_map)
    bindings: tuple[Binding, ...] = ()
    filter: str | None = None
    generator: str | None = None
    objectives: tuple[Objective, ...] = ()
    parallel: int | None = None
    pruner: str | None = None
    prune_on: Objective | None = None  # the series the pruner watches; None: the first objective
    seed: int | None = None
    warmstart: str | None = None  # "auto", a run ("r3") or None: which earlier trials seed the sampler
    transfer: str = "propose"  # with warmstart auto: propose | boundingbox | none (see engine/transfer.py)

    @property
    def pruned_metric(self) -> Objective | None:
        if self.prune_on is not None:
            return self.prune_on
        return self.objectives[0] if self.objectives else None

    @property
    def is_optuna(self) -> bool:
        return self.strategy in OPTUNA_STRATEGIES

    def grid_size(self) -> int | None:
        """Product of the value lists' lengths (1 with none); None if any is continuous."""
        size = 1
        for domains in self.param_values.values():
            n = domain_size(list(domains))
            if n is None:
                return None
            size *= n
        return size

    def size(self) -> int | None:
        """How many configurations this space yields before filter/generator; None if open-ended."""
        if self.strategy == SINGLE:
            return 1
        if self.strategy == GRID:
            return self.grid_size()
        if self.strategy == RANDOM:
            grid = self.grid_size()
            if grid is None:
                return None
            return grid if self.runs is None else min(self.runs, grid)
        return None

    def values(self, vp: str) -> list[Scalar] | None:
        return domain_values(list(self.param_values.get(vp, ())))


@dataclass(frozen=True)
class ExpTask:
    """An experiment-level node that is not a space: a `task` or an `interaction`."""

    name: str
    kind: str  # "task" | "interaction"
    pos: Pos
    task: Task  # implementation and signature (abstract for a bare interaction)
    input_data: Mapping[str, Mapping[str, Scalar]] = field(default_factory=frozen_map)
    prompt: str | None = None
    fields: Mapping[str, ParamSpec] = field(default_factory=frozen_map)  # interaction form
    workflow: str | None = None  # a `subworkflow` task runs this workflow once

    @property
    def waits_for_human(self) -> bool:
        return self.kind == "interaction" or self.task.interactive


@dataclass(frozen=True)
class ControlEdge:
    src: str
    dst: str
    pos: Pos
    condition: str | None = None
    is_else: bool = False
    max_iterations: int | None = None

    @property
    def label(self) -> str | None:
        if self.is_else:
            return "else"
        return self.condition


@dataclass(frozen=True)
class Experiment:
    name: str
    pos: Pos
    file: str
    intent: str | None = None
    spaces: Mapping[str, Space] = field(default_factory=frozen_map)
    tasks: Mapping[str, ExpTask] = field(default_factory=frozen_map)
    edges: tuple[ControlEdge, ...] = ()
    parallel: int | None = None

    def node_kind(self, name: str) -> str | None:
        if name in self.spaces:
            return "space"
        if name in self.tasks:
            return self.tasks[name].kind
        return None

    @property
    def nodes(self) -> list[str]:
        return [*self.spaces, *self.tasks]

    def outgoing(self, node: str) -> list[ControlEdge]:
        return [e for e in self.edges if e.src == node]

    def start_nodes(self) -> list[str]:
        """Nodes entered from START; without START edges, those with no incoming edge."""
        explicit = [e.dst for e in self.edges if e.src == START and e.dst != END]
        if explicit:
            return list(dict.fromkeys(explicit))
        used = [n for e in self.edges for n in (e.src, e.dst) if n not in (START, END)]
        entered = {e.dst for e in self.edges if e.src != e.dst}
        return list(dict.fromkeys(n for n in used if n not in entered))


@dataclass(frozen=True)
class Project:
    """Everything one spec brings: its workflows and experiments, resolved."""

    entry: Path
    files: tuple[Path, ...]
    spec_hash: str
    workflows: Mapping[str, Workflow] = field(default_factory=frozen_map)
    experiments: Mapping[str, Experiment] = field(default_factory=frozen_map)
    signatures: tuple[TaskSignature, ...] = ()  # task.xxp files given directly
    conditions_module: Path | None = None
    configurations_module: Path | None = None
    package: str | None = None
    dataset_dir: Path | None = None  # eexp_config.py's dataset library: `configure data` paths resolve there first
    dependencies_dir: Path | None = None  # eexp_config.py's Python dependencies folder
    eexp_config: Path | None = None
    unused_settings: tuple[str, ...] = ()  # eexp_config.py settings xxp-tui does not use (names only)
