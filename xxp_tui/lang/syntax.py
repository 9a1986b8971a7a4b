"""The syntax tree of one `.xxp` file: what was written, with positions, nothing resolved.

`parser.py` builds these from lark trees; `loader.py` turns a set of them into the model.
Lists keep source order so that diagnostics and summaries follow the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xxp_tui.lang.diagnostics import Pos
from xxp_tui.lang.domains import Domain, Scalar


@dataclass(frozen=True)
class Name:
    text: str
    pos: Pos

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Ref:
    """A bare name used as a value: `param epochs = epochs_vp;` refers to a value list."""

    name: str
    pos: Pos


Value = Scalar | Ref


@dataclass(frozen=True)
class Text:
    """A string literal, unquoted, with its position."""

    value: str
    pos: Pos


@dataclass
class ParamDef:
    name: Name
    type: Name | None = None
    default: Value | None = None
    domain: Domain | None = None
    domain_pos: Pos | None = None


@dataclass
class MetricDef:
    name: Name
    kind: Name | None = None
    type: Name | None = None
    semantic_type: Name | None = None


@dataclass
class ParamSet:
    name: Name
    value: Value
    pos: Pos


@dataclass
class DataConfig:
    """`configure data D { path "…"; }` or an experiment task's `input data D { … }`."""

    name: Name
    props: dict[str, Scalar | Ref] = field(default_factory=dict)
    prop_pos: dict[str, Pos] = field(default_factory=dict)


@dataclass
class TaskBlock:
    """Any task-shaped block: task.xxp signature, workflow task, space binding, exp task, interaction.

    `form` records the spelling: "decl" (`task T;` / `define task T;`), "task" (`task T {…}`),
    "configure" (`configure task T {…}`), "interaction".
    """

    name: Name
    form: str
    implementation: Text | None = None
    subworkflow: Text | None = None
    dependencies: list[Text] = field(default_factory=list)
    venv: Text | None = None
    python_version: Text | None = None
    task_type: Name | None = None
    inputs: list[Name] = field(default_factory=list)
    outputs: list[Name] = field(default_factory=list)
    params: list[ParamDef] = field(default_factory=list)
    metrics: list[MetricDef] = field(default_factory=list)
    param_sets: list[ParamSet] = field(default_factory=list)
    input_data: list[DataConfig] = field(default_factory=list)
    timeout: tuple[float, Pos] | None = None
    stall_after: tuple[float, Pos] | None = None
    on_stall: tuple[str, Pos] | None = None
    retries: tuple[int, Pos] | None = None
    cache: tuple[bool, Pos] | None = None
    prompt: Text | None = None
    resources: dict[str, float] = field(default_factory=dict)
    # statement keyword -> position, for "X is not allowed here" diagnostics
    statements: list[tuple[str, Pos]] = field(default_factory=list)


@dataclass(frozen=True)
class PortRef:
    """`Task.port` or a bare workflow data name."""

    task: Name | None
    port: Name

    @property
    def pos(self) -> Pos:
        return (self.task or self.port).pos

    def __str__(self) -> str:
        return f"{self.task.text}.{self.port.text}" if self.task else self.port.text


@dataclass(frozen=True)
class DataLink:
    src: PortRef
    dst: PortRef
    pos: Pos


@dataclass(frozen=True)
class DataDecl:
    name: Name
    direction: str  # "input" | "output"


@dataclass
class WorkflowDecl:
    name: Name
    base: Name | None
    file: str
    tasks: list[TaskBlock] = field(default_factory=list)
    data: list[DataDecl] = field(default_factory=list)
    data_configs: list[DataConfig] = field(default_factory=list)
    links: list[DataLink] = field(default_factory=list)
    chains: list[list[Name]] = field(default_factory=list)


@dataclass(frozen=True)
class ControlNode:
    """One node of a control chain: a name, or a parallel group `(A || B)`."""

    names: tuple[Name, ...]
    pos: Pos

    @property
    def is_group(self) -> bool:
        return len(self.names) > 1


@dataclass
class ControlChain:
    nodes: list[ControlNode]
    pos: Pos


@dataclass
class CondEdge:
    src: ControlNode
    dst: ControlNode
    pos: Pos
    condition: Text | None = None
    is_else: bool = False
    max_iterations: tuple[int, Pos] | None = None


@dataclass(frozen=True)
class Objective:
    direction: str  # "maximize" | "minimize"
    task: Name | None
    metric: Name

    @property
    def label(self) -> str:
        return f"{self.task.text}.{self.metric.text}" if self.task else self.metric.text


@dataclass(frozen=True)
class Pruner:
    """`pruner median on Task.metric;`: which pruner, and which series metric it watches."""

    name: Name
    watch: tuple[Name | None, Name] | None = None  # (task, metric); None: the objective metric

    @property
    def pos(self) -> Pos:
        return self.name.pos

    @property
    def text(self) -> str:
        return self.name.text


@dataclass
class SpaceDecl:
    name: Name
    workflow: Name
    strategy: Name | None = None
    runs: tuple[int, Pos] | None = None
    param_values: list[tuple[Name, Domain, Pos]] = field(default_factory=list)
    filter: Text | None = None
    generator: Text | None = None
    bindings: list[TaskBlock] = field(default_factory=list)
    objectives: list[Objective] = field(default_factory=list)
    objective_pos: Pos | None = None
    parallel: tuple[int, Pos] | None = None
    pruner: Pruner | None = None
    seed: tuple[int, Pos] | None = None
    warmstart: Name | Text | None = None  # `warmstart auto;`, `warmstart r3;` or `warmstart none;`
    transfer: Name | None = None  # `transfer propose|boundingbox|none;`


@dataclass
class ExperimentDecl:
    name: Name
    file: str
    intent: Name | None = None
    control: list[ControlChain | CondEdge] = field(default_factory=list)
    control_pos: Pos | None = None
    spaces: list[SpaceDecl] = field(default_factory=list)
    tasks: list[TaskBlock] = field(default_factory=list)
    parallel: tuple[int, Pos] | None = None


@dataclass
class SpecFile:
    path: str
    text: str
    package: str | None = None
    imports: list[Text] = field(default_factory=list)
    workflows: list[WorkflowDecl] = field(default_factory=list)
    experiments: list[ExperimentDecl] = field(default_factory=list)
    signatures: list[TaskBlock] = field(default_factory=list)
