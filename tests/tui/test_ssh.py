"""The whole SSH workflow, for real: a private sshd on 127.0.0.1 (tests/tui/ssh_server.py), a tmux
terminal at 80x24 running `ssh -t` into it, `xxp-tui run` on the far side, one variant pruned with
the keyboard, then the ssh *client* killed (a dropped connection). The CLI shows the run going on
without any viewer; a second `ssh -t` runs `xxp-tui attach`, which shows the live table, and `q`
leaves it. The engine, sshd and tmux are stopped at the end whatever happens."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr

from .conftest import make_project
from .ssh_server import SshServer, missing
from .test_tmux import TMUX, Tmux, _line_starting, _stop_engine, _table_row, _wait_kb

pytestmark = pytest.mark.skipif(TMUX is None or missing() is not None,
                                reason=missing() or "tmux is not installed (CI installs it)")


def _cli(*args: str) -> subprocess.CompletedProcess:
    xxp = str(Path(sys.executable).parent / "xxp-tui")
    return subprocess.run([xxp, *args], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _completed(db: Path) -> int:
    rows = json.loads(_cli("runs", "--json", "--db", str(db)).stdout)
    return rows[0]["counts"].get("completed", 0)


def test_run_over_ssh_drop_the_connection_and_attach_again(tmp_path: Path) -> None:
    spec = make_project(tmp_path, n=6, secs=5, review=False)  # 12 variants of 5 s, one worker
    db = tmp_path / ".xxp" / "kb.sqlite"
    server = SshServer(tmp_path / "sshd").start()
    xxp = Path(sys.executable).parent / "xxp-tui"
    remote_env = f"env TERM=xterm-256color XDG_CONFIG_HOME={shlex.quote(str(tmp_path / 'config'))}"

    def over_ssh(command: str) -> str:
        remote = f"cd {shlex.quote(str(tmp_path))} && {remote_env} {command}"
        return shlex.join(server.ssh_argv(remote)) + "; echo \"[ssh exited with $?]\"; sleep 60"

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "XXP_", "TEXTUAL"))}
    env["TERM"] = "xterm-256color"
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-terminal xterm-256color\nset -g status off\n")
    tmux = Tmux(env)
    try:
        tmux("-f", str(config), "new-session", "-d", "-s", tmux.target, "-x", "80", "-y", "24",
             over_ssh(f"{xxp} run {spec.name} --workers 1 --db {db}"))
        tmux.wait_for("the variant table over ssh",
                      lambda s: _table_row(s, 12) == "queued" and "q Quit" in s, timeout=90)

        # steer one variant with the keyboard: prune the last (queued) row
        tmux.keys("G")
        tmux.wait_for("v12's details", lambda s: _line_starting(s, "v12 Grid queued"))
        tmux.keys("d")
        tmux.wait_for("the prune confirmation", lambda s: "Prune 1 variant?" in s)
        tmux.keys("y")
        tmux.wait_for("v12 shown pruned", lambda s: _table_row(s, 12) == "pruned")

        # the connection drops: kill the ssh client itself
        pane = int(tmux("display-message", "-p", "-t", tmux.target, "#{pane_pid}").strip())
        clients = [p for p in psutil.Process(pane).children(recursive=True) if p.name() == "ssh"]
        assert clients, "no ssh client under the tmux pane"
        for p in clients:
            p.send_signal(signal.SIGKILL)
        _wait_kb("the ssh client gone", lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE
                                                        for p in clients), timeout=20)

        # the run goes on without any viewer: the CLI sees the engine alive and variants completing
        before = _completed(db)
        _wait_kb("a variant completed after the drop", lambda: _completed(db) > before, timeout=60)
        listed = json.loads(_cli("runs", "--json", "--db", str(db)).stdout)[0]
        assert listed["engine"] == "alive" and listed["status"] == "running", listed
        assert listed["counts"].get("pruned") == 1

        # reconnect and attach: the live table comes back, with the pruned row and completed ones
        tmux("new-window", "-t", tmux.target, "-n", "again", over_ssh(f"{xxp} attach r1 --db {db}"))
        tmux.target = f"{tmux.target}:again"
        screen = tmux.wait_for("the live table after attach",
                               lambda s: _table_row(s, 12) == "pruned" and _table_row(s, 1) == "completed"
                               and "q Quit" in s, timeout=90)
        assert screen.lstrip().startswith("r1 E")
        # live: the table's completed rows catch up with the KB's count, whatever it is by then
        tmux.wait_for("the table as the KB has it", lambda s: sum(
            _table_row(s, v) == "completed" for v in range(1, 12)) == _completed(db), timeout=60)
        tmux.keys("q")
        tmux.wait_for("attach to end", lambda s: "[ssh exited with 0]" in s, timeout=30)
        with open_kb(db, create=False, readonly=True) as kb:
            assert kbr.liveness(kb, 1).alive, "leaving the viewer must leave the engine running"
    finally:
        tmux.kill()
        _stop_engine(db)
        server.stop()
