"""End to end in a real terminal: `xxp-tui run SPEC` inside tmux at 80x24 (TERM=xterm-256color).

Nothing is headless here: the CLI validates the spec, starts the detached engine and opens the
viewer in the tmux pane. The test reads the screen with `capture-pane`, prunes a queued variant
and injects one with the app's real key bindings, quits with `q`, and then checks the KB: the
pruned variant, the injected one, the command rows and their audit events, and that the run goes
on without the viewer. The engine (pid from the KB heartbeat) and the tmux server are killed at
the end whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

from .conftest import is_engine, make_project, stop_engine

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="tmux is not installed: this test drives the real terminal UI inside tmux (CI installs it)")


class Tmux:
    def __init__(self, env: dict[str, str]) -> None:
        self.socket = f"xxp-test-{os.getpid()}"
        self.env = env
        self.target = "xxp"

    def __call__(self, *args: str, check: bool = True) -> str:
        proc = subprocess.run([TMUX, "-L", self.socket, *args], env=self.env, capture_output=True, text=True,
                              timeout=20)
        if check and proc.returncode != 0:
            raise AssertionError(f"tmux {' '.join(args)} failed: {proc.stderr}")
        return proc.stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.target)

    def cursor(self) -> tuple[int, int]:
        """Where the terminal cursor is: Textual puts it in the focused input."""
        x, y = self("display-message", "-p", "-t", self.target, "#{cursor_x} #{cursor_y}").split()
        return int(x), int(y)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.target, *keys)

    def wait_for(self, what: str, condition, timeout: float = 30.0) -> str:
        """Poll the screen until condition(screen) holds; fail with the last screen shown."""
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if condition(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the screen was:\n{screen}")

    def kill(self) -> None:
        self("kill-server", check=False)


def _line_starting(screen: str, prefix: str) -> bool:
    """A line of the screen starts with `prefix` (after the pane borders, drawn with ▕ or │)."""
    return any(line.lstrip(" ▕│").startswith(prefix) for line in screen.splitlines())


def _table_row(screen: str, vid: int) -> str | None:
    """The status shown in the table row of `vid`, if the row is on screen."""
    match = re.search(rf"[▕│]v{vid} +\w+ +(\w+)", screen)
    return match.group(1) if match else None


def _wait_kb(what: str, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _stop_engine(db: Path) -> None:
    """Stop the engine whose pid the KB heartbeat holds (SIGTERM: it stops its tasks and exits),
    then any task process group the KB still records as running."""
    if not db.exists():
        return
    with open_kb(db, create=False, readonly=True) as kb:
        pid = kb.scalar("SELECT pid FROM heartbeat")
    if pid:
        stop_engine(db, pid)
    with open_kb(db, create=False, readonly=True) as kb:
        rows = kb.query("SELECT pgid FROM task_runs WHERE status = 'running' AND pgid IS NOT NULL")
    for r in rows:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(r["pgid"], signal.SIGKILL)


def test_run_prune_inject_and_quit_in_tmux(tmp_path: Path) -> None:
    # 12 variants of 4 s, one worker: most stay queued a while; no interaction at the end, so the
    # engine finishes by itself within a minute even if this test dies before its cleanup.
    spec = make_project(tmp_path, n=6, secs=4, review=False)
    db = tmp_path / ".xxp" / "kb.sqlite"
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-terminal xterm-256color\nset -g status off\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "XXP_", "TEXTUAL"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # no personal keymap.toml remaps the keys
    env["TERM"] = "xterm-256color"
    tmux = Tmux(env)
    # The shell stays after xxp-tui to print its exit status (tmux 3.3 sometimes left an exited pane
    # command unreaped for long, so remain-on-exit's pane_dead_status was not reliable).
    command = (f"cd {tmp_path} && env TERM=xterm-256color xxp-tui run {spec.name} --workers 1 --db {db}; "
               "echo \"[xxp-tui exited with $?]\"; sleep 60")
    try:
        tmux("-f", str(config), "new-session", "-d", "-s", tmux.target, "-x", "80", "-y", "24", command)
        assert tmux("display-message", "-p", "-t", tmux.target, "#{window_width}x#{window_height}").strip() == "80x24"

        # the table: twelve rows, the last ones queued
        tmux.wait_for("the variant table and the footer",
                      lambda s: _table_row(s, 12) == "queued" and "q Quit" in s and s.lstrip().startswith("r1 E"))

        # prune the last row (G), which is queued: d asks to confirm with the count, y sends it
        tmux.keys("G")
        tmux.wait_for("v12's details", lambda s: _line_starting(s, "v12 Grid queued"))
        tmux.keys("d")
        tmux.wait_for("the prune confirmation", lambda s: "Prune 1 variant?" in s)
        tmux.keys("y")
        tmux.wait_for("v12 shown pruned",
                      lambda s: _table_row(s, 12) == "pruned" and _line_starting(s, "v12 Grid pruned"))

        # inject through the form: x=4, Enter moves to label, b, Enter sends. One key at a time, as
        # a person types: Textual moves the focus after the keys already read, so a burst "4\rb"
        # would put the b into the x field too.
        tmux.keys("i")
        tmux.wait_for("the inject form", lambda s: "Inject a variant into Grid" in s and "default a" in s)
        tmux.keys("4")
        tmux.wait_for("x typed", lambda s: re.search(r"▊ +4 +▎", s) is not None)
        row = tmux.cursor()[1]
        tmux.keys("Enter")
        tmux.wait_for("the label field focused", lambda s: tmux.cursor()[1] > row)
        tmux.keys("b")
        tmux.wait_for("label typed", lambda s: "default a" not in s)
        tmux.keys("Enter")
        tmux.wait_for("the injected variant in the table", lambda s: _table_row(s, 13) is not None)

        # q leaves the viewer and says the run goes on
        tmux.keys("q")
        screen = tmux.wait_for("the viewer to close", lambda s: "Come back with: xxp-tui attach r1" in s)
        assert "goes on in the background" in screen
        screen = tmux.wait_for("xxp-tui to exit", lambda s: "[xxp-tui exited with" in s, timeout=20)
        assert "[xxp-tui exited with 0]" in screen

        with open_kb(db, create=False, readonly=True) as kb:
            assert kbr.liveness(kb, 1).alive, "quitting the viewer must leave the engine running"
            pruned = kbv.get(kb, 12)
            assert pruned.status == "pruned"
            assert kbv.task_runs(kb, 12) == []  # a pruned queued variant never starts
            injected = [v for v in kbv.for_run(kb, 1) if v.origin == "injected"]
            assert len(injected) == 1
            assert injected[0].params["S.x"] == 4 and injected[0].params["S.label"] == "b"
            cmds = kbc.for_run(kb, 1)
            assert [c.verb for c in cmds] == ["prune", "inject"]
            assert all(c.status == "done" for c in cmds), [(c.verb, c.status, c.outcome) for c in cmds]
            assert cmds[0].args == {"variants": ["v12"]}
            assert cmds[1].args == {"space": "Grid", "values": {"S.x": 4, "S.label": "b"}}
            audited = {e.command_id: e for e in kbc.events(kb, 1) if e.command_id is not None}
            assert {audited[c.id].kind for c in cmds} == {"prune", "inject"}
            assert all(audited[c.id].actor == c.issuer for c in cmds)
    finally:
        tmux.kill()
        _stop_engine(db)
    with open_kb(db, create=False, readonly=True) as kb:
        pid = kb.scalar("SELECT pid FROM heartbeat")
    assert pid and not is_engine(pid, db), "the engine was left running"
