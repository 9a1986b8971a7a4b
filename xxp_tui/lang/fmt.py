"""The canonical text of a spec: `xxp-tui fmt` and every file the designer writes.

Faithful by construction: it prints the parse tree statement by statement in source order, so the
formatted file holds exactly the statements that were written, with the author's spelling of each
(`define task` or `task`, `runs = 3` or `runs 3`, `param_values` or `param`, literals verbatim).
Only layout becomes canonical: one statement a line, four-space indents, single spaces around
operators, at most one blank line where the author left one, a blank line between top-level blocks.
A short block written on one line (`task A { implementation "a.b"; }`) stays on one line.

Comments survive: each is attached to the nearest statement (a comment after code on the same line
trails that statement, a comment on its own line leads the next statement of its block, a comment
after the last statement of a block stays before the closing brace).

A file with a syntax error is not formatted: there is no tree to print faithfully.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lark import Token, Tree
from lark.exceptions import UnexpectedInput

from xxp_tui.lang.diagnostics import Diagnostics

INDENT = "    "
ONE_LINE_WIDTH = 100

# Rules whose body is a list of statements between braces; what comes before the first sub-tree
# (names, `None` placeholders) is the header.
BLOCK_RULES = {
    "workflow", "task_block", "configure_task", "configure_data", "input_data", "param_def",
    "metric_def", "resources", "experiment", "interaction", "control", "space",
}
# Blocks that may stay on one line when the author wrote them so.
ONE_LINE_RULES = {"task_block", "configure_task", "configure_data", "input_data", "param_def", "metric_def",
                  "resources", "interaction"}
TOP_BLOCKS = {"workflow", "experiment", "task_block"}


class FormatError(Exception):
    """The text cannot be formatted (a syntax error); the message is one sentence with file:line:col."""


@dataclass(frozen=True)
class Comment:
    start: int
    end: int
    text: str
    own_line: bool  # nothing but whitespace before it on its line


@dataclass
class _Attached:
    leading: dict[int, list[Comment]] = field(default_factory=dict)  # id(tree) -> comments
    trailing: dict[int, list[Comment]] = field(default_factory=dict)
    closing: dict[int, list[Comment]] = field(default_factory=dict)  # id(block) -> before its `}`


def format_text(text: str, path: str = "<text>") -> str:
    """The canonical text of `text`; raises FormatError when it does not parse."""
    from xxp_tui.lang.parser import _lark, parse_text

    try:
        tree = _lark().parse(text, start="start")
    except UnexpectedInput:
        diags = Diagnostics()
        parse_text(text, path, diags)
        first = diags.items[0] if diags.items else None
        where = f"{first.pos.file}:{first.pos.line}:{first.pos.col}: {first.message}" if first else path
        raise FormatError(f"cannot format {path}: it has a syntax error ({where}).") from None
    return _Printer(text, tree).render()


def find_comments(text: str) -> list[Comment]:
    """Every `//` and `/* */` comment outside string literals, in order."""
    out: list[Comment] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if text.startswith("//", i) or text.startswith("/*", i):
            if text[i + 1] == "/":
                end = text.find("\n", i)
                end = n if end < 0 else end
            else:
                end = text.find("*/", i + 2)
                end = n if end < 0 else end + 2
            line_start = text.rfind("\n", 0, i) + 1
            own = text[line_start:i].strip() == ""
            out.append(Comment(i, end, text[i:end].rstrip(), own))
            i = end
            continue
        i += 1
    return out


def _statements(tree: Tree) -> list[Tree]:
    if tree.data == "start":
        return [c for c in tree.children if isinstance(c, Tree)]
    if tree.data in BLOCK_RULES:
        return [c for c in tree.children if isinstance(c, Tree)]
    return []


def _header(tree: Tree) -> list[Token | None]:
    out = []
    for c in tree.children:
        if isinstance(c, Tree):
            break
        out.append(c)
    return out


class _Printer:
    def __init__(self, text: str, tree: Tree) -> None:
        self.text = text
        self.tree = tree
        self.attached = _Attached()
        self._attach(tree, 0, len(text), find_comments(text))

    # ------------------------------------------------------------------ comments

    def _attach(self, block: Tree, lo: int, hi: int, comments: list[Comment]) -> None:
        """Give each comment inside block's body [lo, hi) to one of its statements (or its `}`)."""
        stmts = _statements(block)
        inside: dict[int, list[Comment]] = {}
        for c in comments:
            host = next((s for s in stmts if s.meta.start_pos <= c.start < s.meta.end_pos), None)
            if host is not None:
                inside.setdefault(id(host), []).append(c)
                continue
            line = self._line(c.start)
            before = [s for s in stmts if s.meta.end_pos <= c.start and self._line(s.meta.end_pos - 1) == line]
            if before and not c.own_line:
                self.attached.trailing.setdefault(id(before[-1]), []).append(c)
                continue
            after = next((s for s in stmts if s.meta.start_pos >= c.end), None)
            if after is not None:
                self.attached.leading.setdefault(id(after), []).append(c)
            else:
                self.attached.closing.setdefault(id(block), []).append(c)
        for s in stmts:
            found = inside.get(id(s))
            if not found:
                continue
            if s.data in BLOCK_RULES:
                open_at, close_at = self._braces(s)
                body = [c for c in found if open_at < c.start < close_at]
                rest = [c for c in found if c not in body]
                self._attach(s, open_at + 1, close_at, body)
                for c in rest:  # within the header or after the `}`: trails the statement
                    self.attached.trailing.setdefault(id(s), []).append(c)
            else:
                self.attached.trailing.setdefault(id(s), []).extend(found)

    def _line(self, offset: int) -> int:
        return self.text.count("\n", 0, offset)

    def _braces(self, tree: Tree) -> tuple[int, int]:
        start, end = tree.meta.start_pos, tree.meta.end_pos
        return self.text.index("{", start, end), self.text.rindex("}", start, end)

    def _has_comments(self, tree: Tree) -> bool:
        key = id(tree)
        if key in self.attached.closing or key in self.attached.trailing or key in self.attached.leading:
            return True
        return any(self._has_comments(s) for s in _statements(tree))

    # ------------------------------------------------------------------ output

    def render(self) -> str:
        lines: list[str] = []
        self._body(self.tree, 0, lines, top=True)
        while lines and not lines[-1]:
            lines.pop()
        return "\n".join(lines) + "\n" if lines else ""

    def _body(self, block: Tree, depth: int, lines: list[str], top: bool = False) -> None:
        pad = INDENT * depth
        prev: Tree | None = None
        for s in _statements(block):
            leading = self.attached.leading.get(id(s), [])
            if prev is not None:
                gap_end = leading[0].start if leading else s.meta.start_pos
                gap = self.text[self._after_trailing(prev) : gap_end]
                blank = gap.count("\n") >= 2
                if top and (s.data in TOP_BLOCKS or prev.data in TOP_BLOCKS):
                    blank = True
                if blank:
                    lines.append("")
            for i, c in enumerate(leading):
                lines.extend(self._comment_lines(c, pad))
                upto = leading[i + 1].start if i + 1 < len(leading) else s.meta.start_pos
                if self.text.count("\n", c.end, upto) >= 2:  # the author's blank line after a comment stays
                    lines.append("")
            self._statement(s, depth, lines)
            prev = s
        for c in self.attached.closing.get(id(block), []):
            lines.extend(self._comment_lines(c, pad))

    def _after_trailing(self, tree: Tree) -> int:
        trailing = self.attached.trailing.get(id(tree), [])
        return max([tree.meta.end_pos, *(c.end for c in trailing)])

    def _comment_lines(self, c: Comment, pad: str) -> list[str]:
        if c.text.startswith("//") or "\n" not in c.text:
            return [pad + c.text]
        # a block comment keeps its inner lines as written, re-indented by its first line's offset
        first, *rest = c.text.split("\n")
        return [pad + first, *(line.rstrip() for line in rest)]

    def _statement(self, s: Tree, depth: int, lines: list[str]) -> None:
        pad = INDENT * depth
        trailing = self.attached.trailing.get(id(s), [])
        if s.data in BLOCK_RULES:
            head = self._block_head(s)
            body = _statements(s)
            if self._stays_one_line(s, body):
                inner = " ".join(self._simple(b) for b in body)
                one = f"{head} {{ {inner} }}" if inner else f"{head} {{}}"
                lines.append(pad + one + self._semicolon_after(s))
            else:
                lines.append(f"{pad}{head} {{")
                self._body(s, depth + 1, lines)
                lines.append(pad + "}" + self._semicolon_after(s))
        else:
            lines.append(pad + self._simple(s))
        if trailing:
            self._add_trailing(lines, trailing, pad)

    def _add_trailing(self, lines: list[str], trailing: list[Comment], pad: str) -> None:
        first, *rest = trailing
        if first.text.startswith("/*") and "\n" in first.text:
            rest = trailing
        else:
            lines[-1] += "  " + first.text
        for c in rest:
            lines.extend(self._comment_lines(c, pad))

    def _stays_one_line(self, s: Tree, body: list[Tree]) -> bool:
        if s.data not in ONE_LINE_RULES or any(b.data in BLOCK_RULES for b in body):
            return False
        if any(self.attached.leading.get(id(b)) or self.attached.trailing.get(id(b)) for b in body):
            return False
        if self.attached.closing.get(id(s)):
            return False
        span = self.text[s.meta.start_pos : s.meta.end_pos]
        if "\n" in span:
            return False
        inner = " ".join(self._simple(b) for b in body)
        return len(self._block_head(s)) + len(inner) + 6 <= ONE_LINE_WIDTH

    def _semicolon_after(self, s: Tree) -> str:
        return ";" if self.text[s.meta.start_pos : s.meta.end_pos].rstrip().endswith(";") else ""

    def _written(self, s: Tree, pattern: str) -> bool:
        """Did the author spell this optional part? (the tree drops anonymous tokens)"""
        return re.search(pattern, self.text[s.meta.start_pos : s.meta.end_pos]) is not None

    def _block_head(self, s: Tree) -> str:
        h = [str(t) if t is not None else None for t in _header(s)]
        kind = s.data
        if kind == "workflow":
            return f"workflow {h[0]}" + (f" from {h[1]}" if h[1] else "")
        if kind == "task_block":
            return f"task {h[0]}"
        if kind == "configure_task":
            return f"configure task {h[0]}"
        if kind == "configure_data":
            return f"configure data {h[0]}"
        if kind == "input_data":
            return f"input data {h[0]}"
        if kind == "param_def":
            return ("define param " if self._written(s, r"^define\b") else "param ") + f"{h[0]}"
        if kind == "metric_def":
            return f"define metric {h[0]}"
        if kind == "resources":
            return "resources"
        if kind == "experiment":
            return f"experiment {h[0]}"
        if kind == "interaction":
            return f"interaction {h[0]}"
        if kind == "control":
            return "control"
        if kind == "space":
            return f"space {h[0]} of {h[1]}"
        raise AssertionError(kind)

    # ------------------------------------------------------------------ simple statements

    def _eq(self, s: Tree, keyword: str, value: object) -> str:
        sep = " = " if self._written(s, r"^\w+\s*=") else " "
        return f"{keyword}{sep}{value};"

    def _simple(self, s: Tree) -> str:  # one branch per statement of the grammar
        c = s.children
        kind = s.data
        if kind == "package":
            return "package " + ".".join(str(t) for t in c) + ";"
        if kind == "import_stmt":
            return f"import {c[0]};"
        if kind == "task_decl":
            return ("define task " if self._written(s, r"^define\b") else "task ") + f"{c[0]};"
        if kind == "input_port":
            return f"define input data {c[0]};"
        if kind == "output_port":
            return f"define output data {c[0]};"
        if kind == "data_prop":
            return f"{c[0]} {self._value(c[1])};"
        if kind == "data_link":
            return f"{self._port(c[0])} --> {self._port(c[1])};"
        if kind == "flow_chain":
            return " -> ".join(str(t) for t in c) + ";"
        if kind in ("implementation", "subworkflow", "dependency", "venv", "python_version", "prompt",
                    "timeout", "stall_after", "on_stall", "intent", "strategy", "filter", "generator", "warmstart"):
            return f"{kind} {c[0]};"
        if kind in ("task_type", "param_type", "metric_type"):
            return f"type {c[0]};"
        if kind == "cache":
            return f"cache {c[0]};"
        if kind in ("retries", "runs", "parallel", "seed"):
            return self._eq(s, kind, c[0])
        if kind == "param_set":
            return f"param {c[0]} = {self._value(c[1])};"
        if kind == "resource_prop":
            return f"{c[0]} = {c[1]};"
        if kind == "param_default":
            return f"default {self._value(c[0])};"
        if kind == "param_domain":
            return f"{self._domain(c[0])};"
        if kind == "metric_semantic":
            return f"semanticType {c[0]};"
        if kind == "metric_kind":
            return f"kind {c[0]};"
        if kind == "ctrl_chain":
            return " -> ".join(self._node(n) for n in c) + ";"
        if kind == "cond_edge":
            src, dst, *props = c
            inner = "; ".join(self._cond_prop(p) for p in props)
            return f"{self._node(src)} ?-> {self._node(dst)} {{ {inner} }};" if inner else \
                f"{self._node(src)} ?-> {self._node(dst)} {{}};"
        if kind == "param_values":
            word = "param_values" if self._written(s, r"^param_values\b") else "param"
            return f"{word} {c[0]} = {self._domain(c[1])};"
        if kind == "objective":
            return "objective " + ", ".join(self._objective_term(t) for t in c) + ";"
        if kind == "pruner":
            name, first, second = c
            watch = "" if first is None else f" on {first}" + (f".{second}" if second is not None else "")
            return f"pruner {name}{watch};"
        if s.data in BLOCK_RULES:  # a nested block inside a one-line block never happens; be safe
            return f"{self._block_head(s)} {{ " + " ".join(self._simple(b) for b in _statements(s)) + " }"
        raise AssertionError(f"no printer for {kind}")

    def _cond_prop(self, p: Tree) -> str:
        if p.data == "cond_condition":
            return f"condition {p.children[0]}"
        if p.data == "cond_else":
            return "else"
        sep = " = " if self._written(p, r"^max_iterations\s*=") else " "
        return f"max_iterations{sep}{p.children[0]}"

    def _objective_term(self, t: Tree) -> str:
        direction, first, second = t.children
        return f"{direction} {first}" + (f".{second}" if second is not None else "")

    def _node(self, n: Tree) -> str:
        names = [str(t) for t in n.children]
        return names[0] if len(names) == 1 else "(" + " || ".join(names) + ")"

    def _port(self, p: Tree) -> str:
        first, second = p.children
        return str(first) if second is None else f"{first}.{second}"

    def _value(self, v: Token | Tree) -> str:
        return str(v)

    def _domain(self, d: Token | Tree) -> str:
        if isinstance(d, Token):
            return str(d)
        parts = [str(x) for x in d.children if x is not None]
        if d.data == "enum":
            return "enum(" + ", ".join(parts) + ")"
        if d.data == "range":
            return "range(" + ", ".join(parts) + ")"
        if d.data == "closed_range":
            return "range[" + ", ".join(parts) + "]"
        if d.data == "uniform":
            return "uniform(" + ", ".join(parts) + ")"
        raise AssertionError(d.data)
