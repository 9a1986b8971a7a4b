"""Engine liveness from the heartbeat: a fresh beat from a live process is alive; a stale beat, a
process that is gone, or one that exited but was not reaped yet (a zombie) is not."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr


def _run(kb) -> int:
    return kbr.create_run(kb, experiment="E", spec_path="e.xxp", project_dir=".", spec_hash="h", spec_text="",
                          spec_files={}, model={}, settings={}, workers=1, seed=0)


def test_liveness_follows_the_process_behind_the_beat(tmp_path):
    with open_kb(tmp_path / "kb.sqlite") as kb:
        run_id = _run(kb)
        assert kbr.liveness(kb, run_id).label == "never started"
        kbr.beat(kb, run_id, os.getpid(), time.time())
        assert kbr.liveness(kb, run_id).alive  # this very process

        child = subprocess.Popen([sys.executable, "-c", "pass"])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # exited, not reaped: a zombie
            with open(f"/proc/{child.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
            time.sleep(0.02)
        kbr.beat(kb, run_id, child.pid, time.time())
        assert not kbr.liveness(kb, run_id).alive
        child.wait()
        assert not kbr.liveness(kb, run_id).alive  # gone altogether

        kbr.beat(kb, run_id, os.getpid(), time.time() - 60)
        with kb.write():
            kb.conn.execute("UPDATE heartbeat SET beat = ? WHERE run_id = ?", (time.time() - 60, run_id))
        live = kbr.liveness(kb, run_id)
        assert not live.alive and live.label.startswith("dead (last beat 60s ago")
