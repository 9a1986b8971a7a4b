"""Syntax diagnostics: exact line and column, several per file, never an exception."""

from __future__ import annotations

from xxp_tui.lang.diagnostics import Diagnostics
from xxp_tui.lang.parser import parse_text

from .helpers import diags, find, load


def parse(src: str) -> list[tuple[int, int, str]]:
    d = Diagnostics()
    parse_text(src, "t.xxp", d)
    return [(x.pos.line, x.pos.col, x.message) for x in d.sorted()]


def test_missing_semicolon_points_after_the_statement():
    src = "workflow W {\n  task A;\n  START -> A -> END\n}\n"
    assert parse(src) == [(3, 20, "missing ';' at the end of this statement")]


def test_misspelt_keyword_gets_did_you_mean():
    src = "workflow W {\n  tsk A;\n}\n"
    assert parse(src) == [(2, 3, 'unknown statement "tsk" (did you mean "task"?)')]


def test_misspelt_top_level_keyword():
    assert parse("workfow W { }\n") == [(1, 1, 'unknown statement "workfow" (did you mean "workflow"?)')]


def test_unexpected_token_names_what_was_expected():
    src = "experiment E {\n  control { START -> -> END; }\n}\n"
    ((line, col, msg),) = parse(src)
    assert (line, col) == (2, 22)
    assert msg.startswith("unexpected '->'; expected one of '(', a name")


def test_unclosed_brace_is_reported_at_the_brace():
    src = "workflow W {\n  task A;\n"
    assert parse(src) == [(1, 12, "'{' is never closed")]


def test_unmatched_closing_brace():
    src = "workflow W { task A; }\n}\n"
    assert parse(src) == [(2, 1, "unmatched '}'")]


def test_bad_character():
    src = "workflow W {\n  task A@;\n}\n"
    ((line, col, msg),) = parse(src)
    assert (line, col) == (2, 9)
    assert "'@'" in msg


def test_several_errors_in_one_file_are_all_reported_and_the_rest_is_kept():
    src = (
        "workflow W {\n"
        "  task A { implementation \"a\"; implmentation \"b\"; }\n"
        "  START -> A -> END\n"
        "  task B;\n"
        "}\n"
        "experiment E {\n"
        "  space S of W { strategy gridsearch; runs = ; }\n"
        "}\n"
    )
    d = Diagnostics()
    spec = parse_text(src, "t.xxp", d)
    found = [(x.pos.line, x.pos.col) for x in d.sorted()]
    assert found == [(2, 32), (3, 20), (7, 46)]
    # What was written correctly is still in the tree.
    wf = spec.workflows[0]
    assert [t.name.text for t in wf.tasks] == ["A", "B"]
    assert wf.tasks[0].implementation.value == "a"
    assert spec.experiments[0].spaces[0].strategy.text == "gridsearch"


def test_statement_errors_inside_nested_blocks():
    src = (
        "task T {\n"
        "  define param p { type Integer; default ; }\n"
        "  define metric m { kind single-value; }\n"
        "}\n"
    )
    d = Diagnostics()
    spec = parse_text(src, "t.xxp", d)
    assert [(x.pos.line, x.pos.col) for x in d.sorted()] == [(2, 42)]
    assert [m.name.text for m in spec.signatures[0].metrics] == ["m"]


def test_invalid_utf8_is_a_diagnostic(tmp_path):
    path = tmp_path / "bad.xxp"
    path.write_bytes(b"workflow W {\n  task A; // caf\xe9\n}\n")
    from xxp_tui.lang import load_project

    result = load_project(path)
    assert [(d.pos.line, d.pos.col, d.message) for d in result.errors] == [
        (2, 17, "not valid UTF-8 (byte 0xe9)")
    ]


def test_nested_too_deep_is_refused_without_recursion_error():
    src = "workflow W " + "{ " * 200 + "}" * 200
    msgs = parse(src)
    assert msgs and all(isinstance(m, str) for _, _, m in msgs)


def test_empty_file_is_fine():
    assert parse("") == []
    assert parse("// only a comment\n/* and a block\ncomment */\n") == []


def test_timeout_must_be_positive(tmp_path):
    result = load(tmp_path, "workflow W {\n  task A { implementation \"lib.Load\"; timeout 0; }\n}\n")
    assert find(result, "timeout must be a positive duration")[:2] == (2, 47)


def test_range_step_zero_and_bad_uniform(tmp_path):
    src = (
        "workflow W { task Train { implementation \"lib.Train\"; } }\n"
        "experiment E {\n"
        "  space S of W {\n"
        "    strategy bayesian; runs = 5; objective maximize accuracy;\n"
        "    param_values a = range(1, 5, 0);\n"
        "    param_values b = uniform(2.0, 1.0);\n"
        "    param_values c = enum();\n"
        "    task Train { param depth = a; param lr = b; param kernel = c; }\n"
        "  }\n"
        "}\n"
    )
    result = load(tmp_path, src)
    assert find(result, "range step must not be 0")[:2] == (5, 22)
    assert find(result, "needs low < high")[:2] == (6, 22)
    assert find(result, "enum() needs at least one value")[:2] == (7, 22)


def test_diagnostics_render_with_caret():
    d = Diagnostics()
    src = "workflow W {\n  tsk A;\n}\n"
    parse_text(src, "t.xxp", d)
    text = d.items[0].render(src.splitlines()[1])
    assert text.splitlines() == [
        't.xxp:2:3: error: unknown statement "tsk" (did you mean "task"?)',
        "      tsk A;",
        "      ^",
    ]


def test_parse_errors_keep_diagnostics_sorted(tmp_path):
    result = load(tmp_path, "workflow A { tsk X; }\nworkflow B { tsk Y; }\n")
    assert [d[:2] for d in diags(result, "error")] == [(1, 14), (2, 14)]
