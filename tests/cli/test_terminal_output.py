"""What a task wrote never drives the user's terminal (issue 12, smaller list).

ESC sequences from tasks (a stderr tail in a failure reason, a metric name) were printed raw by
`variants`, `show` and the headless progress lines: a task could retitle the window or clear the
screen. Printing to a terminal now strips control characters; files and pipes keep the text as is.
"""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from tests.engine.conftest import Project, clean_env, xxp, xxp_executable

pytestmark = pytest.mark.slow

TASK = """
task Evil {
    define metric score { kind single-value; type Float; }
    implementation "evil.py";
}
"""
SCRIPT = r"""
import json, os, sys
with open(os.environ["XXP_METRICS"], "a") as fh:
    fh.write(json.dumps({"name": "odd\u001b[31mname", "value": 1.0}) + "\n")
sys.stderr.write("\x1b]0;pwned\x07\x1b[2J boom\n")
sys.exit(1)
"""
SPEC = """
workflow W { task E { implementation "t.evil"; } }
experiment X {
    control { START -> S -> END; }
    space S of W { strategy singlerun; }
}
"""
ESCAPES = ("\x1b]0;", "\x1b[2J", "\x1b[31m", "\x07")


def on_terminal(*args: str | Path, cwd: Path) -> str:
    """Run `xxp-tui ARGS…` with its output on a pseudo-terminal; what it printed."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([xxp_executable(), *map(str, args)], stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, cwd=cwd, env=clean_env(TERM="dumb"))
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode(errors="replace")


def test_task_output_is_stripped_of_control_characters_on_a_terminal(tmp_path: Path):
    project = Project(tmp_path)
    project.task("t.evil", TASK, "evil.py", SCRIPT)
    spec = project.spec(SPEC)
    db = tmp_path / "kb.sqlite"
    outputs = {
        "headless": on_terminal("run", spec, "--headless", "--db", db, cwd=tmp_path),
        "variants": on_terminal("variants", "--db", db, cwd=tmp_path),
        "show": on_terminal("show", "v1", "--db", db, cwd=tmp_path),
    }
    for name, text in outputs.items():
        assert "boom" in text, (name, text)
        for esc in ESCAPES:
            assert esc not in text, (name, esc, text)
    assert "oddname" in outputs["show"]
    piped = xxp("variants", "--db", db, cwd=tmp_path)  # not a terminal: the record as it is
    assert "\x1b[2J boom" in piped.stdout
