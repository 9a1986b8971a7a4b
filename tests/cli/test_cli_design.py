"""`fmt`, `graph`, `new task` and `new project` as a user runs them: real subprocesses, real files."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "sample_workflows" / "quickstart" / "quickstart.xxp"
MESSY = 'workflow W{START->A->B->END;task A{implementation "a.x";}   // A\ntask B;}\n'
CANONICAL = 'workflow W {\n    START -> A -> B -> END;\n    task A { implementation "a.x"; }  // A\n    task B;\n}\n'


def xxp(*args: object, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xxp_tui", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=timeout)


# ---------------------------------------------------------------------------- fmt


def test_fmt_prints_the_canonical_text_and_leaves_the_file(tmp_path):
    spec = tmp_path / "w.xxp"
    spec.write_text(MESSY)
    r = xxp("fmt", spec)
    assert (r.returncode, r.stdout, r.stderr) == (0, CANONICAL, "")
    assert spec.read_text() == MESSY


def test_fmt_check_says_which_files_would_change(tmp_path):
    messy, tidy = tmp_path / "messy.xxp", tmp_path / "tidy.xxp"
    messy.write_text(MESSY)
    tidy.write_text(CANONICAL)
    r = xxp("fmt", "--check", messy, tidy)
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr == f"{messy}: would be reformatted\n"
    assert xxp("fmt", "--check", tidy).returncode == 0


def test_fmt_write_rewrites_in_place_keeping_the_mode(tmp_path):
    spec = tmp_path / "w.xxp"
    spec.write_text(MESSY)
    spec.chmod(0o640)
    r = xxp("fmt", "--write", spec)
    assert (r.returncode, r.stdout) == (0, "")
    assert spec.read_text() == CANONICAL
    assert stat.S_IMODE(spec.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["w.xxp"]


def test_fmt_refuses_a_broken_file_with_its_position_and_does_not_touch_it(tmp_path):
    spec = tmp_path / "w.xxp"
    spec.write_text("workflow W {\n  task A\n}\n")
    r = xxp("fmt", "--write", spec)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"cannot format {spec}: it has a syntax error ({spec}:2:9: missing ';'" in r.stderr
    assert spec.read_text() == "workflow W {\n  task A\n}\n"


# ---------------------------------------------------------------------------- graph


def test_graph_text_draws_every_workflow_within_80_columns():
    r = xxp("graph", QUICKSTART)
    assert r.returncode == 0, r.stderr
    for name in ("workflow Pipeline", "workflow LinePipeline (from Pipeline)", "workflow PolyPipeline"):
        assert name in r.stdout
    assert r.stdout.count("│ Generate │") == 3 and "│ Evaluate │" in r.stdout
    assert "Train.model ─▶ Evaluate.model" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 80


def test_graph_text_of_an_experiment_names_its_conditions():
    r = xxp("graph", QUICKSTART, "--experiment", "Quickstart")
    assert r.returncode == 0, r.stderr
    assert "│ START │" in r.stdout and "│ Grid │" in r.stdout and "│ END │" in r.stdout
    assert "Grid ─▶ Tune  if score_below 0.95" in r.stdout


def test_graph_dot_names_nodes_by_task_name():
    r = xxp("graph", QUICKSTART, "--workflow", "LinePipeline", "--format", "dot")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('digraph "LinePipeline" {')
    assert '"Generate" -> "Train";' in r.stdout and '"Train" -> "Evaluate";' in r.stdout
    exp = xxp("graph", QUICKSTART, "--experiment", "Quickstart", "--format", "dot")
    assert '"Grid" -> "Tune" [style=dashed, label="score_below 0.95"];' in exp.stdout
    assert '"START" -> "Grid";' in exp.stdout


def test_graph_mermaid():
    r = xxp("graph", QUICKSTART, "-w", "Pipeline", "-f", "mermaid")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert '  n_Generate["Generate"]' in lines and "  n_Generate --> n_Train" in lines
    exp = xxp("graph", QUICKSTART, "-e", "Quickstart", "-f", "mermaid")
    assert '  n_Grid -.->|"score_below 0.95"| n_Tune' in exp.stdout.splitlines()


def test_graph_unknown_names_and_formats_are_sentences():
    r = xxp("graph", QUICKSTART, "--workflow", "Nope")
    assert r.returncode == 1 and "has no workflow 'Nope' (it has: Pipeline, LinePipeline, PolyPipeline)" in r.stderr
    r = xxp("graph", QUICKSTART, "--format", "png")
    assert r.returncode == 2 and "--format must be text, dot or mermaid" in r.stderr


# ---------------------------------------------------------------------------- new


def test_new_task_is_listed_and_validates(tmp_path):
    lib = tmp_path / "tasks"
    r = xxp("new", "task", "Clean", "--lib", lib)
    assert r.returncode == 0, r.stderr
    assert (lib / "Clean" / "task.xxp").read_text().splitlines()[1] == "task Clean {"
    assert "from xxp_tui import sdk" in (lib / "Clean" / "clean.py").read_text()
    assert stat.S_IMODE((lib / "Clean" / "task.xxp").stat().st_mode) == 0o600
    v = xxp("validate", lib / "Clean" / "task.xxp")
    assert v.returncode == 0, v.stdout + v.stderr
    listed = json.loads(xxp("tasks", lib, "--json").stdout)
    row = next(r for r in listed if r["task"] == "Clean")
    assert row["params"] == ["size:Integer=10"] and row["metrics"] == ["score"] and row["ok"]
    again = xxp("new", "task", "Clean", "--lib", lib)
    assert again.returncode == 1 and "already exists; nothing was created" in again.stderr
    bad = xxp("new", "task", "9lives", "--lib", lib)
    assert bad.returncode == 1 and "is not a task name" in bad.stderr


def test_new_extremexp_task_uses_variables_and_result_map(tmp_path):
    r = xxp("new", "task", "Legacy", "--lib", tmp_path, "--extremexp")
    assert r.returncode == 0, r.stderr
    script = (tmp_path / "Legacy" / "legacy.py").read_text()
    assert 'variables.get("size")' in script and 'resultMap.put("score"' in script
    assert xxp("validate", tmp_path / "Legacy" / "task.xxp").returncode == 0


def test_new_project_validates_and_its_experiment_runs(tmp_path):
    folder = tmp_path / "proj"
    r = xxp("new", "project", folder)
    assert r.returncode == 0, r.stderr
    assert {p.name for p in folder.iterdir()} == {"xxp.toml", "tasks", "workflows", "experiment.xxp"}
    spec = folder / "experiment.xxp"
    v = xxp("validate", spec)
    assert v.returncode == 0 and "space Sizes of Main: gridsearch, 2 configurations" in v.stdout, v.stderr
    listed = {row["task"] for row in json.loads(xxp("tasks", spec, "--json").stdout)}
    assert listed == {"Make", "Check"}
    db = tmp_path / "kb.sqlite"
    run = xxp("run", spec, "--headless", "--workers", "2", "--db", db, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 completed" in run.stdout
    again = xxp("new", "project", folder)
    assert again.returncode == 1 and "is not an empty folder" in again.stderr


def test_design_refuses_what_it_cannot_open(tmp_path):
    binary = tmp_path / "b.xxp"
    binary.write_bytes(b"\xff\xfe workflow")
    r = xxp("design", binary)
    assert r.returncode == 1 and r.stderr == f"xxp-tui: cannot read {binary}: not UTF-8 text.\n"
    r = xxp("design", tmp_path)
    assert r.returncode == 2 and "is not a file" in r.stderr
