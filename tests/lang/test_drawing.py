"""The layered text drawing: every node boxed once, layers by longest path, cycles set aside."""

from __future__ import annotations

from pathlib import Path

from xxp_tui.lang import load_project
from xxp_tui.lang.drawing import Edge, acyclic, draw, layers, workflow_lines

ROOT = Path(__file__).resolve().parents[2]


def row_of(lines: list[str], label: str) -> int:
    return next(i for i, line in enumerate(lines) if f"│ {label} │" in line)


def test_layers_follow_the_longest_path():
    edges = [Edge("A", "B"), Edge("B", "C"), Edge("A", "C"), Edge("D", "C")]
    assert layers(["A", "B", "C", "D"], edges) == [["A", "D"], ["B"], ["C"]]


def test_every_node_is_boxed_once_below_its_predecessors():
    nodes = list("ABCDEF")
    edges = [Edge("A", "B"), Edge("A", "C"), Edge("A", "D"), Edge("B", "E"), Edge("C", "E"), Edge("D", "F"),
             Edge("A", "F", dashed=True), Edge("E", "F")]
    d = draw(nodes, edges)
    text = "\n".join(d.lines)
    for n in nodes:
        assert text.count(f"│ {n} │") == 1
    for e in edges:
        assert row_of(d.lines, e.src) < row_of(d.lines, e.dst)
    assert text.count("▼") == 5  # one arrowhead per (target, column): B C D E F
    assert "┆" in text and "┄" in text  # the dashed edge A -> F stays dashed


def test_a_cycle_is_set_aside_not_drawn():
    edges = [Edge("A", "B"), Edge("B", "C"), Edge("C", "A")]
    kept, aside = acyclic(["A", "B", "C"], edges)
    assert aside == [Edge("C", "A")] and len(kept) == 2
    assert draw(["A", "B", "C"], edges).set_aside == [Edge("C", "A")]


def test_the_classify_sample_fits_80_columns_and_lists_its_data():
    project = load_project(ROOT / "sample_workflows" / "classify" / "classify.xxp").project
    lines = workflow_lines(project.workflows["Classify"])
    assert max(map(len, lines)) <= 80
    assert row_of(lines, "Load") < row_of(lines, "Prepare") < row_of(lines, "Train") < row_of(lines, "Evaluate")
    assert "  Prepare.dataset ─▶ Evaluate.dataset" in lines


def test_long_labels_are_shortened():
    d = draw(["A" * 40], [])
    assert d.lines[1] == "│ " + "A" * 21 + "… │"


def test_a_sub_workflow_collapses_to_one_node_and_opens():
    project = load_project(ROOT / "tests" / "conformance" / "extremexp" / "exp_engine" / "library-experiments"
                           / "IDEKO_main.xxp").project
    wf = project.workflows["IDEKO_multi_main"]
    closed = workflow_lines(wf, expanded=set())
    assert any("│ PrepareData/… │" in line for line in closed)
    assert not any("│ PrepareData/AddPadding │" in line for line in closed)
    assert row_of(closed, "ReadData") < row_of(closed, "PrepareData/…") < row_of(closed, "TrainModel")
    opened = workflow_lines(wf, expanded={"PrepareData"})
    assert row_of(opened, "PrepareData/AddPadding") < row_of(opened, "PrepareData/SplitData")


def test_a_chain_is_one_straight_line():
    lines = draw(["Alpha", "B", "Gamma"], [Edge("Alpha", "B"), Edge("B", "Gamma")]).lines
    arrows = [line.index("▼") for line in lines if "▼" in line]
    assert len(arrows) == 2 and len(set(arrows)) == 1
    assert len(lines) == 3 * 3 + 2  # three boxes and one arrow row between each: no sideways jog
