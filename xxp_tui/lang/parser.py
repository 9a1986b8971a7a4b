"""Text -> `syntax.SpecFile` plus diagnostics, never an exception.

The grammar (grammar.lark) is LALR, so a well-formed file parses in one pass. When it does not,
the parser recovers by structure instead of guessing tokens: a file is a list of statements
(ending at `;` or at a balanced `{…}` block), each statement is re-parsed on its own with the start
symbol of its scope, and a block whose body is broken is parsed as header-with-empty-body and its
body statements one by one, recursively. Every statement that parses is kept, so the model covers
everything that was written correctly and each broken statement yields one diagnostic at its
exact line and column.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import os
from dataclasses import dataclass
from importlib import resources
from typing import Any

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics, Pos, did_you_mean
from xxp_tui.lang.domains import EnumDomain, RangeDomain, UniformDomain

# Start symbols used for recovery, by the kind of block whose body is being re-parsed.
BODY_SYMBOL = {
    "workflow": "wf_stmt",
    "experiment": "exp_stmt",
    "task_block": "task_stmt",
    "configure_task": "task_stmt",
    "interaction": "task_stmt",
    "configure_data": "data_prop",
    "input_data": "data_prop",
    "param_def": "param_prop",
    "metric_def": "metric_prop",
    "resources": "resource_prop",
    "control": "ctrl_stmt",
    "cond_edge": "cond_prop",
    "space": "space_stmt",
}
START_SYMBOLS = ["start", "top_stmt", *sorted(set(BODY_SYMBOL.values()))]

MAX_NESTING = 32  # deeper than any real spec; protects the recursion from hostile input
MAX_ERRORS_PER_FILE = 100

TERMINAL_LABELS = {
    "NAME": "a name",
    "STRING": "a string",
    "INT": "an integer",
    "FLOAT": "a number",
    "BOOL": "true or false",
    "DURATION": "a duration such as 30s or 10m",
    "KIND": "single-value or series",
    "DIRECTION": "maximize or minimize",
    "$END": "end of file",
}


@functools.cache
def _lark() -> Lark:
    grammar = resources.files("xxp_tui.lang").joinpath("grammar.lark").read_text(encoding="utf-8")
    cache = _table_cache(grammar)
    parser = Lark(
        grammar,
        parser="lalr",
        lexer="contextual",
        start=START_SYMBOLS,
        propagate_positions=True,
        maybe_placeholders=True,
        cache=cache,
    )
    if cache:
        with contextlib.suppress(OSError):
            os.chmod(cache, 0o600)
    return parser


def _table_cache(grammar: str) -> str | bool:
    """Where lark keeps the parse tables it computed (~150 ms saved on every command that reads a
    spec): a private per-user folder. lark checks the grammar's hash stored in the file, and the
    name carries it too, so a changed grammar never reads stale tables."""
    import hashlib

    import lark

    from xxp_tui.paths import cache_dir

    base = cache_dir()
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        if base.stat().st_uid != os.getuid() or base.stat().st_mode & 0o077:
            return False  # not a folder only this user can write: do not load tables from it
    except OSError:
        return False
    digest = hashlib.sha256(grammar.encode()).hexdigest()[:16]
    return str(base / f"grammar-{lark.__version__}-{digest}.lark")


@functools.cache
def _terminal_labels() -> dict[str, str]:
    labels = dict(TERMINAL_LABELS)
    for term in _lark().terminals:
        if term.name not in labels and term.pattern.type == "str":
            labels[term.name] = f"'{term.pattern.value}'"
    return labels


@functools.cache
def _statement_keywords(symbol: str) -> frozenset[str]:
    """Keywords that may start a statement in the scope parsed with `symbol`."""
    labels = _terminal_labels()
    words = set()
    for name in _lark().parse_interactive(start=symbol).accepts():
        label = labels.get(name, "")
        if label.startswith("'") and label[1:-1].isidentifier():
            words.add(label[1:-1])
    return frozenset(words)


def parse_text(text: str, path: str, diagnostics: Diagnostics) -> syntax.SpecFile:
    """Parse one file's text; problems go to `diagnostics`."""
    return _FileParser(text, path, diagnostics).parse()


# ----------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class _Piece:
    """One statement's span; `open`/`close` are the offsets of its first top-level block's braces."""

    start: int
    end: int
    open: int | None = None
    close: int | None = None


class _FileParser:
    def __init__(self, text: str, path: str, diagnostics: Diagnostics) -> None:
        self.text = text
        self.path = path
        self.diagnostics = diagnostics
        self.errors = 0
        self._line_starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self._line_starts.append(i + 1)

    # -- positions

    def pos_at(self, offset: int) -> Pos:
        line = bisect.bisect_right(self._line_starts, offset)
        return Pos(self.path, line, offset - self._line_starts[line - 1] + 1)

    def error(self, pos: Pos, message: str) -> None:
        self.errors += 1
        if self.errors <= MAX_ERRORS_PER_FILE:
            self.diagnostics.error(pos, message)
        elif self.errors == MAX_ERRORS_PER_FILE + 1:
            self.diagnostics.error(pos, f"too many errors; stopped after {MAX_ERRORS_PER_FILE}")

    # -- entry

    def parse(self) -> syntax.SpecFile:
        try:
            tree = _lark().parse(self.text, start="start")
        except UnexpectedInput:
            tree = self._recover()
        builder = _Builder(self.path, self.diagnostics)
        try:
            spec = builder.transform(tree)
        except VisitError as exc:  # a defect in _Builder: report it, never crash the caller
            self.error(Pos(self.path), f"internal error while reading the file: {exc.orig_exc!r}")
            spec = syntax.SpecFile(path=self.path, text=self.text)
        spec.text = self.text
        return spec

    def _recover(self) -> Tree:
        before = self.errors
        root: Tree = Tree("start", [])
        for piece in self._split(0, len(self.text), depth=0):
            root.children.extend(self._parse_piece(piece, "top_stmt", depth=0))
        if self.errors == before:  # recovery found nothing: report the plain parse error
            try:
                _lark().parse(self.text, start="start")
            except UnexpectedInput as exc:
                self._report(exc, "start", 0, len(self.text))
        return root

    def _parse_at(self, start: int, end: int, symbol: str, suffix: str = "") -> Tree:
        """Parse text[start:end] (+ suffix) as `symbol`, keeping the file's line and column numbers."""
        pos = self.pos_at(start)
        prefix = "\n" * (pos.line - 1) + " " * (pos.col - 1)
        return _lark().parse(prefix + self.text[start:end] + suffix, start=symbol)

    def _parse_piece(self, piece: _Piece, symbol: str, depth: int) -> list[Tree]:
        """Trees for the statement(s) in `piece`; errors are reported, good parts kept."""
        try:
            return [self._parse_at(piece.start, piece.end, symbol)]
        except UnexpectedInput as exc:
            whole_error = exc
        if piece.open is None or depth >= MAX_NESTING:
            if depth >= MAX_NESTING:
                self.error(self.pos_at(piece.start), f"blocks nested deeper than {MAX_NESTING} levels")
                return []
            resume = self._report(whole_error, symbol, piece.start, piece.end)
            return self._after_missing_semicolon(piece, resume, symbol, depth)
        if piece.close is None:
            self.error(self.pos_at(piece.open), "'{' is never closed")
        # The header with an empty body tells which block this is.
        trailer = ";" if self.text[piece.start : piece.end].rstrip().endswith(";") and piece.close else ""
        try:
            header = self._parse_at(piece.start, piece.open + 1, symbol, suffix="}" + trailer)
        except UnexpectedInput as exc:
            resume = self._report(exc, symbol, piece.start, piece.open + 1)
            return self._after_missing_semicolon(piece, resume, symbol, depth)
        body_symbol = BODY_SYMBOL.get(str(header.data))
        if body_symbol is None:
            self._report(whole_error, symbol, piece.start, piece.end)
            return []
        body_end = piece.close if piece.close is not None else piece.end
        for sub_piece in self._split(piece.open + 1, body_end, depth + 1):
            header.children.extend(self._parse_piece(sub_piece, body_symbol, depth + 1))
        return [header]

    def _after_missing_semicolon(self, piece: _Piece, resume: tuple[int, int] | None, symbol: str,
                                 depth: int) -> list[Tree]:
        """After a forgotten `;` the statement is parsed as if it were there, and what follows
        (the next line's statement) is parsed on its own instead of being lost."""
        if resume is None:
            return []
        stmt_end, next_start = resume
        trees = []
        with contextlib.suppress(UnexpectedInput):
            trees.append(self._parse_at(piece.start, stmt_end, symbol, suffix=";"))
        for rest in self._split(next_start, piece.end, depth):
            trees.extend(self._parse_piece(rest, symbol, depth))
        return trees

    def _split(self, start: int, end: int, depth: int) -> list[_Piece]:
        """Statements in text[start:end]: up to `;` at brace depth 0, or a block plus optional `;`."""
        text = self.text
        pieces: list[_Piece] = []
        i, level = start, 0
        first: int | None = None
        opened: int | None = None
        while i < end:
            ch = text[i]
            if ch in " \t\r\n\f":
                i += 1
                continue
            if text.startswith("//", i):
                nl = text.find("\n", i, end)
                i = end if nl < 0 else nl
                continue
            if text.startswith("/*", i):
                close = text.find("*/", i + 2, end)
                i = end if close < 0 else close + 2
                continue
            if first is None:
                first = i
            if ch in "\"'":
                i = self._skip_string(i, end)
                continue
            if ch == "{":
                level += 1
                if opened is None:
                    opened = i
            elif ch == "}":
                if level == 0:
                    self.error(self.pos_at(i), "unmatched '}'")
                    first = opened = None
                    i += 1
                    continue
                level -= 1
                if level == 0:
                    close = i
                    j = self._skip_trivia(i + 1, end)
                    if j < end and text[j] == ";":
                        i = j
                    pieces.append(_Piece(first, i + 1, opened, close))
                    first = opened = None
            elif ch == ";" and level == 0:
                pieces.append(_Piece(first, i + 1))
                first = opened = None
            i += 1
        if first is not None:
            pieces.append(_Piece(first, end, opened, None))
        return pieces

    def _skip_string(self, i: int, end: int) -> int:
        quote = self.text[i]
        j = i + 1
        while j < end:
            ch = self.text[j]
            if ch == "\\":
                j += 2
                continue
            if ch == quote:
                return j + 1
            if ch == "\n":
                return j
            j += 1
        return end

    def _skip_trivia(self, i: int, end: int) -> int:
        text = self.text
        while i < end:
            if text[i] in " \t\r\n\f":
                i += 1
            elif text.startswith("//", i):
                nl = text.find("\n", i, end)
                i = end if nl < 0 else nl
            elif text.startswith("/*", i):
                close = text.find("*/", i + 2, end)
                i = end if close < 0 else close + 2
            else:
                break
        return i

    # -- messages

    def _report(self, exc: UnexpectedInput, symbol: str, start: int, end: int) -> tuple[int, int] | None:
        """Report a parse error; for a forgotten `;` return (end of statement, start of the next)."""
        labels = _terminal_labels()
        # A misspelt keyword at the start of a statement reads better as such than as the
        # parser's complaint about the token after it ("efine input data X;").
        first_word = self.text[start:end].split(maxsplit=1)[0] if self.text[start:end].split() else ""
        keywords = _statement_keywords(symbol)
        if first_word.isidentifier() and first_word not in keywords:
            hint = did_you_mean(first_word, keywords)
            if hint:
                self.error(self.pos_at(start), f'unknown statement "{first_word}"{hint}')
                return None
        if isinstance(exc, UnexpectedCharacters):
            ch = exc.char
            shown = repr(ch) if not ch.isprintable() or ch in "'\"" else f"'{ch}'"
            self.error(Pos(self.path, exc.line, exc.column), f"unexpected character {shown}")
            return None
        expected = sorted({labels.get(t, t) for t in (getattr(exc, "expected", None) or ()) if t != "$END"})
        at_end = isinstance(exc, UnexpectedEOF) or (isinstance(exc, UnexpectedToken) and exc.token.type == "$END")
        if at_end:
            offset = self._last_significant(start, end)
        else:
            assert isinstance(exc, UnexpectedToken)  # characters and EOF were handled above
            token: Token = exc.token
            offset = self._line_starts[(token.line or 1) - 1] + (token.column or 1) - 1
        previous = self._last_significant(start, offset)
        if "';'" in expected and (at_end or self.pos_at(previous).line < self.pos_at(offset).line):
            # The statement ran on past its line: the usual cause is a forgotten semicolon.
            self.error(self.pos_at(previous), "missing ';' at the end of this statement")
            return None if at_end else (previous, offset)
        if at_end:
            self.error(self.pos_at(offset), f"the statement ends too early; expected {_join_expected(expected)}")
            return None
        found = f"'{token.value}'" if token.value else labels.get(token.type, token.type)
        self.error(self.pos_at(offset), f"unexpected {found}; expected {_join_expected(expected)}")
        return None

    def _last_significant(self, start: int, end: int) -> int:
        j = end
        while j > start and self.text[j - 1] in " \t\r\n\f":
            j -= 1
        return j


def _join_expected(expected: list[str]) -> str:
    if not expected:
        return "something else"
    if len(expected) == 1:
        return expected[0]
    if len(expected) > 8:
        return "one of " + ", ".join(expected[:8]) + ", …"
    return "one of " + ", ".join(expected)


# ----------------------------------------------------------------------------- tree -> syntax


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in escapes:
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


@dataclass(frozen=True)
class _Stmt:
    kind: str
    value: Any
    pos: Pos


_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


@v_args(meta=True)
class _Builder(Transformer):
    """Lark tree -> syntax objects. Block rules fold their statements into one dataclass."""

    def __init__(self, path: str, diagnostics: Diagnostics) -> None:
        super().__init__(visit_tokens=False)
        self.path = path
        self.diagnostics = diagnostics

    # -- helpers

    def _pos(self, meta_or_token: Any) -> Pos:
        return Pos(self.path, getattr(meta_or_token, "line", 1) or 1, getattr(meta_or_token, "column", 1) or 1)

    def _name(self, tok: Token) -> syntax.Name:
        return syntax.Name(str(tok), self._pos(tok))

    def _text(self, tok: Token) -> syntax.Text:
        return syntax.Text(_unquote(str(tok)), self._pos(tok))

    def _value(self, item: Any) -> Any:
        if isinstance(item, Token):
            if item.type == "INT":
                return int(item)
            if item.type == "FLOAT":
                return float(item)
            if item.type == "STRING":
                return _unquote(str(item))
            if item.type == "BOOL":
                return str(item).lower() == "true"
            if item.type == "NAME":
                return syntax.Ref(str(item), self._pos(item))
        return item

    def _number(self, item: Any) -> float | int:
        v = self._value(item)
        return v

    # -- file

    def start(self, meta, children):
        spec = syntax.SpecFile(path=self.path, text="")
        for item in children:
            if isinstance(item, _Stmt) and item.kind == "package":
                spec.package = item.value
            elif isinstance(item, _Stmt) and item.kind == "import":
                spec.imports.append(item.value)
            elif isinstance(item, syntax.WorkflowDecl):
                spec.workflows.append(item)
            elif isinstance(item, syntax.ExperimentDecl):
                spec.experiments.append(item)
            elif isinstance(item, syntax.TaskBlock):
                spec.signatures.append(item)
        return spec

    def package(self, meta, children):
        return _Stmt("package", ".".join(str(c) for c in children), self._pos(meta))

    def import_stmt(self, meta, children):
        return _Stmt("import", self._text(children[0]), self._pos(meta))

    # -- workflow

    def workflow(self, meta, children):
        name, base, *stmts = children
        wf = syntax.WorkflowDecl(self._name(name), self._name(base) if base else None, self.path)
        for s in stmts:
            if isinstance(s, syntax.TaskBlock):
                wf.tasks.append(s)
            elif isinstance(s, syntax.DataConfig):
                wf.data_configs.append(s)
            elif isinstance(s, syntax.DataLink):
                wf.links.append(s)
            elif isinstance(s, _Stmt) and s.kind in ("input", "output"):
                wf.data.append(syntax.DataDecl(s.value, s.kind))
            elif isinstance(s, _Stmt) and s.kind == "chain":
                wf.chains.append(s.value)
        return wf

    def task_decl(self, meta, children):
        return syntax.TaskBlock(self._name(children[0]), "decl")

    def _block(self, form: str, children) -> syntax.TaskBlock:
        name, *stmts = children
        block = syntax.TaskBlock(self._name(name), form)
        singles = {"implementation", "subworkflow", "venv", "python_version", "task_type", "timeout",
                   "retries", "cache", "prompt", "stall_after", "on_stall"}
        for s in stmts:
            block.statements.append((s.kind, s.pos))
            if s.kind in singles:
                attr = s.kind
                if getattr(block, attr) is not None:
                    self.diagnostics.error(s.pos, f"'{_KEYWORD.get(s.kind, s.kind)}' given twice in task {name}")
                setattr(block, attr, s.value)
            elif s.kind in _REPEATED:
                getattr(block, _REPEATED[s.kind]).append(s.value)
            elif s.kind == "resources":
                block.resources.update(s.value)
        return block

    def task_block(self, meta, children):
        return self._block("task", children)

    def task_path(self, meta, children):
        """`Prep/Scale`: a sub-workflow's task by the flattened name the model gives it."""
        return Token.new_borrow_pos("NAME", "/".join(str(c) for c in children), children[0])

    def configure_task(self, meta, children):
        return self._block("configure", children)

    def interaction(self, meta, children):
        return self._block("interaction", children)

    def input_port(self, meta, children):
        return _Stmt("input", self._name(children[0]), self._pos(meta))

    def output_port(self, meta, children):
        return _Stmt("output", self._name(children[0]), self._pos(meta))

    def configure_data(self, meta, children):
        return self._data_config(children)

    def input_data(self, meta, children):
        return _Stmt("input_data", self._data_config(children), self._pos(meta))

    def _data_config(self, children) -> syntax.DataConfig:
        name, *props = children
        cfg = syntax.DataConfig(self._name(name))
        for key, value, pos in props:
            cfg.props[key] = value
            cfg.prop_pos[key] = pos
        return cfg

    def data_prop(self, meta, children):
        key, value = children
        return (str(key), self._value(value), self._pos(meta))

    def data_link(self, meta, children):
        return syntax.DataLink(children[0], children[1], self._pos(meta))

    def port(self, meta, children):
        first, second = children
        if second is None:
            return syntax.PortRef(None, self._name(first))
        return syntax.PortRef(self._name(first), self._name(second))

    def flow_chain(self, meta, children):
        return _Stmt("chain", [self._name(c) for c in children], self._pos(meta))

    # -- task statements

    def _simple(self, kind: str, meta, value) -> _Stmt:
        return _Stmt(kind, value, self._pos(meta))

    def implementation(self, meta, c):
        return self._simple("implementation", meta, self._text(c[0]))

    def subworkflow(self, meta, c):
        return self._simple("subworkflow", meta, self._text(c[0]))

    def dependency(self, meta, c):
        return self._simple("dependency", meta, self._text(c[0]))

    def venv(self, meta, c):
        return self._simple("venv", meta, self._text(c[0]))

    def python_version(self, meta, c):
        tok = c[0]
        text = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        return self._simple("python_version", meta, syntax.Text(text, self._pos(tok)))

    def task_type(self, meta, c):
        return self._simple("task_type", meta, self._name(c[0]))

    def prompt(self, meta, c):
        return self._simple("prompt", meta, self._text(c[0]))

    def timeout(self, meta, c):
        tok = c[0]
        pos = self._pos(meta)
        raw = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        seconds = _parse_duration(raw)
        if seconds is None or seconds <= 0:
            self.diagnostics.error(
                self._pos(tok), f"timeout must be a positive duration such as 30s, 10m or 2h, not {raw!r}"
            )
            seconds = None
        return self._simple("timeout", meta, (seconds, pos) if seconds else None)

    def stall_after(self, meta, c):
        tok = c[0]
        raw = _unquote(str(tok)) if tok.type == "STRING" else str(tok)
        seconds = _parse_duration(raw)
        if seconds is None or seconds <= 0:
            self.diagnostics.error(
                self._pos(tok), f"stall_after must be a positive duration such as 30s, 10m or 2h, not {raw!r}"
            )
            seconds = None
        return self._simple("stall_after", meta, (seconds, self._pos(meta)) if seconds else None)

    def on_stall(self, meta, c):
        what = str(c[0])
        if what not in ("mark", "kill"):
            self.diagnostics.error(self._pos(c[0]), f"on_stall must be mark or kill, not {what!r}")
            return self._simple("on_stall", meta, None)
        return self._simple("on_stall", meta, (what, self._pos(meta)))

    def retries(self, meta, c):
        return self._simple("retries", meta, (int(c[0]), self._pos(meta)))

    def cache(self, meta, c):
        return self._simple("cache", meta, (str(c[0]).lower() == "true", self._pos(meta)))

    def resources(self, meta, c):
        return self._simple("resources", meta, dict(c))

    def resource_prop(self, meta, c):
        return (str(c[0]), self._number(c[1]))

    def param_def(self, meta, children):
        name, *props = children
        p = syntax.ParamDef(self._name(name))
        for kind, value, pos in props:
            if kind == "type":
                p.type = value
            elif kind == "default":
                p.default = value
            elif kind == "domain":
                p.domain, p.domain_pos = value, pos
        return _Stmt("param_def", p, self._pos(meta))

    def param_type(self, meta, c):
        return ("type", self._name(c[0]), self._pos(meta))

    def param_default(self, meta, c):
        return ("default", self._value(c[0]), self._pos(meta))

    def param_domain(self, meta, c):
        return ("domain", self._as_domain(c[0], self._pos(meta)), self._pos(meta))

    def metric_def(self, meta, children):
        name, *props = children
        m = syntax.MetricDef(self._name(name))
        for kind, value in props:
            setattr(m, kind, value)
        return _Stmt("metric_def", m, self._pos(meta))

    def metric_semantic(self, meta, c):
        return ("semantic_type", self._name(c[0]))

    def metric_kind(self, meta, c):
        return ("kind", self._name(c[0]))

    def metric_type(self, meta, c):
        return ("type", self._name(c[0]))

    def param_set(self, meta, c):
        pos = self._pos(meta)
        return _Stmt("param_set", syntax.ParamSet(self._name(c[0]), self._value(c[1]), pos), pos)

    # -- experiments

    def experiment(self, meta, children):
        name, *stmts = children
        exp = syntax.ExperimentDecl(self._name(name), self.path)
        for s in stmts:
            if isinstance(s, syntax.SpaceDecl):
                exp.spaces.append(s)
            elif isinstance(s, syntax.TaskBlock):
                exp.tasks.append(s)
            elif isinstance(s, _Stmt) and s.kind == "intent":
                exp.intent = s.value
            elif isinstance(s, _Stmt) and s.kind == "control":
                exp.control.extend(s.value)
                exp.control_pos = exp.control_pos or s.pos
            elif isinstance(s, _Stmt) and s.kind == "parallel":
                exp.parallel = s.value
        return exp

    def intent(self, meta, c):
        return self._simple("intent", meta, self._name(c[0]))

    def control(self, meta, children):
        return self._simple("control", meta, list(children))

    def ctrl_chain(self, meta, children):
        return syntax.ControlChain(list(children), self._pos(meta))

    def ctrl_node(self, meta, children):
        return syntax.ControlNode(tuple(self._name(c) for c in children), self._pos(meta))

    def cond_edge(self, meta, children):
        src, dst, *props = children
        edge = syntax.CondEdge(src, dst, self._pos(meta))
        for kind, value in props:
            if kind == "condition":
                edge.condition = value
            elif kind == "else":
                edge.is_else = True
            elif kind == "max_iterations":
                edge.max_iterations = value
        return edge

    def cond_condition(self, meta, c):
        return ("condition", self._text(c[0]))

    def cond_else(self, meta, c):
        return ("else", True)

    def cond_max(self, meta, c):
        return ("max_iterations", (int(c[0]), self._pos(meta)))

    def space(self, meta, children):
        name, workflow, *stmts = children
        sp = syntax.SpaceDecl(self._name(name), self._name(workflow))
        for s in stmts:
            if isinstance(s, syntax.TaskBlock):
                sp.bindings.append(s)
                continue
            if s.kind == "param_values":
                sp.param_values.append(s.value)
            elif s.kind == "objective":
                sp.objectives.extend(s.value)
                sp.objective_pos = s.pos
            else:
                if getattr(sp, s.kind) is not None:
                    self.diagnostics.error(s.pos, f"'{s.kind}' given twice in space {name}")
                setattr(sp, s.kind, s.value)
        return sp

    def strategy(self, meta, c):
        return self._simple("strategy", meta, self._name(c[0]))

    def runs(self, meta, c):
        return self._simple("runs", meta, (int(c[0]), self._pos(meta)))

    def parallel(self, meta, c):
        return self._simple("parallel", meta, (int(c[0]), self._pos(meta)))

    def seed(self, meta, c):
        return self._simple("seed", meta, (int(c[0]), self._pos(meta)))

    def warmstart(self, meta, c):
        return self._simple("warmstart", meta, self._name(c[0]) if c[0].type == "NAME" else self._text(c[0]))

    def transfer(self, meta, c):
        return self._simple("transfer", meta, self._name(c[0]))

    def pruner(self, meta, c):
        name, first, second = c
        watch = None
        if first is not None:
            watch = (self._name(first), self._name(second)) if second is not None else (None, self._name(first))
        return self._simple("pruner", meta, syntax.Pruner(self._name(name), watch))

    def filter(self, meta, c):
        return self._simple("filter", meta, self._text(c[0]))

    def generator(self, meta, c):
        return self._simple("generator", meta, self._text(c[0]))

    def param_values(self, meta, c):
        pos = self._pos(meta)
        return self._simple("param_values", meta, (self._name(c[0]), self._as_domain(c[1], pos), pos))

    def objective(self, meta, children):
        return self._simple("objective", meta, list(children))

    def objective_term(self, meta, c):
        direction, first, second = c
        d = "maximize" if str(direction).startswith("max") else "minimize"
        if second is None:
            return syntax.Objective(d, None, self._name(first))
        return syntax.Objective(d, self._name(first), self._name(second))

    # -- domains

    def _as_domain(self, item: Any, pos: Pos):
        if isinstance(item, (EnumDomain, RangeDomain, UniformDomain)):
            return item
        value = self._value(item)
        if isinstance(value, syntax.Ref):
            value = value.name  # `param_values x = adam;` is a one-value list of the string "adam"
        return EnumDomain((value,))

    def enum(self, meta, children):
        values = []
        for c in children:
            if c is None:
                continue
            v = self._value(c)
            values.append(v.name if isinstance(v, syntax.Ref) else v)
        if not values:
            self.diagnostics.error(self._pos(meta), "enum() needs at least one value")
        return EnumDomain(tuple(values))

    def range(self, meta, children):
        start, stop, step, log = children
        a, b = self._number(start), self._number(stop)
        s = self._number(step) if step is not None else None
        pos = self._pos(meta)
        if s is not None and s == 0:
            self.diagnostics.error(pos, "range step must not be 0")
            s = None
        if s is not None and (b - a) * s < 0:
            self.diagnostics.error(pos, f"range({a}, {b}, {s}) is empty: the step goes away from the end")
        if log is not None and (a <= 0 or b <= 0):
            self.diagnostics.error(pos, "a log range needs both ends > 0")
        return RangeDomain(a, b, s, log=log is not None)

    def closed_range(self, meta, children):
        return RangeDomain(self._number(children[0]), self._number(children[1]), closed=True)

    def uniform(self, meta, children):
        low, high, log = children
        a, b = self._number(low), self._number(high)
        pos = self._pos(meta)
        if a >= b:
            self.diagnostics.error(pos, f"uniform({a}, {b}) needs low < high")
        if log is not None and a <= 0:
            self.diagnostics.error(pos, "a log uniform domain needs low > 0")
        return UniformDomain(float(a), float(b), log=log is not None)


_KEYWORD = {"task_type": "type"}
# Statements a task block may repeat -> the TaskBlock list each adds to.
_REPEATED = {"dependency": "dependencies", "input": "inputs", "output": "outputs", "param_def": "params",
             "metric_def": "metrics", "param_set": "param_sets", "input_data": "input_data"}


def _parse_duration(raw: str) -> float | None:
    raw = raw.strip()
    for unit in ("ms", "s", "m", "h"):
        if raw.endswith(unit) and raw[: -len(unit)].replace(".", "", 1).isdigit():
            return float(raw[: -len(unit)]) * _DURATION_UNITS[unit]
    try:
        return float(raw)
    except ValueError:
        return None
