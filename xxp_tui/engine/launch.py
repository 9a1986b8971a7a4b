"""Starting runs: create the run record from a spec, then drive an engine in the foreground
(headless) or as a detached background process (so a dropped SSH session kills only the viewer)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from xxp_tui.engine.taskspec import private_state_dir, run_folder
from xxp_tui.kb import open_kb
from xxp_tui.kb import runs as kbr
from xxp_tui.lang.loader import LoadResult
from xxp_tui.lang.summary import project_summary
from xxp_tui.project import root_for_spec


@dataclass(frozen=True)
class NewRun:
    db: Path
    run_id: int
    experiment: str


def project_dir_for(spec: Path) -> Path:
    """The project root (see xxp_tui.project): the engine's working folder and the git state recorded."""
    return root_for_spec(spec)


def create_run(result: LoadResult, experiment: str, db: Path, *, workers: int, seed: int,
               settings: dict | None = None, executor: str = "local", scheduler: str | None = None,
               spec_text: str | None = None) -> NewRun:
    """Record a new run of `experiment` with the full text of every spec file it uses. `spec_text`:
    the entry spec's text when it is not the file's (a rerun runs the version its variant ran under)."""
    project = result.project
    if project is None:
        raise ValueError("create_run needs a spec that loaded")
    spec_files = {str(p): p.read_text(encoding="utf-8", errors="replace") for p in project.files}
    with open_kb(db) as kb:
        run_id = kbr.create_run(
            kb, experiment=experiment, spec_path=str(project.entry), project_dir=str(project_dir_for(project.entry)),
            spec_hash=project.spec_hash,
            spec_text=spec_text if spec_text is not None else project.entry.read_text(encoding="utf-8",
                                                                                       errors="replace"),
            spec_files=spec_files, model=project_summary(project), settings=settings or {}, workers=workers,
            seed=seed, executor=executor, scheduler=scheduler,
        )
    return NewRun(db, run_id, experiment)


def engine_log_path(project_dir: Path, run_id: int, db: Path) -> Path:
    return run_folder(project_dir, run_id, db) / "engine.log"


def start_detached(db: Path, run_id: int, project_dir: Path, extra: list[str] | None = None) -> subprocess.Popen:
    """Start `python -m xxp_tui.engine` in its own session, logging to the run's engine.log."""
    private_state_dir(db)
    log = engine_log_path(project_dir, run_id, db)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "xxp_tui.engine", "--db", str(db), "--run", str(run_id), *(extra or [])],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=project_dir, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def wait_for_engine(db: Path, run_id: int, proc: subprocess.Popen, timeout: float = 20.0) -> str | None:
    """None once the engine beats; otherwise why it did not start (it exited, or took too long)."""
    deadline = time.monotonic() + timeout
    with open_kb(db, create=False) as kb:
        while time.monotonic() < deadline:
            if kbr.liveness(kb, run_id).alive:
                return None
            if proc.poll() is not None:
                run = kbr.get_run(kb, run_id)
                return run.reason or f"the engine exited with code {proc.returncode}"
            time.sleep(0.05)
    return "the engine did not start within 20 s"
