"""A full disk under the knowledge base (issue 12, defect 4).

The engine ended with "internal error: OperationalError: database or disk is full" and left the run
`running`, and commands said the KB "is not an xxp-tui knowledge base (disk I/O error)", which
invites deleting a healthy file. Now the engine stops the run resumably with the reason, commands
say "disk full", and once space is freed the run resumes to the end.

The full disk is real: the KB lives on a small tmpfs, filled by the test (mounting needs root;
elsewhere the test is skipped).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.engine.conftest import clean_env, wait_until, xxp, xxp_popen
from tests.engine.live import make_project
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

SPEC = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 4);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""


@pytest.fixture
def small_disk(tmp_path: Path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def fill(folder: Path) -> Path:
    """Append to a file until the disk refuses; returns it."""
    filler = folder / "filler"
    with open(filler, "ab", buffering=0) as fh:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                fh.write(block)
    with open(filler, "ab", buffering=0) as fh, contextlib.suppress(OSError):
        while True:  # the last few bytes
            fh.write(b"\0" * 512)
    return filler


def start_headless(spec: Path, db: Path, out: Path, running: int = 1) -> subprocess.Popen:
    """`xxp-tui run --headless` of `spec` into `db` (its output to `out`), once `running` tasks run."""
    with open(out, "w") as fh:
        proc = xxp_popen("run", spec, "--headless", "--db", db, cwd=spec.parent, stdout=fh,
                         stderr=subprocess.STDOUT)

    def started():
        if not db.exists():
            return False
        with open_kb(db, create=False, readonly=True) as kb:
            return len(kbv.task_runs_in_state(kb, 1, "running")) >= running  # folders laid out, started

    try:
        wait_until(started, 60, f"{running} running task(s)")
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    return proc


def test_a_full_disk_under_the_kb_interrupts_the_run_resumably(tmp_path: Path, small_disk: Path):
    spec = make_project(tmp_path / "p", SPEC)
    gates = tmp_path / "p" / "gates"
    db = small_disk / "kb.sqlite"
    out = tmp_path / "headless.out"
    proc = start_headless(spec, db, out)
    filler = None
    try:
        filler = fill(small_disk)
        (gates / "v1").touch()  # v1 ends: its result cannot be written any more
        code = proc.wait(timeout=60)
        text = out.read_text()
        assert code == 130, text
        assert "disk under the knowledge base is full" in text and "xxp-tui resume r1" in text, text
        assert "internal error" not in text and "Traceback" not in text, text

        fill(small_disk)  # what the engine gave back to record the interruption: taken again
        steer = xxp("pause", "r1", "--db", db, env=clean_env())
        assert steer.returncode in (1, 2) and "disk full" in steer.stderr, (steer.stdout, steer.stderr)
        assert "not an xxp-tui knowledge base" not in steer.stderr
        assert "internal error" not in steer.stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if filler is not None:
            filler.unlink()
    with open_kb(db, create=False, readonly=True) as kb:
        run = kbr.get_run(kb, 1)
        assert run.status == "interrupted" and "disk under the knowledge base is full" in run.reason, run
        assert kb.scalar("PRAGMA integrity_check") == "ok"
    (gates / "ALL").touch()
    resumed = xxp("resume", "r1", "--headless", "--db", db, env=clean_env(), timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_kb(db, create=False, readonly=True) as kb:
        assert [v.status for v in kbv.for_run(kb, 1)] == ["completed"] * 4


NOISY_XXP = """
task Noisy {
    define param x { type Integer; default 0; range (0, 1000); }
    define param gates { type String; default ""; }
    define metric score { kind single-value; type Float; }
    implementation "noisy.py";
}
"""
NOISY_PY = """
import os, time
from pathlib import Path
from xxp_tui import sdk

p = sdk.params()
gates = Path(p["gates"])
while not (gates / "ALL").exists() and not (gates / os.environ["XXP_VARIANT"]).exists():
    time.sleep(0.02)
print("x" * 200_000, flush=True)  # more than a full disk takes
sdk.log_metric("score", float(p["x"]))
"""
NOISY_SPEC = """
workflow W { task N { implementation "t.noisy"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 3);
        task N { param x = x; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""


def test_a_full_disk_under_the_task_folders_interrupts_the_run_resumably(tmp_path: Path, small_disk: Path):
    """The KB has room, the disk of the run folders does not: a task whose log cannot be written is
    stopped, but that is the machine's failure, not the variant's. The run is interrupted with the
    reason, and resumed once there is space, every variant completes (none is left failed)."""
    spec = make_project(tmp_path / "p", NOISY_SPEC)
    noisy = tmp_path / "p" / "tasks" / "t" / "noisy"
    noisy.mkdir()
    (noisy / "task.xxp").write_text(NOISY_XXP)
    (noisy / "noisy.py").write_text(NOISY_PY)
    gates = tmp_path / "p" / "gates"
    db = tmp_path / "kb" / "kb.sqlite"
    runs = db.parent / ".xxp" / "runs"
    runs.parent.mkdir(parents=True)
    runs.symlink_to(small_disk, target_is_directory=True)
    out = tmp_path / "headless.out"
    proc = start_headless(spec, db, out, running=2)  # both slots busy: v1 is the first to meet the full disk
    filler = None
    try:
        filler = fill(small_disk)
        (gates / "v1").touch()  # v1 prints what the disk cannot take
        code = proc.wait(timeout=60)
        text = out.read_text()
        assert code == 130, text
        assert "disk under v1's task folder is full" in text and "xxp-tui resume r1" in text, text
        assert "internal error" not in text and "Traceback" not in text, text
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if filler is not None:
            filler.unlink()
    with open_kb(db, create=False, readonly=True) as kb:
        run = kbr.get_run(kb, 1)
        assert run.status == "interrupted" and "task folder is full" in run.reason, run
        assert "failed" not in [v.status for v in kbv.for_run(kb, 1)]
        tries = [tr for tr in kbv.task_runs(kb, 1)]
        assert tries and tries[-1].status == "interrupted" and "no space left" in (tries[-1].reason or ""), tries
    (gates / "ALL").touch()
    resumed = xxp("resume", "r1", "--headless", "--db", db, env=clean_env(), timeout=120)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    with open_kb(db, create=False, readonly=True) as kb:
        assert [v.status for v in kbv.for_run(kb, 1)] == ["completed"] * 3


def test_a_kb_on_a_read_only_disk_gets_a_sentence(tmp_path: Path, small_disk: Path):
    db = small_disk / "kb.sqlite"
    open_kb(db).close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    done = xxp("runs", "--db", db, env=clean_env())
    assert "read-only: use --read-only viewers, or copy it somewhere writable" in done.stderr, done.stderr
    assert done.returncode == 2 and "internal error" not in done.stderr


def test_a_device_is_not_taken_for_a_kb(tmp_path: Path):
    for command in (["runs"], ["variants"]):
        done = xxp(*command, "--db", "/dev/null", env=clean_env())
        assert done.returncode == 2, done.stderr
        assert "/dev/null is not a regular file" in done.stderr and "internal error" not in done.stderr
    assert not Path("/dev/null-journal").exists() and not Path("/dev/null-wal").exists()


def test_a_kb_deleted_under_a_running_engine_does_not_end_in_success(tmp_path: Path):
    spec = make_project(tmp_path / "p", SPEC)
    gates = tmp_path / "p" / "gates"
    db = tmp_path / "kb.sqlite"
    out = tmp_path / "headless.out"
    with open(out, "w") as fh:
        proc = xxp_popen("run", spec, "--headless", "--db", db, cwd=spec.parent, stdout=fh, stderr=subprocess.STDOUT)
    try:
        def started():
            if not db.exists():
                return False
            with open_kb(db, create=False, readonly=True) as kb:
                return any(v.status == "running" for v in kbv.for_run(kb, 1))

        wait_until(started, 60, "a running variant")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        (gates / "ALL").touch()
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert code == 1, text
    assert f"the knowledge base {db} was deleted or replaced while the run went on" in text, text
    assert "completed: 4 completed" not in text
