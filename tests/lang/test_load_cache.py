"""An unchanged spec is not parsed again (load_cache.py), and any change it depends on is seen:
an edited library task, a new task folder that shadows nothing yet, a config file."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from xxp_tui.lang import load_cache, load_project

TASK = """
task Train {
    define param lr { type Float; default 0.1; }
    define metric accuracy { kind single-value; type Float; }
    implementation "train.py";
}
"""
SPEC = """
workflow W { START -> T -> END; task T { implementation "b.train"; } }
experiment E {
    control { START -> S -> END; }
    space S of W {
        strategy gridsearch;
        param_values lr = enum(0.1, 0.2);
        task T { param lr = lr; }
        objective maximize accuracy;
    }
}
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "project"
    task = root / "tasks" / "b" / "train"
    task.mkdir(parents=True)
    (task / "task.xxp").write_text(textwrap.dedent(TASK))
    (task / "train.py").write_text("print(1)\n")
    spec = root / "e.xxp"
    spec.write_text(textwrap.dedent(SPEC))
    (root / "xxp.toml").write_text("")  # a project (a bare folder's root is "/")
    monkeypatch.chdir(root)
    return spec


def parsed(monkeypatch) -> list[str]:
    """The files lark parses from now on."""
    from xxp_tui.lang import parser

    seen: list[str] = []
    real = parser.parse_text

    def counting(text, path, diags):
        seen.append(path)
        return real(text, path, diags)

    monkeypatch.setattr(parser, "parse_text", counting)
    return seen


def test_an_unchanged_spec_is_not_parsed_again(project, monkeypatch):
    first = load_project(project)
    assert first.ok
    cached = load_cache.cache_file(project)
    assert cached.is_file() and cached.stat().st_mode & 0o777 == 0o600
    assert cached.parent.stat().st_mode & 0o777 == 0o700
    seen = parsed(monkeypatch)
    again = load_project(project)
    assert seen == []
    assert again.project.spec_hash == first.project.spec_hash
    assert again.project.workflows["W"].tasks["T"].signature.params.keys() == {"lr"}


def test_an_edited_library_file_is_loaded_again(project, monkeypatch):
    assert load_project(project).ok
    seen = parsed(monkeypatch)
    signature = project.parent / "tasks" / "b" / "train" / "task.xxp"
    signature.write_text(textwrap.dedent(TASK).replace("define param lr", "define param depth { type Integer; "
                                                                           "default 1; }\n    define param lr"))
    again = load_project(project)
    assert seen, "the edited task signature was not parsed again"
    assert set(again.project.workflows["W"].tasks["T"].signature.params) == {"lr", "depth"}


def test_a_new_file_in_a_library_folder_is_seen(project, monkeypatch):
    """A file the first load never read (it did not exist) can change the resolution: the folders
    searched are listed too."""
    assert load_project(project).ok
    seen = parsed(monkeypatch)
    (project.parent / "tasks" / "b" / "train" / "helper.py").write_text("new")
    load_project(project)
    assert seen
    seen.clear()
    (project.parent / "results.csv").write_text("a,b\n")  # what a run writes beside the spec: not a reason
    load_project(project)
    assert seen == []


def test_a_cache_file_written_by_someone_else_is_ignored(project, monkeypatch):
    assert load_project(project).ok
    cached = load_cache.cache_file(project)
    os.chmod(cached, 0o644)  # not private any more: never unpickled
    seen = parsed(monkeypatch)
    assert load_project(project).ok
    assert seen
    cached.write_bytes(b"not the key\n" + cached.read_bytes())
    seen.clear()
    assert load_project(project).ok
    assert seen


def test_a_spec_with_errors_is_never_kept(project):
    project.write_text(textwrap.dedent(SPEC).replace('"b.train"', '"b.missing"'))
    assert not load_project(project).ok
    assert not load_cache.cache_file(project).exists()
