"""The real ExtremeXP specs in tests/conformance/extremexp (copied unmodified, Apache-2.0) against
their manifest, which was produced with the ExtremeXP engine's own textX grammar.

- every file marked `reference_parses: true` parses with no syntax diagnostic and its model
  reproduces the manifest summary (workflows, variants, spaces with values, strategies and grid
  sizes, control edges, task signatures); the only errors allowed are library items that the
  corpus does not contain;
- the older-dialect files parse too; the genuinely broken ones get a clear diagnostic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xxp_tui.lang import load_project
from xxp_tui.lang.diagnostics import Diagnostics
from xxp_tui.lang.parser import parse_text

CORPUS = Path(__file__).resolve().parents[1] / "conformance" / "extremexp"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
BY_PATH = {e["path"]: e for e in MANIFEST}
ALL_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.xxp"))
# Library items the corpus does not ship: resolution may fail on these, nothing else.
MISSING_FROM_CORPUS = ("cannot find task", "cannot find sub-workflow")
# Files the manifest records as broken for a real reason, with the diagnostic we must give.
GENUINELY_BROKEN = {
    "exp_engine/library-experiments/tests/kubeflow_tests/demo_input_file.xxp": 'unknown statement "efine"',
    "exp_engine/library-experiments/tests/simple_configurations/exp_test_wp5.xxp": "cannot find imported file",
    "playground/experiments/tests/simple_configurations/exp_test_wp5.xxp": "cannot find imported file",
}


def syntax_diagnostics(path: Path) -> list:
    diags = Diagnostics()
    parse_text(path.read_text(), str(path), diags)
    return diags.items


def flat_edges(edges: list) -> list[tuple]:
    """Manifest control edges with parallel groups expanded to one edge per member."""
    out = []
    for src, dst, cond in edges:
        for s in src if isinstance(src, list) else [src]:
            for d in dst if isinstance(dst, list) else [dst]:
                out.append((s, d, cond))
    return out


def test_corpus_is_complete():
    assert len(ALL_FILES) == 113
    assert {e["path"] for e in MANIFEST} <= set(ALL_FILES)


@pytest.mark.parametrize("rel", ALL_FILES)
def test_every_file_loads_without_crashing(rel):
    result = load_project(CORPUS / rel)
    assert result.project is not None
    for d in result.diagnostics:
        assert d.pos.line >= 1 and d.pos.col >= 1
        assert d.message and "Traceback" not in d.message


REFERENCE = [e for e in MANIFEST if e["reference_parses"]]


@pytest.mark.parametrize("entry", REFERENCE, ids=[e["path"] for e in REFERENCE])
def test_reference_files_parse_and_match_manifest(entry):
    path = CORPUS / entry["path"]
    assert syntax_diagnostics(path) == []
    result = load_project(path)
    for d in result.errors:
        assert d.message.startswith(MISSING_FROM_CORPUS), d.render()
    summary = entry["summary"]
    project = result.project
    if entry["kind"] == "task":
        check_task_summary(project, summary)
        return
    assert set(summary["workflows"]) | set(summary["variants"]) <= set(project.workflows)
    for variant, base in summary["variants"].items():
        assert project.workflows[variant].base == base
    for task in summary["tasks"]:
        wf = project.workflows[task["workflow"]]
        assert any(name == task["name"] or name.startswith(task["name"] + "/") for name in wf.tasks)
        if "implementation" in task:
            match = [t for n, t in wf.tasks.items() if n == task["name"]]
            if match:
                assert match[0].implementation == task["implementation"]
    for wf_name, edges in summary.get("workflow_edges", {}).items():
        wf = project.workflows[wf_name]
        inner = [(a, b) for a, b, _ in edges if a != "START" and b != "END"]
        for a, b in inner:
            assert (a, b) in wf.edges or any(x.startswith(a + "/") or y.startswith(b + "/") for x, y in wf.edges)
    assert sorted(summary["experiments"]) == sorted(project.experiments)
    for exp_name, intent in summary.get("intents", {}).items():
        assert project.experiments[exp_name].intent == intent
    for sname, sp in summary["spaces"].items():
        exp = project.experiments[sp["experiment"]]
        space = exp.spaces[sname]
        assert space.workflow == sp["workflow"]
        assert space.strategy == sp["strategy"]
        assert {vp: space.values(vp) for vp in space.param_values} == sp["param_values"]
        assert space.runs == sp.get("runs")
        assert space.filter == sp.get("filter") and space.generator == sp.get("generator")
        bound = {}
        for b in space.bindings:
            bound.setdefault(b.task, {})[b.param] = b.vp
        assert bound == sp.get("task_params", {})
        if "grid_size" in sp:
            assert space.grid_size() == sp["grid_size"] + 0
            assert space.size() == sp["grid_size"]
        else:
            assert space.grid_size() == sp["space_size"]
            if space.strategy == "randomsearch":
                assert space.size() == min(sp.get("runs") or sp["space_size"], sp["space_size"])
    expected_edges = {
        e for e in flat_edges(summary["control_edges"])
    }
    actual = {(e.src, e.dst, e.condition) for exp in project.experiments.values() for e in exp.edges}
    assert actual == expected_edges
    exp_tasks = {(t["experiment"], t["name"], t["kind"]) for t in summary.get("experiment_tasks", [])}
    ours = {(exp.name, t.name, t.kind) for exp in project.experiments.values() for t in exp.tasks.values()}
    assert ours == exp_tasks


def check_task_summary(project, summary):
    assert [s.name for s in project.signatures] == summary["tasks"]
    sig = project.signatures[0]
    assert list(sig.inputs) == summary["inputs"]
    assert list(sig.outputs) == summary["outputs"]
    assert sig.script_ref == summary.get("implementation")
    assert sig.python_version == summary.get("python_version")
    assert sig.venv == summary.get("venv")
    assert sig.task_type == summary.get("task_type")
    assert list(sig.dependencies) == ([summary["dependency"]] if summary.get("dependency") else [])
    assert set(sig.params) == set(summary["params"])
    for name, p in summary["params"].items():
        assert sig.params[name].type == p["type"]
        if p["default"] is not None:
            assert sig.params[name].default == pytest.approx(p["default"])
        if p.get("domain_source"):
            assert sig.params[name].domain is not None
    assert set(sig.metrics) == set(summary["metrics"])
    for name, m in summary["metrics"].items():
        assert sig.metrics[name].kind == m.get("kind", "single-value")


OLD_DIALECT = [e for e in MANIFEST if not e["reference_parses"] and e["path"] not in GENUINELY_BROKEN]


@pytest.mark.parametrize("entry", OLD_DIALECT, ids=[e["path"] for e in OLD_DIALECT])
def test_older_dialect_parses(entry):
    """`define task` + `configure task`, `param vp = …` in spaces, `param p {…}` without define,
    `range [a, b]`, `type "…"` and other keys in `configure data` are accepted as compatibility."""
    assert syntax_diagnostics(CORPUS / entry["path"]) == []
    result = load_project(CORPUS / entry["path"])
    for d in result.errors:
        assert d.message.startswith(MISSING_FROM_CORPUS), d.render()


def test_older_dialect_models():
    result = load_project(CORPUS / "exp_engine/library-experiments/IDEKO_binary_main.xxp")
    exp = result.project.experiments["EXP"]
    assert exp.spaces["S1"].values("epochs_vp") == [2, 3]
    assert exp.spaces["S1"].grid_size() == 2
    # No control block: the spaces run in declaration order.
    assert [(e.src, e.dst) for e in exp.edges] == [("START", "S1"), ("S1", "S2"), ("S2", "END")]
    wf = result.project.workflows["TrainModelNN"]
    assert wf.order == ["ReadData", "PrepareData", "TrainModel", "EvaluateModel"]
    sig = load_project(CORPUS / "exp_engine/library-tasks/IDEKO/SplitData/task.xxp").project.signatures[0]
    assert sig.params["split_percentage"].default == 70
    assert sig.params["split_percentage"].domain.within_bounds(90)
    assert not sig.params["split_percentage"].domain.within_bounds(91)


@pytest.mark.parametrize("rel,message", sorted(GENUINELY_BROKEN.items()))
def test_genuinely_broken_files_get_a_clear_diagnostic(rel, message):
    result = load_project(CORPUS / rel)
    assert not result.ok
    assert any(message in d.message for d in result.errors), [d.render() for d in result.errors]


def test_subworkflow_is_flattened():
    result = load_project(CORPUS / "exp_engine/library-experiments/IDEKO_example.xxp")
    wf = result.project.workflows["TrainModelNN"]
    assert wf.order == [
        "ReadData", "PrepareData/AddPadding", "PrepareData/SplitData", "TrainModel", "EvaluateModel",
    ]
    links = {(str(link.src), str(link.dst)) for link in wf.links}
    assert ("ReadData.X41", "PrepareData/AddPadding.X42") in links
    assert ("PrepareData/SplitData.XTrain", "TrainModel.XTrain") in links
    assert ("ExternalDataFile", "ReadData.FileToRead") in links
    assert wf.data["ExternalDataFile"].path == "v1/ideko-subset/**"
