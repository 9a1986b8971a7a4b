"""The run viewer's tree draws each space's workflow as its task DAG (the `graph` drawing)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from xxp_tui.lang import load_project
from xxp_tui.lang.drawing import draw, workflow_graph
from xxp_tui.tui.widgets.run_tree import RunTree

ROOT = Path(__file__).resolve().parents[2]


class TreeApp(App):
    def compose(self) -> ComposeResult:
        yield RunTree(id="tree")


def labels(node) -> list[str]:
    out = []
    for child in node.children:
        out.append(str(child.label))
        out.extend(labels(child))
    return out


async def test_each_workflow_is_drawn_as_its_dag_in_the_tree():
    project = load_project(ROOT / "sample_workflows" / "classify" / "classify.xxp").project
    app = TreeApp()
    async with app.run_test(size=(100, 60)):
        tree = app.query_one(RunTree)
        exp = next(iter(project.experiments.values()))
        tree.build(project, exp.name, {})
        shown = labels(tree.root)
        for space in exp.spaces.values():
            nodes, edges = workflow_graph(project.workflows[space.workflow])
            drawing = draw(nodes, edges).lines
            at = shown.index(drawing[0])
            assert shown[at : at + len(drawing)] == drawing
        assert "│ Prepare │" in shown and "Train  ml.train_svm" in shown
