"""Files the tool creates are private to the user: the KB (and its lock) 0600 in a 0700 folder,
and the `.xxp/` holding the run folders (task folders, params, logs) 0700 — beside the KB, wherever it lives."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest

from .conftest import xxp

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kb_elsewhere_and_the_project_state_are_private(tmp_path: Path):
    project = tmp_path / "q"
    shutil.copytree(ROOT / "sample_workflows" / "quickstart", project, ignore=shutil.ignore_patterns(".xxp"))
    kb_dir = tmp_path / "kbs" / ".xxp"
    done = xxp("run", project / "quickstart.xxp", "--headless", "--db", kb_dir / "kb.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert mode(kb_dir) == 0o700 and mode(kb_dir / "kb.sqlite") == 0o600
    assert not (kb_dir / "kb.sqlite.engine-r1.lock").exists()  # removed as the run ended (0600 while it runs)
    assert not (project / ".xxp").exists()  # run folders go beside the KB, not into the spec's folder
    params = next((kb_dir / "runs" / "r1").rglob("params.json"))
    assert params.read_text()  # the task folders are there, under the private folder
