"""Workflows as written, before flattening: each `workflow` declaration becomes a `RawWorkflow`,
and a variant (`workflow V from B { … }`) starts as a copy of its base and overrides tasks.

Nothing here resolves implementations or sub-workflows; that happens when the raw workflow is
flattened (`flatten.py`) and its tasks are resolved (`resolution.py`).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.lang.graph import format_cycle


@dataclass
class RawTask:
    """A workflow task before flattening: what the workflow (and its variants) say about it."""

    name: str
    pos: Pos
    implementation: syntax.Text | None = None
    subworkflow: syntax.Text | None = None
    params: dict = field(default_factory=dict)
    timeout: float | None = None
    stall_after: float | None = None
    on_stall: str | None = None
    retries: int | None = None
    cache: bool | None = None
    resources: dict = field(default_factory=dict)
    inline: list[syntax.TaskBlock] = field(default_factory=list)  # blocks carrying signature statements
    origin_dir: Path | None = None  # folder of the file that set the implementation


@dataclass
class RawWorkflow:
    name: str
    pos: Pos
    base: str | None
    tasks: dict[str, RawTask]
    chain_edges: list[tuple[syntax.Name, syntax.Name]]
    data: dict[str, syntax.DataDecl]
    data_props: dict[str, dict]
    links: list[syntax.DataLink]
    file_dir: Path


def file_dir(shown: str) -> Path:
    """The folder of a file named by its display path."""
    return Path(shown).resolve().parent


def duplicate(diags: Diagnostics, name: syntax.Name, what: str, first: Pos | None) -> None:
    where = f" (first defined at {first})" if first else ""
    diags.error(name.pos, f"{what} {name.text} is defined twice{where}")


def has_signature_statements(block: syntax.TaskBlock) -> bool:
    return bool(block.inputs or block.outputs or block.params or block.metrics or block.task_type
                or block.dependencies or block.venv or block.python_version)


def apply_task_block(task: RawTask, block: syntax.TaskBlock, folder: Path, override: bool, diags: Diagnostics) -> None:
    """Fold one `task T { … }` block into the task; a later block overrides what an earlier set."""
    if block.implementation is not None:
        task.implementation, task.subworkflow = block.implementation, None
        task.origin_dir = folder
        if override:
            task.inline = []
    if block.subworkflow is not None:
        task.subworkflow, task.implementation = block.subworkflow, None
        task.origin_dir = folder
    for ps in block.param_sets:
        if isinstance(ps.value, syntax.Ref):
            diags.error(
                ps.pos,
                f"param {ps.name.text} = {ps.value.name}: value lists are bound in a space; "
                "a workflow may only fix a literal value",
            )
            continue
        task.params[ps.name.text] = ps.value
    if block.timeout is not None:
        task.timeout = block.timeout[0]
    if block.stall_after is not None:
        task.stall_after = block.stall_after[0]
    if block.on_stall is not None:
        task.on_stall = block.on_stall[0]
    if block.retries is not None:
        task.retries = block.retries[0]
    if block.cache is not None:
        task.cache = block.cache[0]
    task.resources.update(block.resources)
    if has_signature_statements(block):
        task.inline.append(block)


class VariantBuilder:
    """Raw workflows by name, built on demand so a variant may be declared before its base."""

    def __init__(self, diags: Diagnostics) -> None:
        self.diags = diags
        self.decls: dict[str, syntax.WorkflowDecl] = {}
        self._raw: dict[str, RawWorkflow | None] = {}
        self._building: list[str] = []
        self._written_in: dict[int, str] = {}  # id of a chain node or link end -> its workflow

    def declare(self, decl: syntax.WorkflowDecl) -> None:
        name = decl.name.text
        if name in self.decls:
            if self.decls[name] is not decl:
                duplicate(self.diags, decl.name, "workflow", self.decls[name].name.pos)
            return
        self.decls[name] = decl

    def written_in(self, node: object, raw: RawWorkflow) -> str:
        """The workflow whose text holds a chain or link statement: a variant inherits its base's
        statements, and a typo there is the base's, reported once rather than once per variant."""
        return self._written_in.get(id(node), raw.name)

    def raw(self, name: str) -> RawWorkflow | None:
        if name in self._raw:
            return self._raw[name]
        decl = self.decls.get(name)
        if decl is None:
            return None
        if name in self._building:
            cycle = self._building[self._building.index(name) :]
            self.diags.error(decl.name.pos, f"workflow variants form a cycle: {format_cycle(cycle)}")
            return None
        self._building.append(name)
        try:
            raw = self._build(decl)
        finally:
            self._building.pop()
        self._raw[name] = raw
        return raw

    def _build(self, decl: syntax.WorkflowDecl) -> RawWorkflow:
        base_raw = self._base(decl)
        raw = self._start(decl, base_raw)
        inherited = set(raw.tasks)
        declared_here = self._declare_tasks(decl, raw)
        self._define_tasks(decl, raw, base_raw is not None, declared_here, inherited)
        self._add_data(decl, raw)
        self._record_statements(decl, raw)
        return raw

    def _base(self, decl: syntax.WorkflowDecl) -> RawWorkflow | None:
        if decl.base is None:
            return None
        if decl.base.text not in self.decls:
            self.diags.error(
                decl.base.pos,
                f"unknown workflow {decl.base.text}{did_you_mean(decl.base.text, self.decls)}",
            )
            return None
        return self.raw(decl.base.text)

    @staticmethod
    def _start(decl: syntax.WorkflowDecl, base_raw: RawWorkflow | None) -> RawWorkflow:
        """A variant starts as a deep copy of its base, so its overrides never reach the base."""
        if base_raw is None:
            return RawWorkflow(decl.name.text, decl.name.pos, decl.base.text if decl.base else None,
                               {}, [], {}, {}, [], file_dir(decl.file))
        return RawWorkflow(
            decl.name.text, decl.name.pos, decl.base.text if decl.base else None, copy.deepcopy(base_raw.tasks),
            list(base_raw.chain_edges), dict(base_raw.data), copy.deepcopy(base_raw.data_props),
            list(base_raw.links), base_raw.file_dir,
        )

    def _declare_tasks(self, decl: syntax.WorkflowDecl, raw: RawWorkflow) -> dict[str, Pos]:
        """`define task T;` lines first, so `configure task T` may come before or after them."""
        declared_here: dict[str, Pos] = {}
        for block in decl.tasks:
            if block.form != "decl":
                continue
            name = block.name.text
            if name in declared_here:
                duplicate(self.diags, block.name, "task", declared_here[name])
                continue
            declared_here[name] = block.name.pos
            if name not in raw.tasks:
                raw.tasks[name] = RawTask(name, block.name.pos)
        return declared_here

    def _define_tasks(self, decl: syntax.WorkflowDecl, raw: RawWorkflow, is_variant: bool,
                      declared_here: dict[str, Pos], inherited: set[str]) -> None:
        defined_here: dict[str, Pos] = {}
        folder = file_dir(decl.file)
        for block in decl.tasks:
            if block.form == "decl":
                continue
            name = block.name.text
            if name in defined_here:
                duplicate(self.diags, block.name, "task", defined_here[name])
                continue
            defined_here[name] = block.name.pos
            if name not in raw.tasks:
                if block.form == "configure" or (is_variant and name not in declared_here):
                    self._not_a_task(block.name, raw, is_variant)
                    continue
                raw.tasks[name] = RawTask(name, block.name.pos)
            apply_task_block(raw.tasks[name], block, folder, name in inherited, self.diags)

    def _not_a_task(self, name: syntax.Name, raw: RawWorkflow, is_variant: bool) -> None:
        where = f"base workflow {raw.base}" if is_variant else f"workflow {raw.name}"
        self.diags.error(
            name.pos,
            f"task {name.text} is not a task of {where}{did_you_mean(name.text, raw.tasks)}"
            + ("" if is_variant else f"; declare it with 'define task {name.text};'"),
        )

    def _add_data(self, decl: syntax.WorkflowDecl, raw: RawWorkflow) -> None:
        data_here: dict[str, Pos] = {}
        for data in decl.data:
            if data.name.text in data_here:
                duplicate(self.diags, data.name, "data", data_here[data.name.text])
                continue
            data_here[data.name.text] = data.name.pos
            raw.data[data.name.text] = data
        for cfg in decl.data_configs:
            if cfg.name.text not in raw.data:
                self.diags.error(
                    cfg.name.pos,
                    f"configure data {cfg.name.text}: no data {cfg.name.text} is defined in workflow {raw.name}"
                    f"{did_you_mean(cfg.name.text, raw.data)}",
                )
                continue
            raw.data_props.setdefault(cfg.name.text, {}).update(cfg.props)

    def _record_statements(self, decl: syntax.WorkflowDecl, raw: RawWorkflow) -> None:
        """Chains and links, remembering which workflow wrote each for the messages."""
        for chain in decl.chains:
            for a, b in itertools.pairwise(chain):
                raw.chain_edges.append((a, b))
                self._written_in[id(a)] = self._written_in[id(b)] = raw.name
        for link in decl.links:
            self._written_in[id(link.src)] = self._written_in[id(link.dst)] = raw.name
        raw.links.extend(decl.links)
