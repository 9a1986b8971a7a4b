"""A spec whose tasks import a package this Python lacks is refused before anything is recorded,
naming the package (and the xxp-tui extra that brings it); `make run` installs only what running
needs, plus the extra a chosen spec's tasks import."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.engine.conftest import xxp
from xxp_tui.engine import requirements
from xxp_tui.lang import load_project

ROOT = Path(__file__).resolve().parents[2]
TASK = """
task Fit {
    define metric score { kind single-value; type Float; }
    implementation "fit.py";
}
"""
SPEC = """
workflow W { task Fit { implementation "lib.fit"; } }
experiment E { control { START -> S -> END; } space S of W { strategy gridsearch; } }
"""


def project(tmp_path: Path, script: str) -> Path:
    folder = tmp_path / "tasks" / "lib" / "fit"
    folder.mkdir(parents=True)
    (folder / "task.xxp").write_text(TASK)
    (folder / "fit.py").write_text(textwrap.dedent(script))
    (folder / "helper_mod.py").write_text("X = 1\n")
    spec = tmp_path / "e.xxp"
    spec.write_text(SPEC)
    return spec


def test_a_missing_import_is_refused_before_anything_is_recorded(tmp_path):
    spec = project(tmp_path, """
        import json
        import helper_mod
        import nosuch_pkg_xyz.sub
        from xxp_tui import sdk
        sdk.log_metric("score", 1.0)
    """)
    done = xxp("run", spec, "--headless", cwd=tmp_path)
    assert done.returncode == 2
    assert "needs nosuch_pkg_xyz, which this Python cannot import (task Fit: fit.py)" in done.stderr
    assert "pip install nosuch_pkg_xyz" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / ".xxp").exists(), "nothing recorded"


def test_guarded_imports_and_local_modules_are_not_counted(tmp_path):
    spec = project(tmp_path, """
        import helper_mod
        try:
            import nosuch_pkg_xyz
        except ImportError:
            nosuch_pkg_xyz = None
        def later():
            import another_missing_pkg
    """)
    assert requirements.missing_modules(load_project(spec).project) == []


def test_a_package_of_an_extra_names_the_extra(tmp_path, monkeypatch):
    spec = project(tmp_path, "import nosuch_pkg_xyz\n")
    monkeypatch.setitem(requirements.EXTRA_OF_MODULE, "nosuch_pkg_xyz", "examples")
    missing = requirements.missing_modules(load_project(spec).project)
    assert requirements.needed_extras(missing) == ["examples"]
    assert "pip install 'xxp-tui[examples]'" in requirements.refusal(spec, missing)


def test_the_examples_need_nothing_more_here():
    for spec in ("quickstart/quickstart.xxp", "classify/classify.xxp"):
        done = subprocess.run([sys.executable, "-m", "xxp_tui.engine.requirements",
                               str(ROOT / "sample_workflows" / spec)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and done.stdout.strip() == "", done.stderr  # the test venv has every extra


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_installs_only_what_running_needs():
    def plan(*args: str) -> str:
        return subprocess.run(["make", "-n", "-B", *args], cwd=ROOT, capture_output=True, text=True).stdout

    run = plan("run")
    assert "pip install --disable-pip-version-check -e . " in run and "[test" not in run
    assert "requirements" not in run  # the quickstart needs the standard library only
    assert "xxp_tui.engine.requirements sample_workflows/classify/classify.xxp" in plan(
        "run", "SPEC=sample_workflows/classify/classify.xxp")
    assert "-e '.[all]'" in plan("test")  # make test installs every extra
    assert "tools/pip_progress.py" in run  # progress, not silence
