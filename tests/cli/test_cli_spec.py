"""`xxp-tui validate` and `xxp-tui tasks` as a user runs them: real subprocesses, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "sample_workflows" / "quickstart" / "quickstart.xxp"
CORPUS = ROOT / "tests" / "conformance" / "extremexp"


def xxp(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "xxp_tui", *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=120
    )


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from xxp_tui.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('textual', 'optuna', 'networkx', 'dask', 'sqlite_utils', 'lark') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_validate_of_a_spec_without_loops_imports_neither_networkx_nor_pydantic(tmp_path: Path):
    """networkx (about 0.1 s) only names a cycle or lists loops; typer below 0.29 needs no pydantic."""
    spec = ROOT / "sample_workflows" / "classify" / "classify.xxp"
    code = (
        "import sys\nfrom xxp_tui.cli import app\n"
        f"try:\n    app(['validate', {str(spec)!r}])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('networkx', 'pydantic', 'sqlite_utils', 'pandas') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "XXP_SPEC_CACHE": "0"})
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_validate_ok_prints_summary():
    r = xxp("validate", str(QUICKSTART))
    assert r.returncode == 0, r.stderr
    assert "ok" in r.stdout
    assert "space Grid of LinePipeline: gridsearch, 6 configurations" in r.stdout
    assert "Grid -> Tune  [score_below 0.95]" in r.stdout


def test_validate_errors_exit_1_with_carets(tmp_path):
    spec = tmp_path / "bad.xxp"
    spec.write_text("workflow W {\n  tsk A;\n}\n")
    r = xxp("validate", str(spec), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.splitlines()[:3] == [
        'bad.xxp:2:3: error: unknown statement "tsk" (did you mean "task"?)',
        "      tsk A;",
        "      ^",
    ]
    assert "Traceback" not in r.stderr


def test_validate_usage_errors_exit_2(tmp_path):
    r = xxp("validate", str(tmp_path / "nope.xxp"))
    assert r.returncode == 2
    assert "No such file or folder" in r.stderr and "Traceback" not in r.stderr
    r = xxp("validate", "--json", str(QUICKSTART), str(QUICKSTART))
    assert r.returncode == 2 and "exactly one" in r.stderr
    r = xxp("validate", "--frobnicate")
    assert r.returncode == 2


def test_validate_json_shape():
    r = xxp("validate", "--json", str(QUICKSTART))
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True and data["diagnostics"] == []
    assert data["workflows"]["PolyPipeline"] == {"base": "Pipeline", "tasks": ["Generate", "Train", "Evaluate"]}
    grid = data["experiments"]["Quickstart"]["spaces"]["Grid"]
    assert grid["workflow"] == "LinePipeline" and grid["strategy"] == "gridsearch" and grid["size"] == 6
    assert grid["param_values"] == {"lr_vp": [0.05, 0.2], "epochs_vp": [10, 20, 30]}
    tune = data["experiments"]["Quickstart"]["spaces"]["Tune"]
    assert tune["size"] is None and tune["param_values"]["lr_vp"] == "range(0.01, 0.5, log)"
    assert data["experiments"]["Quickstart"]["control"] == [
        ["START", "Grid", None], ["Grid", "Tune", "score_below 0.95"], ["Grid", "END", "else"], ["Tune", "END", None],
    ]


def test_validate_json_reports_diagnostics_and_partial_summary():
    path = CORPUS / "playground/experiments/tests/advanced_configurations/control_parallel_nodes.xxp"
    r = xxp("validate", "--json", str(path))
    assert r.returncode == 1
    data = json.loads(r.stdout)
    assert data["ok"] is False
    assert any(d["severity"] == "error" and "cannot find task" in d["message"] for d in data["diagnostics"])
    assert {"line", "col", "file", "severity", "message"} <= set(data["diagnostics"][0])
    # A parallel group becomes one edge per member.
    control = data["experiments"]["ControlParallelNodes"]["control"]
    assert ["START", "S1", None] in control and ["START", "S2", None] in control


def test_validate_a_folder_and_strict(tmp_path):
    r = xxp("validate", "-q", str(CORPUS / "exp_engine" / "library-tasks" / "ReadData"))
    assert r.returncode == 0  # only a warning: the script is not in the corpus
    r = xxp("validate", "--strict", "-q", str(CORPUS / "exp_engine" / "library-tasks" / "ReadData"))
    assert r.returncode == 1


def test_tasks_lists_the_library():
    r = xxp("tasks", str(QUICKSTART))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["name", "params", "metrics", "where"]
    row = next(line for line in lines if line.startswith("quick.train_poly"))
    assert "degree:Integer=2" in row and "loss, train_r2, train_loss" in row
    r = xxp("tasks", "--json", str(CORPUS / "exp_engine" / "library-experiments" / "IDEKO_main.xxp"))
    rows = json.loads(r.stdout)
    names = {row["name"] for row in rows}
    assert {"IDEKO.ReadData", "Testcase_task1", "ExpInteraction1"} <= names
    assert next(row for row in rows if row["name"] == "ExpInteraction1")["interactive"] is True


def test_a_missing_run_or_variant_is_a_sentence_not_a_traceback(tmp_path):
    from xxp_tui.kb import open_kb

    db = tmp_path / "kb.sqlite"
    open_kb(db).close()  # an empty, valid knowledge base
    for args in (["show", "v99"], ["show", "r7"], ["show", "vv"], ["variants", "r7"], ["rerun", "v3"], ["prune", "v3"]):
        done = subprocess.run([sys.executable, "-m", "xxp_tui", *args, "--db", str(db)], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert done.stderr.startswith("xxp-tui: ") and "Traceback" not in done.stderr, (args, done.stderr)
        assert "internal error" not in done.stderr, (args, done.stderr)
