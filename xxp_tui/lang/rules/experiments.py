"""Rules on workflows as flattened, on experiment tasks and interactions, and on experiments."""

from __future__ import annotations

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import did_you_mean
from xxp_tui.lang.model import Experiment, ExpTask, Workflow
from xxp_tui.lang.rules import Context, Scope, rule


@rule("workflow.link-ports", Scope.WORKFLOW)
def link_ports(ctx: Context, wf: Workflow) -> None:
    """A link names ports its tasks' signatures declare (a warning: ExtremeXP tolerates the drift)."""
    for link in wf.links:
        for end, kind in ((link.src, "output"), (link.dst, "input")):
            if end.task is None:
                continue
            task = wf.tasks.get(end.task)
            sig = task.signature if task else None
            if sig is None or (sig.folder is None and not (sig.inputs or sig.outputs)):
                continue  # nothing declared to check against
            ports = sig.outputs if kind == "output" else sig.inputs
            if end.port not in ports:
                listed = ", ".join(ports) or "none"
                ctx.warning(link.pos, f"task {end.task} declares no {kind} port {end.port}"
                                      f"{did_you_mean(end.port, ports)} (its {kind}s: {listed})")


@rule("experiment-task.implementation", Scope.EXPERIMENT_TASK)
def experiment_task_implementation(ctx: Context, block: syntax.TaskBlock, node: ExpTask) -> None:
    """An experiment task (not an interaction) has an implementation or a sub-workflow."""
    if node.kind == "task" and block.implementation is None and block.subworkflow is None:
        ctx.error(block.name.pos, f"experiment task {block.name.text} needs an implementation")


@rule("experiment-task.interaction-type", Scope.EXPERIMENT_TASK)
def interaction_type(ctx: Context, block: syntax.TaskBlock, node: ExpTask) -> None:
    """An interaction's library task says `type interactive;` (a warning)."""
    sig = node.task.signature
    if node.kind == "interaction" and sig is not None and sig.folder is not None and not sig.interactive:
        ctx.warning(block.name.pos, f"interaction {node.name} uses task {node.task.implementation}, whose task.xxp "
                                    "does not say 'type interactive;'")


@rule("experiment.empty", Scope.EXPERIMENT)
def empty_experiment(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """An experiment has spaces or tasks (a warning: it does nothing)."""
    if not exp.spaces and not exp.tasks:
        ctx.warning(exp.pos, f"experiment {exp.name} has no spaces or tasks; it does nothing")
