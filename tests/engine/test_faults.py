"""Faults in tasks, through the real `xxp-tui run --headless` on a real KB.

One run (module fixture) holds every fault side by side: a crash, a hang past its timeout (with a
grandchild; both ignore SIGTERM), SIGKILL and SIGSEGV, 100 MB on stdout, bytes that are not UTF-8,
malformed metric lines, a script that never existed and one deleted while the run goes, plus a
task that fails once and succeeds on its retry. Each faulty variant must end `failed` with a reason
naming its fault, the others must complete, and the engine's memory must stay bounded while 100 MB
of output pass through it.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

from .conftest import Project, wait_until, xxp, xxp_popen
from .helpers_faults import faults_project, grid_project

pytestmark = pytest.mark.slow  # every test reads one ~5 s run of the whole fault zoo

MB = 2**20
DEFAULT_LOG_CAP = 50 * MB
CAP_NOTE = b"\n[xxp-tui: stdout passed 50 MB; the task was stopped]\n"


@dataclass
class FaultRun:
    root: Path
    db: Path
    rc: int
    stdout: str
    stderr: str
    rss_at_start: int
    rss_peak: int
    run: kbr.Run = None
    by_key: dict[str, kbv.Variant] = field(default_factory=dict)  # mode or space -> variant

    def kb(self):
        return Project(self.root).kb(self.db)

    def variant(self, key: str) -> kbv.Variant:
        return self.by_key[key]

    def task_runs(self, key: str) -> list[kbv.TaskRun]:
        with self.kb() as kb:
            return kbv.task_runs(kb, self.by_key[key].id)


def _peak_rss(proc: psutil.Process) -> int:
    """The kernel's high-water mark of resident memory (VmHWM), so sampling misses no peak."""
    try:
        with open(f"/proc/{proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return proc.memory_info().rss


def _some_variant_runs(project: Project) -> bool:
    if not project.db.exists():
        return False
    try:
        return any(v.status == "running" for v in project.variants())
    except Exception:  # the engine is still creating the KB
        return False


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> FaultRun:
    project = Project(tmp_path_factory.mktemp("faults"))
    spec = faults_project(project)
    proc = xxp_popen("run", spec, "--headless", "--workers", "2", "--db", project.db, cwd=project.root)
    engine = psutil.Process(proc.pid)
    rss_at_start = rss_peak = 0
    deadline = time.monotonic() + 180
    try:
        # The engine has loaded the spec and opened the KB once the first variant runs: that is
        # the baseline. Then follow its high-water mark until it exits.
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                rss_peak = max(rss_peak, _peak_rss(engine))
                if not rss_at_start and _some_variant_runs(project):
                    rss_at_start = engine.memory_info().rss
            except psutil.NoSuchProcess:
                break
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    result = FaultRun(project.root, project.db, proc.returncode, stdout, stderr, rss_at_start, rss_peak)
    with project.kb() as kb:
        result.run = kbr.get_run(kb, kbr.resolve_run(kb, "latest"))
        for v in kbv.for_run(kb, result.run.id):
            key = v.params.get("S.mode") if v.space == "Faults" else v.space
            result.by_key[key] = v
    return result


# ---------------------------------------------------------------------------- the run goes on


def test_the_run_goes_on_past_every_fault_and_exits_1(faults):
    assert faults.rc == 1, faults.stderr
    assert "Traceback" not in faults.stdout + faults.stderr
    statuses = {key: v.status for key, v in faults.by_key.items()}
    assert statuses == {
        "ok": "completed", "binary_ok": "completed", "malformed_ok": "completed", "Retry": "completed",
        "crash": "failed", "sigkill": "failed", "sigsegv": "failed", "flood": "failed",
        "binary_fail": "failed", "malformed": "failed", "Hang": "failed", "Missing": "failed",
        "Vanished": "failed",
    }
    assert (faults.run.status, faults.run.reason) == ("failed", "9 of 13 variant(s) failed")
    with faults.kb() as kb:
        nodes = kbr.nodes(kb, faults.run.id)
        assert {n: s.status for n, s in nodes.items()} == {
            "Faults": "done", "Hang": "done", "Retry": "done", "Missing": "done", "Vanished": "done"}
        assert kbv.task_runs_in_state(kb, faults.run.id, "running") == []
        assert kbr.liveness(kb, faults.run.id).alive is False
    assert "run r1 failed: 4 completed, 9 failed" in faults.stdout


@pytest.mark.parametrize(("key", "reason"), [
    ("crash", "S exited with code 1: RuntimeError: deliberate crash"),
    ("sigkill", "S was killed by signal 9 (SIGKILL)"),
    ("sigsegv", "S was killed by signal 11 (SIGSEGV)"),
    ("Hang", "S timed out after 3s"),
    ("flood", "S printed more than 50 MB to stdout (the log limit); stopped"),
    ("binary_fail", "S exited with code 3: bad bytes \ufffd\ufffd \ufffd( end"),
    ("malformed", "the objective score was not reported (10 malformed metric line(s) from S ignored)"),
    ("Missing", "task S: script not found (gone.py)"),
    ("Vanished", "task Victim: script not found: {root}/tasks/t/victim/victim.py"),
])
def test_each_fault_fails_its_variant_with_a_reason_naming_it(faults, key, reason):
    v = faults.variant(key)
    assert v.status == "failed"
    assert v.reason == reason.format(root=faults.root.resolve())
    assert v.ended is not None and v.objective is None
    # The headless progress line says it too.
    assert f"v{v.id} {v.space} failed ({v.reason})" in faults.stdout


def test_exit_codes_and_signals_are_recorded_per_task_execution(faults):
    def only(key):
        runs = faults.task_runs(key)
        assert len(runs) == 1, runs  # retries 0: no second attempt
        return runs[0]

    assert (only("crash").exit_code, only("crash").signal) == (1, None)
    assert (only("binary_fail").exit_code, only("binary_fail").signal) == (3, None)
    assert (only("sigkill").exit_code, only("sigkill").signal) == (None, signal.SIGKILL)
    assert (only("sigsegv").exit_code, only("sigsegv").signal) == (None, signal.SIGSEGV)
    assert (only("Hang").exit_code, only("Hang").signal) == (None, signal.SIGKILL)  # SIGTERM was ignored
    for key in ("crash", "sigkill", "sigsegv", "Hang", "flood", "binary_fail"):
        tr = only(key)
        assert tr.status == "failed" and tr.reason == faults.variant(key).reason
        assert tr.argv[-1].endswith("fault.py") and Path(tr.cwd).is_dir()
        assert tr.pid and tr.started <= tr.ended
    for key in ("ok", "malformed"):  # the process succeeded; only the variant lacks its objective
        tr = only(key)
        assert (tr.status, tr.exit_code, tr.signal, tr.reason) == ("completed", 0, None, None)


def test_a_missing_script_starts_no_process(faults):
    (tr,) = faults.task_runs("Missing")
    assert (tr.status, tr.pid, tr.reason) == ("failed", None, "task S: script not found (gone.py)")
    remove, victim = faults.task_runs("Vanished")
    assert (remove.task, remove.status) == ("Remove", "completed")
    assert (victim.task, victim.status, victim.pid) == ("Victim", "failed", None)


def test_a_variant_that_cannot_start_is_finalised_once(faults):
    """Its one 'failed' event, not two (the task failed before any process, inside the scheduler)."""
    with faults.kb() as kb:
        for key in ("Missing", "Vanished", "crash"):
            v = faults.variant(key)
            ends = [e for e in kbc.events(kb, faults.run.id, target=f"v{v.id}")
                    if e.kind == "variant" and e.detail.get("status") == "failed"]
            assert len(ends) == 1, (key, ends)
    assert faults.stdout.count(f"v{faults.variant('Missing').id} Missing failed") == 1


# ---------------------------------------------------------------------------- one fault at a time


def test_a_hung_task_and_its_grandchild_are_killed_at_the_timeout(faults):
    (tr,) = faults.task_runs("Hang")
    folder = Path(tr.cwd)
    for name in ("task.pid", "child.pid"):
        assert (folder / name).is_file(), f"the hanging task was stopped before it wrote {name}"
        pid = int((folder / name).read_text())
        gone = not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert gone, f"{name} {pid} outlived its timed-out task"
    took = tr.ended - tr.started
    assert 3 <= took < 20, took  # the timeout, then SIGTERM (ignored), then SIGKILL after the grace


def test_100_mb_of_output_is_capped_on_disk_and_not_kept_in_memory(faults):
    (tr,) = faults.task_runs("flood")
    log = Path(tr.stdout_path)
    size = log.stat().st_size
    assert DEFAULT_LOG_CAP + len(CAP_NOTE) == size, size
    with open(log, "rb") as fh:
        fh.seek(-len(CAP_NOTE), 2)
        assert fh.read() == CAP_NOTE
        fh.seek(DEFAULT_LOG_CAP - 1024)
        assert fh.read(1024) == b"x" * 1023 + b"\n"
    assert faults.rss_at_start > 0, "the engine's memory was never measured"
    growth = faults.rss_peak - faults.rss_at_start
    assert growth < 40 * MB, f"the engine grew by {growth / MB:.0f} MB while a task printed 50+ MB"


def test_output_that_is_not_utf8_is_logged_byte_exact(faults):
    for key in ("binary_ok", "binary_fail"):
        (tr,) = faults.task_runs(key)
        assert Path(tr.stdout_path).read_bytes() == b"bin \xff\xfe\x80 out\n"
        assert Path(tr.stderr_path).read_bytes() == b"bad bytes \xff\xfe \xc3\x28 end\n"
    v = faults.variant("binary_ok")
    assert (v.status, v.objective) == ("completed", 1.0)
    # The front ends read the replacement characters without trouble.
    shown = xxp("show", f"v{faults.variant('binary_fail').id}", "--db", faults.db)
    assert shown.returncode == 0, shown.stderr
    assert "bad bytes \ufffd\ufffd \ufffd( end" in shown.stdout


def test_malformed_metric_lines_are_skipped_and_counted(faults):
    ok = faults.variant("malformed_ok")
    assert (ok.status, ok.objective) == ("completed", 0.5)
    with faults.kb() as kb:
        for key in ("malformed_ok", "malformed"):
            vid = faults.variant(key).id
            metrics = kbv.metrics(kb, vid)
            got = [(m.name, m.value, m.text, m.step) for m in metrics]
            odd = [("odd_time", 1.0, None, None), ("odd_time", 2.0, None, None)]  # kept, timed on reading
            assert got == odd + ([("score", 0.5, None, None)] if key == "malformed_ok" else []), got
            assert all(faults.run.created <= m.time <= time.time() for m in metrics)
            warnings = [e.detail["text"] for e in kbc.events(kb, faults.run.id, target=f"v{vid}")
                        if e.kind == "warning"]
            assert warnings == [f"v{vid}: 10 malformed metric line(s) from S ignored"]


def test_a_task_that_fails_once_completes_on_its_retry(faults):
    v = faults.variant("Retry")
    assert (v.status, v.objective, v.attempts, v.reason) == ("completed", 2.0, 2, None)
    first, second = faults.task_runs("Retry")
    assert (first.attempt, first.status, first.exit_code) == (1, "failed", 1)
    assert first.reason == "S exited with code 1: first attempt fails on purpose"
    assert (second.attempt, second.status, second.exit_code) == (2, "completed", 0)
    assert Path(first.cwd).name == "S" and Path(second.cwd).name == "S.2"
    assert f"v{v.id} S failed ({first.reason}); retry 1/1" in faults.stdout


# ---------------------------------------------------------------------------- the log cap option


@pytest.mark.slow
def test_max_log_mb_is_honoured_and_kept_by_a_resumed_engine(project):
    """`--max-log-mb 2`: the engine that resumes an interrupted run keeps the run's cap."""
    spec = grid_project(project, ("wait", "flood"))
    proc = xxp_popen("run", spec, "--headless", "--workers", "1", "--max-log-mb", "2", "--db", project.db,
                     cwd=project.root)
    try:
        wait_until(lambda: _some_variant_runs(project), timeout=60, what="the first variant to run")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    (project.root / "release").touch()
    done = xxp("resume", "latest", "--headless", "--db", project.db, cwd=project.root, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    flood = next(v for v in project.variants() if v.params["S.mode"] == "flood")
    assert flood.reason == "S printed more than 2 MB to stdout (the log limit); stopped"
    with project.kb() as kb:
        (tr,) = kbv.task_runs(kb, flood.id)
    size = Path(tr.stdout_path).stat().st_size
    assert 2 * MB < size < 2 * MB + 100


def test_no_task_is_left_running(faults):
    """No process of any task of the run outlives it (each had its own process group)."""
    with faults.kb() as kb:
        pids = [tr.pid for v in kbv.for_run(kb, faults.run.id) for tr in kbv.task_runs(kb, v.id) if tr.pid]
    assert len(pids) == 13  # every task that started a process: Missing and Victim never did
    alive = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE and "fault.py" in " ".join(p.cmdline()):
                alive.append(pid)
        except psutil.Error:
            pass
    assert alive == []
