"""The semantic rules of the language, one named function each, registered in `RULES`.

A rule looks at one kind of thing (its `Scope`: a task block, a parameter, a workflow, a space,
an experiment task, an experiment's control block or the experiment itself) and reports what is
wrong with it as positioned diagnostics. "Where is rule X enforced?" has one answer: the function
registered under its id (`xxp-tui` prints no ids; `RULES` lists them with their one-line docs).

Resolution problems (unknown names, missing files or library tasks, duplicates, cycles among
workflows) are found while loading, where they stop a piece of the model from being built; the
rules here need the resolved model or are pure judgements on what was written.

The modules: `tasks.py` (task signatures and params), `spaces.py` (spaces: strategy, budget,
pruner, bindings, objectives), `control.py` (the control flow: conditions, else, loops),
`experiments.py` (experiment tasks and interactions, workflow links).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from xxp_tui.lang.diagnostics import Diagnostic, Diagnostics, Pos, Severity
from xxp_tui.lang.library import Libraries
from xxp_tui.lang.model import Project


class Scope(StrEnum):
    """What a rule is applied to, and so the arguments it takes after the context."""

    TASK_BLOCK = "task block"  # (block: syntax.TaskBlock) of a task.xxp, a spec's `task`, a workflow's task
    PARAM = "param"  # (p: syntax.ParamDef) declared in such a block
    WORKFLOW = "workflow"  # (wf: model.Workflow), flattened
    SPACE = "space"  # (sp: syntax.SpaceDecl, space: model.Space, wf: model.Workflow | None)
    EXPERIMENT_TASK = "experiment task"  # (block: syntax.TaskBlock, node: model.ExpTask)
    CONTROL = "control"  # (decl: syntax.ExperimentDecl, exp: model.Experiment), its control block
    EXPERIMENT = "experiment"  # (decl: syntax.ExperimentDecl, exp: model.Experiment), last


@dataclass(frozen=True)
class Rule:
    id: str
    scope: Scope
    doc: str
    check: Callable[..., None]


RULES: list[Rule] = []


def rule(rule_id: str, scope: Scope) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a rule under `rule_id`; its docstring's first line is its one-line doc. Rules of
    one scope run in the order they are registered."""

    def register(fn: Callable[..., None]) -> Callable[..., None]:
        if any(r.id == rule_id for r in RULES):
            raise ValueError(f"rule {rule_id} is registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        RULES.append(Rule(rule_id, scope, doc[0] if doc else "", fn))
        return fn

    return register


def rules_for(scope: Scope) -> list[Rule]:
    return [r for r in RULES if r.scope is scope]


@dataclass
class Context:
    """What every rule may read, and where it reports. `trace`, when given, records which rule
    reported each diagnostic (the tests use it to prove every rule can fire)."""

    project: Project
    diags: Diagnostics
    libs: Libraries | None
    trace: list[tuple[str, Diagnostic]] | None = None
    rule_id: str = field(default="", repr=False)

    def error(self, pos: Pos, message: str) -> None:
        self._report(pos, Severity.ERROR, message)

    def warning(self, pos: Pos, message: str) -> None:
        self._report(pos, Severity.WARNING, message)

    def _report(self, pos: Pos, severity: Severity, message: str) -> None:
        self.diags.add(pos, severity, message)
        if self.trace is not None:
            self.trace.append((self.rule_id, Diagnostic(pos, severity, message)))

    def apply(self, scope: Scope, *subject: object) -> None:
        """Run every rule of `scope` on `subject`, in registration order."""
        for r in rules_for(scope):
            self.rule_id = r.id
            r.check(self, *subject)
        self.rule_id = ""
