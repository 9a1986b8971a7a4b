"""The CLI as a new user tries it, against a real engine driving gated tasks: steering commands take
the latest run by default (`parallel` too) and answer `--json`; a refused prune says so once; `runs
--json` and `show` give the engine's pid; the engine's lock file is private while it runs and gone
once the run ends."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import psutil
import pytest

from tests.engine.live import LiveRun, wait_until, xxp
from tests.engine.test_steering import grid

pytestmark = pytest.mark.slow


def cli(run: LiveRun, *args: str):
    return xxp(*args, "--db", str(run.db), cwd=run.root)


def test_steering_and_reading_commands_agree(tmp_path: Path):
    run = LiveRun(tmp_path, grid(3), workers=1).start()
    try:
        (first,) = run.wait_running(1)
        lock = run.db.parent / f"{run.db.name}.engine-r{run.run_id}.lock"
        assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600

        # runs --json and show name the engine's process
        (row,) = json.loads(cli(run, "runs", "--json").stdout)
        pid = row["engine_pid"]
        assert row["engine"] == "alive" and pid == run.proc.pid and psutil.pid_exists(pid)
        shown = cli(run, "show", "latest")
        assert f"engine_pid: {pid}" in shown.stdout, shown.stdout
        assert f"alive (pid {pid})" in cli(run, "runs").stdout

        # parallel defaults to the latest run, like pause/stop/inject/answer; --json gives the answer
        done = cli(run, "parallel", "2", "--json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert (answer["verb"], answer["status"], answer["run"]) == ("parallel", "done", f"r{run.run_id}")
        wait_until(lambda: run.run().workers == 2, what="2 slots")
        assert cli(run, "parallel", f"r{run.run_id}", "1").returncode == 0
        for verb in ("pause", "resume"):  # resume of a paused run with a live engine is a command like the others
            answer = json.loads(cli(run, verb, "--json").stdout)
            assert (answer["verb"], answer["status"]) == (verb, "done"), answer
        bad = cli(run, "parallel", "r1", "two")
        assert bad.returncode == 2 and "whole number" in bad.stderr

        # typed live, a value outside the param's declared range is refused (the same value in a spec's
        # list only warns); one off the space's list but inside the declared range is accepted, off the grid
        refused = cli(run, "inject", "--space", "Grid", "--set", "G.x=1200")
        assert refused.returncode == 1 and "inject refused: G.x=1200 is outside G.x's declared range" in refused.stderr
        wide = run.spec.with_name("wide.xxp")
        wide.write_text(run.spec.read_text().replace("range(0, 3)", "range(0, 1201, 600)"))
        checked = xxp("validate", wide, cwd=run.root)
        assert checked.returncode == 0 and "warning: value 1200" in checked.stderr, checked.stderr

        # a prune of a finished variant: refused, said once
        run.release(first)
        wait_until(lambda: run.variant(first).status == "completed", what=f"v{first} completed")
        refused = cli(run, "prune", f"v{first}")
        assert refused.returncode == 1
        assert refused.stderr.strip() == f"xxp-tui: prune refused: v{first} already completed", refused.stderr
        as_json = json.loads(cli(run, "prune", f"v{first}", "--json").stdout)
        assert (as_json["status"], as_json["outcome"]) == ("refused", f"v{first} already completed")

        run.release_all()
        run.wait_finished()
        assert run.wait_exit(timeout=60) == 0
        assert not lock.exists()  # the lock file goes with the engine
    finally:
        run.stop()
