"""A headless run whose output nobody reads any more (`| head -1`, a dropped terminal) goes on to
the end: the progress display stops, the engine does not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr

from .conftest import clean_env, xxp_executable

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_a_closed_stdout_does_not_stop_the_run(tmp_path: Path):
    project = tmp_path / "q"
    shutil.copytree(ROOT / "sample_workflows" / "quickstart", project, ignore=shutil.ignore_patterns(".xxp"))
    db = tmp_path / "kb.sqlite"
    proc = subprocess.Popen([xxp_executable(), "run", str(project / "quickstart.xxp"), "--headless", "--db", str(db)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=clean_env())
    assert proc.stdout.readline()  # read one line, then go away like `head -1`
    proc.stdout.close()
    assert proc.wait(timeout=120) == 0
    assert b"Traceback" not in proc.stderr.read()
    with open_kb(db, create=False) as kb:
        assert kbr.get_run(kb, 1).status == "completed"
