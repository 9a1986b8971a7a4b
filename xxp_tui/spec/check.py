"""Semantic rules over a loaded project, each reported as a positioned diagnostic.

Resolution problems (unknown names, missing library items, duplicates) are found while loading;
the rules here need the resolved model: parameter types and ranges, value lists against the task
parameters they feed, strategies, objectives, conditions, loops and data ports.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from xxp_tui.spec import syntax
from xxp_tui.spec.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.spec.domains import Domain, EnumDomain, RangeDomain, UniformDomain, describe, value_type
from xxp_tui.spec.graph import control_cycles, format_cycle, reachable_from_start
from xxp_tui.spec.library import Libraries
from xxp_tui.spec.model import (
    END,
    GRID,
    OPTUNA_STRATEGIES,
    PARAM_TYPES,
    PRUNERS,
    RANDOM,
    SINGLE,
    START,
    STRATEGIES,
    Experiment,
    ParamSpec,
    Project,
    Space,
    Workflow,
    normalise_type,
)

METRIC_KINDS = ("single-value", "series")
DEFAULT_MAX_ITERATIONS = 100
_FN_FORM = re.compile(r"^\s*([A-Za-z_]\w*)((\s+\S+)*)\s*$")


def check_project(project: Project, diags: Diagnostics, libs: Libraries | None, files: list[syntax.SpecFile]) -> None:
    checker = _Checker(project, diags, libs)
    for spec in files:
        for block in spec.signatures:
            checker.signature_block(block)
        for wf in spec.workflows:
            for block in wf.tasks:
                checker.signature_block(block)
        for exp in spec.experiments:
            model = project.experiments.get(exp.name.text)
            if model is not None and model.pos == exp.name.pos:
                checker.experiment(exp, model)
    for wf in project.workflows.values():
        checker.workflow_ports(wf)


def classify_condition(text: str) -> tuple[str, str | None, list[str]]:
    """("expression", None, []) or ("function", name, args) for a control-edge condition.

    ExtremeXP accepts both a Python expression over `results` and `"fn arg1 arg2"`, which calls
    `fn("arg1", "arg2", results)` from the conditions module. Text that is not valid Python but
    looks like `name word…` is the function form; a bare name is decided at run time.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        m = _FN_FORM.match(text)
        if m:
            return "function", m.group(1), m.group(2).split()
        return "invalid", None, []
    if isinstance(tree.body, ast.Name):
        return "function", tree.body.id, []
    return "expression", None, []


@functools.cache
def module_functions(path: Path) -> frozenset[str]:
    """Top-level function names of a Python module, read without importing it."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return frozenset()
    return frozenset(
        n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
    )


def _results_chains(expression: str) -> list[list[object]]:
    """Constant subscript chains applied to the name `results`, e.g. ['S1', 1, 'result', 'acc']."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        return []
    chains = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Subscript):
            continue
        keys: list[object] = []
        cur: ast.AST = node
        while isinstance(cur, ast.Subscript) and isinstance(cur.slice, ast.Constant):
            keys.append(cur.slice.value)
            cur = cur.value
        if isinstance(cur, ast.Name) and cur.id == "results" and keys:
            chains.append(list(reversed(keys)))
    # keep only the longest chain per start (walk also yields its sub-chains)
    longest: dict[tuple, list] = {}
    for c in chains:
        if not any(len(o) > len(c) and o[: len(c)] == c for o in chains):
            longest[tuple(map(str, c))] = c
    return list(longest.values())


def _fits_type(value: object, declared: str | None) -> bool:
    if declared is None or declared not in PARAM_TYPES:
        return True
    actual = value_type(value)  # type: ignore[arg-type]
    if declared == "Float":
        return actual in ("Float", "Integer")
    return actual == declared


def _within(domain: Domain | None, value: object) -> bool:
    if domain is None:
        return True
    if isinstance(domain, RangeDomain):
        return domain.within_bounds(value)  # a declared range is a closed interval
    return domain.contains(value)  # type: ignore[arg-type]


class _Checker:
    def __init__(self, project: Project, diags: Diagnostics, libs: Libraries | None) -> None:
        self.project = project
        self.diags = diags
        self.libs = libs

    # -- task signatures (task.xxp and inline)

    def signature_block(self, block: syntax.TaskBlock) -> None:
        for direction, ports in (("input", block.inputs), ("output", block.outputs)):
            seen: dict[str, Pos] = {}
            for port in ports:
                if port.text in seen:
                    self.diags.error(
                        port.pos, f"{direction} port {port.text} is declared twice (first at {seen[port.text]})"
                    )
                seen[port.text] = port.pos
        params: dict[str, Pos] = {}
        for p in block.params:
            if p.name.text in params:
                self.diags.error(p.name.pos, f"param {p.name.text} is declared twice")
            params[p.name.text] = p.name.pos
            self.param_def(p)
        metrics: dict[str, Pos] = {}
        for m in block.metrics:
            if m.name.text in metrics:
                self.diags.error(m.name.pos, f"metric {m.name.text} is declared twice")
            metrics[m.name.text] = m.name.pos
            if m.kind is not None and m.kind.text not in METRIC_KINDS:
                self.diags.error(
                    m.kind.pos,
                    f"metric kind must be single-value or series, not {m.kind.text}"
                    f"{did_you_mean(m.kind.text, METRIC_KINDS)}",
                )
        if block.retries is not None and block.retries[0] < 0:
            self.diags.error(block.retries[1], "retries must be 0 or more")

    def param_def(self, p: syntax.ParamDef) -> None:
        declared = normalise_type(p.type.text) if p.type else None
        if p.type is not None and declared not in PARAM_TYPES:
            self.diags.error(
                p.type.pos,
                f"unknown parameter type {p.type.text}{did_you_mean(p.type.text, PARAM_TYPES)} "
                f"(types: {', '.join(PARAM_TYPES)})",
            )
            declared = None
        if p.default is not None and not isinstance(p.default, syntax.Ref):
            if not _fits_type(p.default, declared):
                self.diags.error(
                    p.name.pos, f"default {p.default!r} of param {p.name.text} is not of type {declared}"
                )
            elif not _within(p.domain, p.default):
                self.diags.error(
                    p.domain_pos or p.name.pos,
                    f"default {p.default!r} of param {p.name.text} is outside its {p.domain.describe()}",
                )

    # -- workflows

    def workflow_ports(self, wf: Workflow) -> None:
        """Links naming ports a task signature does not declare (ExtremeXP tolerates these drifts,
        so they are warnings; the run reports the missing file if the port is really absent)."""
        for link in wf.links:
            for end, kind in ((link.src, "output"), (link.dst, "input")):
                if end.task is None:
                    continue
                task = wf.tasks.get(end.task)
                sig = task.signature if task else None
                if sig is None or (sig.folder is None and not (sig.inputs or sig.outputs)):
                    continue
                ports = sig.outputs if kind == "output" else sig.inputs
                if end.port not in ports:
                    listed = ", ".join(ports) or "none"
                    self.diags.warning(
                        link.pos,
                        f"task {end.task} declares no {kind} port {end.port}{did_you_mean(end.port, ports)} "
                        f"(its {kind}s: {listed})",
                    )

    # -- experiments

    def experiment(self, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
        for sp in decl.spaces:
            model = exp.spaces.get(sp.name.text)
            if model is not None and model.pos == sp.name.pos:
                self.space(sp, model)
        for block in decl.tasks:
            node = exp.tasks.get(block.name.text)
            if node is None or node.pos != block.name.pos:
                continue
            sig = node.task.signature
            if node.kind == "interaction" and sig is not None and sig.folder is not None and not sig.interactive:
                self.diags.warning(
                    block.name.pos,
                    f"interaction {node.name} uses task {node.task.implementation}, whose task.xxp does not "
                    "say 'type interactive;'",
                )
        self.control(decl, exp)
        if not exp.spaces and not exp.tasks:
            self.diags.warning(exp.pos, f"experiment {exp.name} has no spaces or tasks; it does nothing")

    def space(self, sp: syntax.SpaceDecl, space: Space) -> None:
        wf = self.project.workflows.get(space.workflow)
        if wf is None:
            self.diags.error(
                sp.workflow.pos,
                f"unknown workflow {space.workflow}{did_you_mean(space.workflow, self.project.workflows)}",
            )
        strategy = space.strategy
        if strategy not in STRATEGIES:
            self.diags.error(
                sp.strategy.pos,
                f"unknown strategy {strategy}{did_you_mean(strategy, STRATEGIES)} "
                f"(strategies: {', '.join(STRATEGIES)})",
            )
        vp_pos: dict[str, Pos] = {}
        for name, _domain, pos in sp.param_values:
            vp_pos.setdefault(name.text, pos)
        # Strategy needs
        if sp.runs is not None and sp.runs[0] < 1:
            self.diags.error(sp.runs[1], "runs must be at least 1")
        if strategy in OPTUNA_STRATEGIES and space.runs is None:
            self.diags.error(sp.name.pos, f"strategy {strategy} needs a budget: add 'runs = N;' to space {space.name}")
        if strategy == GRID and sp.runs is not None:
            self.diags.warning(sp.runs[1], "gridsearch runs every configuration; 'runs' is ignored")
        if strategy in ("bayesian", "tpe", "cmaes") and not space.objectives:
            self.diags.error(
                sp.name.pos,
                f"strategy {strategy} needs an objective: add 'objective maximize <metric>;' to space {space.name}",
            )
        if strategy == "cmaes" and len(space.objectives) > 1:
            self.diags.error(sp.objective_pos or sp.name.pos, "cmaes optimises a single objective")
        if sp.parallel is not None and sp.parallel[0] < 1:
            self.diags.error(sp.parallel[1], "parallel must be at least 1")
        if sp.pruner is not None:
            self.pruner(sp, space, wf)
        for name, domains in space.param_values.items():
            for d in domains:
                if not d.is_finite and strategy in (GRID, RANDOM, SINGLE):
                    hint = (
                        "give the range a step, list the values with enum(…), or use a bayesian/tpe, cmaes, "
                        "qmc or random strategy, which sample continuous ranges"
                    )
                    self.diags.error(vp_pos[name], f"{strategy} needs listed values, but {name} is "
                                     f"{d.describe()} (continuous); {hint}")
                if strategy == "cmaes" and isinstance(d, EnumDomain) and any(isinstance(v, str) for v in d.values):
                    self.diags.error(vp_pos[name], f"cmaes needs numbers; {name} lists strings")
        self.bindings(sp, space, wf, vp_pos)
        if wf is not None:
            self.objectives(sp, space, wf)
            for t in wf.tasks.values():
                if t.is_abstract:
                    self.diags.warning(
                        sp.workflow.pos,
                        f"space {space.name} runs workflow {wf.name}, whose task {t.name} has no implementation "
                        f"(bind one in a variant: workflow V from {wf.name} {{ task {t.name} "
                        "{ implementation … } })",
                    )
        for text, kind in ((sp.filter, "filter"), (sp.generator, "generator")):
            if text is not None:
                self.python_hook(text.value, text.pos, kind, self.project.configurations_module, "configurations")

    def pruner(self, sp: syntax.SpaceDecl, space: Space, wf: Workflow | None) -> None:
        name = sp.pruner.text
        if name not in PRUNERS:
            self.diags.error(
                sp.pruner.pos,
                f"unknown pruner {name}{did_you_mean(name, PRUNERS)} (pruners: {', '.join(PRUNERS)})",
            )
            return
        if name == "none":
            return
        if not space.objectives:
            self.diags.error(sp.pruner.pos, "a pruner needs an objective to compare variants on")
            return
        if len(space.objectives) > 1:
            self.diags.error(sp.pruner.pos, "Optuna cannot prune a multi-objective search; remove the pruner")
            return
        if space.strategy not in OPTUNA_STRATEGIES:
            self.diags.warning(
                sp.pruner.pos,
                f"pruners work with the bayesian/tpe, cmaes, qmc and random strategies; with {space.strategy} "
                "it is ignored",
            )
            return
        if wf is None:
            return
        watch = space.pruned_metric
        if sp.pruner.watch is not None:
            task_name, _metric_name = sp.pruner.watch
            if task_name is not None and task_name.text not in wf.tasks:
                self.diags.error(
                    task_name.pos,
                    f"workflow {wf.name} has no task {task_name.text}{did_you_mean(task_name.text, wf.tasks)}",
                )
                return
        series = {
            (t.name, m.name) for t in wf.tasks.values() if t.signature
            for m in t.signature.metrics.values() if m.kind == "series"
        }
        declared = wf.declared_metrics()
        if not declared:
            return  # nothing declared: the run reads whatever the tasks report
        if not any(m == watch.metric and (watch.task is None or t == watch.task) for t, m in series):
            where = sp.pruner.watch[1].pos if sp.pruner.watch else sp.pruner.pos
            listed = ", ".join(f"{t}.{m}" for t, m in sorted(series)) or "none"
            self.diags.warning(
                where,
                f"pruner {name} watches {watch.label}, which no task declares as a series metric "
                f"(series: {listed}); name one with 'pruner {name} on Task.metric;'",
            )

    def bindings(self, sp: syntax.SpaceDecl, space: Space, wf: Workflow | None, vp_pos: dict[str, Pos]) -> None:
        used = set()
        task_names = set(wf.tasks) if wf else set()
        for b in space.bindings:
            if b.vp is not None:
                used.add(b.vp)
            if wf is None:
                continue
            if b.task not in task_names:
                self.diags.error(b.pos, _unknown_binding_task(wf.name, b.task, task_names))
                continue
            task = wf.tasks[b.task]
            sig = task.signature
            spec: ParamSpec | None = None
            if sig is not None and (sig.folder is not None or sig.params):
                spec = sig.params.get(b.param)
                if spec is None:
                    declared = ", ".join(sig.params) or "none"
                    self.diags.error(
                        b.pos,
                        f"task {b.task} does not declare param {b.param}{did_you_mean(b.param, sig.params)} "
                        f"(its params: {declared})",
                    )
                    continue
            if b.vp is not None:
                if b.vp not in space.param_values:
                    self.diags.error(
                        b.pos,
                        f"unknown value list {b.vp} in space {space.name}{did_you_mean(b.vp, space.param_values)}",
                    )
                    continue
                if spec is not None:
                    self.values_fit(space, b.vp, spec, b.task, vp_pos[b.vp])
            elif spec is not None and b.value is not None:
                self.value_fits(b.value, spec, b.task, b.pos)
        for name, pos in vp_pos.items():
            if name not in used:
                self.diags.warning(pos, f"value list {name} is not bound to any task parameter")

    def values_fit(self, space: Space, vp: str, spec: ParamSpec, task: str, pos: Pos) -> None:
        for d in space.param_values[vp]:
            if isinstance(d, UniformDomain | RangeDomain) and not d.is_finite:
                ends = (d.low, d.high) if isinstance(d, UniformDomain) else (d.start, d.stop)
                if spec.type in ("String", "Boolean"):
                    self.diags.error(pos, f"{vp} is numeric, but {task}.{spec.name} is of type {spec.type}")
                    return
                if spec.type == "Integer" and isinstance(d, UniformDomain):
                    self.diags.error(pos, f"{vp} is {d.describe()} (floats), but {task}.{spec.name} is Integer")
                    return
                for v in ends:
                    if not _within(spec.domain, v):
                        self.diags.warning(
                            pos,
                            f"{vp} = {d.describe()} reaches {v!r}, outside {task}.{spec.name}'s declared "
                            f"{spec.domain.describe()}",
                        )
                        return
                continue
            for v in d.enumerate():
                if not self.value_fits(v, spec, task, pos, vp):
                    return

    def value_fits(self, v: object, spec: ParamSpec, task: str, pos: Pos, vp: str | None = None) -> bool:
        """A wrong type is an error (the task would get a value it cannot use); a value outside the
        declared range is a warning, as ExtremeXP treats declared domains as documentation."""
        source = f" in {vp}" if vp else ""
        if not _fits_type(v, spec.type):
            self.diags.error(pos, f"value {v!r}{source} is not of type {spec.type}, as {task}.{spec.name} requires")
            return False
        if not _within(spec.domain, v):
            self.diags.warning(
                pos, f"value {v!r}{source} is outside {task}.{spec.name}'s declared {spec.domain.describe()}"
            )
            return False
        return True

    def objectives(self, sp: syntax.SpaceDecl, space: Space, wf: Workflow) -> None:
        declared = wf.declared_metrics()
        for term, obj in zip(sp.objectives, space.objectives, strict=False):
            if obj.task is not None:
                if obj.task not in wf.tasks:
                    self.diags.error(
                        term.task.pos, f"workflow {wf.name} has no task {obj.task}{did_you_mean(obj.task, wf.tasks)}"
                    )
                    continue
                sig = wf.tasks[obj.task].signature
                if sig is not None and sig.metrics and obj.metric not in sig.metrics:
                    hint = did_you_mean(obj.metric, sig.metrics)
                    # A near miss of a declared metric is a typo: every trial would fail "not reported".
                    report = self.diags.error if hint else self.diags.warning
                    report(term.metric.pos, f"task {obj.task} declares no metric {obj.metric}{hint}")
            elif declared and obj.metric not in declared:
                hint = did_you_mean(obj.metric, declared)
                if hint:  # a typo of a declared metric: an error now, not a failed trial per variant later
                    self.diags.error(term.metric.pos, f"no task of {wf.name} declares metric {obj.metric}{hint}")
                else:
                    self.diags.warning(
                        term.metric.pos,
                        f"no task of {wf.name} declares metric {obj.metric} "
                        "(the run still reads it if a task reports it)",
                    )
            elif len(declared.get(obj.metric, [])) > 1:
                tasks = declared[obj.metric]
                self.diags.error(
                    term.metric.pos,
                    f"metric {obj.metric} is reported by {', '.join(tasks)}; name one: {tasks[-1]}.{obj.metric}",
                )

    # -- control flow

    def control(self, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
        else_by_src: dict[str, Pos] = {}
        for stmt in decl.control:
            if not isinstance(stmt, syntax.CondEdge):
                continue
            srcs = [n.text for n in stmt.src.names]
            if stmt.is_else and stmt.condition is not None:
                self.diags.error(stmt.pos, "an edge is either 'else' or has a condition, not both")
            elif not stmt.is_else and stmt.condition is None:
                self.diags.error(stmt.pos, "a conditional edge '?->' needs { condition \"…\" } or { else }")
            if stmt.is_else:
                for s in srcs:
                    if s in else_by_src:
                        self.diags.error(stmt.pos, f"{s} has two else edges (first at {else_by_src[s]})")
                    else_by_src[s] = stmt.pos
            if stmt.max_iterations is not None and stmt.max_iterations[0] < 1:
                self.diags.error(stmt.max_iterations[1], "max_iterations must be at least 1")
            if stmt.condition is not None:
                self.condition(stmt.condition, exp)
        for s, pos in else_by_src.items():
            if not any(e.src == s and e.condition for e in exp.edges):
                self.diags.warning(pos, f"{s} has an else edge but no conditional edge for it to complement")
        for cycle in control_cycles(exp):
            edges = [e for e in exp.edges if e.src in cycle and e.dst in cycle]
            if not any(e.max_iterations for e in edges):
                pos = next((e.pos for e in edges if e.condition or e.is_else), edges[0].pos if edges else exp.pos)
                self.diags.warning(
                    pos,
                    f"loop {format_cycle(cycle)} has no max_iterations; it stops after {DEFAULT_MAX_ITERATIONS} "
                    "rounds (add { … max_iterations N } to the edge that closes it)",
                )
            elif not any(e.condition or e.is_else for e in edges):
                self.diags.error(
                    edges[0].pos, f"loop {format_cycle(cycle)} has no conditional edge, so it can never be left"
                )
        reachable = reachable_from_start(exp)
        mentioned = {n for e in exp.edges for n in (e.src, e.dst)} - {START, END}
        for node in sorted(mentioned - reachable):
            pos = next(e.pos for e in exp.edges if node in (e.src, e.dst))
            self.diags.warning(pos, f"control node {node} can never be reached from the start")

    def condition(self, text: syntax.Text, exp: Experiment) -> None:
        kind, fn, _args = classify_condition(text.value)
        if kind == "expression":
            self.result_references(text, exp)
        if kind == "invalid":
            self.diags.error(
                text.pos,
                "a condition is a Python expression over `results` or \"function arg …\" naming a function "
                "of the conditions module",
            )
        elif kind == "function":
            module = self.project.conditions_module
            if module is None:
                if _FN_FORM.match(text.value) and " " in text.value.strip():
                    self.diags.warning(
                        text.pos,
                        f"condition calls {fn}(), but no conditions module was found "
                        "(conditions.py or experiment_conditions.py next to the spec or in a task library, "
                        "or 'conditions' in xxp.toml)",
                    )
            elif fn not in module_functions(module) and " " in text.value.strip():
                funcs = module_functions(module)
                self.diags.error(
                    text.pos, f"{module.name} defines no function {fn}{did_you_mean(fn, funcs)}"
                )

    def result_references(self, text: syntax.Text, exp: Experiment) -> None:
        """`results['X'][i]['result']['key']`: X must be a node; for an interaction with declared
        fields (or a space whose tasks declare metrics) the key must be one of them."""
        for chain in _results_chains(text.value):
            node = chain[0]
            if not isinstance(node, str):
                continue
            if node not in exp.spaces and node not in exp.tasks:
                self.diags.error(
                    text.pos, f"condition reads results[{node!r}], but there is no control node {node}"
                    f"{did_you_mean(node, exp.nodes)}",
                )
                continue
            if len(chain) < 4 or chain[2] != "result" or not isinstance(chain[3], str):
                continue
            key = chain[3]
            if node in exp.tasks and exp.tasks[node].kind == "interaction":
                fields = exp.tasks[node].fields
                if fields and key not in fields:
                    self.diags.error(
                        text.pos, f"interaction {node} has no field {key}{did_you_mean(key, fields)} "
                        f"(fields: {', '.join(fields)})",
                    )
            elif node in exp.spaces:
                wf = self.project.workflows.get(exp.spaces[node].workflow)
                declared = wf.declared_metrics() if wf else {}
                bare = key.split(".")[-1]
                if wf is not None and key in wf.tasks:  # nested per task: ['result']['Fit']['score']
                    task_sig = wf.tasks[key].signature
                    metric = chain[4] if len(chain) > 4 and isinstance(chain[4], str) else None
                    if metric and task_sig is not None and task_sig.metrics and metric not in task_sig.metrics:
                        self.diags.warning(text.pos, f"task {key} declares no metric {metric}"
                                           f"{did_you_mean(metric, task_sig.metrics)}")
                    continue
                if declared and bare not in declared:
                    self.diags.warning(
                        text.pos, f"no task of {wf.name} declares metric {key}{did_you_mean(bare, declared)}",
                    )

    def python_hook(self, name: str, pos: Pos, kind: str, module: Path | None, what: str) -> None:
        if module is None:
            self.diags.warning(
                pos,
                f"{kind} {name}: no {what} module found (configurations.py or experiment_configurations.py "
                "next to the spec or in a task library, or 'configurations' in xxp.toml)",
            )
            return
        funcs = module_functions(module)
        if name not in funcs:
            self.diags.error(pos, f"{module.name} defines no function {name}{did_you_mean(name, funcs)}")


__all__ = ["DEFAULT_MAX_ITERATIONS", "check_project", "classify_condition", "describe", "module_functions"]


def _unknown_binding_task(workflow: str, task: str, task_names: set[str]) -> str:
    """A space binds params of its workflow's tasks; a sub-workflow's tasks go by their flattened
    names (`Prep/Scale`), so naming the sub-workflow itself says which names to use instead."""
    inner = sorted(name for name in task_names if name.startswith(task + "/"))
    if inner:
        return (f"{task} is a sub-workflow of {workflow}; bind the params of its tasks by their flattened "
                f"names: {', '.join(inner)} (e.g. task {inner[0]} {{ param p = …; }})")
    return f"workflow {workflow} has no task {task}{did_you_mean(task, task_names)}"
