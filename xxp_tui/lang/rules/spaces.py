"""Rules on spaces: what a space is (workflow, strategy and its needs, warm start, transfer), its
pruner, how its value lists and values bind task params, and its objectives."""

from __future__ import annotations

import re

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Pos, did_you_mean
from xxp_tui.lang.domains import EnumDomain, RangeDomain, UniformDomain
from xxp_tui.lang.model import (
    GRID,
    OPTUNA_STRATEGIES,
    PRUNERS,
    RANDOM,
    SINGLE,
    STRATEGIES,
    TRANSFER_MODES,
    Binding,
    Objective,
    ParamSpec,
    Space,
    Workflow,
)
from xxp_tui.lang.rules import Context, Scope, rule
from xxp_tui.lang.rules.control import module_functions
from xxp_tui.lang.rules.tasks import fits_type, within

Workflow_ = Workflow | None  # a space whose workflow is unknown is still checked


def value_list_positions(sp: syntax.SpaceDecl) -> dict[str, Pos]:
    """Where each value list is first written (`param vp = …;` in the space)."""
    vp_pos: dict[str, Pos] = {}
    for name, _domain, pos in sp.param_values:
        vp_pos.setdefault(name.text, pos)
    return vp_pos


# ----------------------------------------------------------------------------- what the space says


@rule("space.binding-statements", Scope.SPACE)
def binding_statements(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A space's task block only sets params (`task T { param p = vp; }`)."""
    for block in sp.bindings:
        for kind, pos in block.statements:
            if kind != "param_set":
                ctx.error(pos, f"only 'param' may be set in a space's task block, not '{kind}'")


@rule("space.binding-twice", Scope.SPACE)
def binding_twice(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A task param is bound once per space (the loader keeps the first binding)."""
    seen: set[str] = set()
    for block in sp.bindings:
        for ps in block.param_sets:
            key = f"{block.name.text}.{ps.name.text}"
            if key in seen:
                ctx.error(ps.pos, f"param {key} is bound twice in space {sp.name.text}")
            seen.add(key)


@rule("space.warmstart", Scope.SPACE)
def warmstart_value(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`warmstart` is auto, none or a run (r3)."""
    if sp.warmstart is None:
        return
    value = (sp.warmstart.text if isinstance(sp.warmstart, syntax.Name) else sp.warmstart.value).strip()
    if value.lower() not in ("none", "auto") and not re.fullmatch(r"[rR]?\d+", value):
        ctx.error(sp.warmstart.pos, f"warmstart takes auto, none or a run such as r3, not {value!r}")


@rule("space.warmstart-strategy", Scope.SPACE)
def warmstart_strategy(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A warm start seeds an Optuna sampler; other strategies reuse results through the cache."""
    if sp.warmstart is not None and space.warmstart is not None and space.strategy not in OPTUNA_STRATEGIES:
        ctx.warning(sp.warmstart.pos, f"warmstart seeds the sampler of an Optuna strategy; a {space.strategy} "
                                      "space reuses earlier results through the task cache instead")


@rule("space.transfer", Scope.SPACE)
def transfer_mode(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`transfer` is one of the transfer modes."""
    if sp.transfer is not None and sp.transfer.text.lower() not in TRANSFER_MODES:
        ctx.error(sp.transfer.pos, f"transfer takes {', '.join(TRANSFER_MODES)}, not {sp.transfer.text!r}"
                                   f"{did_you_mean(sp.transfer.text.lower(), list(TRANSFER_MODES))}")


@rule("space.workflow", Scope.SPACE)
def known_workflow(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A space runs a workflow that exists."""
    if wf is None:
        workflows = ctx.project.workflows
        ctx.error(sp.workflow.pos, f"unknown workflow {space.workflow}{did_you_mean(space.workflow, workflows)}")


@rule("space.strategy", Scope.SPACE)
def known_strategy(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A space's strategy is one of the strategies."""
    if sp.strategy is not None and space.strategy not in STRATEGIES:  # unset is gridsearch
        ctx.error(
            sp.strategy.pos,
            f"unknown strategy {space.strategy}{did_you_mean(space.strategy, STRATEGIES)} "
            f"(strategies: {', '.join(STRATEGIES)})",
        )


@rule("space.runs", Scope.SPACE)
def runs_positive(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`runs` is at least 1."""
    if sp.runs is not None and sp.runs[0] < 1:
        ctx.error(sp.runs[1], "runs must be at least 1")


@rule("space.budget", Scope.SPACE)
def budget(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """An Optuna strategy needs a budget (`runs = N;`)."""
    if space.strategy in OPTUNA_STRATEGIES and space.runs is None:
        ctx.error(sp.name.pos, f"strategy {space.strategy} needs a budget: add 'runs = N;' to space {space.name}")


@rule("space.grid-runs", Scope.SPACE)
def grid_runs_ignored(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """gridsearch runs every configuration, so `runs` is ignored (a warning)."""
    if space.strategy == GRID and sp.runs is not None:
        ctx.warning(sp.runs[1], "gridsearch runs every configuration; 'runs' is ignored")


@rule("space.objective-needed", Scope.SPACE)
def objective_needed(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """bayesian, tpe and cmaes need an objective to optimise."""
    if space.strategy in ("bayesian", "tpe", "cmaes") and not space.objectives:
        ctx.error(
            sp.name.pos,
            f"strategy {space.strategy} needs an objective: add 'objective maximize <metric>;' to space {space.name}",
        )


@rule("space.cmaes-single-objective", Scope.SPACE)
def cmaes_single_objective(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """cmaes optimises one objective."""
    if space.strategy == "cmaes" and len(space.objectives) > 1:
        ctx.error(sp.objective_pos or sp.name.pos, "cmaes optimises a single objective")


@rule("space.parallel", Scope.SPACE)
def parallel_positive(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`parallel` is at least 1."""
    if sp.parallel is not None and sp.parallel[0] < 1:
        ctx.error(sp.parallel[1], "parallel must be at least 1")


# ----------------------------------------------------------------------------- pruner


def _active_pruner(sp: syntax.SpaceDecl) -> syntax.Pruner | None:
    """The pruner when it is a known pruner other than none."""
    if sp.pruner is None or sp.pruner.text not in PRUNERS or sp.pruner.text == "none":
        return None
    return sp.pruner


def _running_pruner(sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> tuple[syntax.Pruner, Workflow] | None:
    """The pruner and workflow when the pruner will run: one objective, an Optuna strategy and a
    known workflow."""
    pruner = _active_pruner(sp)
    if pruner is None or len(space.objectives) != 1 or space.strategy not in OPTUNA_STRATEGIES or wf is None:
        return None
    return pruner, wf


def _unknown_watched_task(pruner: syntax.Pruner, wf: Workflow) -> syntax.Name | None:
    task_name = pruner.watch[0] if pruner.watch is not None else None
    return task_name if task_name is not None and task_name.text not in wf.tasks else None


def _series_metrics(wf: Workflow) -> set[tuple[str, str]]:
    """(task, metric) for every metric a task of `wf` declares as a series."""
    return {
        (t.name, m.name) for t in wf.tasks.values() if t.signature
        for m in t.signature.metrics.values() if m.kind == "series"
    }


@rule("space.pruner", Scope.SPACE)
def known_pruner(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A space's pruner is one of the pruners."""
    if sp.pruner is not None and sp.pruner.text not in PRUNERS:
        name = sp.pruner.text
        ctx.error(sp.pruner.pos, f"unknown pruner {name}{did_you_mean(name, PRUNERS)} (pruners: {', '.join(PRUNERS)})")


@rule("space.pruner-objective", Scope.SPACE)
def pruner_objective(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A pruner compares variants on exactly one objective."""
    pruner = _active_pruner(sp)
    if pruner is None:
        return
    if not space.objectives:
        ctx.error(pruner.pos, "a pruner needs an objective to compare variants on")
    elif len(space.objectives) > 1:
        ctx.error(pruner.pos, "Optuna cannot prune a multi-objective search; remove the pruner")


@rule("space.pruner-strategy", Scope.SPACE)
def pruner_strategy(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A pruner only works with an Optuna strategy (a warning: it is ignored)."""
    pruner = _active_pruner(sp)
    if pruner is not None and len(space.objectives) == 1 and space.strategy not in OPTUNA_STRATEGIES:
        ctx.warning(
            pruner.pos,
            f"pruners work with the bayesian/tpe, cmaes, qmc and random strategies; with {space.strategy} "
            "it is ignored",
        )


@rule("space.pruner-watch-task", Scope.SPACE)
def pruner_watch_task(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`pruner P on Task.metric` names a task of the space's workflow."""
    running = _running_pruner(sp, space, wf)
    task_name = _unknown_watched_task(*running) if running else None
    if running is not None and task_name is not None:
        flow = running[1]
        ctx.error(task_name.pos,
                  f"workflow {flow.name} has no task {task_name.text}{did_you_mean(task_name.text, flow.tasks)}")


@rule("space.pruner-watch-series", Scope.SPACE)
def pruner_watch_series(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A pruner watches a metric some task declares as a series (a warning)."""
    running = _running_pruner(sp, space, wf)
    watch = space.pruned_metric
    if running is None or watch is None or _unknown_watched_task(*running) is not None:
        return
    pruner, flow = running
    if not flow.declared_metrics():
        return  # nothing declared: the run reads whatever the tasks report
    series = _series_metrics(flow)
    if not any(m == watch.metric and (watch.task is None or t == watch.task) for t, m in series):
        where = pruner.watch[1].pos if pruner.watch else pruner.pos
        listed = ", ".join(f"{t}.{m}" for t, m in sorted(series)) or "none"
        ctx.warning(
            where,
            f"pruner {pruner.text} watches {watch.label}, which no task declares as a series metric "
            f"(series: {listed}); name one with 'pruner {pruner.text} on Task.metric;'",
        )


# ----------------------------------------------------------------------------- value lists


@rule("space.listed-values", Scope.SPACE)
def listed_values(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """gridsearch, random and single need listed values, not a continuous range."""
    if space.strategy not in (GRID, RANDOM, SINGLE):
        return
    vp_pos = value_list_positions(sp)
    hint = ("give the range a step, list the values with enum(…), or use a bayesian/tpe, cmaes, "
            "qmc or random strategy, which sample continuous ranges")
    for name, domains in space.param_values.items():
        for d in domains:
            if not d.is_finite:
                ctx.error(vp_pos[name], f"{space.strategy} needs listed values, but {name} is "
                                        f"{d.describe()} (continuous); {hint}")


@rule("space.cmaes-numbers", Scope.SPACE)
def cmaes_numbers(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """cmaes samples numbers only."""
    if space.strategy != "cmaes":
        return
    vp_pos = value_list_positions(sp)
    for name, domains in space.param_values.items():
        for d in domains:
            if isinstance(d, EnumDomain) and any(isinstance(v, str) for v in d.values):
                ctx.error(vp_pos[name], f"cmaes needs numbers; {name} lists strings")


# ----------------------------------------------------------------------------- bindings


def _at(b: Binding, space: Space) -> Pos:
    """Where a binding is written (the loader always records it; the space as a fallback)."""
    return b.pos if b.pos is not None else space.pos


def _bound_param(wf: Workflow, b: Binding) -> tuple[bool, ParamSpec | None]:
    """(resolved, spec) for a binding: resolved is False when its task is unknown or does not
    declare the param; spec is None when the task declares nothing to check the value against."""
    if b.task not in wf.tasks:
        return False, None
    sig = wf.tasks[b.task].signature
    if sig is None or (sig.folder is None and not sig.params):
        return True, None
    spec = sig.params.get(b.param)
    return spec is not None, spec


@rule("space.binding-task", Scope.SPACE)
def binding_task(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A space binds params of tasks of its workflow (a sub-workflow's by their flattened names)."""
    if wf is None:
        return
    for b in space.bindings:
        if b.task not in wf.tasks:
            ctx.error(_at(b, space), _unknown_binding_task(wf.name, b.task, set(wf.tasks)))


@rule("space.binding-param", Scope.SPACE)
def binding_param(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A bound param is one the task declares (when its signature declares any)."""
    if wf is None:
        return
    for b in space.bindings:
        sig = wf.tasks[b.task].signature if b.task in wf.tasks else None
        if sig is not None and not _bound_param(wf, b)[0]:
            declared = ", ".join(sig.params) or "none"
            ctx.error(
                _at(b, space),
                f"task {b.task} does not declare param {b.param}{did_you_mean(b.param, sig.params)} "
                f"(its params: {declared})",
            )


@rule("space.binding-value-list", Scope.SPACE)
def binding_value_list(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`param p = vp;` names a value list of the space."""
    if wf is None:
        return
    for b in space.bindings:
        if b.vp is not None and _bound_param(wf, b)[0] and b.vp not in space.param_values:
            hint = did_you_mean(b.vp, space.param_values)
            ctx.error(_at(b, space), f"unknown value list {b.vp} in space {space.name}{hint}")


@rule("space.binding-values-fit", Scope.SPACE)
def binding_values_fit(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """Bound values are of the param's type (an error) and in its declared domain (a warning)."""
    if wf is None:
        return
    vp_pos = value_list_positions(sp)
    for b in space.bindings:
        resolved, spec = _bound_param(wf, b)
        if not resolved or spec is None:
            continue
        if b.vp is not None:
            if b.vp in space.param_values:
                _values_fit(ctx, space, b.vp, spec, b.task, vp_pos[b.vp])
        elif b.value is not None:
            _value_fits(ctx, b.value, spec, b.task, _at(b, space))


@rule("space.value-list-unused", Scope.SPACE)
def value_list_unused(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """Every value list feeds some task param (a warning)."""
    used = {b.vp for b in space.bindings if b.vp is not None}
    for name, pos in value_list_positions(sp).items():
        if name not in used:
            ctx.warning(pos, f"value list {name} is not bound to any task parameter")


def _values_fit(ctx: Context, space: Space, vp: str, spec: ParamSpec, task: str, pos: Pos) -> None:
    """The first value of list `vp` that does not fit the param, if any, is reported."""
    for d in space.param_values[vp]:
        if isinstance(d, UniformDomain | RangeDomain) and not d.is_finite:
            if not _continuous_fits(ctx, d, vp, spec, task, pos):
                return
            continue
        for v in d.enumerate():
            if not _value_fits(ctx, v, spec, task, pos, vp):
                return


def _continuous_fits(ctx: Context, d: UniformDomain | RangeDomain, vp: str, spec: ParamSpec, task: str,
                     pos: Pos) -> bool:
    ends = (d.low, d.high) if isinstance(d, UniformDomain) else (d.start, d.stop)
    if spec.type in ("String", "Boolean"):
        ctx.error(pos, f"{vp} is numeric, but {task}.{spec.name} is of type {spec.type}")
        return False
    if spec.type == "Integer" and isinstance(d, UniformDomain):
        ctx.error(pos, f"{vp} is {d.describe()} (floats), but {task}.{spec.name} is Integer")
        return False
    for v in ends:
        if spec.domain is not None and not within(spec.domain, v):
            ctx.warning(
                pos,
                f"{vp} = {d.describe()} reaches {v!r}, outside {task}.{spec.name}'s declared {spec.domain.describe()}",
            )
            return False
    return True


def _value_fits(ctx: Context, v: object, spec: ParamSpec, task: str, pos: Pos, vp: str | None = None) -> bool:
    """A wrong type is an error (the task would get a value it cannot use); a value outside the
    declared range is a warning, as ExtremeXP treats declared domains as documentation."""
    source = f" in {vp}" if vp else ""
    if not fits_type(v, spec.type):
        ctx.error(pos, f"value {v!r}{source} is not of type {spec.type}, as {task}.{spec.name} requires")
        return False
    if spec.domain is not None and not within(spec.domain, v):
        ctx.warning(pos, f"value {v!r}{source} is outside {task}.{spec.name}'s declared {spec.domain.describe()}")
        return False
    return True


def _unknown_binding_task(workflow: str, task: str, task_names: set[str]) -> str:
    """A space binds params of its workflow's tasks; a sub-workflow's tasks go by their flattened
    names (`Prep/Scale`), so naming the sub-workflow itself says which names to use instead."""
    inner = sorted(name for name in task_names if name.startswith(task + "/"))
    if inner:
        return (f"{task} is a sub-workflow of {workflow}; bind the params of its tasks by their flattened "
                f"names: {', '.join(inner)} (e.g. task {inner[0]} {{ param p = …; }})")
    return f"workflow {workflow} has no task {task}{did_you_mean(task, task_names)}"


# ----------------------------------------------------------------------------- objectives and the rest


def _objectives(sp: syntax.SpaceDecl, space: Space) -> list[tuple[syntax.Objective, Objective]]:
    return list(zip(sp.objectives, space.objectives, strict=False))


@rule("space.objective-task", Scope.SPACE)
def objective_task(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`objective maximize Task.metric` names a task of the workflow."""
    if wf is None:
        return
    for term, obj in _objectives(sp, space):
        if term.task is not None and obj.task is not None and obj.task not in wf.tasks:
            ctx.error(term.task.pos, f"workflow {wf.name} has no task {obj.task}{did_you_mean(obj.task, wf.tasks)}")


@rule("space.objective-task-metric", Scope.SPACE)
def objective_task_metric(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`Task.metric` is a metric the task declares (a near miss is an error, else a warning)."""
    if wf is None:
        return
    for term, obj in _objectives(sp, space):
        if obj.task is None or obj.task not in wf.tasks:
            continue
        sig = wf.tasks[obj.task].signature
        if sig is not None and sig.metrics and obj.metric not in sig.metrics:
            hint = did_you_mean(obj.metric, sig.metrics)
            # A near miss of a declared metric is a typo: every trial would fail "not reported".
            report = ctx.error if hint else ctx.warning
            report(term.metric.pos, f"task {obj.task} declares no metric {obj.metric}{hint}")


@rule("space.objective-metric", Scope.SPACE)
def objective_metric(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """An objective's metric is declared by some task (a near miss is an error, else a warning)."""
    if wf is None:
        return
    declared = wf.declared_metrics()
    for term, obj in _objectives(sp, space):
        if obj.task is not None or not declared or obj.metric in declared:
            continue
        hint = did_you_mean(obj.metric, declared)
        if hint:  # a typo of a declared metric: an error now, not a failed trial per variant later
            ctx.error(term.metric.pos, f"no task of {wf.name} declares metric {obj.metric}{hint}")
        else:
            ctx.warning(term.metric.pos, f"no task of {wf.name} declares metric {obj.metric} "
                                         "(the run still reads it if a task reports it)")


@rule("space.objective-ambiguous", Scope.SPACE)
def objective_ambiguous(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """A metric several tasks report is named with its task."""
    declared = wf.declared_metrics() if wf is not None else {}
    for term, obj in _objectives(sp, space):
        tasks = declared.get(obj.metric, [])
        if obj.task is None and len(tasks) > 1:
            ctx.error(term.metric.pos,
                      f"metric {obj.metric} is reported by {', '.join(tasks)}; name one: {tasks[-1]}.{obj.metric}")


@rule("space.abstract-task", Scope.SPACE)
def abstract_task(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """Every task of the space's workflow has an implementation (a warning)."""
    if wf is None:
        return
    for t in wf.tasks.values():
        if t.is_abstract:
            ctx.warning(
                sp.workflow.pos,
                f"space {space.name} runs workflow {wf.name}, whose task {t.name} has no implementation "
                f"(bind one in a variant: workflow V from {wf.name} {{ task {t.name} "
                "{ implementation … } })",
            )


@rule("space.python-hooks", Scope.SPACE)
def python_hooks(ctx: Context, sp: syntax.SpaceDecl, space: Space, wf: Workflow_) -> None:
    """`filter` and `generator` name functions of the configurations module."""
    module = ctx.project.configurations_module
    for text, kind in ((sp.filter, "filter"), (sp.generator, "generator")):
        if text is None:
            continue
        if module is None:
            ctx.warning(
                text.pos,
                f"{kind} {text.value}: no configurations module found (configurations.py or "
                "experiment_configurations.py next to the spec or in a task library, or 'configurations' in xxp.toml)",
            )
            continue
        funcs = module_functions(module)
        if text.value not in funcs:
            ctx.error(text.pos, f"{module.name} defines no function {text.value}{did_you_mean(text.value, funcs)}")
