"""Property: whatever the input, the language layer returns diagnostics and never raises.

Valid specs are mutated token-wise (delete, duplicate, swap, replace), truncated, sprinkled with
garbage bytes, given huge names or deeply nested blocks, then parsed and fully loaded.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xxp_tui.lang import load_project
from xxp_tui.lang.diagnostics import Diagnostics
from xxp_tui.lang.parser import parse_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "conformance" / "extremexp"
SEEDS = [
    (ROOT / "sample_workflows" / "quickstart" / "quickstart.xxp").read_text(),
    (CORPUS / "exp_engine/library-experiments/IDEKO_main.xxp").read_text(),
    (CORPUS / "exp_engine/library-experiments/tests/complex_control1.xxp").read_text(),
    (CORPUS / "exp_engine/library-tasks/IDEKO/TrainModelNN/task.xxp").read_text(),
    (CORPUS / "playground/experiments/tests/advanced_configurations/space_configuration_validation.xxp").read_text(),
]
TOKEN = re.compile(r"\s+|[A-Za-z_]\w*|\d+(?:\.\d+)?|\"[^\"\n]*\"|//[^\n]*|-->|->|\?->|\|\||.", re.S)
PIECES = ["{", "}", ";", "(", ")", "->", "-->", "?->", "||", "=", ",", ".", '"', "task", "workflow",
          "experiment", "space", "control", "param", "define", "enum", "range", "START", "END", "\n",
          "\x00", "\ufffd", "é", "\t", "9" * 40, "x" * 5000, "/*", "*/", "//"]


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


@st.composite
def mutated(draw) -> str:
    toks = tokens(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):
        if not toks:
            break
        i = draw(st.integers(0, len(toks) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "replace", "insert", "truncate"]))
        if op == "delete":
            del toks[i]
        elif op == "duplicate":
            toks.insert(i, toks[i])
        elif op == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[i], toks[j] = toks[j], toks[i]
        elif op == "replace":
            toks[i] = draw(st.sampled_from(PIECES))
        elif op == "insert":
            toks.insert(i, draw(st.one_of(st.sampled_from(PIECES), st.text(max_size=5))))
        else:
            toks = toks[:i]
    return "".join(toks)


def check_parse(text: str) -> None:
    diags = Diagnostics()
    spec = parse_text(text, "fuzz.xxp", diags)
    assert spec is not None
    for d in diags.items:
        assert d.pos.line >= 1 and d.pos.col >= 1 and d.message


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_specs_only_give_diagnostics(text):
    check_parse(text)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_only_gives_diagnostics(text):
    check_parse(text)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3000), st.sampled_from(["{", "(", "{ task A { ", "control { ("]))
def test_deep_nesting(depth, opener):
    check_parse("workflow W " + opener * depth)
    check_parse("experiment E { control { START -> " + "(" * depth + "A" + ")" * depth + "; } }")


def test_huge_names_and_long_lines():
    name = "N" * 200_000
    check_parse(f"workflow {name} {{ task {name}; START -> {name} -> END; }}")
    check_parse("workflow W { " + "task A; " * 20_000 + "}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=mutated(), garbage=st.binary(max_size=40))
def test_full_load_of_mutated_files_never_raises(tmp_path, data, garbage):
    path = tmp_path / "spec.xxp"
    raw = data.encode("utf-8", errors="surrogatepass")
    cut = len(raw) // 2
    path.write_bytes(raw[:cut] + garbage + raw[cut:])
    result = load_project(path)
    for d in result.diagnostics:
        assert d.pos.line >= 1 and d.message
