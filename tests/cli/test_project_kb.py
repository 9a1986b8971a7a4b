"""One knowledge base per project: found from anywhere inside the project, with `--db`/`XXP_DB` winning.

Real files, real `xxp-tui` processes: a project root marked by pyproject.toml with the quickstart in a
subfolder, as this repository holds it; commands typed at the root and in a subfolder meet the same KB.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from tests.engine.conftest import clean_env, xxp
from xxp_tui.project import MARKERS, find_kb, kb_for_spec, project_root, root_for_spec, run_folder_name, runs_root

ROOT = Path(__file__).resolve().parents[2]


def make_repo(tmp_path: Path, marker: str = "pyproject.toml") -> Path:
    """A project root (marked by `marker`) holding sample_workflows/quickstart, like this repository."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "sample_workflows" / "quickstart", repo / "sample_workflows" / "quickstart",
                    ignore=shutil.ignore_patterns(".xxp", "__pycache__"))
    if marker == ".git":
        (repo / ".git").mkdir()
    else:
        (repo / marker).write_text("")
    return repo


@pytest.mark.parametrize("marker", MARKERS)
def test_each_marker_makes_a_project_root(tmp_path, marker):
    repo = make_repo(tmp_path, marker)
    spec = repo / "sample_workflows" / "quickstart" / "quickstart.xxp"
    assert root_for_spec(spec) == repo.resolve()
    assert kb_for_spec(spec) == repo.resolve() / ".xxp" / "kb.sqlite"


def test_without_a_marker_the_spec_folder_is_the_root(tmp_path, monkeypatch):
    monkeypatch.delenv("XXP_DB", raising=False)
    spec = tmp_path / "bare" / "e.xxp"
    spec.parent.mkdir()
    spec.write_text("")
    if project_root(tmp_path) is not None:  # a marker above the test's temporary folder: nothing to check
        pytest.skip(f"{tmp_path} is inside a marked project")
    assert root_for_spec(spec) == spec.parent.resolve()
    assert kb_for_spec(spec) == spec.parent.resolve() / ".xxp" / "kb.sqlite"


def test_xxp_db_wins_and_run_folders_go_beside_it(tmp_path, monkeypatch):
    kb = tmp_path / "elsewhere" / "mine.sqlite"
    monkeypatch.setenv("XXP_DB", str(kb))
    assert kb_for_spec(make_repo(tmp_path) / "sample_workflows" / "quickstart" / "quickstart.xxp") == kb
    assert runs_root(kb) == (tmp_path / "elsewhere" / ".xxp" / "runs").resolve()
    assert run_folder_name(kb, 3).startswith("r3-kb")
    assert runs_root(tmp_path / ".xxp" / "kb.sqlite") == (tmp_path / ".xxp" / "runs").resolve()
    assert run_folder_name(tmp_path / ".xxp" / "kb.sqlite", 3) == "r3"


def test_the_root_kb_wins_over_an_older_spec_folder_kb(tmp_path):
    repo = make_repo(tmp_path)
    sub = repo / "sample_workflows" / "quickstart"
    for kb in (repo / ".xxp" / "kb.sqlite", sub / ".xxp" / "kb.sqlite"):
        kb.parent.mkdir(parents=True)
        kb.write_text("")
    found = find_kb(sub)
    assert found.path == repo.resolve() / ".xxp" / "kb.sqlite"
    assert found.other == sub.resolve() / ".xxp" / "kb.sqlite"
    assert find_kb(repo).path == found.path and find_kb(repo).other is None


@pytest.mark.slow
def test_quick_start_commands_work_from_the_root_and_from_a_subfolder(tmp_path):
    """README's quick start, typed where `make run` was typed (the root), and again in the spec's folder."""
    repo = make_repo(tmp_path)
    sub = repo / "sample_workflows" / "quickstart"
    spec = "sample_workflows/quickstart/quickstart.xxp"
    assert xxp("validate", spec, cwd=repo).returncode == 0
    done = xxp("run", spec, "--headless", "--workers", "2", cwd=repo, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    db = repo / ".xxp" / "kb.sqlite"
    assert f"(knowledge base {db.resolve()})" in done.stdout.splitlines()[0]
    assert not (sub / ".xxp").exists(), "nothing is written beside the spec any more"
    assert (repo / ".xxp" / "runs" / "r1").is_dir()
    assert stat.S_IMODE((repo / ".xxp").stat().st_mode) == 0o700
    for cwd in (repo, sub, sub / "tasks"):
        runs = xxp("runs", "--json", cwd=cwd)
        assert runs.returncode == 0, runs.stderr
        assert [r["id"] for r in json.loads(runs.stdout)] == ["r1"], cwd
        variants = xxp("variants", "latest", "--json", cwd=cwd)
        assert variants.returncode == 0, variants.stderr
        assert len(json.loads(variants.stdout)) >= 6
        assert runs.stderr == "" and variants.stderr == ""  # no hint: there is one KB


@pytest.mark.slow
def test_an_older_spec_folder_kb_is_named_in_one_line(tmp_path):
    repo = make_repo(tmp_path)
    sub = repo / "sample_workflows" / "quickstart"
    old = xxp("run", "quickstart.xxp", "--headless", "--db", sub / ".xxp" / "kb.sqlite", cwd=sub, timeout=300)
    assert old.returncode == 0, old.stderr  # what an earlier version left beside the spec
    done = xxp("run", "quickstart.xxp", "--headless", cwd=sub, timeout=300)
    assert done.returncode == 0, done.stderr
    root_kb, old_kb = repo.resolve() / ".xxp" / "kb.sqlite", sub.resolve() / ".xxp" / "kb.sqlite"
    hint = f"using the project's knowledge base {root_kb}; an older one is at {old_kb} (open it with --db {old_kb})"
    assert hint in done.stderr
    runs = xxp("runs", "--json", cwd=sub)
    assert [line for line in runs.stderr.splitlines() if line] == [f"xxp-tui: {hint}"]
    assert len(json.loads(runs.stdout)) == 1
    with_db = xxp("runs", "--json", "--db", old_kb, cwd=sub)
    assert with_db.returncode == 0 and with_db.stderr == ""


@pytest.mark.slow
def test_db_elsewhere_keeps_run_folders_beside_it(tmp_path):
    repo = make_repo(tmp_path)
    kb = tmp_path / "kbs" / "team.sqlite"
    done = xxp("run", "sample_workflows/quickstart/quickstart.xxp", "--headless", cwd=repo, timeout=300,
               env=clean_env(XXP_DB=str(kb)))
    assert done.returncode == 0, done.stderr
    assert not (repo / ".xxp").exists() and not (repo / "sample_workflows" / "quickstart" / ".xxp").exists()
    (folder,) = (tmp_path / "kbs" / ".xxp" / "runs").iterdir()
    assert folder.name.startswith("r1-kb")
    assert any(folder.rglob("params.json"))
