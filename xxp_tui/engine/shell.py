"""The engine's shell (class `Engine`): the single writer of a run's state.

It is the I/O half of the engine: it owns the processes (through the executor), the KB writes and
the clock. The rules that decide (which variant starts next, what a task's end means, retries,
the failure policy, when a node or the run is over, which nodes follow) are the pure core in
`engine/core/`: the shell feeds it facts and events and carries out its answers.

One thread runs one loop. Each turn it takes executor events (a task ended, metric lines), applies
steering commands from the KB, enforces timeouts, starts what may start, writes buffered metrics
and beats the heartbeat. It never blocks on a task or a command.

Crash safety comes from ordering: every fact is written to the KB before the engine acts on it
(a variant is recorded as queued before it runs; a task run is recorded before its process starts;
a variant's completion is one transaction), and everything in memory is rebuilt from the KB when
an engine starts, so a resumed run continues exactly where a killed one stopped: tasks that ran
on under their supervisor are adopted or collected (adoption.py), interrupted variants are
re-queued (keeping their finished tasks), budgets are totals counted in the KB, and Optuna studies
are rebuilt from finished variants.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from xxp_tui.engine import cache, environment, usercode, warmstart
from xxp_tui.engine import conditions as conds
from xxp_tui.engine import gpus as gpu_setting
from xxp_tui.engine.alerts import Alerts
from xxp_tui.engine.amending import Amending
from xxp_tui.engine.core import machine, outcomes, planning
from xxp_tui.engine.core.control_flow import ACTIVE, PENDING, ControlFlow, NodeRun
from xxp_tui.engine.core.events import (
    Action,
    FailTask,
    MarkDone,
    MarkSkipped,
    RecordTaskEnd,
    RetryTask,
    StopRun,
    TaskEnded,
    TaskFailed,
    VariantFailed,
)
from xxp_tui.engine.core.planning import NodeProgress, RunPosition
from xxp_tui.engine.core.policy import FailurePolicy
from xxp_tui.engine.core.queue import VariantQueue, below_limit
from xxp_tui.engine.cost import task_cost
from xxp_tui.engine.events import EngineEvent, short
from xxp_tui.engine.executors import ExecutorError, Finished, Handle, MetricEvent, Started, fork_client, make_executor
from xxp_tui.engine.executors.local import kill_leftover
from xxp_tui.engine.executors.logs import NO_SPACE
from xxp_tui.engine.faults import crash_point
from xxp_tui.engine.gpu_pool import CUDA, TaskPool
from xxp_tui.engine.hashing import describe_path
from xxp_tui.engine.holding import Holding
from xxp_tui.engine.steering import Steering
from xxp_tui.engine.strategies import (
    LazyGrid,
    OptunaSearch,
    StrategyError,
    configurations,
    derive_seed,
    to_params,
)
from xxp_tui.engine.taskenv import EnvBuilt, EnvPlan, TaskEnvError, TaskEnvs
from xxp_tui.engine.taskspec import (
    PrepareError,
    TaskSpec,
    data_path,
    materialize,
    prepare,
    private_state_dir,
    run_folder,
)
from xxp_tui.engine.transferring import Transferring
from xxp_tui.engine.variant_exec import BLOCKED, DONE, FAILED, RUNNING, SKIPPED, WAITING, VariantExec
from xxp_tui.engine.variant_exec import PENDING as TASK_PENDING
from xxp_tui.extremexp import results as xresults
from xxp_tui.kb import KB, open_kb
from xxp_tui.kb import cache as kbcache
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import knowledge as kbknow
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import DatabaseError, storage_failure
from xxp_tui.lang.loader import LoadResult
from xxp_tui.lang.model import Experiment, ExpTask, Project, Space, Workflow, frozen_map

if TYPE_CHECKING:
    from xxp_tui.engine import adoption

ENGINE = "engine"
METRIC_FLUSH_EVERY = 0.25
COMMAND_POLL_EVERY = 0.05
SCHEDULE_BUDGET = 0.05  # seconds of starting (cache hits) per turn
GRID_AHEAD = 1000  # queued variants of a grid space recorded ahead of time
METRIC_BATCH = 50_000  # metric rows written per transaction when a finished task's file is read
STORAGE_RESERVE = 256 * 1024  # bytes kept beside the KB for the write that says its disk is full


class EngineError(Exception):
    """The run cannot start or continue; the message says why."""


class EngineBusy(EngineError):
    """Another engine already drives this run (which is then left as it is)."""


def record_start_failure(db_path: Path, run_id: int, reason: str) -> None:
    """An engine could not start: a new run has failed; a run that had started before (a resume
    while its Dask scheduler is down, say) stays resumable, with the reason."""
    with open_kb(db_path, create=False) as kb:
        run = kbr.get_run(kb, run_id)
        if run.status == "starting":
            kbr.set_status(kb, run_id, "failed", reason)
        elif not run.finished:
            kbr.set_status(kb, run_id, "interrupted", f"could not resume: {reason}")


def record_engine_defect(db_path: Path, run_id: int, exc: BaseException) -> str:
    """The engine's loop raised (a defect of ours, or a module a strategy needs is missing): the run
    becomes `interrupted` with the reason and its running variants queued again, so nothing shows
    as running under a dead engine and `resume` continues it. Returns the sentence recorded."""
    reason = f"engine error: {type(exc).__name__}: {exc}; resume to continue"
    with open_kb(db_path, create=False) as kb, kb.write():
        kbr.set_status(kb, run_id, "interrupted", reason)
        for v in kbv.for_run(kb, run_id, status="running"):
            kbv.update(kb, v.id, status="queued", reason="interrupted by an engine error; re-queued on resume")
    return reason


@dataclass
class Running:
    vexec: VariantExec
    task: str
    task_run_id: int
    handle: Handle
    spec: TaskSpec
    cache_key: str | None = None


class Engine(Steering, Amending, Holding, Transferring):
    """The single writer of one run (steering commands: see steering.py; holding a variant: holding.py)."""

    def __init__(
        self, db_path: Path, run_id: int, *, on_event: Callable[[EngineEvent], None] | None = None,
        tick: float = 0.05, max_log_bytes: int | None = None, allow_changed_spec: bool = False,
        loaded: LoadResult | None = None,
    ) -> None:
        self.db_path = Path(db_path)
        self.loaded = loaded  # the spec as the command that created the run just loaded it (see _load_version)
        self.run_id = run_id
        self.kb: KB = open_kb(self.db_path, create=False)
        self.db_inode = os.stat(self.db_path).st_ino  # the file this engine writes (see _kb_damage)
        self.on_event = on_event
        self.tick_s = tick
        self.events: queue.Queue = queue.Queue()
        run = kbr.get_run(self.kb, run_id)
        # The run chose its executor when it was created (`run --executor`); a Dask one connects in start().
        self.executor = make_executor(self.events, kind=run.executor, scheduler=run.scheduler,
                                      workers=max(1, run.workers), max_log_bytes=max_log_bytes, run_id=run_id)
        # Slots follow the cluster's live threads when `run --executor dask --scheduler …` had no --workers.
        self.auto_slots = run.executor == "dask" and run.settings.get("slots") == "cluster"
        self.max_log_bytes = max_log_bytes  # None: the run's own --max-log-mb (see load)
        self.allow_changed_spec = allow_changed_spec
        self.stop_request: str | None = None  # "interrupt" | "stop"
        self.stop_reason: str | None = None  # set when the failure policy stops the run
        self.interrupt_reason: str | None = None  # set when the executor itself is lost
        self.queued: VariantQueue[kbv.Variant] = VariantQueue()  # by priority, within each node's limit
        self.active: dict[int, VariantExec] = {}
        self.running: dict[str, Running] = {}
        self.blocked: dict[str, list[tuple[VariantExec, str]]] = {}  # cache key -> tasks waiting on it
        self.node_open: dict[str, set[int]] = {}
        self.searches: dict[str, OptunaSearch] = {}
        self.asked: dict[str, int] = {}
        self.grids: dict[str, LazyGrid] = {}  # grid spaces still handing out configurations
        self.waiting: dict[int, str] = {}  # waiting_input variant -> node (interactions)
        self.holds: dict = {}  # suspended variant -> Hold (holding.py)
        self.held_time: dict[str, float] = {}
        self.gpu_pool: TaskPool | None = None  # the local executor's GPUs, cores and memory (gpu_pool.py)
        self.alerts: Alerts | None = None  # stalls and notifications (alerts.py), from the run's settings
        self.metric_buffer: list[tuple] = []
        self.intermediate: dict[int, dict[int, float]] = {}
        self.last_flush = self.last_beat = self.last_commands = 0.0
        self.schedule_more = False  # the last _schedule ran out of time with work left
        self.schedule_until = 0.0
        self.status: str | None = None
        self.started = time.time()
        self.hashes = cache.FileHashes(progress=self._beat_if_due)
        self.snapshots: dict[tuple[str, int], str] = {}  # (node, round) -> results its tasks may read
        self.packages = environment.installed_packages()
        self.env_signature = cache.environment_signature(environment.packages_hash(self.packages))
        self._lock_fd: int | None = None  # see _lock_run
        self._lock_path: Path | None = None

    # ------------------------------------------------------------------ events out

    def emit(self, kind: str, text: str, variant: int | None = None, status: str | None = None,
             log: bool = True, detail: dict | None = None) -> None:
        if log:
            kbc.log_event(self.kb, self.run_id, ENGINE, kind, f"v{variant}" if variant else None,
                          {"text": text, "status": status, **(detail or {})})
        if self.on_event is not None:
            self.on_event(EngineEvent(time.time(), kind, text, variant, status))
        if self.alerts is not None:
            self.alerts.on_emit(kind, text, variant, status)

    # ------------------------------------------------------------------ start-up

    def load(self) -> None:
        run = kbr.get_run(self.kb, self.run_id)
        if run.finished:
            raise EngineError(f"run r{run.id} is already {run.status}; start a new run instead")
        result, self.disk_amendment = self._load_version(run)  # the run's latest spec version (amending.py)
        if not result.ok or result.project is None:
            first = result.errors[0].render() if result.errors else "it cannot be read"
            raise EngineError(f"the spec {run.spec_path} is not valid any more: {first}")
        self.run = run
        self.alerts = Alerts(self, run.settings)
        self.project: Project = result.project
        if run.experiment not in self.project.experiments:
            raise EngineError(f"experiment {run.experiment} is not in {run.spec_path} any more")
        self.exp: Experiment = self.project.experiments[run.experiment]
        if any(sp.is_optuna for sp in self.exp.spaces.values()):
            import optuna  # noqa: F401 - imported now, not inside the write transaction that starts a space
        self.spec_dir = self.project.entry.parent
        self.project_dir = Path(run.project_dir)
        private_state_dir(self.db_path)
        self.run_dir = run_folder(self.project_dir, self.run_id, self.db_path)
        self.workers = max(1, run.workers)
        self.paused = run.paused
        self.seed = run.seed or 0
        self.no_cache = bool(run.settings.get("no_cache"))
        self.task_envs = TaskEnvs(self.events.put, enabled=not run.settings.get("no_task_envs"),
                                  strict=bool(run.settings.get("strict_task_envs")))
        if self.max_log_bytes is None and run.settings.get("max_log_mb"):  # resumed or detached engines
            self.executor.max_log_bytes = int(run.settings["max_log_mb"]) * 2**20
        fork_client.configure(self.executor, run.settings)  # warm Python tasks unless --no-fork-server
        self.conditions = conds.Conditions(self.project.conditions_module)
        states = {
            name: NodeRun.from_json(n.status, n.iteration, n.fired)
            for name, n in kbr.nodes(self.kb, self.run_id).items()
        }
        self.flow = ControlFlow(self.exp, states)
        self.saved_flow = {name: node.to_json() for name, node in self.flow.nodes.items()}  # as in the KB

    def start(self) -> None:
        self._lock_run()
        self.load()
        self._connect_executor()
        self._beat()
        fresh = self.run.status == "starting"
        self._open_gpu_pool(fresh)
        if fresh and self.rerun_of is not None:
            self._rerun_source(self.rerun_of)  # refuse before anything is recorded as started
        if fresh:
            kbr.record_environment(self.kb, self.run_id, environment.capture(self.project_dir, self.packages))
            if self.rerun_of is not None:
                with self.kb.write():
                    self._record_nodes()
                    self._set_status("running")
                self._start_rerun(self.rerun_of)
                return
            # "running" and the first nodes' variants commit together: a run never looks started
            # with nothing started (a resume would then find no node to continue and end it).
            try:
                self._first_step(started=True)
            except usercode.HookInterrupted:
                self.stop_request = "interrupt"  # run_loop leaves the run resumable
        else:
            try:
                self._reconcile()
            except usercode.HookInterrupted:
                self.stop_request = "interrupt"
            self._submit_disk_amendment(self.disk_amendment)  # applied like `amend`, by the command loop

    def _first_step(self, started: bool) -> None:
        step = self.flow.start()
        crash_point("start", "before")
        with self.kb.write():
            self._record_nodes()
            self._set_status("running")
            if started:
                self.emit("run", f"run r{self.run_id} started: experiment {self.exp.name}, "
                                 f"{self.workers} worker(s)")
            self._apply_step(None, step)
        crash_point("start", "after")

    def _open_gpu_pool(self, fresh: bool) -> None:
        """The local executor's pool, from the run's --gpus (Dask workers keep their own resources). A run
        whose task could never fit it is refused now, not left waiting (a resumed one stays resumable, for
        when the GPUs are back); the choice is one event line."""
        if self.run.executor != "local":
            return
        try:
            pool = TaskPool(gpu_setting.choose(self.run.settings.get("gpus")))
        except gpu_setting.GpuError as exc:
            raise EngineError(str(exc)) from None
        why = pool.refusal((node, name, task) for node in self.exp.nodes
                           if node in self.exp.spaces or node in self.exp.tasks
                           for name, task in self._workflow_for(node)[0].tasks.items())
        if why:
            raise EngineError(f"{why}; nothing was run" if fresh else why)
        self.gpu_pool = pool
        kbr.update_settings(self.kb, self.run_id, gpu_pool=pool.ids)  # the viewer shows them busy or free
        self.emit("run", pool.note)

    def _record_nodes(self) -> None:
        for name in self.exp.nodes:
            kbr.upsert_node(self.kb, self.run_id, name, kind=self.exp.node_kind(name), status=PENDING)

    def _connect_executor(self) -> None:
        connect = getattr(self.executor, "connect", None)
        if connect is None:
            return
        try:
            connect()
        except ExecutorError as exc:
            raise EngineError(str(exc)) from None
        where = self.executor.address
        if not self.executor.scheduler:
            where = f"a local cluster at {where}"
        live = self.executor.live_workers()
        self._follow_cluster()
        self.emit("run", f"executor dask: {where}, {live} live worker(s)")

    def _follow_cluster(self) -> None:
        """Auto slots: as many tasks at once as the cluster has live worker threads (at least one)."""
        if not self.auto_slots:
            return
        slots = max(1, self.executor.slots() or 0)
        if slots != self.workers:
            self.workers = slots
            kbr.set_workers(self.kb, self.run_id, slots)

    def _beat_if_due(self) -> None:
        """From long work on the engine's thread (hashing a large dataset): still alive."""
        now = time.time()
        if now - self.last_beat >= kbr.HEARTBEAT_EVERY:
            self.last_beat = now
            self._beat()

    def _beat(self) -> None:
        kbr.beat(self.kb, self.run_id, os.getpid(), self.started, _proc_start(),
                 live_workers=self.executor.live_workers())

    @property
    def rerun_of(self) -> int | None:
        """A rerun is a run of one variant: the recorded params and seed of an earlier one."""
        return self.run.settings.get("rerun_of")

    def _rerun_source(self, source_id: int) -> kbv.Variant:
        source = kbv.find(self.kb, source_id)
        if source is None:
            raise EngineError(f"no variant v{source_id} to rerun")
        if source.space not in self.exp.spaces and source.space not in self.exp.tasks:
            raise EngineError(f"v{source_id} belongs to {source.space}, which {self.exp.name} no longer has")
        if self.exp.node_kind(source.space) == "interaction":
            raise EngineError(f"v{source_id} is the answer to the interaction {source.space}; there is nothing to run")
        return source

    def _start_rerun(self, source_id: int) -> None:
        source = self._rerun_source(source_id)
        with self.kb.write():
            kbr.upsert_node(self.kb, self.run_id, source.space, status="running", iteration=1, started=time.time(),
                            total=1)
            (vid,) = kbv.insert(self.kb, self.run_id, [kbv.NewVariant(
                space=source.space, params=source.params, config=source.config, seed=source.seed,
                origin="rerun", iteration=1, source_variant=source.id)])
        self.node_open[source.space] = {vid}
        self._enqueue(kbv.get(self.kb, vid))
        self.emit("node", f"rerun of v{source_id} ({source.space}) as v{vid}")

    def _reconcile(self) -> None:
        """Continue a run whose engine stopped or died: nothing finished is redone, and tasks that
        ran on without an engine are adopted or collected (adoption.py), not run again."""
        survivors, killed = self._survey_tasks()
        requeued = 0
        for v in kbv.for_run(self.kb, self.run_id, status="running"):
            kbv.update(self.kb, v.id, status="queued", reason="interrupted; re-queued on resume")
            requeued += v.id not in survivors
        self._set_status("running")
        ended = sum(s.ended for found in survivors.values() for s in found)
        running = sum(not s.ended for found in survivors.values() for s in found)
        self.emit("run", f"run r{self.run_id} resumed: {requeued} interrupted variant(s) re-queued"
                  + (f", {running} running task(s) adopted" if running else "")
                  + (f", {ended} task(s) that ended meanwhile collected" if ended else "")
                  + (f", {killed} leftover process group(s) killed" if killed else ""))
        if self.rerun_of is not None:
            for v in kbv.for_run(self.kb, self.run_id, status="queued"):
                self._enqueue(v)
        elif all(n.status == PENDING and not n.iteration for n in self.flow.nodes.values()):
            self._first_step(started=False)  # stopped before its first step was written
        else:
            for name in self.flow.active:
                node = kbr.nodes(self.kb, self.run_id).get(name)
                self._restore_node(name, node.iteration if node else 1)
        self._adopt_survivors(survivors)
        self._settle_stopped_tasks()

    def _survey_tasks(self) -> tuple[dict[int, list[adoption.Survivor]], int]:
        """The task runs a dead engine left `running`: survivors by variant; the others (lost) are
        killed if anything of them is left and recorded as interrupted. Also: how many were killed."""
        from xxp_tui.engine import adoption  # psutil and the records: only a resumed run adopts (~20 ms of start)

        here = socket.gethostname()
        status = {v.id: v.status for v in kbv.for_run(self.kb, self.run_id)}
        survivors, lost = adoption.survey(kbv.task_runs_in_state(self.kb, self.run_id, "running"), status, here,
                                          can_adopt=hasattr(self.executor, "adopt"))
        killed = 0
        for tr in lost:
            # Only processes of this machine can be found here; a Dask worker elsewhere killed its
            # task itself when the dead engine's client went away.
            if tr.host in (here, None, ""):
                killed += kill_leftover(tr.pid, tr.pgid, tr.proc_start, tr.cwd)
            kbv.update_task_run(self.kb, tr.id, status="interrupted", ended=time.time(),
                                reason="the engine stopped while it ran")
        return survivors, killed

    def _adopt_survivors(self, survivors: dict[int, list[adoption.Survivor]]) -> None:
        """Start the survivors' variants again at once (their tasks hold slots already) and watch
        their tasks instead of starting them."""
        for vid, found in survivors.items():
            v = self._dequeue(vid) or self._adoptable_hold(vid)
            vexec = self._start_variant(v) if v is not None else None
            for s in found:
                task = vexec.workflow.tasks.get(s.task_run.task) if vexec is not None else None
                if vexec is None or task is None:  # its variant or task is not part of the run's position any more
                    kill_leftover(s.pid, s.pid, s.proc_start, s.task_run.cwd)
                    kbv.update_task_run(self.kb, s.task_run.id, status="interrupted", ended=time.time(),
                                        reason="the engine stopped while it ran")
                    continue
                self._adopt_task(vexec, s, task)

    def _adopt_task(self, vexec: VariantExec, s: adoption.Survivor, task) -> None:
        from xxp_tui.engine import adoption

        tr = s.task_run
        spec = adoption.rebuild_spec(tr, self.run_id, task)
        kbv.delete_task_metrics(self.kb, vexec.id, tr.task, tr.started or 0.0)  # the file is read again
        handle = self.executor.adopt(spec, pid=s.pid, proc_start=s.proc_start, started=tr.started or time.time(),
                                     supervisor=s.supervisor)
        if tr.pid is None and s.pid is not None:
            kbv.update_task_run(self.kb, tr.id, pid=s.pid, pgid=s.pid, proc_start=s.proc_start)
        vexec.attempts[tr.task] = max(vexec.attempts[tr.task], tr.attempt)
        vexec.state[tr.task] = RUNNING
        vexec.handles[tr.task] = spec.key
        self.running[spec.key] = Running(vexec, tr.task, tr.id, handle, spec, tr.cache_key)
        if self.gpu_pool is not None:  # its GPUs stay its own, and are freed when it ends
            self.gpu_pool.readopt((vexec.id, tr.task), task, tr.gpus)
        self.emit("task", f"v{vexec.id} {tr.task} " + ("ended while no engine ran: collected" if s.ended
                                                        else "still running: adopted"), vexec.id, log=False)

    def _restore_node(self, name: str, iteration: int) -> None:
        kind = self.exp.node_kind(name)
        mine = [v for v in kbv.for_run(self.kb, self.run_id, space=name) if v.iteration == iteration]
        position = planning.resume_node(kind, mine)
        by_id = {v.id: v for v in mine}
        self.node_open[name] = set(position.open)
        if kind == "space" and LazyGrid.applies(self.exp.spaces[name]):
            with contextlib.suppress(StrategyError):  # it started, so it is within the limit
                self.grids[name] = self._grid_for_restore(name, mine)
        if kind == "space":
            space = self.exp.spaces[name]
            if space.is_optuna:
                search = OptunaSearch(space, derive_seed(space.seed if space.seed is not None else self.seed,
                                                         name, iteration))
                self._restore_box(name, search)
                for vid in position.told:
                    v = by_id[vid]
                    self._tell(search, v, v.status, self._objective_values(space, v.id))
                self.searches[name] = search
                self.asked[name] = position.asked
        for vid in position.waiting:
            self.waiting[vid] = name
        for vid in position.enqueue:
            v = by_id[vid]
            self._enqueue(v if v.status == "queued" else kbv.get(self.kb, v.id))
        for v in mine:
            if v.status == "suspended":
                self._restore_hold(v)
        self._maybe_finish_node(name)

    # ------------------------------------------------------------------ main loop

    def run_loop(self) -> str:
        """Run until the experiment ends, is stopped or interrupted; returns the run's status."""
        try:
            self._schedule()  # start at once: the first turn would otherwise wait a tick for events
            while True:  # asked before each turn: a run its cache answered whole ends without one tick's wait
                if self.stop_request == "interrupt":
                    return self._interrupt()
                if self._finished():
                    return self._conclude()
                self._turn()
        except usercode.HookInterrupted:  # asked to stop while a project hook ran: nothing was decided
            self.stop_request = "interrupt"
            return self._interrupt()
        except DatabaseError as exc:
            if not storage_failure(exc):
                raise
            return self._storage_failed(exc)
        finally:
            self.executor.shutdown("the engine stopped")
            with contextlib.suppress(DatabaseError):  # the KB may be what failed
                self._flush_metrics()
                kbr.clear_heartbeat(self.kb, self.run_id, os.getpid())
            if self.alerts is not None:
                self.alerts.close(self.status)

    def _storage_failed(self, exc: DatabaseError) -> str:
        """The KB's disk is full (or failing): nothing more can be recorded, so nothing more may
        happen. Running tasks are stopped (by run_loop's shutdown) and the run is left resumable:
        as `interrupted` with the reason (written in the space the engine kept for it), or, if even
        that fails, as it stands (an engine without a heartbeat, which `resume` continues).
        Whatever finished before is in the KB."""
        self.metric_buffer.clear()  # they cannot be written; the tasks that made them re-run
        what = ("the disk under the knowledge base is full" if storage_failure(exc) == "full"
                else f"the knowledge base could not be written ({exc})")
        reason = f"{what} ({self.db_path}); free space, then: xxp-tui resume r{self.run_id}"
        self.stop_request = "interrupt"
        self.interrupt_reason = reason
        with contextlib.suppress(DatabaseError):
            self.kb.abandon_transaction()
        for r in list(self.running.values()):
            self.executor.cancel(r.handle, "interrupted: the knowledge base cannot be written")
        if self._lock_fd is not None:  # give back the space kept for this write
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
        recorded = False
        with contextlib.suppress(DatabaseError):
            kbr.set_status(self.kb, self.run_id, "interrupted", reason)
            recorded = True
        self.status = "interrupted"
        note = "" if recorded else " (the KB still says running: it could not even record that)"
        self.emit("run", f"run r{self.run_id} interrupted: {reason}{note}", log=False)
        return "interrupted"

    def _turn(self) -> None:
        try:
            self._on(self.events.get(timeout=0 if self.schedule_more else self.tick_s))
            while True:
                self._on(self.events.get_nowait())
        except queue.Empty:
            pass
        for m in self.executor.tick():
            self._on(m)
        now = time.time()
        self._check_timeouts(now)
        if self.alerts is not None:
            self.alerts.turn(now)
        if now - self.last_commands >= COMMAND_POLL_EVERY:
            self.last_commands = now
            self._apply_commands()
        self._schedule()
        if now - self.last_flush >= METRIC_FLUSH_EVERY:
            self._flush_metrics()
        if now - self.last_beat >= kbr.HEARTBEAT_EVERY:
            self.last_beat = now
            self._follow_cluster()
            self._beat()
        self._refresh_status()

    def _on(self, event: object) -> None:
        if isinstance(event, Finished):
            self._on_finished(event)
        elif isinstance(event, MetricEvent):
            self._on_metric(event)
        elif isinstance(event, Started):
            self._on_started(event)
        elif isinstance(event, EnvBuilt):
            self._env_built(event)

    def _finished(self) -> bool:
        return planning.run_over(RunPosition(
            running_tasks=len(self.running), active_variants=len(self.active), queued_variants=len(self.queued),
            waiting_variants=len(self.waiting), held_variants=len(self.holds), graph_finished=self.flow.finished,
            stopping=self.stop_request == "stop", rerun=self.rerun_of is not None))

    # ------------------------------------------------------------------ nodes

    def _apply_step(self, finished: str | None, step) -> None:
        for note in step.notes:
            self.emit("condition", note)
        for name in step.skipped:
            later = self.flow.may_be_reached_later(name)
            kbr.upsert_node(self.kb, self.run_id, name, status="skipped", ended=time.time(),
                            reason="not reached: no incoming edge fired" + (" in this round" if later else ""),
                            fired=self.flow.nodes[name].to_json())
            if later:  # a later round of the loop feeding it may still start it: do not announce a skip
                self.emit("node", f"{name} not reached in this round (a later round of the loop may reach it)")
            else:
                self.emit("node", f"{name} skipped (no incoming edge fired)")
        if finished is not None:
            kbr.upsert_node(self.kb, self.run_id, finished, fired=self.flow.nodes[finished].to_json())
        self._save_flow()
        for name in step.start:
            self._activate(name)

    def _save_flow(self) -> None:
        """Write the control state of every node that changed since it was last written, in the
        caller's transaction. A step changes more than the nodes it starts or skips: a join
        records which of its branches fired while it still waits for the others, and that must
        outlive the engine, or a resumed join waits forever for a branch that already came."""
        for name, node in self.flow.nodes.items():
            state = node.to_json()
            if self.saved_flow.get(name) != state:
                kbr.upsert_node(self.kb, self.run_id, name, fired=state)
                self.saved_flow[name] = state

    def _activate(self, name: str) -> None:
        node = self.flow.nodes[name]
        kind = self.exp.node_kind(name)
        iteration = node.iteration
        new: list[kbv.NewVariant] = []
        total: int | None = None
        reason = None
        if kind == "space":
            space = self.exp.spaces[name]
            seed = space.seed if space.seed is not None else self.seed
            if space.is_optuna:
                try:
                    self.searches[name] = OptunaSearch(space, derive_seed(seed, name, iteration))
                except StrategyError as exc:
                    reason = str(exc)
                self.asked[name] = 0
                total = space.runs
            elif LazyGrid.applies(space):
                try:
                    self.grids[name] = LazyGrid(space)
                    total = self.grids[name].size
                except StrategyError as exc:
                    reason = str(exc)
            else:
                try:
                    configs = self._configurations(space, derive_seed(seed, name, iteration))
                except (StrategyError, usercode.HookError) as exc:
                    configs, reason = [], str(exc)
                new = [kbv.NewVariant(space=name, params=to_params(space, c), config=c, seed=seed,
                                      iteration=iteration) for c in configs]
                total = len(new)
        else:
            total = 1
            task = self.exp.tasks[name]
            status = "waiting_input" if kind == "interaction" else "queued"
            new = [kbv.NewVariant(space=name, params={}, config={}, seed=self.seed, origin="node",
                                  iteration=iteration, status=status,
                                  reason=task.prompt if kind == "interaction" else None)]
        with self.kb.write():
            kbr.upsert_node(self.kb, self.run_id, name, kind=kind, status="running" if reason is None else "failed",
                            iteration=iteration, started=time.time(), ended=None, total=total, reason=reason,
                            fired=node.to_json())
            ids = kbv.insert(self.kb, self.run_id, new)
            if name in self.grids and reason is None:
                ids += self._grid_batch(name)
        self.node_open[name] = set(ids)
        for vid in ids:
            v = kbv.get(self.kb, vid)
            if v.status == "waiting_input":
                self.waiting[vid] = name
            else:
                self._enqueue(v)
        if reason is not None:
            self.emit("node", f"{name} failed: {reason}", status="failed")
            self._finish_node(name, failed=True)
            return
        what = (f"{total} variant(s)" if kind == "space" and not self.exp.spaces[name].is_optuna
                else f"budget {total}" if kind == "space" else kind)
        round_note = f" (round {iteration})" if iteration > 1 else ""
        self.emit("node", f"{name} started{round_note}: {what}")
        if name in self.searches:
            self._warm_start(name, iteration)
        if kind == "interaction":
            self.emit("input", f"{name} waits for you: {self.exp.tasks[name].prompt or 'answer it'} "
                               f"(xxp-tui answer r{self.run_id} {name} --set key=value)", variant=ids[0],
                      status="waiting_input")
        self._maybe_finish_node(name)

    def _grid_batch(self, name: str) -> list[int]:
        """Record the next configurations of a lazy grid as queued variants (up to GRID_AHEAD
        queued at once: enough to see and steer, never the whole grid); their ids."""
        grid = self.grids[name]
        want = GRID_AHEAD - self.queued.count(name)
        if want <= 0 or not grid.left:
            return []
        space = self.exp.spaces[name]
        seed = space.seed if space.seed is not None else self.seed
        iteration = self.flow.nodes[name].iteration
        return kbv.insert(self.kb, self.run_id, [
            kbv.NewVariant(space=name, params=to_params(space, c), config=c, seed=seed, iteration=iteration)
            for c in grid.take(want)])

    def _fill_grids(self) -> None:
        """Lazy grids whose queue runs low get their next batch."""
        for name, grid in self.grids.items():
            if grid.left and self.queued.count(name) < GRID_AHEAD // 2:
                with self.kb.write():
                    ids = self._grid_batch(name)
                self.node_open.setdefault(name, set()).update(ids)
                for vid in ids:
                    self._enqueue(kbv.get(self.kb, vid))

    def _configurations(self, space: Space, seed: int) -> list[dict]:
        """A space's configurations; with a filter or generator (project code) in a child process."""
        module = self.project.configurations_module
        if not (space.filter or space.generator):
            return configurations(space, seed, module)
        return usercode.call(configurations, space, seed, module, what=f"the filter/generator of {space.name}",
                             while_waiting=self._hook_wait)

    def _warm_start(self, name: str, iteration: int) -> None:
        """Tell the new space's sampler the compatible results of earlier runs (see warmstart.py);
        they join the table as `warm_start` variants and are not re-run."""
        space, search = self.exp.spaces[name], self.searches[name]
        mode = self.run.settings.get("warm_start") or space.warmstart
        if not mode or mode == "none":
            return
        only_run = kbr.parse_run_ref(mode) if mode != "auto" else None
        plan = self._transfer_plan(name) if mode == "auto" else None  # may narrow search.dists first
        workflow = self.project.workflows[space.workflow]
        signature = {t.name: cache.code_hash(t.signature, self.hashes) for t in workflow.tasks.values()}
        selection = warmstart.Selection()
        candidates = kbknow.code_signatures(self.kb, exclude_run=self.run_id, only_run=only_run)
        fixed = warmstart.expected_fixed(space, workflow)
        matching = []
        for vid, ran in candidates.items():
            if set(ran) != set(signature):
                continue  # another workflow altogether: not worth a mention
            if {task: code for task, (code, _) in ran.items()} != signature:
                selection.skip("different code")
            else:
                matching.append(vid)
        seen: set[tuple] = set()
        # In the order they ran: TPE weighs recent trials more, and the end of a search is its best part.
        for v in kbknow.variants_by_id(self.kb, matching):
            config, why = warmstart.project(space, search.dists, fixed, v.params)
            if config is not None and not warmstart.ran_as(workflow, space, config, candidates[v.id]):
                config, why = None, "other fixed params"
            values = self._objective_values(space, v.id) if config is not None else None
            if config is None:
                selection.skip(why)
            elif values is None:
                selection.skip("no objective")
            elif (point := tuple(sorted((k, str(x)) for k, x in config.items()))) in seen:
                selection.skip("duplicate")
            else:
                seen.add(point)
                selection.chosen[v.id] = config
                new_id = kbknow.add_warm_start(self.kb, self.run_id, name, iteration, v, config, values[0])
                note = search.tell(new_id, config, values, "complete", self._series(space, new_id))
                if note:
                    self.emit("warning", f"v{new_id}: {note}", new_id)
        source = f"r{only_run}" if only_run else "the knowledge base"
        self.emit("node", f"{name} warm start from {source}: {selection.describe()}")
        if plan is not None:
            self._transfer_starts(name, iteration, plan)

    def _series(self, space: Space, variant_id: int) -> dict[int, float]:
        """step -> value of the series the space's pruner watches, as recorded for a variant."""
        watch = space.pruned_metric
        if watch is None or space.pruner in (None, "none"):
            return {}
        return {m.step: m.value for m in kbv.metrics(self.kb, variant_id, watch.metric)
                if m.step is not None and m.value is not None and (watch.task is None or m.task == watch.task)}

    def _maybe_finish_node(self, name: str) -> None:
        if self.flow.nodes[name].status != ACTIVE:
            return
        progress = NodeProgress(
            open_variants=len(self.node_open.get(name, ())), asked=self.asked.get(name, 0),
            budget=(self.exp.spaces[name].runs or 0) if name in self.searches else None,
            grid_left=name in self.grids and bool(self.grids[name].left))
        if not planning.may_finish(progress, stopping=bool(self.stop_request)):
            return
        self.grids.pop(name, None)
        self._finish_node(name)

    def _finish_node(self, name: str, failed: bool = False) -> None:
        point = f"{name}#{self.flow.nodes[name].iteration}"
        decided = self._evaluate_conditions(name)
        step = self.flow.finish(name, lambda edge: decided[id(edge)], failed=failed)
        self.searches.pop(name, None)
        counts = self._node_counts(name)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        crash_point(point, "before")
        # One transaction: the node's end, the edges it fired, the nodes it starts or rules out
        # (and their variants), and the event that says so.
        with self.kb.write():
            self.emit("node", f"{name} finished" + (f": {summary}" if summary else ""))
            kbr.upsert_node(self.kb, self.run_id, name, status="failed" if failed else "done", ended=time.time(),
                            fired=self.flow.nodes[name].to_json())
            self._apply_step(name, step)
        crash_point(point, "after")

    def _evaluate_conditions(self, name: str) -> dict[int, tuple[bool, str | None]]:
        """id(edge) -> (holds, note) for the conditional edges leaving `name`, evaluated in a child
        process (see usercode.py): a condition that loops is stopped at the limit and counts as
        false with that reason, and the engine beats and obeys signals meanwhile."""
        edges = [e for e in self.flow.edges if e.src == name and e.condition is not None and not e.is_else]
        if not edges:
            return {}
        results = self._results()
        try:
            outcomes = usercode.call(self.conditions.evaluate_all, edges, results,
                                     what=f"the conditions after {name}", while_waiting=self._hook_wait)
        except usercode.HookError as exc:
            outcomes = [(False, f"{e.src} ?-> {e.dst} [{e.condition}]: false ({exc})") for e in edges]
        return {id(e): outcome for e, outcome in zip(edges, outcomes, strict=True)}

    def _hook_wait(self) -> bool:
        """While a project hook runs: stay alive; True when the engine must stop now."""
        self._beat_if_due()
        return self.stop_request == "interrupt"

    def _node_counts(self, name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        iteration = self.flow.nodes[name].iteration
        for v in kbv.for_run(self.kb, self.run_id, space=name):
            if v.iteration == iteration:
                out[v.status] = out.get(v.status, 0) + 1
        return out

    def _results(self, only: set[str] | None = None) -> dict:
        """ExtremeXP-shaped results of every node's latest round (of the nodes in `only`), for
        conditions and ExtremeXP scripts: see xxp_tui/extremexp/results.py."""
        out: dict[str, dict[int, dict]] = {}
        stored = kbr.nodes(self.kb, self.run_id)
        for name, state in self.flow.nodes.items():
            if state.iteration == 0 or (only is not None and name not in only):
                continue
            done = [v for v in kbv.for_run(self.kb, self.run_id, space=name, status="completed")
                    if v.iteration == state.iteration]
            finals = kbv.final_metrics(self.kb, [v.id for v in done])
            node_results = xresults.Rounds()
            for i, v in enumerate(done, start=1):
                node_results[i] = {"configuration": dict(v.config), "result": xresults.variant_result(finals[v.id])}
            if name in stored and stored[name].result and self.exp.node_kind(name) == "interaction":
                node_results = xresults.Rounds({1: {"configuration": {}, "result": stored[name].result}})
            out[name] = node_results
        return out

    def _results_before(self, node: str) -> str:
        """The results a task of `node` may read (`get_experiment_results`): those of the nodes that
        finished before this round of `node` started, never its own. Fixed for the round, so computed
        once (and again after a resume, from the nodes' recorded times)."""
        key = (node, self.flow.nodes[node].iteration if node in self.flow.nodes else 0)
        if key not in self.snapshots:
            stored = kbr.nodes(self.kb, self.run_id)
            started = stored[node].started if node in stored else None
            started = started or time.time()
            finished = {name for name, n in stored.items() if name != node and n.status in ("done", "failed")
                        and n.ended is not None and n.ended <= started}
            self.snapshots[key] = xresults.dumps(self._results(finished)) if finished else "{}"
        return self.snapshots[key]

    # ------------------------------------------------------------------ queue and scheduling

    def _enqueue(self, v: kbv.Variant) -> None:
        self.queued.push(v)

    def _dequeue(self, vid: int) -> kbv.Variant | None:
        return self.queued.remove(vid)

    def _workflow_for(self, node: str) -> tuple[Workflow, dict[str, dict[str, str]]]:
        if node in self.exp.spaces:
            return self.project.workflows[self.exp.spaces[node].workflow], {}
        task: ExpTask = self.exp.tasks[node]
        if task.workflow is not None:
            return self.project.workflows[task.workflow], {}
        t = task.task
        inputs = {}
        for port, props in task.input_data.items():
            raw = props.get("path")
            if isinstance(raw, str):
                inputs[port] = str(data_path(self.spec_dir, raw, self.project.dataset_dir))
        wf = Workflow(name=node, pos=task.pos, tasks=frozen_map({t.name: t}))
        return wf, {t.name: inputs}

    def _space_limit(self, node: str) -> int | None:
        if node in self.exp.spaces:
            return self.exp.spaces[node].parallel
        return None

    def _active_in(self, node: str) -> int:
        return sum(1 for v in self.active.values() if v.variant.space == node and not self._releases_slot(v.id))

    def _ask_trials(self) -> None:
        """Optuna spaces ask for a new trial only when one could start now."""
        for name, search in list(self.searches.items()):
            space = self.exp.spaces[name]
            if not planning.may_ask(asked=self.asked.get(name, 0), budget=space.runs or 0,
                                    queued=self.queued.count(name), running=partial(self._active_in, name),
                                    limit=space.parallel):
                continue
            trial = search.ask()
            config = dict(trial.params)
            seed = space.seed if space.seed is not None else self.seed
            (vid,) = kbv.insert(self.kb, self.run_id, [kbv.NewVariant(
                space=name, params=to_params(space, config), config=config, seed=seed,
                iteration=self.flow.nodes[name].iteration, trial=trial.number)])
            search.bind(vid, trial)
            self.asked[name] = self.asked.get(name, 0) + 1
            self.node_open.setdefault(name, set()).add(vid)
            self._enqueue(kbv.get(self.kb, vid))

    def _next_queued(self) -> kbv.Variant | None:
        return self.queued.pop_next(below_limit(self._space_limit, self._active_in))

    def _schedule(self) -> None:
        """Start what may start. Cache hits start nothing and take no slot, so a long run of them
        could keep this going for minutes: it stops after SCHEDULE_BUDGET seconds and the next
        turn (which then does not wait for events) goes on, so the engine beats, applies commands
        and obeys signals in between."""
        self.schedule_more = False
        if self.paused or self.stop_request:
            return
        if self.gpu_pool is not None:
            self.gpu_pool.waited = False
        free = self.workers - len(self.running) - self._blocked_count() + self._released_slots()
        if free <= 0:
            return
        self.schedule_until = time.monotonic() + SCHEDULE_BUDGET
        for vexec in sorted(self.active.values(), key=lambda x: (-x.variant.priority, x.id)):
            if self._is_held(vexec.id):
                continue
            free = self._start_ready(vexec, free)
            if vexec.settled:  # its last tasks were cache hits
                self._finalize(vexec)
            if free <= 0 or self._out_of_time():
                return
        while free > 0 and not self._out_of_time():
            if self.gpu_pool is not None and self.gpu_pool.waited:
                return  # a started variant waits for GPUs: starting more would only make them wait too
            self._ask_trials()
            self._fill_grids()
            v = self._next_queued()
            if v is None:
                return
            vexec = self._start_variant(v)
            free = self._start_ready(vexec, free)
            if vexec.settled:
                self._finalize(vexec)

    def _out_of_time(self) -> bool:
        if time.monotonic() < self.schedule_until:
            return False
        self.schedule_more = True
        return True

    def _blocked_count(self) -> int:
        return sum(1 for waiters in self.blocked.values() for vexec, name in waiters if vexec.state[name] == BLOCKED)

    def _unblock(self, key: str | None) -> None:
        """The execution others waited on ended: they start again, and hit the cache if it completed."""
        for vexec, name in self.blocked.pop(key, []) if key else []:
            if vexec.state[name] == BLOCKED:
                vexec.state[name] = TASK_PENDING

    def _start_ready(self, vexec: VariantExec, free: int) -> int:
        """Start a variant's ready tasks within `free` slots; returns the slots left. A cache hit
        ends a task at once, so the tasks after it are tried in the same turn."""
        hit = True
        while hit and free > 0 and not self._out_of_time():
            hit = False
            for task in vexec.ready():
                if free <= 0:
                    break
                free -= self._start_task(vexec, task) if self.gpu_pool is None else self._start_pooled(vexec, task)
                hit = hit or vexec.state[task] == DONE
        return free

    def _start_pooled(self, vexec: VariantExec, name: str) -> int:
        """Start a task once the pool grants what it asks for (gpu_pool.py); until then it waits, holding
        no slot, and its variant's reason says so."""
        key = (vexec.id, name)
        assert self.gpu_pool is not None
        admitted, changed = self.gpu_pool.admit(key, vexec.workflow.tasks[name])
        if changed:
            kbv.update(self.kb, vexec.id, reason=None if admitted else f"task {name} waits for a free GPU")
        if not admitted:
            return 0
        took = self._start_task(vexec, name)
        if vexec.state[name] != RUNNING:  # a cache hit, a wait, a failure: it holds nothing
            self.gpu_pool.release(key)
        return took

    def _start_variant(self, v: kbv.Variant) -> VariantExec:
        workflow, extra = self._workflow_for(v.space)
        vexec = VariantExec(v, workflow, extra_inputs=extra)
        # Tasks an earlier engine finished for this variant are kept (resume mid-variant).
        for tr in kbv.task_runs(self.kb, v.id):
            if tr.task in vexec.state:
                vexec.attempts[tr.task] = max(vexec.attempts[tr.task], tr.attempt)
                written = kbcache.output_digests(self.kb, tr)  # a port never written is not missing
                outputs_ok = all(Path(p).exists() for port, p in tr.outputs.items() if port in written)
                if tr.status in ("completed", "cached") and outputs_ok:
                    vexec.state[tr.task] = DONE
                    vexec.outputs[tr.task] = tr.outputs
                    vexec.puts[tr.task] = kbcache.variables_put(self.kb, tr)
                elif tr.status == "lost":
                    vexec.forgiven[tr.task] = 1
        self.active[v.id] = vexec
        kbv.update(self.kb, v.id, status="running", started=v.started or time.time(), reason=None)
        self.emit("variant", f"v{v.id} {v.space} started {short(v.params)}", v.id, "running", log=False)
        return vexec

    def _start_task(self, vexec: VariantExec, name: str) -> int:
        """Start one task; returns how many worker slots it took (0 or 1)."""
        task = vexec.workflow.tasks[name]
        vexec.attempts[name] += 1
        attempt = vexec.attempts[name]
        if task.interactive:
            vexec.state[name] = WAITING
            kbv.update(self.kb, vexec.id, status="waiting_input",
                       reason=f"task {name} waits for your answer (xxp-tui answer r{self.run_id} v{vexec.id})")
            self.emit("input", f"v{vexec.id} {name} waits for your answer", vexec.id, "waiting_input")
            return 0
        results_text = self._results_before(vexec.variant.space)
        try:
            env = self._task_env(vexec, name, task)
            if env is not None and not env.ready():
                return self._await_env(vexec, name, env)
            spec = prepare(
                run_dir=self.run_dir, spec_dir=self.spec_dir, run_id=self.run_id, variant_id=vexec.id,
                variant_params=vexec.variant.params, seed=vexec.variant.seed or 0, workflow=vexec.workflow,
                task=task, attempt=attempt, upstream=vexec.outputs, extra_inputs=vexec.extra_inputs.get(name),
                python=env.python if env else None,
                dataset_dir=self.project.dataset_dir, dependencies_dir=self.project.dependencies_dir,
                received=vexec.received(name), results_text=results_text, experiment=self.exp.name,
            )
            if self.gpu_pool is not None:
                spec.env[CUDA] = self.gpu_pool.devices((vexec.id, name))
        except (PrepareError, TaskEnvError, OSError) as exc:
            kbv.insert_task_run(self.kb, variant_id=vexec.id, task=name, attempt=attempt, status="failed",
                                reason=str(exc), started=time.time(), ended=time.time())
            self._task_failed(vexec, name, str(exc), retry=False)
            return 0
        try:
            code = cache.code_hash(task.signature, self.hashes)
            inputs = cache.inputs_hash(spec.inputs, self.hashes)
        except OSError:  # an input vanished or cannot be read: the task will say so; nothing to cache
            code = inputs = None
        key = None
        if code is not None and inputs is not None and task.cache and not self.no_cache:
            env_sig = self.env_signature if env is None else f"{env.hash}:{self.env_signature}"
            extra = cache.shim_extra(spec.received, results_text) if spec.shim else ""
            key = cache.cache_key(code, spec.params, spec.seed, inputs, env_sig, list(spec.outputs), extra)
            if any(r.cache_key == key for r in self.running.values()):
                # The same computation runs for another variant: wait for it (holding the slot, so
                # scheduling stays bounded) and reuse its result when it ends (see _unblock).
                vexec.attempts[name] -= 1
                vexec.state[name] = BLOCKED
                self.blocked.setdefault(key, []).append((vexec, name))
                return 1
            if self._reuse(vexec, name, attempt, spec, key, code, inputs, env.hash if env else None):
                return 0
        try:
            materialize(spec)
        except OSError as exc:
            full = exc.errno in NO_SPACE
            kbv.insert_task_run(self.kb, variant_id=vexec.id, task=name, attempt=attempt,
                                status="interrupted" if full else "failed", cwd=str(spec.cwd),
                                reason=f"cannot lay out its folder {spec.cwd}: {exc.strerror or exc}",
                                started=time.time(), ended=time.time())
            if full:
                self._no_space_for_task(vexec, name, str(spec.cwd))
            else:
                self._task_failed(vexec, name, str(exc), retry=False)
            return 0
        now = time.time()
        with self.kb.write():
            tr_id = kbv.insert_task_run(
                self.kb, variant_id=vexec.id, task=name, attempt=attempt, status="running", argv=spec.argv,
                cwd=str(spec.cwd), started=now, stdout_path=str(spec.stdout_path), stderr_path=str(spec.stderr_path),
                host=self.executor.host, outputs=spec.outputs, cache_key=key, code_hash=code, inputs_hash=inputs,
                params=spec.params, env_hash=env.hash if env else None,
                gpus=spec.env.get(CUDA) if self.gpu_pool is not None else None,
            )
            kbv.update(self.kb, vexec.id, attempts=max(vexec.variant.attempts, attempt))
        try:
            handle = self.executor.submit(spec)
        except OSError as exc:
            if not self.executor.connected():
                self._executor_lost(vexec, name, tr_id)
                return 0
            kbv.update_task_run(self.kb, tr_id, status="failed", reason=str(exc), ended=time.time())
            self._task_failed(vexec, name, str(exc), retry=False)
            return 0
        kbv.update_task_run(self.kb, tr_id, pid=handle.pid, pgid=handle.pgid, proc_start=handle.proc_start)
        vexec.state[name] = RUNNING
        vexec.handles[name] = spec.key
        self.running[spec.key] = Running(vexec, name, tr_id, handle, spec, key)
        return 1

    def _reuse(self, vexec: VariantExec, name: str, attempt: int, spec: TaskSpec, key: str, code: str,
               inputs: str, env_hash: str | None = None) -> bool:
        """A cache hit: take the outputs and metrics of an earlier execution with the same key, if
        its outputs are still intact; no process starts."""
        for source in kbcache.candidates(self.kb, key):
            if not cache.outputs_intact(source.outputs, kbcache.output_digests(self.kb, source), self.hashes):
                continue
            try:
                materialize(spec, runs=False)
            except OSError:
                return False  # it runs instead, and says why its folder cannot be made
            hit_id = kbcache.record_hit(self.kb, variant_id=vexec.id, task=name, attempt=attempt, source=source,
                               cache_key=key, code_hash=code, inputs_hash=inputs, cwd=str(spec.cwd),
                               params=spec.params, env_hash=env_hash)
            vexec.state[name] = DONE
            vexec.outputs[name] = dict(source.outputs)
            if spec.shim:  # a reused ExtremeXP task still hands on what it put
                self._record_puts(vexec, name, kbcache.variables_put(self.kb, source), task_run=hit_id, cached=True)
            space = self.exp.spaces.get(vexec.variant.space)
            watch = space.pruned_metric if space is not None and vexec.variant.space in self.searches else None
            for m in kbv.metrics(self.kb, vexec.id, watch.metric) if watch else []:  # the pruner learns the curve
                if m.task == name and m.step is not None and m.value is not None:
                    self._watch_series(vexec, name, m.name, m.value, m.step)
            self.emit("task", f"v{vexec.id} {name} reused v{source.variant_id}'s result (cache hit)", vexec.id,
                      log=False)
            return True
        return False

    # ------------------------------------------------------------------ per-task environments

    def _task_env(self, vexec: VariantExec, name: str, task) -> EnvPlan | None:
        """The task's own environment (`venv`, `python_version`), None for the engine's; raises
        TaskEnvError when it cannot be had (a build of it failed earlier in this run, too)."""
        env = self.task_envs.plan(task.signature)
        if env is None:
            return None
        if env.warning and env.hash not in self.task_envs.warned:
            self.task_envs.warned.add(env.hash)
            self.emit("warning", f"v{vexec.id} {name}: {env.warning}", vexec.id, detail={"env_hash": env.hash})
        if env.hash in self.task_envs.failed:
            raise TaskEnvError(f"task {name}: its environment could not be built: {self.task_envs.failed[env.hash]}")
        return env

    def _await_env(self, vexec: VariantExec, name: str, env: EnvPlan) -> int:
        """The task waits (holding its slot, as a build works the machine) for its environment;
        one build per environment, however many tasks wait for it."""
        vexec.attempts[name] -= 1
        vexec.state[name] = BLOCKED
        self.blocked.setdefault(f"env:{env.hash}", []).append((vexec, name))
        if self.task_envs.start(env):
            requirements = env.requirements.name if env.requirements else "no requirements"
            self.emit("env", f"building environment {env.hash[:12]} for {name} ({requirements}, "
                             f"Python {env.base.full}); the task starts when it is ready", vexec.id,
                      detail={"env_hash": env.hash, "folder": str(env.folder)})
        return 1

    def _env_built(self, event: EnvBuilt) -> None:
        self.task_envs.finished(event)
        if event.error is not None:
            self.emit("env", f"environment {event.hash[:12]} could not be built: {event.error}",
                      detail={"env_hash": event.hash})
        else:
            done = "built" if event.outcome == "built" else "ready (built by another engine)"
            self.emit("env", f"environment {event.hash[:12]} {done} in {event.seconds:.1f} s",
                      detail={"env_hash": event.hash})
        self._unblock(f"env:{event.hash}")

    # ------------------------------------------------------------------ task outcomes

    def _on_metric(self, m: MetricEvent) -> None:
        r = self.running.get(m.key)
        if r is None:
            return
        self.metric_buffer.append((r.vexec.id, r.task, m.name, m.value, m.text, m.step, m.time))
        if m.step is None or m.value is None:
            return
        if self._watch_series(r.vexec, r.task, m.name, m.value, m.step) and not r.vexec.stopping:
            space = self.exp.spaces[r.vexec.variant.space]
            watched = space.pruned_metric.label if space.pruned_metric else "?"
            self._stop_variant(r.vexec, "pruned", f"pruned by the {space.pruner} pruner at step {m.step} "
                                                  f"({watched} = {m.value:.4g})")

    def _watch_series(self, vexec: VariantExec, task: str, name: str, value: float, step: int) -> bool:
        """Feed a point of the series the space's pruner watches to its study; True: prune."""
        space = self.exp.spaces.get(vexec.variant.space)
        watch = space.pruned_metric if space is not None else None
        search = self.searches.get(vexec.variant.space)
        if watch is None or search is None or name != watch.metric or (watch.task and watch.task != task):
            return False
        self.intermediate.setdefault(vexec.id, {})[step] = value
        return search.report(vexec.id, value, step)

    def _flush_metrics(self) -> None:
        self.last_flush = time.time()
        if self.metric_buffer:
            rows, self.metric_buffer = self.metric_buffer, []
            kbv.insert_metrics(self.kb, rows)

    def _take_final_metrics(self, r: Running) -> None:
        """Every metric line the task left unread, written in batches as they are read: a task that
        logged millions of points keeps them all without the engine holding them all at once."""
        for m in self.executor.finish_metrics(r.handle):
            self.metric_buffer.append((r.vexec.id, r.task, m.name, m.value, m.text, m.step, m.time))
            if len(self.metric_buffer) >= METRIC_BATCH:
                self._flush_metrics()
                self._beat_if_due()

    def _check_timeouts(self, now: float) -> None:
        for r in list(self.running.values()):
            timeout = r.spec.timeout
            ran = now - r.handle.started - self._held_seconds(r, now)  # time held does not count
            if timeout and r.handle.cancel_reason is None and ran > timeout:
                self.executor.cancel(r.handle, f"timed out after {_seconds(timeout)}")

    def _on_started(self, e: Started) -> None:
        """A task's process exists (locally, or on a Dask worker): record where, and its ids."""
        r = self.running.get(e.key)
        if r is not None:
            kbv.update_task_run(self.kb, r.task_run_id, host=e.host, pid=e.pid, pgid=e.pgid, proc_start=e.proc_start,
                                **({"gpus": e.gpus} if e.gpus is not None else {}))

    def _on_finished(self, f: Finished) -> None:
        r = self.running.pop(f.key, None)
        if r is None:
            return
        self._take_final_metrics(r)
        malformed = r.handle.malformed
        self.executor.release(f.key)
        if self.gpu_pool is not None:
            self.gpu_pool.release((r.vexec.id, r.task))
        self._unblock(r.cache_key)
        self._read_result_map(r)
        self._flush_metrics()
        vexec, name = r.vexec, r.task
        vexec.handles.pop(name, None)
        now = time.time()
        if f.lost and not vexec.stopping and not self.executor.connected():
            self._executor_lost(vexec, name, r.task_run_id)
            return
        if f.no_space and not vexec.stopping:
            kbv.update_task_run(self.kb, r.task_run_id, status="interrupted", ended=time.time(),
                                reason=f"{name} {f.reason or 'was stopped: its disk is full'}")
            self._no_space_for_task(vexec, name, str(r.spec.cwd))
            return
        ended = outcomes.TaskExit(name, f.exit_code, f.signal, f.reason, f.lost, f.stderr_tail)
        actions = machine.handle(TaskEnded(ended, attempts=vexec.attempts[name],
                                           retries=vexec.workflow.tasks[name].retries,
                                           forgiven=vexec.forgiven.get(name, 0), stopping=vexec.stopping))
        record = actions[0]
        assert isinstance(record, RecordTaskEnd)
        status, reason = record.status, record.reason
        if malformed:
            note = f"{malformed} malformed metric line(s) from {name} ignored"
            vexec.notes.append(note)
            self.emit("warning", f"v{vexec.id}: {note}", vexec.id)
        where = {}
        if r.handle.host != self.executor.host:  # a distributed executor learnt it late (see Started)
            where = {"host": r.handle.host, "pid": r.handle.pid, "pgid": r.handle.pgid,
                     "proc_start": r.handle.proc_start}
        # Hashed first, then written with the outcome in one transaction: a completed task run (a
        # cache entry) never exists without the digests that later prove its outputs intact.
        artifacts = self._describe_outputs(r.spec) if status == "completed" else []
        gpus = r.spec.env.get(CUDA) if self.gpu_pool is not None else getattr(r.handle, "gpus", None)
        spent = task_cost(f, r.handle.started, now, gpus, vexec.workflow.tasks[name].resources)
        with self.kb.write():
            kbv.update_task_run(self.kb, r.task_run_id, status=status, exit_code=f.exit_code, signal=f.signal,
                                ended=now, reason=reason, **where, **spent)
            for port, path, info in artifacts:
                kbv.insert_artifact(self.kb, variant_id=vexec.id, task=name, port=port, path=path, **info)
        for action in actions[1:]:
            if isinstance(action, MarkDone):
                vexec.state[name] = DONE
                vexec.outputs[name] = dict(r.spec.outputs)
                self._warn_unwritten(vexec, name, r.spec, {port for port, _path, _info in artifacts})
                if r.spec.shim:
                    self._record_puts(vexec, name, _read_puts(r.spec.cwd), task_run=r.task_run_id)
            else:
                self._carry_out(vexec, action)
        if vexec.settled:
            self._finalize(vexec)

    def _executor_lost(self, vexec: VariantExec, name: str, task_run_id: int) -> None:
        """The scheduler itself is gone: not the task's fault, nor the variant's. The attempt is
        recorded as interrupted and the run stops resumably (resume when the scheduler is back)."""
        kbv.update_task_run(self.kb, task_run_id, status="interrupted", ended=time.time(),
                            reason="the Dask scheduler could not be reached")
        self._machine_failed(vexec, name, (f"the Dask scheduler {self.run.scheduler or ''} could not be reached; "
                                           f"resume with: xxp-tui resume r{self.run_id}").replace("  ", " "))

    def _no_space_for_task(self, vexec: VariantExec, name: str, cwd: str) -> None:
        """The disk under a task's folder is full: its log could not be written, or its folder not
        laid out (the attempt is recorded as interrupted). Like a full disk under the KB, the run
        stops resumably; `resume` runs the task again once there is space."""
        self._machine_failed(vexec, name, f"the disk under v{vexec.id}'s task folder is full ({cwd}); "
                                          f"free space, then: xxp-tui resume r{self.run_id}")

    def _machine_failed(self, vexec: VariantExec, name: str, reason: str) -> None:
        """An attempt the machine failed, not the task: it does not count, the task waits to run
        again, and the run stops resumably with `reason` (the first such reason is the one kept)."""
        vexec.state[name] = TASK_PENDING
        vexec.attempts[name] -= 1
        if self.stop_request is None:
            self.stop_request = "interrupt"
            self.interrupt_reason = reason
            self.emit("run", f"run r{self.run_id}: {reason}")

    def _task_failed(self, vexec: VariantExec, name: str, reason: str, retry: bool, lost: bool = False) -> None:
        """An attempt failed: retried or not as the core decides (core/outcomes.py `retry`)."""
        event = TaskFailed(name, reason, vexec.attempts[name], vexec.workflow.tasks[name].retries,
                           vexec.forgiven.get(name, 0), lost=lost, retryable=retry, stopping=bool(vexec.stopping))
        for action in machine.handle(event):
            self._carry_out(vexec, action)
        if vexec.settled:
            self._finalize(vexec)

    def _carry_out(self, vexec: VariantExec, action: Action) -> None:
        """Do what the core decided about one of the variant's tasks."""
        if isinstance(action, MarkSkipped):
            vexec.state[action.task] = SKIPPED
        elif isinstance(action, RetryTask):
            if action.forgiven:
                vexec.forgiven[action.task] = action.forgiven
            vexec.state[action.task] = TASK_PENDING
            self.emit("task", f"v{vexec.id} {action.note}", vexec.id)
        elif isinstance(action, FailTask):
            if action.forgiven:
                vexec.forgiven[action.task] = action.forgiven
            vexec.state[action.task] = FAILED
            vexec.failure = action.reason
            vexec.rule_out_downstream(action.task)
            for _other, key in list(vexec.handles.items()):
                r = self.running.get(key)
                if r is not None:
                    self.executor.cancel(r.handle, f"another task of v{vexec.id} failed")
        else:
            raise TypeError(f"not an action on a task: {action}")

    def _warn_unwritten(self, vexec: VariantExec, name: str, spec: TaskSpec, written: set[str]) -> None:
        """A declared output the task did not write: ExtremeXP carries on (the port may be only
        informational), so do we; the tasks linked to it get its path and fail only if they read it."""
        for port in spec.outputs:
            if port not in written and not Path(spec.outputs[port]).exists():
                self.emit("warning", f"v{vexec.id}: {name} did not write output {port}", vexec.id,
                          detail={"task": name, "port": port, "path": spec.outputs[port]})

    def _record_puts(self, vexec: VariantExec, name: str, puts: dict, task_run: int, cached: bool = False) -> None:
        """What an ExtremeXP script `variables.put`: handed to the later tasks of the variant, and kept
        (an event naming the task run) so a resumed variant or a cache hit hands it on too."""
        vexec.puts[name] = puts
        if not puts:
            return
        shown = ", ".join(f"{k}={v!r}"[:80] for k, v in puts.items())
        self.emit("put", f"v{vexec.id} {name}{' (reused)' if cached else ''} put {shown}", vexec.id,
                  detail={"task": name, "task_run": task_run, "variables": puts})

    def _read_result_map(self, r: Running) -> None:
        """Text results an ExtremeXP-style script put in its resultMap (numbers arrived as metrics)."""
        path = r.spec.output_dir / "result_map.json"
        if not path.is_file():
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if isinstance(data, dict):
            for key, value in data.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    self.metric_buffer.append((r.vexec.id, r.task, str(key)[:200], None, str(value)[:10000],
                                               None, time.time()))

    def _describe_outputs(self, spec: TaskSpec) -> list[tuple[str, str, dict]]:
        """(port, path, sha256/size/kind) of each output the task left."""
        out = []
        for port, path in spec.outputs.items():
            p = Path(path)
            try:
                out.append((port, str(p), describe_path(p, self._beat_if_due)))
            except OSError:  # not there (the task did not write it) or gone meanwhile: nothing to record
                continue
        return out

    # ------------------------------------------------------------------ variant outcomes

    def _objective_values(self, space: Space | None, variant_id: int) -> list[float] | None:
        if space is None or not space.objectives:
            return None
        finals = kbv.final_metrics(self.kb, [variant_id])[variant_id]
        values = []
        for obj in space.objectives:
            found = [v for (task, metric), v in finals.items()
                     if metric == obj.metric and (obj.task is None or task == obj.task)]
            number = found[-1] if found else None
            if not isinstance(number, int | float):
                return None
            values.append(float(number))
        return values

    def _finalize(self, vexec: VariantExec) -> None:
        vid = vexec.id
        if self.active.pop(vid, None) is None:
            return  # already finalised (a task that cannot start settles its variant at once)
        self._hold_ended(vid)
        node = vexec.variant.space
        space = self.exp.spaces.get(node)
        current = kbv.get(self.kb, vid)
        if current.finished:  # already final (pruned or cancelled by a command)
            status = current.status
        else:
            status, reason, values = outcomes.variant_outcome(
                stopping=vexec.stopping, stop_status=vexec.stop_status, failure=vexec.failure,
                objectives=[o.label for o in space.objectives] if space is not None else [],
                values=lambda: self._objective_values(space, vid), notes=vexec.notes)
            settled_by_code = not (vexec.stopping or vexec.failure)  # only then is there an objective to record
            kbv.update(self.kb, vid, status=status, reason=reason, ended=time.time(),
                       **({"objective": values[0] if values else None} if settled_by_code else {}))
        search = self.searches.get(node)
        if search is not None:
            values = self._objective_values(space, vid) if status == "completed" else None
            note = self._tell(search, kbv.get(self.kb, vid), outcomes.trial_state(status, values), values)
            if note:
                self.emit("warning", f"v{vid}: {note}", vid)
        self.intermediate.pop(vid, None)
        final = kbv.get(self.kb, vid)
        extra = f" objective={final.objective:.4g}" if final.objective is not None else ""
        why = f" ({final.reason})" if final.reason and status != "completed" else ""
        self.emit("variant", f"v{vid} {node} {status}{extra}{why}", vid, status)
        self.node_open.get(node, set()).discard(vid)
        if status == "failed":
            self._check_failure_policy()
        if self.flow.nodes.get(node) and self.flow.nodes[node].status == ACTIVE:
            self._maybe_finish_node(node)

    def _check_failure_policy(self) -> None:
        """Failures do not stop a run (the default), unless `--max-failures N` says after how many."""
        policy = FailurePolicy.from_settings(self.run.settings)
        if not policy.max_failures or self.stop_request:
            return
        failed = kbv.counts(self.kb, self.run_id)["failed"]
        for stop in machine.handle(VariantFailed(failed, policy.max_failures)):
            assert isinstance(stop, StopRun)
            self.emit("run", f"run r{self.run_id} {stop.reason}")
            after: list[Callable[[], None]] = []
            with self.kb.write():
                self._stop_everything(stop.reason, after)
            self.stop_reason = stop.reason
            for action in after:
                action()

    def _tell(self, search: OptunaSearch, v: kbv.Variant, status: str, values: list[float] | None) -> str | None:
        state = outcomes.trial_state(status, values)
        # After a restart the curve is no longer in memory: the KB has it.
        curve = self.intermediate.get(v.id) or self._series(search.space, v.id)
        return search.tell(v.id, v.config, values, state, curve)

    def _stop_variant(self, vexec: VariantExec, status: str, reason: str) -> None:
        """Prune or cancel a started variant: record it now, stop its processes."""
        kbv.update(self.kb, vexec.id, status=status, reason=reason, ended=time.time())
        for key in list(vexec.handles.values()):
            r = self.running.get(key)
            if r is not None:
                self.executor.cancel(r.handle, reason)
        vexec.stop(status, reason)
        if vexec.settled:
            self._finalize(vexec)

    # ------------------------------------------------------------------ ending

    def _interrupt(self) -> str:
        """Ctrl-C or SIGTERM: stop cleanly and leave the run resumable."""
        for running in list(self.running.values()):
            self.executor.cancel(running.handle, "interrupted")
        deadline = time.monotonic() + 5.0
        while self.running and time.monotonic() < deadline:
            try:
                f = self.events.get(timeout=0.1)
            except queue.Empty:
                self.executor.tick()
                continue
            if isinstance(f, Finished):
                r = self.running.pop(f.key, None)
                if r is not None:
                    self._take_final_metrics(r)
                    kbv.update_task_run(self.kb, r.task_run_id, status="interrupted", ended=time.time(),
                                        exit_code=f.exit_code, signal=f.signal, reason="interrupted")
        self._flush_metrics()
        for vexec in self.active.values():
            if not kbv.get(self.kb, vexec.id).finished:
                kbv.update(self.kb, vexec.id, status=self._interrupted_status(vexec.id),
                           reason="interrupted; resume to continue")
        self._set_status("interrupted", self.interrupt_reason or "interrupted; resume to continue")
        self.emit("run", f"run r{self.run_id} interrupted; continue with: xxp-tui resume r{self.run_id}")
        return "interrupted"

    def _conclude(self) -> str:
        if self.stop_request == "stop" and self.stop_reason:  # the failure policy ended it
            self._set_status("failed", self.stop_reason)
            self.emit("run", f"run r{self.run_id} failed: {self.stop_reason}", status="failed")
            return "failed"
        if self.stop_request == "stop":
            self._set_status("stopped", "stopped by a user")
            self.emit("run", f"run r{self.run_id} stopped")
            return "stopped"
        for name, state in self.flow.nodes.items():
            if self.rerun_of is not None and name in self.node_open:
                kbr.upsert_node(self.kb, self.run_id, name, status="done", ended=time.time())
            elif state.status == PENDING:
                kbr.upsert_node(self.kb, self.run_id, name, status="skipped", reason="never reached")
        damage = self._kb_damage()
        if damage:
            with contextlib.suppress(DatabaseError):
                self._set_status("failed", damage)
            self.emit("run", f"run r{self.run_id} failed: {damage}", status="failed", log=False)
            return "failed"
        counts = kbv.counts(self.kb, self.run_id)
        failed = counts.get("failed", 0)
        total = sum(counts.values())
        # A node that could not run (a grid past the limit, a failing filter) fails the run too.
        broken = [f"{n} failed: {s.reason}" for n, s in kbr.nodes(self.kb, self.run_id).items() if s.status == "failed"]
        status, reason = outcomes.run_outcome(failed=failed, total=total, broken=broken)
        self._set_status(status, reason)
        summary = ", ".join(f"{n} {s}" for s, n in counts.items() if n) or "no variants"
        summary += f" ({'; '.join(broken)})" if broken else ""
        self.emit("run", f"run r{self.run_id} {status}: {summary}", status=status)
        return status

    def _kb_damage(self) -> str | None:
        """Before saying "completed": is the KB the run wrote still there and sound? (A KB deleted
        or replaced under a running engine, or a damaged one, must not end in a quiet success.)"""
        try:
            same = os.stat(self.db_path).st_ino == self.db_inode
        except OSError:
            same = False
        if not same:
            return f"the knowledge base {self.db_path} was deleted or replaced while the run went on"
        try:
            verdict = self.kb.scalar("PRAGMA quick_check")
        except DatabaseError as exc:
            verdict = str(exc)
        return None if verdict == "ok" else f"the knowledge base {self.db_path} is damaged ({verdict})"

    def _set_status(self, status: str, reason: str | None = None) -> None:
        if status != self.status:
            kbr.set_status(self.kb, self.run_id, status, reason)
            self.status = status

    def _refresh_status(self) -> None:
        if self.stop_request:
            return
        waiting = bool(self.waiting) or any(v.waiting() for v in self.active.values())
        self._set_status(outcomes.live_status(paused=self.paused, waiting=waiting))

    def _lock_run(self) -> None:
        """One engine per run, whatever the heartbeat says: an exclusive lock on a file beside the
        KB, held for the life of the process (the OS drops it when the process dies). The engine
        removes the file as it ends (`close`), so a lock taken on a file that was meanwhile removed
        is not the run's lock: checked by inode, and taken again on the new file."""
        import fcntl

        path = self.db_path.parent / f"{self.db_path.name}.engine-r{self.run_id}.lock"  # per KB file
        for _ in range(20):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                live = kbr.liveness(self.kb, self.run_id)
                if live.hung:
                    raise EngineBusy(f"r{self.run_id}: {live.not_responding}; it still holds the run: continue it "
                                     f"(kill -CONT {live.pid}) or end it (kill {live.pid}), then resume") from None
                raise EngineBusy(f"r{self.run_id} already has an engine running; watch it with "
                                  f"xxp-tui attach r{self.run_id}") from None
            try:
                current = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                self._lock_fd, self._lock_path = fd, path
                # The lock file also keeps a little space on the KB's disk, freed when that disk is full
                # so that the run can still be recorded as interrupted (see _storage_failed).
                with contextlib.suppress(OSError, AttributeError):
                    os.posix_fallocate(fd, 0, STORAGE_RESERVE)
                return
            os.close(fd)  # the previous engine removed it as it ended: lock the file there now
        raise EngineBusy(f"cannot take the lock {path} of r{self.run_id}: it keeps being removed")

    def close(self) -> None:
        close = getattr(self.executor, "close", None)  # a Dask client (and local cluster) left by a failed start
        if close is not None:
            close()
        self.kb.close()
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):  # removed while still held: no engine can lock a stale file
                if self._lock_path is not None:
                    os.unlink(self._lock_path)
            os.close(self._lock_fd)  # closing releases the lock
            self._lock_fd = None


# ---------------------------------------------------------------------------- helpers


def _read_puts(cwd: Path) -> dict:
    """The `variables.put` values a shim task left (see xxp_tui/shim.py); {} if none or unreadable."""
    try:
        data = json.loads((cwd / "variables_put.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _proc_start() -> float | None:
    """This process's start time, as psutil gives it (what a later engine compares, with psutil, to
    tell this engine from a reused pid). On Linux read as psutil reads it (boot time from /proc/stat,
    plus the start in clock ticks from /proc/self/stat) without importing psutil: a run its cache
    answers starts no task, and psutil's import was a twentieth of its command."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            boot = next(float(line.split()[1]) for line in fh if line.startswith("btime "))
        with open("/proc/self/stat", encoding="ascii", errors="replace") as fh:
            ticks = float(fh.read().rsplit(")", 1)[1].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        pass
    try:
        import psutil

        return psutil.Process(os.getpid()).create_time()
    except Exception:
        return None


def _seconds(s: float) -> str:
    return f"{s:g}s" if s < 120 else f"{s / 60:g}m"


def install_signal_handlers(engine: Engine) -> None:
    """Ctrl-C / SIGTERM / SIGHUP ask for a clean, resumable stop; a second Ctrl-C exits at once."""

    def handler(signum, frame):
        if engine.stop_request == "interrupt" and signum == signal.SIGINT:
            sys.exit(130)
        engine.stop_request = "interrupt"

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)
