"""The viewer's parting hint works where the user typed `make run`: in a real terminal (tmux, 80×24),
`xxp-tui run` from a project root whose spec lives in a subfolder, `q`, then the hinted command typed
as printed in the same shell opens the same run again. No --db anywhere: the project's KB is found."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from .conftest import make_project
from .test_tmux import TMUX, Tmux, _stop_engine

pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed: this test drives the real terminal UI")


def test_the_come_back_hint_works_from_the_folder_where_the_run_was_started(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "experiments").mkdir(parents=True)
    (repo / "pyproject.toml").write_text("")
    spec = make_project(repo / "experiments", n=3, secs=2)  # waits for an answer at the end: it goes on
    db = repo / ".xxp" / "kb.sqlite"
    config = tmp_path / "tmux.conf"
    config.write_text("set -g default-terminal xterm-256color\nset -g status off\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TMUX", "XXP_", "TEXTUAL"))}
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["TERM"] = "xterm-256color"
    env["PS1"] = "$ "
    tmux = Tmux(env)
    try:
        tmux("-f", str(config), "new-session", "-d", "-s", tmux.target, "-x", "80", "-y", "24", "-c", str(repo),
             "sh")
        tmux.keys(f"xxp-tui run {spec.relative_to(repo)} --workers 1; echo \"[run exited $?]\"", "Enter")
        tmux.wait_for("the viewer", lambda s: s.lstrip().startswith("r1 E") and "q Quit" in s)
        tmux.keys("q")
        screen = tmux.wait_for("the parting hint", lambda s: "[run exited 0]" in s)
        hint = re.search(r"Come back with: (xxp-tui attach r1\S*)", screen)
        assert hint is not None, screen
        assert "--db" not in screen, "the project's KB is found from here: no --db needed"
        tmux("clear-history", "-t", tmux.target)
        tmux.keys("clear", "Enter")
        tmux.keys(f"{hint.group(1)}; echo \"[attach exited $?]\"", "Enter")
        tmux.wait_for("the viewer again, on r1", lambda s: s.lstrip().startswith("r1 E") and "q Quit" in s)
        tmux.keys("q")
        screen = tmux.wait_for("attach to end", lambda s: "[attach exited 0]" in s)
        assert "Come back with: xxp-tui attach r1" in screen
        assert not (spec.parent / ".xxp").exists() and db.exists()
    finally:
        tmux.kill()
        _stop_engine(db)
