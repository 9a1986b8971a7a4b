"""The headless batch run through the real `xxp-tui` CLI: both sample workflows end to end, the
no-terminal fallback (`make run` without a terminal), and the exit codes 0 / 1 / 2 / 130 with a
resumable interrupted run."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import stat
import subprocess
from itertools import product
from pathlib import Path

import psutil
import pytest

from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

from .conftest import Project, clean_env, wait_until, xxp, xxp_executable, xxp_popen
from .helpers_faults import grid_project

SAMPLES = Path(__file__).resolve().parents[2] / "sample_workflows"
PLAIN_LINE = re.compile(r"^\d\d:\d\d:\d\d (?!\[)\S")  # "HH:MM:SS text", no "[  n done]" counter


def copy_sample(name: str, tmp_path: Path) -> Path:
    """The sample's folder, copied without any .xxp/ a local run left in it."""
    dst = tmp_path / name
    shutil.copytree(SAMPLES / name, dst, ignore=shutil.ignore_patterns(".xxp", "__pycache__"))
    return dst


def variant_rows(db: Path) -> list[dict]:
    listed = xxp("variants", "latest", "--json", "--db", db)
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def assert_recorded(db: Path, row: dict, tasks: tuple[str, ...], objective: str = "accuracy") -> None:
    """A finished space variant as the KB holds it: its params, objective and task executions."""
    vid = kbv.parse_variant_ref(row["id"])
    with Project(db.parent).kb(db) as kb:
        v = kbv.get(kb, vid)
        runs = kbv.task_runs(kb, vid)
    assert v.params == row["params"] and v.seed is not None and v.started and v.ended
    final = {}
    for tr in runs:
        final[tr.task] = tr  # the last attempt of each task
    if row["status"] == "completed":
        assert isinstance(row["metrics"].get(objective), float), row
        assert v.objective == row["metrics"][objective]
        assert set(final) == set(tasks), (row["id"], [(t.task, t.status) for t in runs])
        for tr in final.values():
            if tr.status == "cached":  # the task cache reused an identical earlier execution
                assert tr.cache_hit and tr.cache_source
                continue
            assert (tr.status, tr.exit_code, tr.signal) == ("completed", 0, None), (row["id"], tr)
            assert tr.argv and Path(tr.cwd).is_dir() and Path(tr.stdout_path).is_file() and tr.pid
            assert tr.started <= tr.ended
    else:
        assert row["status"] == "pruned" and row["reason"].startswith("pruned by the median pruner"), row
        assert "Train" in final and final["Train"].status == "cancelled"


# ---------------------------------------------------------------------------- sample workflows


@pytest.mark.slow
def test_quickstart_runs_end_to_end_headless(tmp_path):
    folder = copy_sample("quickstart", tmp_path)
    db = tmp_path / "kb.sqlite"
    done = xxp("run", folder / "quickstart.xxp", "--headless", "--workers", "2", "--db", db, cwd=tmp_path,
               timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (folder / ".xxp" / "kb.sqlite").exists()  # --db was honoured
    rows = variant_rows(db)
    grid = [r for r in rows if r["space"] == "Grid"]
    tune = [r for r in rows if r["space"] == "Tune"]
    assert len(rows) == len(grid) + len(tune)
    # The grid: every point of lr x epochs exactly once (range end exclusive: 10, 20, 30).
    assert sorted((r["params"]["Train.lr"], r["params"]["Train.epochs"]) for r in grid) == sorted(
        product([0.05, 0.2], [10, 20, 30]))
    assert all(r["status"] == "completed" and set(r["params"]) == {"Train.lr", "Train.epochs"} for r in grid)
    for r in grid:
        assert_recorded(db, r, ("Generate", "Train", "Evaluate"))
    # Tune runs exactly when no line reached 0.95 (the condition "score_below 0.95").
    best_line = max(r["metrics"]["accuracy"] for r in grid)
    with Project(tmp_path).kb(db) as kb:
        run = kbr.get_run(kb, kbr.resolve_run(kb, "latest"))
        nodes = {n: s.status for n, s in kbr.nodes(kb, run.id).items()}
    assert run.status == "completed" and run.ended
    if best_line < 0.95:
        assert nodes == {"Grid": "done", "Tune": "done"}
        assert len(tune) == 8  # runs = 8 is a total budget
        assert {r["status"] for r in tune} <= {"completed", "pruned"}
        assert any(r["status"] == "completed" for r in tune)
        for r in tune:
            p = r["params"]
            assert set(p) == {"Train.lr", "Train.degree", "Train.epochs"} and p["Train.epochs"] == 40
            assert 0.01 <= p["Train.lr"] <= 0.5 and p["Train.degree"] in (2, 3, 4)
            assert_recorded(db, r, ("Generate", "Train", "Evaluate"))
    else:
        assert nodes == {"Grid": "done", "Tune": "skipped"} and tune == []
    assert f"run r{run.id} completed" in done.stdout


@pytest.mark.slow
def test_quickstart_without_a_terminal_runs_headless_with_plain_lines(tmp_path):
    """What `make run` does with no terminal: no --headless, stdout a pipe -> headless, exit 0,
    the KB in the default place (.xxp/kb.sqlite at the project root — here the spec's folder, as no
    folder above it is marked — private to the user)."""
    folder = copy_sample("quickstart", tmp_path)
    master, slave = pty.openpty()  # stdin is a terminal; only stdout is not
    try:
        done = subprocess.run([xxp_executable(), "run", "quickstart.xxp", "--workers", "2"], cwd=folder,
                              stdin=slave, capture_output=True, text=True, timeout=300,
                              env=clean_env(TERM="xterm-256color"))
    finally:
        os.close(slave)
        os.close(master)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("run r1 of Quickstart (knowledge base ")
    assert len(lines) > 10 and all(PLAIN_LINE.match(line) for line in lines[1:]), lines
    assert "\x1b" not in done.stdout  # no terminal control sequences
    assert re.search(r" run r1 completed: \d+ completed", lines[-1]), lines[-1]
    db = folder / ".xxp" / "kb.sqlite"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    rows = variant_rows(db)
    assert len([r for r in rows if r["space"] == "Grid"]) == 6
    assert all(r["status"] in ("completed", "pruned") for r in rows)


@pytest.mark.slow
def test_classify_runs_end_to_end_and_waits_for_its_review(tmp_path):
    folder = copy_sample("classify", tmp_path)
    db = tmp_path / "kb.sqlite"
    log = tmp_path / "run.out"
    with open(log, "w") as out:
        proc = xxp_popen("run", folder / "classify.xxp", "--headless", "--workers", "2", "--db", db,
                         cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT)
    try:
        def run_waits():
            if not db.exists():
                return None
            with Project(tmp_path).kb(db) as kb:
                runs = kbr.list_runs(kb)
                return runs and runs[-1].status == "waiting_input" and runs[-1]

        run = wait_until(run_waits, timeout=300, what="the Review interaction")
        rows = variant_rows(db)
        review = [r for r in rows if r["space"] == "Review"]
        assert [r["status"] for r in review] == ["waiting_input"]
        # Both grids are done before the Review is asked; nothing runs while it waits.
        assert sorted(r["status"] for r in rows if r["space"] != "Review") == ["completed"] * 8
        assert proc.poll() is None

        tab = xxp(env=clean_env(XXP_DB=str(db), _XXP_TUI_COMPLETE="bash_complete",
                                COMP_WORDS="xxp-tui answer latest ", COMP_CWORD="3"))
        assert tab.stdout.splitlines() == ["plain,Review"], tab.stdout + tab.stderr  # Tab offers what waits
        refused = xxp("answer", "latest", "Review", "--set", "refine=perhaps", "--db", db)
        assert refused.returncode == 1 and "refine='perhaps' is not of type Boolean" in refused.stderr
        answered = xxp("answer", "latest", "Review", "--set", "refine=true", "--db", db)
        assert answered.returncode == 0, answered.stderr
        assert answered.stdout.strip() == "Review answered: refine=True"
        assert proc.wait(timeout=300) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "Traceback" not in output
    rows = variant_rows(db)
    by_space: dict[str, list[dict]] = {}
    for r in rows:
        by_space.setdefault(r["space"], []).append(r)
    assert set(by_space) == {"SvmGrid", "ForestGrid", "Review", "Refine"}
    svm, forest, (review,), refine = (by_space[s] for s in ("SvmGrid", "ForestGrid", "Review", "Refine"))
    assert sorted((r["params"]["Train.C"], r["params"]["Train.gamma"]) for r in svm) == sorted(
        product([1.0, 10.0], [0.001, 0.01]))
    assert all(r["params"]["Train.kernel"] == "rbf" for r in svm)
    assert sorted((r["params"]["Train.n_estimators"], r["params"]["Train.max_depth"]) for r in forest) == sorted(
        product([30, 100], [6, 16]))
    assert (review["status"], review["metrics"], review["origin"]) == ("completed", {"refine": 1.0}, "node")
    # The answer fired the conditional edge: the bayesian refinement spent its budget of 8.
    assert len(refine) == 8 and {r["status"] for r in refine} <= {"completed", "pruned"}
    assert any(r["status"] == "completed" for r in refine)
    tasks = ("Load", "Prepare", "Train", "Evaluate")
    for r in svm + forest:
        assert r["status"] == "completed"
        assert_recorded(db, r, tasks)
    for r in refine:
        assert set(r["params"]) == {"Train.n_estimators", "Train.max_depth", "Train.max_features"}
        assert_recorded(db, r, tasks)
    with Project(tmp_path).kb(db) as kb:
        final = kbr.get_run(kb, run.id)
        nodes = {n: s.status for n, s in kbr.nodes(kb, run.id).items()}
        assert kbr.nodes(kb, run.id)["Review"].result == {"refine": True}
    assert final.status == "completed"
    assert nodes == {"SvmGrid": "done", "ForestGrid": "done", "Review": "done", "Refine": "done"}


# ---------------------------------------------------------------------------- exit codes


@pytest.mark.parametrize(("text", "where", "message"), [
    ('workflow W {\n    task S { implementation "t.faul"; }\n}\n'
     "experiment E { control { START -> G -> END; } space G of W { strategy gridsearch; } }\n",
     (2, 29), 'cannot find task "t.faul": no folder with task.xxp for it in the task libraries (tasks) '
              '(did you mean "t.fault"?)'),
    ('workflow W {\n    task S { implementation "t.fault" }\n}\n', (2, 38),
     "missing ';' at the end of this statement"),
], ids=["unknown-task", "syntax-error"])
def test_an_invalid_spec_exits_2_with_a_diagnostic_and_runs_nothing(project, text, where, message):
    grid_project(project, ("ok",))  # the task library
    spec = project.root / "bad.xxp"
    spec.write_text(text)
    db = project.root / "never.sqlite"
    done = xxp("run", "bad.xxp", "--headless", "--db", db, cwd=project.root)
    assert done.returncode == 2
    line, col = where
    first = done.stderr.splitlines()[0]
    assert first == f"bad.xxp:{line}:{col}: error: {message}"
    caret = done.stderr.splitlines()[2]
    assert caret.index("^") == col - 1 + 4  # under the offending column of the quoted line
    assert "bad.xxp is not valid; nothing was run." in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not db.exists()


def test_a_run_where_a_variant_fails_exits_1(project):
    spec = grid_project(project, ("ok", "crash"))
    done = xxp("run", spec, "--headless", "--workers", "2", "--db", project.db, cwd=project.root)
    assert done.returncode == 1, done.stdout + done.stderr
    status = {v.params["S.mode"]: (v.status, v.reason) for v in project.variants()}
    assert status == {"ok": ("completed", None),
                      "crash": ("failed", "S exited with code 1: RuntimeError: deliberate crash")}
    run = project.latest_run()
    assert (run.status, run.reason) == ("failed", "1 of 2 variant(s) failed")


@pytest.mark.slow
def test_ctrl_c_exits_130_leaves_the_run_resumable_and_resume_finishes_it(project):
    spec = grid_project(project, ("wait", "ok"))
    log = project.root / "run.out"
    with open(log, "w") as out:
        # Its own session, so the Ctrl-C below reaches the engine's process group like a terminal's.
        proc = xxp_popen("run", spec, "--headless", "--workers", "1", "--db", project.db, cwd=project.root,
                         stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def waiting_task():
            if not project.db.exists():
                return None
            with project.kb() as kb:
                runs = kbr.list_runs(kb)  # empty until the run is recorded
                running = kbv.task_runs_in_state(kb, runs[-1].id, "running") if runs else []
                return running[0] if running and running[0].pid else None

        first = wait_until(waiting_task, timeout=60, what="the first task to start")
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert "run r1 interrupted; continue with: xxp-tui resume r1" in output
    run = project.latest_run()
    assert (run.status, run.reason) == ("interrupted", "interrupted; resume to continue")
    assert {v.status for v in project.variants()} == {"queued"}
    assert not psutil.pid_exists(first.pid) or psutil.Process(first.pid).status() == psutil.STATUS_ZOMBIE
    with project.kb() as kb:
        assert kbv.get_task_run(kb, first.id).status == "interrupted"
        assert kbr.liveness(kb, run.id).alive is False

    (project.root / "release").touch()  # the waiting task may now finish
    done = xxp("resume", "latest", "--headless", "--db", project.db, cwd=project.root, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "run r1 resumed" in done.stdout
    variants = project.variants()
    assert {v.params["S.mode"]: (v.status, v.objective) for v in variants} == {
        "wait": ("completed", 3.0), "ok": ("completed", 1.0)}
    with project.kb() as kb:
        assert kbr.get_run(kb, run.id).status == "completed"
        for v in variants:
            statuses = [tr.status for tr in kbv.task_runs(kb, v.id)]
            expected = ["interrupted", "completed"] if v.id == first.variant_id else ["completed"]
            assert statuses == expected, (v.params, statuses)
