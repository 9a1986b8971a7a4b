"""`venv "…/requirements.txt"` in a task.xxp names a file as ExtremeXP does: relative to the task
folder or to the task library root; the model carries the resolved file for the engine."""

from __future__ import annotations

from .helpers import load

SPEC = """
workflow W { START -> Env -> END; task Env { implementation "lib.Env"; } }
"""


def signature(tmp_path, venv_line: str, files: dict[str, str] | None = None):
    sig = f"""
    task Env {{
        implementation "env.py";
        {venv_line}
        python_version "3.9";
    }}
    """
    result = load(tmp_path, SPEC, {"tasks/lib/Env/task.xxp": sig, "tasks/lib/Env/env.py": "print(1)\n",
                                   **(files or {})})
    return result, result.project.workflows["W"].tasks["Env"].signature if result.project else None


def test_a_requirements_file_relative_to_the_library_root_as_extremexp_writes_it(tmp_path):
    result, sig = signature(tmp_path, 'venv "lib/Env/requirements.txt";',
                            {"tasks/lib/Env/requirements.txt": "numpy\n"})
    assert result.ok and not result.warnings
    assert sig.venv == "lib/Env/requirements.txt" and sig.python_version == "3.9"
    assert sig.venv_file == (tmp_path / "tasks/lib/Env/requirements.txt").resolve()


def test_a_requirements_file_relative_to_the_task_folder(tmp_path):
    _, sig = signature(tmp_path, 'venv "requirements.txt";', {"tasks/lib/Env/requirements.txt": "numpy\n"})
    assert sig.venv_file == (tmp_path / "tasks/lib/Env/requirements.txt").resolve()


def test_a_missing_requirements_file_is_a_warning_that_says_what_follows(tmp_path):
    result, sig = signature(tmp_path, 'venv "Env/requirements.txt";')
    assert result.ok and sig.venv_file is None
    [warning] = result.warnings
    assert warning.message.startswith('requirements file "Env/requirements.txt" not found (looked in ')
    assert warning.message.endswith("the task's environment cannot be built")
    assert warning.pos.file.endswith("task.xxp") and warning.pos.line == 3  # at the venv line
