"""The designer's edits: each rewrites only the block it touches, refuses what would be wrong with
one sentence (cycles named), and the result loads as the edit says."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxp_tui.lang import load_project
from xxp_tui.lang.edit import EditError, SpecEditor, check_domain, parse_domain
from xxp_tui.lang.model import ParamSpec

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "sample_workflows" / "quickstart" / "quickstart.xxp"


def blocks(text: str) -> list[str]:
    """Top-level blocks of a text as written (split on blank lines before a top-level keyword)."""
    out, current = [], []
    for line in text.splitlines():
        if line.startswith(("workflow ", "experiment ")) and current:
            out.append("\n".join(current))
            current = []
        current.append(line)
    out.append("\n".join(current))
    return out


def test_an_edit_of_one_workflow_leaves_the_rest_of_the_file_as_it_was():
    text = QUICKSTART.read_text()
    new = SpecEditor(text).add_task("LinePipeline", "Report", "quick.evaluate")
    before, after = blocks(text), blocks(new)
    assert len(before) == len(after)
    changed = [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b]
    assert changed == [2]  # the header comment, Pipeline, [LinePipeline], PolyPipeline, Quickstart
    assert "    task Report { implementation \"quick.evaluate\"; }" in after[2]
    # the comment and the aligned layout of Pipeline are untouched
    assert "task Train;                                  // abstract" in new


def test_workflow_edits_load_as_said(tmp_path):
    ed = SpecEditor("// my flows\n")
    text = ed.new_workflow("W")
    for task in ("A", "B", "C"):
        text = SpecEditor(text).add_task("W", task)
    text = SpecEditor(text).link("W", "A.out", "C.inp")
    text = SpecEditor(text).move_task("W", "C", -1)
    text = SpecEditor(text).rename_task("W", "A", "First")
    text = SpecEditor(text).bind("W", "B", "lib.b")
    text = SpecEditor(text).set_param("W", "B", "k", "3")
    text = SpecEditor(text).new_workflow("V", "W")
    text = SpecEditor(text).bind("V", "C", "lib.c")
    assert text.startswith("// my flows\n\nworkflow W {\n    START -> First -> C -> B -> END;\n")
    assert "First.out --> C.inp;" in text
    assert "    task B {\n        implementation \"lib.b\";\n        param k = 3;\n    }" in text
    assert 'workflow V from W {\n    task C { implementation "lib.c"; }\n}' in text
    project = load_project(tmp_path / "x.xxp", text).project
    assert project.workflows["W"].order == ["First", "C", "B"]
    assert project.workflows["W"].tasks["B"].params == {"k": 3}
    assert project.workflows["V"].tasks["C"].implementation == "lib.c"
    removed = SpecEditor(text).remove_task("W", "First")
    assert "First" not in removed.split("workflow V")[0]
    assert "START -> C -> B -> END;" in removed


def test_a_link_that_makes_a_cycle_is_refused_naming_it(tmp_path):
    text = "workflow W {\n    START -> A -> B -> C -> END;\n    task A;\n    task B;\n    task C;\n}\n"
    wf = load_project(tmp_path / "w.xxp", text).project.workflows["W"]
    with pytest.raises(EditError, match=r"^linking C.out to A.inp would make a cycle: A -> B -> C -> A\.$"):
        SpecEditor(text).link("W", "C.out", "A.inp", wf)


def test_only_declared_ports_can_be_linked():
    project = load_project(QUICKSTART).project
    wf = project.workflows["LinePipeline"]
    text = QUICKSTART.read_text()
    with pytest.raises(EditError, match=r"task Generate has no output port data \(outputs: dataset\)"):
        SpecEditor(text).link("LinePipeline", "Generate.data", "Evaluate.dataset", wf)
    with pytest.raises(EditError, match="is there already"):
        SpecEditor(text).link("Pipeline", "Generate.dataset", "Train.dataset", project.workflows["Pipeline"])


def test_names_and_syntax_errors_are_sentences():
    with pytest.raises(EditError, match="is not a valid task name"):
        SpecEditor("workflow W {\n}\n").add_task("W", "9x")
    with pytest.raises(EditError, match="has a task A already"):
        SpecEditor("workflow W {\n    task A;\n}\n").add_task("W", "A")
    with pytest.raises(EditError, match="syntax error"):
        SpecEditor("workflow W {")


def test_experiment_edits(tmp_path):
    text = SpecEditor(QUICKSTART.read_text()).new_experiment("Mine")
    text = SpecEditor(text).add_space("Mine", "S", "LinePipeline")
    text = SpecEditor(text).space_values("Mine", "S", "Train", "lr", "enum(0.1, 0.2, 0.3)")
    text = SpecEditor(text).space_setting("Mine", "S", "strategy", "strategy randomsearch;")
    text = SpecEditor(text).space_setting("Mine", "S", "runs", "runs = 2;")
    text = SpecEditor(text).space_setting("Mine", "S", "objective", "objective maximize accuracy;")
    text = SpecEditor(text).add_interaction("Mine", "Look", "Good enough?")
    text = SpecEditor(text).add_control("Mine", "START", "S")
    text = SpecEditor(text).add_control("Mine", "S", "Look", condition="score_below 0.5")
    text = SpecEditor(text).add_control("Mine", "S", "END", otherwise=True)
    copy = tmp_path / "q.xxp"
    (tmp_path / "tasks").symlink_to(QUICKSTART.parent / "tasks")
    result = load_project(copy, text)
    assert not [d for d in result.diagnostics if d.is_error], result.diagnostics
    exp = result.project.experiments["Mine"]
    space = exp.spaces["S"]
    assert (space.strategy, space.runs, space.values("Train_lr")) == ("randomsearch", 2, [0.1, 0.2, 0.3])
    assert [(e.src, e.dst, e.label) for e in exp.edges] == [
        ("START", "S", None), ("S", "Look", "score_below 0.5"), ("S", "END", "else")]
    assert text.startswith(QUICKSTART.read_text().rstrip("\n"))  # the rest of the file is untouched


def test_values_are_checked_against_the_declared_param():
    spec = ParamSpec("size", "Integer", 10, parse_domain("range[1, 1000]"))
    assert check_domain(parse_domain("enum(5, 50)"), spec) == []
    assert check_domain(parse_domain("enum(5, 5000)"), spec) == ["5000 is outside size's declared range [1, 1000]"]
    assert check_domain(parse_domain("enum(1.5)"), spec) == ["1.5 is not Integer (size)"]
    with pytest.raises(EditError, match="not a value list"):
        parse_domain("enum(1, 2")
    with pytest.raises(EditError, match="range step must not be 0"):
        parse_domain("range(1, 5, 0)")
