"""Resume without redoing: what a dead engine's tasks became, found from their records.

A local task is started by its engine's supervisor, which outlives the engine (see
executors/supervisor.py). When an engine starts on a run whose last engine died, each task run the
KB still calls `running` is one of:

- **ended**: its exit record (`exit.json`) is there: it is *collected* like any task that ends;
- **alive**: its process still runs (same pid and start time), or its supervisor still does (it is
  writing the record): it is *adopted*, watched until its record appears;
- **lost**: neither (the machine rebooted, the supervisor was killed, the engine died before the
  task started, or a Dask task whose client went away), or its record says its own engine stopped
  it (an interrupt the KB could not record, such as a full disk): it is killed if anything of it is
  left, recorded `interrupted` and its variant re-queued, as before adoption existed.

Only tasks of variants that are still running can be adopted: a task of a variant pruned or
cancelled before the crash is one to kill.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from xxp_tui.engine.executors.records import exit_record, proc_record
from xxp_tui.engine.taskspec import TaskSpec
from xxp_tui.kb import variants as kbv
from xxp_tui.lang.model import Task

ADOPTABLE_VARIANTS = ("running", "waiting_input", "suspended")
# Why an engine stops its own tasks when it interrupts the run (Ctrl-C, a full disk) or shuts down:
# such a task did not end by itself, so its record is no outcome to collect.
ENGINE_STOPS = ("interrupted", "the engine stopped")


@dataclass(frozen=True)
class Survivor:
    task_run: kbv.TaskRun
    pid: int | None
    proc_start: float | None
    supervisor: int | None
    ended: bool  # its exit record is already there


def survey(task_runs: list[kbv.TaskRun], variant_status: dict[int, str], here: str,
           can_adopt: bool) -> tuple[dict[int, list[Survivor]], list[kbv.TaskRun]]:
    """Survivors by variant, and the task runs that are lost."""
    survivors: dict[int, list[Survivor]] = {}
    lost: list[kbv.TaskRun] = []
    for tr in task_runs:
        found = None
        if can_adopt and tr.cwd and tr.host in (here, None, "") and \
                variant_status.get(tr.variant_id) in ADOPTABLE_VARIANTS:
            found = _survivor(tr)
        if found is None:
            lost.append(tr)
        else:
            survivors.setdefault(tr.variant_id, []).append(found)
    return survivors, lost


def _survivor(tr: kbv.TaskRun) -> Survivor | None:
    if tr.cwd is None:  # recorded before its folder existed: nothing of it can be running
        return None
    record = proc_record(tr.cwd) or {}
    pid = tr.pid if tr.pid is not None else _int(record.get("pid"))
    proc_start = tr.proc_start if tr.pid is not None else _start_time(pid, record.get("started"))
    supervisor = _int(record.get("supervisor"))
    ended = exit_record(tr.cwd)
    if ended is not None:
        if str(ended.get("reason") or "").startswith(ENGINE_STOPS):
            return None  # its own engine stopped it (an interrupt the KB could not record): it runs again
        if ended.get("no_space") is True:
            return None  # stopped because the disk was full, not by itself (executors/logs.py): it runs again
        return Survivor(tr, pid, proc_start, supervisor, ended=True)
    if not record:
        return None  # the supervisor never started it: nothing ran
    if _alive(pid, proc_start) or _is_supervisor(supervisor):
        return Survivor(tr, pid, proc_start, supervisor, ended=False)
    return None


def rebuild_spec(tr: kbv.TaskRun, run_id: int, task: Task) -> TaskSpec:
    """The TaskSpec of a task an earlier engine started, from its task run alone: `prepare` would
    rewrite its params and empty its metrics file, which the running task is using."""
    cwd = Path(tr.cwd or ".")
    return TaskSpec(
        key=f"v{tr.variant_id}:{tr.task}:{tr.attempt}", run_id=run_id, variant_id=tr.variant_id, task=tr.task,
        attempt=tr.attempt, argv=list(tr.argv), cwd=cwd, env={"XXP_PARAMS": str(cwd / "params.json")},
        timeout=task.timeout, stdout_path=Path(tr.stdout_path or cwd / "stdout.log"),
        stderr_path=Path(tr.stderr_path or cwd / "stderr.log"), metrics_path=cwd / "metrics.jsonl",
        output_dir=cwd / "out", outputs=dict(tr.outputs), resources=dict(task.resources),
    )


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _start_time(pid: int | None, started) -> float | None:
    """The process start time of `pid` if it started when the supervisor said it did (else None:
    the pid was reused, or the process is gone)."""
    if pid is None or not isinstance(started, int | float):
        return None
    try:
        created = psutil.Process(pid).create_time()
    except psutil.Error:
        return None
    return created if abs(created - started) <= 2.0 else None


def _alive(pid: int | None, proc_start: float | None) -> bool:
    if pid is None or proc_start is None:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and abs(proc.create_time() - proc_start) <= 1.0
    except psutil.Error:
        return False


def _is_supervisor(pid: int | None) -> bool:
    """A supervisor process still runs under that pid: it will write the task's exit record."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and "xxp_tui.engine.executors.supervisor" in proc.cmdline()
    except psutil.Error:
        return False
