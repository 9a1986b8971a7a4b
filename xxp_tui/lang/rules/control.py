"""Rules on an experiment's control block: edge forms, conditions (Python expressions over
`results`, or functions of the conditions module), else edges, loops and reachability."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Pos, did_you_mean
from xxp_tui.lang.graph import control_cycles, format_cycle, reachable_from_start
from xxp_tui.lang.model import END, START, Experiment, Workflow
from xxp_tui.lang.rules import Context, Scope, rule

DEFAULT_MAX_ITERATIONS = 100
_FN_FORM = re.compile(r"^\s*([A-Za-z_]\w*)((\s+\S+)*)\s*$")


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


def _conditional_edges(decl: syntax.ExperimentDecl) -> list[syntax.CondEdge]:
    return [s for s in decl.control if isinstance(s, syntax.CondEdge)]


def _conditions(decl: syntax.ExperimentDecl) -> list[syntax.Text]:
    return [s.condition for s in _conditional_edges(decl) if s.condition is not None]


# ----------------------------------------------------------------------------- edges


@rule("control.group-start-end", Scope.CONTROL)
def group_start_end(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """START and END are never part of a parallel group `(A || B)`."""
    for stmt in decl.control:
        nodes = stmt.nodes if isinstance(stmt, syntax.ControlChain) else (stmt.src, stmt.dst)
        for node in nodes:
            if node.is_group and any(n.text in (START, END) for n in node.names):
                ctx.error(node.pos, "START and END cannot be part of a parallel group")


@rule("control.edge-kind", Scope.CONTROL)
def edge_kind(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """A conditional edge `?->` has a condition or is `else`, not both and not neither."""
    for stmt in _conditional_edges(decl):
        if stmt.is_else and stmt.condition is not None:
            ctx.error(stmt.pos, "an edge is either 'else' or has a condition, not both")
        elif not stmt.is_else and stmt.condition is None:
            ctx.error(stmt.pos, "a conditional edge '?->' needs { condition \"…\" } or { else }")


@rule("control.else-twice", Scope.CONTROL)
def else_twice(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """A node has at most one else edge."""
    first: dict[str, Pos] = {}
    for stmt in _conditional_edges(decl):
        if not stmt.is_else:
            continue
        for s in (n.text for n in stmt.src.names):
            if s in first:
                ctx.error(stmt.pos, f"{s} has two else edges (first at {first[s]})")
            first[s] = stmt.pos


@rule("control.max-iterations", Scope.CONTROL)
def max_iterations(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """`max_iterations` is at least 1."""
    for stmt in _conditional_edges(decl):
        if stmt.max_iterations is not None and stmt.max_iterations[0] < 1:
            ctx.error(stmt.max_iterations[1], "max_iterations must be at least 1")


# ----------------------------------------------------------------------------- conditions


@rule("control.condition-form", Scope.CONTROL)
def condition_form(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """A condition is a Python expression or `"function arg …"`."""
    for text in _conditions(decl):
        if classify_condition(text.value)[0] == "invalid":
            ctx.error(
                text.pos,
                "a condition is a Python expression over `results` or \"function arg …\" naming a function "
                "of the conditions module",
            )


@rule("control.condition-function", Scope.CONTROL)
def condition_function(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """`"fn arg …"` names a function of the conditions module (no module found: a warning)."""
    module = ctx.project.conditions_module
    for text in _conditions(decl):
        kind, fn, _args = classify_condition(text.value)
        if kind != "function" or fn is None or " " not in text.value.strip():
            continue  # a bare name may be a variable; it is decided at run time
        if module is None:
            if _FN_FORM.match(text.value):
                ctx.warning(
                    text.pos,
                    f"condition calls {fn}(), but no conditions module was found "
                    "(conditions.py or experiment_conditions.py next to the spec or in a task library, "
                    "or 'conditions' in xxp.toml)",
                )
        elif fn not in module_functions(module):
            funcs = module_functions(module)
            ctx.error(text.pos, f"{module.name} defines no function {fn}{did_you_mean(fn, funcs)}")


@rule("control.condition-results", Scope.CONTROL)
def condition_results(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """`results['X'][i]['result']['key']` reads a node X that exists and a key it can report."""
    for text in _conditions(decl):
        if classify_condition(text.value)[0] != "expression":
            continue
        for chain in _results_chains(text.value):
            if isinstance(chain[0], str):
                _result_reference(ctx, text, exp, chain[0], chain)


def _result_reference(ctx: Context, text: syntax.Text, exp: Experiment, node: str, chain: list[object]) -> None:
    if node not in exp.spaces and node not in exp.tasks:
        ctx.error(text.pos, f"condition reads results[{node!r}], but there is no control node {node}"
                            f"{did_you_mean(node, exp.nodes)}")
        return
    key = chain[3] if len(chain) >= 4 and chain[2] == "result" else None
    if not isinstance(key, str):
        return
    if node in exp.tasks and exp.tasks[node].kind == "interaction":
        fields = exp.tasks[node].fields
        if fields and key not in fields:
            ctx.error(text.pos, f"interaction {node} has no field {key}{did_you_mean(key, fields)} "
                                f"(fields: {', '.join(fields)})")
    elif node in exp.spaces:
        wf = ctx.project.workflows.get(exp.spaces[node].workflow)
        if wf is not None:
            _space_result_key(ctx, text, wf, key, chain)


def _space_result_key(ctx: Context, text: syntax.Text, wf: Workflow, key: str, chain: list[object]) -> None:
    """A space's result is keyed by metric, or by task then metric (`['result']['Fit']['score']`)."""
    if key in wf.tasks:
        task_sig = wf.tasks[key].signature
        metric = chain[4] if len(chain) > 4 and isinstance(chain[4], str) else None
        if metric and task_sig is not None and task_sig.metrics and metric not in task_sig.metrics:
            ctx.warning(text.pos, f"task {key} declares no metric {metric}{did_you_mean(metric, task_sig.metrics)}")
        return
    declared = wf.declared_metrics()
    bare = key.split(".")[-1]
    if declared and bare not in declared:
        ctx.warning(text.pos, f"no task of {wf.name} declares metric {key}{did_you_mean(bare, declared)}")


# ----------------------------------------------------------------------------- the graph


@rule("control.else-alone", Scope.CONTROL)
def else_alone(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """An else edge complements a conditional edge from the same node (a warning)."""
    else_by_src: dict[str, Pos] = {}
    for stmt in _conditional_edges(decl):
        if stmt.is_else:
            for n in stmt.src.names:
                else_by_src[n.text] = stmt.pos
    for s, pos in else_by_src.items():
        if not any(e.src == s and e.condition for e in exp.edges):
            ctx.warning(pos, f"{s} has an else edge but no conditional edge for it to complement")


@rule("control.loop-bound", Scope.CONTROL)
def loop_bound(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """A loop names its max_iterations (a warning: it stops after the default)."""
    for cycle in control_cycles(exp):
        edges = [e for e in exp.edges if e.src in cycle and e.dst in cycle]
        if not any(e.max_iterations for e in edges):
            pos = next((e.pos for e in edges if e.condition or e.is_else), edges[0].pos if edges else exp.pos)
            ctx.warning(
                pos,
                f"loop {format_cycle(cycle)} has no max_iterations; it stops after {DEFAULT_MAX_ITERATIONS} "
                "rounds (add { … max_iterations N } to the edge that closes it)",
            )


@rule("control.loop-exit", Scope.CONTROL)
def loop_exit(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """A bounded loop has a conditional edge, or it can never be left."""
    for cycle in control_cycles(exp):
        edges = [e for e in exp.edges if e.src in cycle and e.dst in cycle]
        if any(e.max_iterations for e in edges) and not any(e.condition or e.is_else for e in edges):
            ctx.error(edges[0].pos, f"loop {format_cycle(cycle)} has no conditional edge, so it can never be left")


@rule("control.unreachable", Scope.CONTROL)
def unreachable(ctx: Context, decl: syntax.ExperimentDecl, exp: Experiment) -> None:
    """Every node in the control block can be reached from START (a warning)."""
    reachable = reachable_from_start(exp)
    mentioned = {n for e in exp.edges for n in (e.src, e.dst)} - {START, END}
    for node in sorted(mentioned - reachable):
        pos = next(e.pos for e in exp.edges if node in (e.src, e.dst))
        ctx.warning(pos, f"control node {node} can never be reached from the start")
