"""Per-task environments (`venv "requirements.txt"; python_version "3.9";` in task.xxp), for real:
real `venv` + pip builds from a wheel the test makes (no network), real runs through the CLI.

Each test points XDG_CACHE_HOME at its own folder, so environments are built afresh and counted."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from xxp_tui.engine import taskenv
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

from .conftest import Project, clean_env, wait_until, xxp, xxp_popen

WHEEL = "xxptiny-1.0-py3-none-any.whl"

SDK_TASK = """
    task Native {
        define output data report;
        implementation "native.py";
        venv "requirements.txt";
    }
"""
NATIVE_PY = """
import json
import sys

import xxptiny
from xxp_tui import sdk

with open(sdk.output_path("report"), "w") as fh:
    json.dump({"executable": sys.executable, "value": xxptiny.VALUE, "prefix": sys.prefix}, fh)
sdk.log_metric("value", xxptiny.VALUE)
"""
LEGACY_TASK = """
    task Legacy {
        implementation "legacy.py";
        venv "requirements.txt";
    }
"""
LEGACY_PY = """
import sys

import xxptiny

resultMap.put("legacy_value", xxptiny.VALUE + 1)
resultMap.put("legacy_prefix", sys.prefix)
"""
SPEC = """
workflow W {
    START -> Native -> END;
    START -> Legacy -> END;
    task Native { implementation "lib.native"; }
    task Legacy { implementation "lib.legacy"; }
}
experiment E {
    control { START -> S -> END; }
    space S of W { strategy gridsearch; }
}
"""


def make_wheel(folder: Path, value: int = 41) -> Path:
    """A pure-Python wheel of the package `xxptiny` (VALUE = value): pip installs it offline."""
    files = {
        "xxptiny/__init__.py": f"VALUE = {value}\n",
        "xxptiny-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: xxptiny\nVersion: 1.0\n",
        "xxptiny-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                       "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files["xxptiny-1.0.dist-info/RECORD"] = "\n".join([*record, "xxptiny-1.0.dist-info/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / WHEEL, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return folder / WHEEL


def env_project(project: Project, requirements: str = f"./{WHEEL}\n") -> Project:
    for ref, sig, script, text in (("lib.native", SDK_TASK, "native.py", NATIVE_PY),
                                   ("lib.legacy", LEGACY_TASK, "legacy.py", LEGACY_PY)):
        folder = project.task(ref, sig, script, text)
        make_wheel(folder)
        (folder / "requirements.txt").write_text(requirements)
    project.spec(SPEC)
    return project


def run(project: Project, *flags: str, cache: Path | None = None):
    env = clean_env(XDG_CACHE_HOME=str(cache or project.root / "cache"))
    return xxp("run", project.root / "e.xxp", "--headless", "--workers", "2", "--db", project.db, *flags,
               cwd=project.root, env=env, timeout=300)


def events(project: Project, kind: str | None = None) -> list[kbc.Event]:
    with project.kb() as kb:
        rid = kbr.resolve_run(kb, "latest")
        return [e for e in kbc.events(kb, rid) if kind is None or e.kind == kind]


def task_runs(project: Project) -> dict[str, kbv.TaskRun]:
    [v] = project.variants()
    with project.kb() as kb:
        return {tr.task: tr for tr in kbv.task_runs(kb, v.id)}


def report(project: Project) -> dict:
    [path] = project.root.glob(".xxp/runs/r*/v*/Native/out/report")
    return json.loads(path.read_text())


def final_metrics(project: Project) -> dict[str, object]:
    [v] = project.variants()
    with project.kb() as kb:
        return {m.name: m.value if m.value is not None else m.text for m in kbv.metrics(kb, v.id)}


def test_two_tasks_with_the_same_requirements_share_one_environment_built_once(project: Project):
    env_project(project)
    done = run(project)
    assert done.returncode == 0, done.stdout + done.stderr
    building = events(project, "env")
    assert sum("building environment" in e.detail["text"] for e in building) == 1, building
    assert "building environment" in done.stdout  # progress shows while it builds
    runs = task_runs(project)
    assert {tr.status for tr in runs.values()} == {"completed"}
    env_hash = runs["Native"].env_hash
    assert env_hash and runs["Legacy"].env_hash == env_hash
    envs = project.root / "cache" / "xxp-tui" / "envs"
    assert stat.S_IMODE(envs.stat().st_mode) == 0o700
    [folder] = [p for p in envs.iterdir() if p.is_dir()]
    [log] = envs.glob("*.log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    for sdk_folder in (project.root / "cache" / "xxp-tui" / "sdk").rglob("*"):
        assert sdk_folder.is_symlink() or stat.S_IMODE(sdk_folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((project.root / "cache" / "xxp-tui" / "sdk").stat().st_mode) == 0o700
    # The task ran with its environment's interpreter, imported the package installed there, and the
    # sdk (native) and the shim (ExtremeXP-style) ran in it without xxp-tui installed in it.
    seen = report(project)
    assert seen["executable"] == str(folder / "bin" / "python") != sys.executable
    assert seen["prefix"] == str(folder)
    assert runs["Native"].argv[0] == str(folder / "bin" / "python")
    metrics = final_metrics(project)
    assert metrics["value"] == 41 and metrics["legacy_value"] == 42
    assert metrics["legacy_prefix"] == str(folder)
    assert not list((folder / "lib").glob("python*/site-packages/xxp_tui*"))
    [v] = project.variants()
    shown = json.loads(xxp("show", f"v{v.id}", "--json", "--db", project.db, cwd=project.root).stdout)
    assert {t["task"]: t["env_hash"] for t in shown["tasks"]} == {"Native": env_hash, "Legacy": env_hash}

    again = run(project)  # same requirements: both tasks are cache hits, nothing is built
    assert again.returncode == 0, again.stdout + again.stderr
    runs = task_runs(project)
    assert {tr.status for tr in runs.values()} == {"cached"}
    assert runs["Native"].env_hash == env_hash
    assert not events(project, "env")

    # A changed requirement is another environment: built anew, and the tasks run again in it.
    native = project.root / "tasks" / "lib" / "native"
    make_wheel(native, value=7)  # same requirements text, other wheel content: still another environment
    changed = run(project)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    runs = task_runs(project)
    assert runs["Native"].status == "completed" and runs["Native"].env_hash != env_hash
    assert runs["Legacy"].status == "cached" and runs["Legacy"].env_hash == env_hash
    assert final_metrics(project)["value"] == 7
    assert len([p for p in envs.iterdir() if p.is_dir()]) == 2


def test_a_build_that_fails_fails_the_task_with_pips_reason_once_per_environment(project: Project):
    env_project(project, requirements="./not-there-1.0-py3-none-any.whl\n")
    done = run(project)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    [v] = project.variants()
    assert v.status == "failed"
    assert re.match(r"task (Native|Legacy): its environment could not be built: installing requirements.txt "
                    r"failed: ERROR: .*not-there-1.0-py3-none-any", v.reason), v.reason  # pip words it by version
    env_events = [e.detail["text"] for e in events(project, "env")]
    assert sum("building environment" in t for t in env_events) == 1, env_events
    assert any("could not be built" in t for t in env_events)
    with project.kb() as kb:
        assert kbr.get_run(kb, kbr.resolve_run(kb, "latest")).status in ("completed", "failed")
    shown = xxp("show", "latest", "--db", project.db, cwd=project.root)
    assert "installing requirements.txt failed" in shown.stdout

    # --no-task-envs: the engine's interpreter, no build. (Both scripts drop the import the engine's
    # Python lacks: the two tasks run in parallel, and one failing would cancel the other.)
    project.task("lib.native", SDK_TASK, "native.py", NATIVE_PY.replace("import xxptiny\n", "")
                 .replace("xxptiny.VALUE", "1"))
    project.task("lib.legacy", LEGACY_TASK, "legacy.py", LEGACY_PY.replace("import xxptiny\n", "")
                 .replace("xxptiny.VALUE", "1"))
    plain = run(project, "--no-task-envs", cache=project.root / "cache2")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert not events(project, "env")
    runs = task_runs(project)
    assert {t: (r.status, r.env_hash) for t, r in runs.items()} == {"Native": ("completed", None),
                                                                     "Legacy": ("completed", None)}
    assert Path(report(project)["executable"]).parent == Path(sys.executable).parent  # the engine's


PYVER_TASK = """
    task Versioned {
        define output data report;
        implementation "native.py";
        python_version "PYVER";
    }
"""
VERSION_PY = """
import json
import sys

from xxp_tui import sdk

with open(sdk.output_path("report"), "w") as fh:
    json.dump({"executable": sys.executable, "version": list(sys.version_info[:2])}, fh)
"""
PYVER_SPEC = """
workflow W { START -> Native -> END; task Native { implementation "lib.versioned"; } }
experiment E { control { START -> S -> END; } space S of W { strategy gridsearch; } }
"""


def test_a_python_version_not_installed_runs_with_the_engines_and_warns_or_fails_when_strict(project: Project):
    project.task("lib.versioned", PYVER_TASK.replace("PYVER", "3.99"), "native.py", VERSION_PY)
    project.spec(PYVER_SPEC)
    done = run(project)
    assert done.returncode == 0, done.stdout + done.stderr
    [warning] = events(project, "warning")
    assert "asks for Python 3.99, which is not installed here" in warning.detail["text"]
    assert f"runs with the engine's Python {sys.version_info[0]}.{sys.version_info[1]}" in warning.detail["text"]
    assert "asks for Python 3.99" in done.stdout
    seen = report(project)
    assert Path(seen["executable"]).parent == Path(sys.executable).parent  # the engine's interpreter
    assert seen["version"] == list(sys.version_info[:2])
    assert task_runs(project)["Native"].env_hash

    strict = run(project, "--strict-task-envs", "--no-cache")
    assert strict.returncode == 1
    [v] = project.variants()
    assert v.status == "failed" and "--strict-task-envs" in v.reason and "Python 3.99" in v.reason


def test_python_version_uses_an_installed_interpreter_of_that_version(project: Project, tmp_path: Path):
    other = next((v for v in ((3, 12), (3, 10), (3, 13), (3, 9)) if taskenv.find_interpreter(*v)), None)
    if other is None:
        pytest.skip("no Python other than the engine's is installed")
    wanted = f"{other[0]}.{other[1]}"
    project.task("lib.versioned", PYVER_TASK.replace("PYVER", wanted), "native.py", VERSION_PY)
    project.spec(PYVER_SPEC)
    done = run(project)
    assert done.returncode == 0, done.stdout + done.stderr
    seen = report(project)
    assert seen["version"] == list(other) and seen["executable"] != sys.executable
    assert not events(project, "warning")


def test_a_failing_shim_on_path_is_skipped(tmp_path: Path, monkeypatch):
    """pyenv puts a `python3.N` on PATH for every version it knows, which fails unless selected."""
    shim_dir = tmp_path / "shims"
    shim_dir.mkdir()
    for name in ("python3.7", f"python{sys.version_info[0]}.{sys.version_info[1] + 50}"):
        shim = shim_dir / name
        shim.write_text("#!/bin/sh\necho 'pyenv: python3.7: command not found' >&2\nexit 127\n")
        shim.chmod(0o755)
    real = tmp_path / "real"
    real.mkdir()
    own = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (real / "python3.7").symlink_to(sys.executable)  # answers with another version: not taken either
    monkeypatch.setenv("PATH", os.pathsep.join([str(shim_dir), str(real), os.environ["PATH"]]))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert taskenv.find_interpreter.__wrapped__(3, 7) is None
    assert taskenv.find_interpreter.__wrapped__(sys.version_info[0], sys.version_info[1] + 50) is None
    assert taskenv.find_interpreter.__wrapped__(*sys.version_info[:2]).path == sys.executable, own


def test_an_unparsable_python_version_is_the_tasks_reason():
    with pytest.raises(taskenv.TaskEnvError, match='python_version "three" is not a version'):
        taskenv.wanted_version("three")
    assert taskenv.wanted_version("3.9.18") == (3, 9)


def test_two_builders_of_one_environment_at_once_build_it_once(tmp_path: Path):
    """Two engines (here two threads, each with its own lock file handle) need the same environment."""
    from concurrent.futures import ThreadPoolExecutor

    from xxp_tui.lang.model import TaskSignature

    folder = tmp_path / "task"
    make_wheel(folder)
    (folder / "requirements.txt").write_text(f"./{WHEEL}\n")
    sig = TaskSignature(name="T", source="task.xxp", folder=folder, venv="requirements.txt",
                        venv_file=folder / "requirements.txt")
    plan = taskenv.plan(sig, strict=False, root=tmp_path / "envs")
    assert plan is not None and not plan.ready()
    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(lambda _: taskenv.build(plan), range(2)))
    assert outcomes == ["built", "ready"]
    assert plan.ready()
    log = (tmp_path / "envs" / f"{plan.folder.name}.log").read_text()
    assert log.count("-m venv") == 1


def test_a_requirements_file_that_is_not_there_fails_the_task_with_that_reason(project: Project):
    project.task("lib.native", SDK_TASK.replace('venv "requirements.txt"', 'venv "Native/requirements.txt"'),
                 "native.py", NATIVE_PY)
    project.spec(PYVER_SPEC.replace("lib.versioned", "lib.native"))
    done = run(project)
    assert done.returncode == 1, done.stdout + done.stderr
    [v] = project.variants()
    assert v.reason == 'task Native: its requirements file "Native/requirements.txt" was not found'
    assert not events(project, "env")


GATE_TASK = """
    task Gate {
        define output data done;
        implementation "gate.py";
    }
"""
GATE_PY = """
import time
from pathlib import Path

from xxp_tui import sdk

deadline = time.monotonic() + 120
while not Path("../../../../../release").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
Path(sdk.output_path("done")).write_text("ok")
"""


def test_resume_with_no_task_envs_runs_the_rest_with_the_engines_python(project: Project):
    """A run started with --strict-task-envs is interrupted; resumed with --no-task-envs, its task
    that asks for a Python not installed runs with the engine's instead of failing."""
    project.task("lib.gate", GATE_TASK, "gate.py", GATE_PY)
    project.task("lib.versioned", PYVER_TASK.replace("PYVER", "3.99"), "native.py", VERSION_PY)
    spec = project.spec("""
        workflow W {
            START -> Gate -> Native -> END;
            task Gate { implementation "lib.gate"; }
            task Native { implementation "lib.versioned"; }
        }
        experiment E { control { START -> S -> END; } space S of W { strategy gridsearch; } }
    """)
    env = clean_env(XDG_CACHE_HOME=str(project.root / "cache"))
    log = project.root / "run.out"
    with open(log, "w") as out:
        proc = xxp_popen("run", spec, "--headless", "--strict-task-envs", "--db", project.db, cwd=project.root,
                         env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def gate_running():
            if not project.db.exists():
                return None
            with project.kb() as kb:
                runs = kbr.list_runs(kb)
                running = kbv.task_runs_in_state(kb, runs[-1].id, "running") if runs else []
                return running[0] if running and running[0].pid else None

        wait_until(gate_running, timeout=60, what="the gate task to start")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (project.root / "release").write_text("")
    resumed = xxp("resume", "latest", "--headless", "--no-task-envs", "--db", project.db, cwd=project.root,
                  env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    [v] = project.variants()
    assert v.status == "completed"
    assert Path(report(project)["executable"]).parent == Path(sys.executable).parent
    assert task_runs(project)["Native"].env_hash is None
    assert project.latest_run().settings["strict_task_envs"] and project.latest_run().settings["no_task_envs"]


def test_the_environment_hash_follows_the_files_the_requirements_name(tmp_path: Path):
    """Not only the requirements text: a nested `-r` file, an editable `-e ./pkg` folder and a wheel."""
    from xxp_tui.lang.model import TaskSignature

    folder = tmp_path / "task"
    (folder / "pkg").mkdir(parents=True)
    (folder / "pkg" / "mod.py").write_text("A = 1\n")
    (folder / "more.txt").write_text("numpy\n")
    make_wheel(folder)
    (folder / "requirements.txt").write_text(f"-r more.txt\n-e ./pkg\n./{WHEEL}  # local\nrequests==2.0\n")
    sig = TaskSignature(name="T", source="task.xxp", folder=folder, venv="requirements.txt",
                        venv_file=folder / "requirements.txt")

    def env_hash() -> str:
        return taskenv.plan(sig, strict=False, root=tmp_path / "envs").hash

    seen = {env_hash()}
    assert env_hash() in seen  # stable
    for change in (lambda: (folder / "more.txt").write_text("numpy<2\n"),
                   lambda: (folder / "pkg" / "mod.py").write_text("A = 2\n"),
                   lambda: make_wheel(folder, value=3)):
        change()
        seen.add(env_hash())
    assert len(seen) == 4
