"""Edits of a spec's text, for the designer: each one splices the statements it changes into the
text and re-formats only the top-level block it touched, so everything else in the file (other
workflows, comments, the author's layout) stays byte for byte as it was.

Every edit takes the current text and returns the new one, or raises EditError with one sentence
saying why not (a name that exists already, a port a task does not declare, a link that would make
a cycle, naming the cycle). Pure: no files, no model loading; callers pass the loaded model when an
edit needs to know declared ports or the task DAG.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import cast

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from xxp_tui.lang.fmt import FormatError, format_text

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TASK_RULES = ("task_decl", "task_block", "configure_task")


class EditError(Exception):
    """Why an edit was refused, as one sentence."""


def _parse(text: str, symbol: str = "start") -> Tree:
    from xxp_tui.lang.parser import _lark

    return _lark().parse(text, start=symbol)


def check_name(name: str, what: str = "name") -> str:
    if not NAME_RE.match(name or ""):
        raise EditError(f"{name!r} is not a valid {what}: letters, digits and _, starting with a letter.")
    return name


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_domain(text: str):
    """A value list or range as written in a space (`enum(1, 2)`, `range(0.1, 1, log)`, `3`)."""
    from xxp_tui.lang.diagnostics import Diagnostics
    from xxp_tui.lang.parser import parse_text

    if not text.strip():
        raise EditError("give values: enum(a, b, …), range(a, b[, step]) or one value.")
    try:
        _parse(f"param_values v = {text};", "space_stmt")
    except UnexpectedInput as exc:
        col = getattr(exc, "column", 0) or 0
        raise EditError(f"not a value list at column {max(1, col - 17)}: use enum(a, b, …), range(a, b[, step]) "
                        "or one value.") from None
    diags = Diagnostics()
    spec = parse_text(f"experiment X {{ space S of W {{ param_values v = {text}; }} }}", "<values>", diags)
    if diags.items:
        raise EditError(diags.items[0].message)
    return spec.experiments[0].spaces[0].param_values[0][1]


def check_domain(domain, spec) -> list[str]:
    """Problems of a value list for a declared param (type errors; values outside the declared range)."""
    from xxp_tui.lang.domains import RangeDomain, Scalar, UniformDomain, domain_values
    from xxp_tui.lang.rules.tasks import fits_type, within

    problems: list[str] = []
    if spec is None:
        return problems
    listed = domain_values([domain])
    values: list[Scalar]
    if listed is None:  # continuous
        ends: list[Scalar] = [domain.start, domain.stop] if isinstance(domain, RangeDomain) else \
            [domain.low, domain.high] if isinstance(domain, UniformDomain) else []
        if spec.type in ("Integer", "String", "Boolean") and isinstance(domain, UniformDomain):
            problems.append(f"{spec.name} is {spec.type}; a uniform range gives floats")
        values = ends
    else:
        values = listed
    for v in values:
        if not fits_type(v, spec.type):
            problems.append(f"{v!r} is not {spec.type or 'of the declared type'} ({spec.name})")
            break
    for v in values:
        if not within(spec.domain, v):
            problems.append(f"{v!r} is outside {spec.name}'s declared {spec.domain.describe()}")
            break
    return problems


@dataclass
class _Span:
    start: int
    end: int


class SpecEditor:
    """The edits; `text` must parse (a file with a syntax error is fixed by hand first)."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            self.tree = _parse(text) if text.strip() else Tree("start", [])
        except UnexpectedInput:
            raise EditError("the file has a syntax error; fix it (see the diagnostics) before editing.") from None

    # ------------------------------------------------------------------ lookups

    def top(self, kind: str, name: str) -> Tree:
        for t in self.tree.children:
            if isinstance(t, Tree) and t.data == kind and str(t.children[0]) == name:
                return t
        raise EditError(f"there is no {kind} {name} in this file.")

    def names(self, kind: str) -> list[str]:
        return [str(t.children[0]) for t in self.tree.children if isinstance(t, Tree) and t.data == kind]

    def _body(self, block: Tree) -> list[Tree]:
        return [c for c in block.children if isinstance(c, Tree)]

    def _tasks_in(self, block: Tree, name: str | None = None) -> list[Tree]:
        return [s for s in self._body(block) if s.data in TASK_RULES and (name is None or str(s.children[0]) == name)]

    def task_names(self, workflow: str) -> list[str]:
        return list(dict.fromkeys(str(s.children[0]) for s in self._tasks_in(self.top("workflow", workflow))))

    def chain(self, workflow: str) -> list[str] | None:
        """The workflow's flow as one list (START … END), [] with none, None when it is not one chain."""
        chains = [s for s in self._body(self.top("workflow", workflow)) if s.data == "flow_chain"]
        if not chains:
            return []
        if len(chains) > 1:
            return None
        return [str(t) for t in chains[0].children]

    def base(self, workflow: str) -> str | None:
        b = self.top("workflow", workflow).children[1]
        return str(b) if b is not None else None

    # ------------------------------------------------------------------ splicing

    def _close(self, block: Tree) -> int:
        return self.text.rindex("}", block.meta.start_pos, block.meta.end_pos)

    def _open(self, block: Tree) -> int:
        return self.text.index("{", block.meta.start_pos, block.meta.end_pos)

    def _finish(self, edits: list[tuple[int, int, str]], kind: str, name: str) -> str:
        """Apply (start, end, replacement) edits, then re-format the top-level `kind name` block."""
        text = self.text
        # Right to left; of two insertions at one place the later-listed goes in first, so ends up after.
        ordered = sorted(enumerate(edits), key=lambda ie: (ie[1][0], ie[1][1], ie[0]), reverse=True)
        for _, (start, end, new) in ordered:
            text = text[:start] + new + text[end:]
        return reformat_block(text, kind, name)

    def _insert_stmt(self, block: Tree, stmt: str, after: tuple[str, ...] = ()) -> tuple[int, int, str]:
        """Insert after the last statement of a kind in `after`, else at the end of the block."""
        same = [s for s in self._body(block) if s.data in after]
        at = same[-1].meta.end_pos if same else len(self.text[: self._close(block)].rstrip())
        return (at, at, "\n" + stmt)

    def _after_open(self, block: Tree, stmt: str) -> tuple[int, int, str]:
        at = self._open(block) + 1
        return (at, at, "\n" + stmt + ("\n" if self._body(block) else ""))

    def _delete(self, stmt: Tree) -> tuple[int, int, str]:
        """Remove a statement with the indent and line break before it (no blank line left behind)."""
        start = stmt.meta.start_pos
        before = self.text[:start].rstrip(" \t")
        if before.endswith("\n"):
            start = len(before) - 1
        return (start, stmt.meta.end_pos, "")

    def _append_top(self, block_text: str) -> str:
        text = self.text.rstrip("\n")
        sep = "\n\n" if text else ""
        return text + sep + format_text(block_text)

    # ------------------------------------------------------------------ workflows

    def new_workflow(self, name: str, base: str | None = None) -> str:
        check_name(name, "workflow name")
        if name in self.names("workflow"):
            raise EditError(f"workflow {name} exists already.")
        if base is not None and base not in self.names("workflow"):
            raise EditError(f"there is no workflow {base} to make a variant of.")
        head = f"workflow {name}" + (f" from {base}" if base else "")
        return self._append_top(head + " {\n}\n")

    def add_task(self, workflow: str, task: str, implementation: str | None = None) -> str:
        check_name(task, "task name")
        if task in ("START", "END"):
            raise EditError(f"{task} is the flow's own start or end, not a task name.")
        wf = self.top("workflow", workflow)
        if self._tasks_in(wf, task):
            raise EditError(f"workflow {workflow} has a task {task} already.")
        stmt = f"task {task} {{ implementation {_quote(implementation)}; }}" if implementation else f"task {task};"
        edits = []
        if self.base(workflow) is None:
            order = self.chain(workflow)
            if order is not None:
                inner = [n for n in order if n not in ("START", "END")] + [task]
                edits.extend(self._chain_edits(wf, inner))
        edits.append(self._insert_stmt(wf, stmt, after=TASK_RULES))  # listed last: below a new chain
        return self._finish(edits, "workflow", workflow)

    def _chain_edits(self, wf: Tree, tasks: list[str]) -> list[tuple[int, int, str]]:
        chains = [s for s in self._body(wf) if s.data == "flow_chain"]
        text = " -> ".join(["START", *tasks, "END"]) + ";" if tasks else ""
        if chains:
            return [(chains[0].meta.start_pos, chains[0].meta.end_pos, text)]
        return [self._after_open(wf, text)] if text else []

    def remove_task(self, workflow: str, task: str) -> str:
        wf = self.top("workflow", workflow)
        blocks = self._tasks_in(wf, task)
        if not blocks:
            raise EditError(f"workflow {workflow} has no task {task}.")
        edits = [self._delete(b) for b in blocks]
        for s in self._body(wf):
            if s.data == "data_link" and task in (_port_task(s.children[0]), _port_task(s.children[1])):
                edits.append(self._delete(s))
        order = self.chain(workflow)
        if order:
            edits.extend(self._chain_edits(wf, [n for n in order if n not in ("START", "END", task)]))
        elif order is None:
            for s in self._body(wf):
                if s.data == "flow_chain" and task in map(str, s.children):
                    kept = [str(t) for t in s.children if str(t) != task]
                    new = " -> ".join(kept) + ";" if len(kept) > 1 else ""
                    edits.append((s.meta.start_pos, s.meta.end_pos, new))
        return self._finish(edits, "workflow", workflow)

    def rename_task(self, workflow: str, old: str, new: str) -> str:
        check_name(new, "task name")
        wf = self.top("workflow", workflow)
        if not self._tasks_in(wf, old):
            raise EditError(f"workflow {workflow} has no task {old}.")
        if self._tasks_in(wf, new):
            raise EditError(f"workflow {workflow} has a task {new} already.")
        edits: list[tuple[int, int, str]] = []
        for s in self._body(wf):
            tokens: list[Token] = []
            if s.data in TASK_RULES:
                tokens = [cast(Token, s.children[0])]
            elif s.data == "flow_chain":
                tokens = [cast(Token, c) for c in s.children]
            elif s.data == "data_link":
                tokens = [cast(Token, cast(Tree, p).children[0]) for p in s.children
                          if cast(Tree, p).children[1] is not None]
            edits.extend((cast(int, t.start_pos), cast(int, t.end_pos), new) for t in tokens if str(t) == old)
        return self._finish(edits, "workflow", workflow)

    def move_task(self, workflow: str, task: str, delta: int) -> str:
        order = self.chain(workflow)
        if order is None:
            raise EditError(f"workflow {workflow}'s flow is not one chain; reorder it in the text.")
        inner = [n for n in order if n not in ("START", "END")]
        if task not in inner:
            raise EditError(f"task {task} is not in workflow {workflow}'s chain.")
        i = inner.index(task)
        j = max(0, min(len(inner) - 1, i + delta))
        inner.insert(j, inner.pop(i))
        return self._finish(self._chain_edits(self.top("workflow", workflow), inner), "workflow", workflow)

    def link(self, workflow: str, src: str, dst: str, model=None) -> str:
        """`src --> dst` (each `Task.port`); with the loaded workflow, ports must be declared and
        the new edge must not close a cycle."""
        wf = self.top("workflow", workflow)
        (st, sp), (dt, dp) = _split_port(src), _split_port(dst)
        for t in (st, dt):
            if t is not None and not self._tasks_in(wf, t) and (model is None or t not in model.tasks):
                raise EditError(f"workflow {workflow} has no task {t}.")
        if model is not None:
            _check_port(model, st, sp, "outputs")
            _check_port(model, dt, dp, "inputs")
            if st and dt:
                cycle = _cycle_with(list(model.tasks), [*model.edges, (st, dt)])
                if cycle:
                    raise EditError(f"linking {src} to {dst} would make a cycle: {' -> '.join(cycle)}.")
        for s in self._body(wf):
            if s.data == "data_link" and (_port_text(s.children[0]), _port_text(s.children[1])) == (src, dst):
                raise EditError(f"{src} --> {dst} is there already.")
        return self._finish([self._insert_stmt(wf, f"{src} --> {dst};", after=("data_link",))], "workflow", workflow)

    def bind(self, workflow: str, task: str, implementation: str) -> str:
        return self._task_statement(workflow, task, "implementation", f"implementation {_quote(implementation)};")

    def set_param(self, workflow: str, task: str, param: str, value: str) -> str:
        check_name(param, "param name")
        stmt = f"param {param} = {value.strip()};"
        try:
            _parse(stmt, "task_stmt")
        except UnexpectedInput:
            raise EditError(f"{value.strip()!r} is not a value: a number, a \"string\", true or false.") from None
        return self._task_statement(workflow, task, ("param_set", param), stmt)

    def _task_statement(self, workflow: str, task: str, which, stmt: str) -> str:
        """Put `stmt` in the task's block, replacing the statement `which` names, creating the block
        (a variant overrides a task of its base in a block of its own)."""
        wf = self.top("workflow", workflow)
        blocks = self._tasks_in(wf, task)
        if not blocks:
            if self.base(workflow) is None:
                raise EditError(f"workflow {workflow} has no task {task}.")
            edit = self._insert_stmt(wf, f"task {task} {{ {stmt} }}", after=TASK_RULES)
            return self._finish([edit], "workflow", workflow)
        edits = _replace_in_block(self, blocks[-1], which, stmt)
        return self._finish(edits, "workflow", workflow)

    # ------------------------------------------------------------------ experiments

    def new_experiment(self, name: str) -> str:
        check_name(name, "experiment name")
        if name in self.names("experiment"):
            raise EditError(f"experiment {name} exists already.")
        return self._append_top(f"experiment {name} {{\n}}\n")

    def spaces(self, experiment: str) -> list[str]:
        return [str(s.children[0]) for s in self._body(self.top("experiment", experiment)) if s.data == "space"]

    def _space(self, experiment: str, space: str) -> Tree:
        for s in self._body(self.top("experiment", experiment)):
            if s.data == "space" and str(s.children[0]) == space:
                return s
        raise EditError(f"experiment {experiment} has no space {space}.")

    def add_space(self, experiment: str, space: str, workflow: str) -> str:
        check_name(space, "space name")
        exp = self.top("experiment", experiment)
        taken = {str(s.children[0]) for s in self._body(exp) if s.data in ("space", "task_block", "interaction")}
        if space in taken:
            raise EditError(f"experiment {experiment} has a node {space} already.")
        if workflow not in self.names("workflow"):
            raise EditError(f"there is no workflow {workflow} in this file.")
        stmt = f"space {space} of {workflow} {{\nstrategy gridsearch;\n}}"
        return self._finish([self._insert_stmt(exp, stmt, after=("space",))], "experiment", experiment)

    def space_setting(self, experiment: str, space: str, keyword: str, stmt: str) -> str:
        """Set `strategy`, `runs`, `objective`, `pruner`, `parallel` or `seed` (one of each)."""
        try:
            _parse(stmt, "space_stmt")
        except UnexpectedInput:
            raise EditError(f"{stmt!r} is not a valid {keyword} statement.") from None
        block = self._space(experiment, space)
        order = ("strategy", "runs", "param_values", "task_block", "configure_task", "objective", "pruner")
        after = order[: order.index(keyword) + 1] if keyword in order else ()
        return self._finish(_replace_in_block(self, block, keyword, stmt, after=after), "experiment", experiment)

    def space_values(self, experiment: str, space: str, task: str, param: str, domain_text: str) -> str:
        """Search `task.param` over a value list: `param_values task_param = …;` bound in the space."""
        parse_domain(domain_text)
        block = self._space(experiment, space)
        vp = f"{task}_{param}"
        edits = _replace_in_block(self, block, ("param_values", vp), f"param_values {vp} = {domain_text.strip()};",
                                  after=("strategy", "runs", "param_values"))
        bindings = [s for s in self._body(block) if s.data in ("task_block", "configure_task")
                    and str(s.children[0]) == task]
        if bindings:
            edits += _replace_in_block(self, bindings[-1], ("param_set", param), f"param {param} = {vp};")
        else:
            edits.append(self._insert_stmt(block, f"task {task} {{ param {param} = {vp}; }}",
                                           after=("strategy", "runs", "param_values", "task_block")))
        return self._finish(edits, "experiment", experiment)

    def add_control(self, experiment: str, src: str, dst: str, condition: str | None = None,
                    otherwise: bool = False, max_iterations: int | None = None) -> str:
        exp = self.top("experiment", experiment)
        nodes = {str(s.children[0]) for s in self._body(exp) if s.data in ("space", "task_block", "interaction")}
        for n in (src, dst):
            if n not in nodes | {"START", "END"}:
                raise EditError(f"experiment {experiment} has no space or task {n}.")
        props = []
        if condition is not None:
            props.append(f"condition {_quote(condition)}")
        if otherwise:
            props.append("else")
        if max_iterations is not None:
            props.append(f"max_iterations {max_iterations}")
        stmt = f"{src} ?-> {dst} {{ {'; '.join(props)} }};" if props else f"{src} -> {dst};"
        controls = [s for s in self._body(exp) if s.data == "control"]
        if controls:
            edit = self._insert_stmt(controls[0], stmt, after=("ctrl_chain", "cond_edge"))
        else:
            edit = self._after_open(exp, f"control {{\n{stmt}\n}}")
        return self._finish([edit], "experiment", experiment)

    def add_interaction(self, experiment: str, name: str, prompt: str) -> str:
        check_name(name, "interaction name")
        exp = self.top("experiment", experiment)
        taken = {str(s.children[0]) for s in self._body(exp) if s.data in ("space", "task_block", "interaction")}
        if name in taken:
            raise EditError(f"experiment {experiment} has a node {name} already.")
        stmt = f"interaction {name} {{\nprompt {_quote(prompt)};\n}}"
        return self._finish([self._insert_stmt(exp, stmt)], "experiment", experiment)


def _replace_in_block(editor: SpecEditor, block: Tree, which, stmt: str,
                      after: tuple[str, ...] = ()) -> list[tuple[int, int, str]]:
    """Replace the statement `which` (a rule name, or (rule, first name)) in block, else insert it."""
    rule, name = (which, None) if isinstance(which, str) else which
    for s in editor._body(block):
        if s.data == rule and (name is None or str(s.children[0]) == name):
            return [(s.meta.start_pos, s.meta.end_pos, stmt)]
    if block.data == "task_decl":  # `task T;` becomes `task T { … }`
        return [(block.meta.start_pos, block.meta.end_pos, f"task {block.children[0]} {{ {stmt} }}")]
    return [editor._insert_stmt(block, stmt, after=after)]


def reformat_block(text: str, kind: str, name: str) -> str:
    """Re-format one top-level block in place; the rest of the text is left as it is."""
    try:
        tree = _parse(text)
    except UnexpectedInput:
        raise EditError("that edit would not parse; nothing was changed.") from None
    for t in tree.children:
        if isinstance(t, Tree) and t.data == kind and str(t.children[0]) == name:
            start, end = t.meta.start_pos, t.meta.end_pos
            try:
                block = format_text(text[start:end]).rstrip("\n")
            except FormatError:
                raise EditError("that edit would not parse; nothing was changed.") from None
            return text[:start] + block + text[end:]
    return text


def _port_task(port: Tree) -> str | None:
    first, second = port.children
    return str(first) if second is not None else None


def _port_text(port: Tree) -> str:
    first, second = port.children
    return str(first) if second is None else f"{first}.{second}"


def _split_port(text: str) -> tuple[str | None, str]:
    parts = text.strip().split(".")
    if len(parts) == 1 and NAME_RE.match(parts[0]):
        return None, parts[0]
    if len(parts) == 2 and all(NAME_RE.match(p) for p in parts):
        return parts[0], parts[1]
    raise EditError(f"{text!r} is not a port: write Task.port (or a workflow data name).")


def _check_port(workflow, task: str | None, port: str, direction: str) -> None:
    if task is None:
        return
    t = workflow.tasks.get(task)
    sig = t.signature if t is not None else None
    if sig is None:
        return  # an abstract task: its ports are whatever the variant's implementation declares
    declared = getattr(sig, direction)
    if port not in declared:
        kind = "output" if direction == "outputs" else "input"
        have = ", ".join(declared) or "none"
        raise EditError(f"task {task} has no {kind} port {port} ({kind}s: {have}).")


def _cycle_with(nodes: list[str], edges: list[tuple[str, str]]) -> list[str] | None:
    from xxp_tui.lang.drawing import Edge, acyclic

    _, aside = acyclic(nodes, [Edge(a, b) for a, b in edges])
    if not aside:
        return None
    import networkx as nx

    g = nx.DiGraph(edges)
    cycle = [a for a, _ in nx.find_cycle(g)]
    return [*cycle, cycle[0]]
