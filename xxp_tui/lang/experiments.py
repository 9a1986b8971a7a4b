"""Experiments: `experiment` declarations -> `Experiment` models with their spaces, experiment
tasks and interactions, and the control graph between them.

Workflows are built first (`loader.py`); a space names its workflow by name and the checker
(`check.py`) reports one that does not exist.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.lang.model import (
    END,
    START,
    TRANSFER_MODES,
    Binding,
    ControlEdge,
    Experiment,
    ExpTask,
    Objective,
    Space,
    Task,
    Workflow,
    frozen_map,
)
from xxp_tui.lang.variants import RawTask, RawWorkflow, apply_task_block, duplicate, file_dir


class ExperimentHost(Protocol):
    """What building an experiment needs from the loader: workflows and task resolution."""

    diags: Diagnostics

    def subworkflow(self, ref: syntax.Text, near: Path) -> RawWorkflow | None: ...

    def workflow(self, name: str) -> Workflow | None: ...

    def task(self, raw_task: RawTask, prefix: str) -> Task: ...


class ExperimentBuilder:
    def __init__(self, host: ExperimentHost) -> None:
        self.host = host
        self.diags = host.diags

    def experiment(self, decl: syntax.ExperimentDecl) -> Experiment:
        names: dict[str, Pos] = {}
        spaces: dict[str, Space] = {}
        tasks: dict[str, ExpTask] = {}
        for sp in decl.spaces:
            if self._new_node(sp.name, names):
                spaces[sp.name.text] = self.space(sp)
        for block in decl.tasks:
            if self._new_node(block.name, names):
                tasks[block.name.text] = self.exp_task(block, decl)
        edges = self._control(decl, names)
        if not decl.control and spaces:
            # No control block (old specs): the spaces run one after another as declared.
            order = [START, *spaces, END]
            edges = [ControlEdge(a, b, decl.name.pos) for a, b in itertools.pairwise(order)]
        return Experiment(
            name=decl.name.text,
            pos=decl.name.pos,
            file=decl.file,
            intent=decl.intent.text if decl.intent else None,
            spaces=frozen_map(spaces),
            tasks=frozen_map(tasks),
            edges=tuple(edges),
            parallel=decl.parallel[0] if decl.parallel else None,
        )

    def _new_node(self, name: syntax.Name, names: dict[str, Pos]) -> bool:
        """Spaces and tasks share one namespace: the control graph's nodes."""
        if name.text in names:
            duplicate(self.diags, name, "node", names[name.text])
            return False
        names[name.text] = name.pos
        return True

    # -- control graph

    def _control(self, decl: syntax.ExperimentDecl, names: dict[str, Pos]) -> list[ControlEdge]:
        edges: list[ControlEdge] = []
        for stmt in decl.control:
            if isinstance(stmt, syntax.ControlChain):
                for a, b in zip(stmt.nodes, stmt.nodes[1:], strict=False):
                    edges.extend(self._edges(a, b, names, stmt.pos))
                if len(stmt.nodes) == 1:
                    self._edges(stmt.nodes[0], None, names, stmt.pos)
            else:
                edges.extend(self._edges(
                    stmt.src, stmt.dst, names, stmt.pos,
                    condition=stmt.condition.value if stmt.condition else None,
                    is_else=stmt.is_else,
                    max_iterations=stmt.max_iterations[0] if stmt.max_iterations else None,
                ))
        return edges

    def _edges(self, a: syntax.ControlNode, b: syntax.ControlNode | None, names: dict, pos: Pos, **kw) -> list:
        """Edges from every name of node `a` to every name of `b` (a parallel group is several)."""
        known = {**names, START: None, END: None}
        for node in (a, b):
            if node is None:
                continue
            for n in node.names:
                if n.text not in known:
                    self.diags.error(
                        n.pos, f"unknown control node {n.text}{did_you_mean(n.text, names)}"
                    )
        if b is None:
            return []
        out = []
        for x in a.names:
            for y in b.names:
                if x.text in known and y.text in known:
                    out.append(ControlEdge(x.text, y.text, pos, **kw))
        return out

    # -- spaces

    def space(self, sp: syntax.SpaceDecl) -> Space:
        values: dict[str, list] = {}
        for name, domain, _pos in sp.param_values:
            values.setdefault(name.text, []).append(domain)
        objectives = tuple(
            Objective(o.direction, o.metric.text, o.task.text if o.task else None) for o in sp.objectives
        )
        return Space(
            name=sp.name.text,
            workflow=sp.workflow.text,
            pos=sp.name.pos,
            strategy=sp.strategy.text if sp.strategy else "gridsearch",
            runs=sp.runs[0] if sp.runs else None,
            param_values=frozen_map({k: tuple(v) for k, v in values.items()}),
            bindings=self._bindings(sp),
            filter=sp.filter.value if sp.filter else None,
            generator=sp.generator.value if sp.generator else None,
            objectives=objectives,
            parallel=sp.parallel[0] if sp.parallel else None,
            pruner=sp.pruner.text if sp.pruner else None,
            prune_on=_prune_on(sp, objectives),
            seed=sp.seed[0] if sp.seed else None,
            warmstart=self._warmstart(sp),
            transfer=self._transfer(sp),
        )

    def _bindings(self, sp: syntax.SpaceDecl) -> tuple[Binding, ...]:
        """`task T { param p = vp; }` blocks of a space: which value list (or value) feeds which param."""
        bindings: list[Binding] = []
        seen: dict[str, Pos] = {}
        for block in sp.bindings:
            for ps in block.param_sets:
                key = f"{block.name.text}.{ps.name.text}"
                if key in seen:
                    continue  # rule space.binding-twice
                seen[key] = ps.pos
                if isinstance(ps.value, syntax.Ref):
                    bindings.append(Binding(block.name.text, ps.name.text, vp=ps.value.name, pos=ps.pos))
                else:
                    bindings.append(Binding(block.name.text, ps.name.text, value=ps.value, pos=ps.pos))
        return tuple(bindings)

    @staticmethod
    def _warmstart(sp: syntax.SpaceDecl) -> str | None:
        """auto, a run (r3), or None for none and for a malformed value (rule space.warmstart)."""
        if sp.warmstart is None:
            return None
        value = (sp.warmstart.text if isinstance(sp.warmstart, syntax.Name) else sp.warmstart.value).strip()
        if value.lower() == "none" or (value.lower() != "auto" and not re.fullmatch(r"[rR]?\d+", value)):
            return None
        return value.lower()

    @staticmethod
    def _transfer(sp: syntax.SpaceDecl) -> str:
        """The transfer mode; propose when unset or unknown (rule space.transfer)."""
        value = sp.transfer.text.lower() if sp.transfer is not None else "propose"
        return value if value in TRANSFER_MODES else "propose"

    # -- experiment tasks and interactions

    def exp_task(self, block: syntax.TaskBlock, decl: syntax.ExperimentDecl) -> ExpTask:
        kind = "interaction" if block.form == "interaction" else "task"
        raw = RawTask(block.name.text, block.name.pos)
        folder = file_dir(decl.file)
        apply_task_block(raw, block, folder, False, self.diags)
        workflow = None
        if raw.subworkflow is not None:
            sub = self.host.subworkflow(raw.subworkflow, folder)
            if sub is not None:
                workflow = self.host.workflow(sub.name)
        task = self.host.task(raw, "")
        if workflow is not None:
            task = replace(task, implementation=f"subworkflow:{workflow.name}")
        fields = dict(task.signature.params) if task.signature else {}
        return ExpTask(
            name=block.name.text,
            kind=kind,
            pos=block.name.pos,
            task=task,
            input_data=frozen_map({d.name.text: frozen_map(d.props) for d in block.input_data}),
            prompt=block.prompt.value if block.prompt else None,
            fields=frozen_map(fields),
            workflow=workflow.name if workflow else None,
        )


def _prune_on(sp: syntax.SpaceDecl, objectives: tuple[Objective, ...]) -> Objective | None:
    """The metric a pruner watches: `pruner P on Task.metric`, in the first objective's direction."""
    if sp.pruner is None or sp.pruner.watch is None:
        return None
    task, metric = sp.pruner.watch
    direction = objectives[0].direction if objectives else "maximize"
    return Objective(direction, metric.text, task.text if task else None)
