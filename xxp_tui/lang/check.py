"""The checker: applies the semantic rules (`rules/`) to a loaded project, each subject once.

The rules themselves are small named functions registered in `rules.RULES`; this module only
walks the project and hands every rule the things of its scope, in a fixed order, so the
diagnostics come out the same on every run.
"""

from __future__ import annotations

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostic, Diagnostics
from xxp_tui.lang.domains import describe
from xxp_tui.lang.library import Libraries
from xxp_tui.lang.model import Experiment, Project

# Importing the rule modules registers their rules; within a module, in the order written.
from xxp_tui.lang.rules import RULES, Context, Scope, experiments, spaces, tasks  # noqa: F401
from xxp_tui.lang.rules.control import DEFAULT_MAX_ITERATIONS, classify_condition, module_functions

__all__ = ["DEFAULT_MAX_ITERATIONS", "RULES", "check_project", "classify_condition", "describe", "module_functions"]


def check_project(project: Project, diags: Diagnostics, libs: Libraries | None, files: list[syntax.SpecFile],
                  trace: list[tuple[str, Diagnostic]] | None = None) -> None:
    """Report what every rule finds in `files` (each parsed file of the load) and `project`."""
    ctx = Context(project, diags, libs, trace)
    for spec in files:
        for block in spec.signatures:
            _task_block(ctx, block)
        for decl in spec.workflows:
            for block in decl.tasks:
                _task_block(ctx, block)
        for exp_decl in spec.experiments:
            model = project.experiments.get(exp_decl.name.text)
            if model is not None and model.pos == exp_decl.name.pos:  # not a duplicate
                _experiment(ctx, exp_decl, model)
    for wf in project.workflows.values():
        ctx.apply(Scope.WORKFLOW, wf)


def _task_block(ctx: Context, block: syntax.TaskBlock) -> None:
    ctx.apply(Scope.TASK_BLOCK, block)
    for p in block.params:
        ctx.apply(Scope.PARAM, p)


def _experiment(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """Spaces, then experiment tasks, then the control block, then the experiment as a whole;
    duplicates (reported while loading) are skipped."""
    for sp in decl.spaces:
        space = exp.spaces.get(sp.name.text)
        if space is not None and space.pos == sp.name.pos:
            ctx.apply(Scope.SPACE, sp, space, ctx.project.workflows.get(space.workflow))
    for block in decl.tasks:
        node = exp.tasks.get(block.name.text)
        if node is not None and node.pos == block.name.pos:
            ctx.apply(Scope.EXPERIMENT_TASK, block, node)
    ctx.apply(Scope.CONTROL, decl, exp)
    ctx.apply(Scope.EXPERIMENT, decl, exp)
