"""Shared helpers for the engine's tests: real task folders, real `xxp-tui` processes, a real KB.

`Project(tmp_path)` builds a tiny project: task folders under `tasks/` (each a `task.xxp` and a
script) and a spec; `xxp(...)` runs the real CLI as a subprocess (argv list, stdin closed);
`wait_until(...)` polls instead of sleeping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv


def xxp_executable() -> str:
    """The `xxp-tui` console script of the interpreter running the tests."""
    beside = Path(sys.executable).parent / "xxp-tui"
    if beside.exists():
        return str(beside)
    found = shutil.which("xxp-tui")
    assert found, "the xxp-tui console script is not installed"
    return found


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without XXP_DB (a stray one would redirect every KB)."""
    env = {k: v for k, v in os.environ.items() if k != "XXP_DB"}
    env.update(extra)
    return env


def xxp(*args: str | Path, cwd: Path | None = None, timeout: float = 120.0, env: dict | None = None,
        **kwargs) -> subprocess.CompletedProcess:
    """Run `xxp-tui ARGS…` to the end; text output captured."""
    return subprocess.run(
        [xxp_executable(), *map(str, args)], cwd=cwd, env=env or clean_env(), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, errors="replace", timeout=timeout, **kwargs,
    )


def xxp_popen(*args: str | Path, cwd: Path | None = None, env: dict | None = None, **kwargs) -> subprocess.Popen:
    """Start `xxp-tui ARGS…` in the background (stdout and stderr to pipes unless given)."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen([xxp_executable(), *map(str, args)], cwd=cwd, env=env or clean_env(), text=True,
                            errors="replace", **kwargs)


def wait_until(condition: Callable[[], object], timeout: float = 60.0, what: str = "", every: float = 0.05):
    """Poll `condition` until it returns something truthy (returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what or condition}")
        time.sleep(every)


class Project:
    """A project folder: `tasks/<lib>/<name>/{task.xxp, script}` plus spec files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "kb.sqlite"

    def task(self, ref: str, signature: str, script_name: str | None = None, script: str | None = None) -> Path:
        """`ref` like "t.sleep" -> tasks/t/sleep/; the signature is the task.xxp text."""
        folder = self.root / "tasks" / Path(*ref.split("."))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "task.xxp").write_text(textwrap.dedent(signature))
        if script_name is not None and script is not None:
            (folder / script_name).write_text(textwrap.dedent(script))
        return folder

    def spec(self, text: str, name: str = "e.xxp") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return path

    def kb(self, db: Path | None = None):
        return open_kb(db or self.db, create=False)

    def latest_run(self, db: Path | None = None) -> kbr.Run:
        with self.kb(db) as kb:
            return kbr.get_run(kb, kbr.resolve_run(kb, "latest"))

    def variants(self, run_id: int | None = None, db: Path | None = None) -> list[kbv.Variant]:
        with self.kb(db) as kb:
            rid = run_id if run_id is not None else kbr.resolve_run(kb, "latest")
            return kbv.for_run(kb, rid)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)


@pytest.fixture
def live(tmp_path: Path):
    """Start live runs of a spec text (each in its own project folder); every one is stopped after the test."""
    from tests.engine.live import LiveRun

    runs: list[LiveRun] = []

    def start(spec: str, workers: int = 1) -> LiveRun:
        root = tmp_path / f"p{len(runs)}"
        root.mkdir()
        run = LiveRun(root, spec, workers=workers)
        runs.append(run)
        return run.start()

    yield start
    for run in runs:
        run.stop()
