"""`xxp-tui run` and `xxp-tui resume`: start or continue an experiment."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_argument, run_id_of
from xxp_tui.cli.completion import choices, complete_run
from xxp_tui.cli.output import fail, fail_usage, for_terminal

if TYPE_CHECKING:
    from xxp_tui.lang.loader import LoadResult

READ_ONLY = typer.Option(False, "--read-only", envvar="XXP_READ_ONLY",
                         help="Viewer: watch only, steering keys disabled.")
NO_MOUSE = typer.Option(False, "--no-mouse", envvar="XXP_NO_MOUSE", help="Viewer: do not capture the mouse.")
LOW_BANDWIDTH = typer.Option(False, "--low-bandwidth", envvar="XXP_LOW_BANDWIDTH",
                             help="Viewer for slow links: the screen changes only when the run does (no ticking "
                                  "clock), fewer frames, no animations, no braille in charts.")

EXIT_CODES = {"completed": 0, "failed": 1, "interrupted": 130, "stopped": 0}


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)
    app.command("attach")(attach)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty() and os.environ.get("TERM", "dumb") != "dumb"


class Progress:
    """Headless progress: one plain line per event (a terminal gets a counter prefix too)."""

    def __init__(self, kb_path: Path, run_id: int) -> None:
        self.tty = sys.stdout.isatty()
        self.run_id = run_id
        self.kb_path = kb_path
        self.done = 0
        self.closed = False

    def __call__(self, event) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
        if event.kind == "variant" and event.status in ("completed", "failed", "pruned", "cancelled"):
            self.done += 1
        prefix = f"{stamp} [{self.done:>4} done] " if self.tty else f"{stamp} "
        if self.closed:
            return
        text = for_terminal(event.text)  # a task's escape sequences never reach the terminal raw
        if event.status and f" {event.status}" in text:  # the state word in its colour (see cli/color.py)
            from xxp_tui.cli.color import paint

            head, _, tail = text.partition(f" {event.status}")
            text = f"{head} {paint(event.status, event.status, sys.stdout)}{tail}"
        try:
            print(prefix + text, flush=True)
        except OSError:  # stdout went away (a closed pipe, a dropped terminal): the run goes on unseen
            self.closed = True


def _drive(db: Path, run_id: int, allow_changed_spec: bool = False, max_log_mb: int | None = None,
           quiet: bool = False, loaded: LoadResult | None = None) -> int:
    from xxp_tui.engine.shell import (
        Engine,
        EngineBusy,
        EngineError,
        install_signal_handlers,
        record_engine_defect,
        record_start_failure,
    )

    progress = None if quiet else Progress(db, run_id)
    engine = Engine(db, run_id, on_event=progress, allow_changed_spec=allow_changed_spec,
                    max_log_bytes=max_log_mb * 2**20 if max_log_mb else None, loaded=loaded)
    install_signal_handlers(engine)
    try:
        try:
            engine.start()
        except EngineBusy as exc:
            fail(str(exc), 2)
        except EngineError as exc:
            engine.close()
            record_start_failure(db, run_id, str(exc))
            fail(str(exc), 2)
        try:
            status = engine.run_loop()
        except Exception as exc:  # a defect: the run stays resumable, the user gets a sentence and a crash file
            engine.close()
            record_engine_defect(db, run_id, exc)
            if os.environ.get("XXP_DEBUG"):
                raise
            from xxp_tui.cli.main import _save_traceback

            print(f"xxp-tui: the engine stopped on an error ({type(exc).__name__}: {exc}); run r{run_id} is "
                  f"interrupted and resumable: xxp-tui resume r{run_id}", file=sys.stderr)
            print(f"xxp-tui: the details are in {_save_traceback()}; please report it", file=sys.stderr)
            raise typer.Exit(3) from None
    finally:
        engine.close()
    return EXIT_CODES.get(status, 1)


def _check_warm_start_run(db_path: Path, ref: str) -> None:
    """`--warm-start r3` names a run of this knowledge base: say so now, not "0 trials" later."""
    from xxp_tui.kb import KBError, open_kb
    from xxp_tui.kb import runs as kbr

    if not db_path.exists():
        fail_usage(f"--warm-start {ref}: there is no knowledge base at {db_path} yet to take runs from.")
    with open_kb(db_path, create=False, readonly=True) as kb:
        try:
            kbr.resolve_run(kb, ref)
        except KBError as exc:
            fail_usage(f"--warm-start {ref}: {exc}.")


NO_TASK_ENVS_HELP = ("Run every task with the engine's Python, ignoring the venv and python_version "
                     "its task.xxp declares.")
NO_FORK_SERVER_HELP = ("Start every task with a new interpreter, as a shell would, instead of forking Python "
                       "tasks from a warm one (also XXP_FORK_SERVER=0).")
STRICT_TASK_ENVS_HELP = ("Fail a task whose python_version is not installed, instead of running it with the "
                         "engine's Python (with a warning).")


def run(
    spec: Path = typer.Argument(..., help="The experiment spec (.xxp)."),
    experiment: str = typer.Option(None, "--experiment", "-e", help="Which experiment, if the spec has several."),
    headless: bool = typer.Option(False, "--headless", envvar="XXP_HEADLESS",
                                  help="Run in the foreground with progress lines, no TUI."),
    workers: int = typer.Option(0, "--workers", "-w", envvar="XXP_WORKERS",
                                help="Tasks run at once (default: number of cores)."),
    seed: int = typer.Option(0, "--seed", help="Seed for strategies and tasks (XXP_SEED)."),
    no_cache: bool = typer.Option(False, "--no-cache", envvar="XXP_NO_CACHE",
                                  help="Run every task, reusing no cached result."),
    no_task_envs: bool = typer.Option(False, "--no-task-envs", envvar="XXP_NO_TASK_ENVS", help=NO_TASK_ENVS_HELP),
    strict_task_envs: bool = typer.Option(False, "--strict-task-envs", envvar="XXP_STRICT_TASK_ENVS",
                                          help=STRICT_TASK_ENVS_HELP),
    no_fork_server: bool = typer.Option(False, "--no-fork-server", help=NO_FORK_SERVER_HELP),
    warm_start: str = typer.Option(None, "--warm-start", metavar="auto|RUN|none", envvar="XXP_WARM_START",
                                   help="Seed bayesian/cmaes/qmc/random spaces with compatible results of earlier "
                                        "runs (auto) or of one run (r3); overrides the spaces' warmstart."),
    max_log_mb: int = typer.Option(50, "--max-log-mb", envvar="XXP_MAX_LOG_MB",
                                   help="Stop a task that prints more than this."),
    max_failures: int = typer.Option(0, "--max-failures", metavar="N", envvar="XXP_MAX_FAILURES",
                                     help="Stop the run (status failed) once N variants failed; 0: never, go on."),
    read_only: bool = READ_ONLY,
    no_mouse: bool = NO_MOUSE,
    low_bandwidth: bool = LOW_BANDWIDTH,
    executor: str = typer.Option(None, "--executor", metavar="local|dask", envvar="XXP_EXECUTOR",
                                 autocompletion=choices("local", "dask"),
                                 help="Where tasks run: this machine (local, the default) or a Dask cluster (dask). "
                                      "xxp.toml can set it: [executor] kind = \"dask\"."),
    scheduler: str | None = typer.Option(None, "--scheduler", metavar="tcp://HOST:PORT", envvar="XXP_SCHEDULER",
                                  help="With --executor dask: the Dask scheduler (default: a local cluster of "
                                       "--workers processes). xxp.toml: [executor] scheduler = \"tcp://…\"."),
    gpus: str = typer.Option(None, "--gpus", metavar="0,1,3|none", envvar="XXP_GPUS",
                             help="GPUs tasks may use (indexes), or none; default: every GPU NVML finds. "
                                  "Tasks get theirs in CUDA_VISIBLE_DEVICES. xxp.toml: gpus = \"0,1\"."),
    stall_after: str = typer.Option(None, "--stall-after", metavar="10m", envvar="XXP_STALL_AFTER",
                                    help="Mark a running task stalled once it printed nothing and reported no "
                                         "metric for this long (tasks' own stall_after wins); default: off."),
    notify: list[str] = typer.Option(None, "--notify", metavar="URL",
                                     help="Send a message (apprise URL: ntfy://, slack://, mailto://, json://…) when "
                                          "the run waits for an answer, a task stalls, the run ends. Repeatable. "
                                          "Needs the extra notify. xxp.toml: notify = [\"…\"]."),
    notify_cmd: str = typer.Option(None, "--notify-cmd", metavar="CMD",
                                   help="Run CMD (no shell) with each such event as JSON on its stdin."),
    db: Path = DB_OPTION,
) -> None:
    """Validate SPEC, then run it. Exit 0 when every variant completed (or was pruned), 1 if any
    failed, 2 on an invalid spec or misuse, 130 when interrupted (resume with `xxp-tui resume`)."""
    from xxp_tui.engine.launch import create_run, project_dir_for, start_detached, wait_for_engine
    from xxp_tui.kb import KBError, default_db_path
    from xxp_tui.lang import load_project
    from xxp_tui.project import older_spec_kb, two_kbs_hint

    if not spec.is_file():
        fail_usage(f"No such spec file: {spec}")
    if workers < 0:
        fail_usage("--workers must be 1 or more.")
    if max_failures < 0:
        fail_usage("--max-failures must be 0 (never stop) or more.")
    if warm_start is not None:
        import re

        warm_start = warm_start.strip().lower()
        if warm_start not in ("auto", "none") and not re.fullmatch(r"r?\d+", warm_start):
            fail_usage(f"--warm-start takes auto, none or a run such as r3, not {warm_start!r}.")
    result = load_project(spec)
    for d in result.diagnostics:
        lines = result.sources.get(d.pos.file, "").splitlines()
        print(d.render(lines[d.pos.line - 1] if 0 < d.pos.line <= len(lines) else None), file=sys.stderr)
    if not result.ok:
        fail(f"{spec} is not valid; nothing was run.", 2)
    assert result.project is not None  # ok: it loaded
    names = list(result.project.experiments)
    if not names:
        fail(f"{spec} defines no experiment to run.", 2)
    if experiment is None:
        if len(names) > 1:
            fail_usage(f"{spec} defines several experiments ({', '.join(names)}); choose one with --experiment.")
        experiment = names[0]
    elif experiment not in names:
        fail_usage(f"No experiment {experiment} in {spec} (experiments: {', '.join(names)}).")
    from xxp_tui.engine.requirements import missing_modules, refusal

    missing = missing_modules(result.project)
    if missing:
        fail(refusal(spec, missing), 2)
    kind, scheduler = _executor_choice(spec, executor, scheduler)
    settings = {"no_cache": no_cache, "max_log_mb": max_log_mb, "warm_start": warm_start, "max_failures": max_failures,
                "no_task_envs": no_task_envs, "strict_task_envs": strict_task_envs}
    if no_fork_server:
        settings["no_fork_server"] = True
    settings.update(_alert_settings(spec, stall_after, notify, notify_cmd))
    gpu_setting = _gpu_choice(spec, gpus)
    if gpu_setting is not None:
        settings["gpus"] = gpu_setting
    if kind == "dask" and scheduler and not workers:
        settings["slots"] = "cluster"  # as many tasks at once as the cluster has worker threads, live
    db_path = db or default_db_path(spec)
    older = None if db or os.environ.get("XXP_DB") else older_spec_kb(spec, db_path)
    if older is not None:
        print(two_kbs_hint(db_path, older), file=sys.stderr)
    if warm_start not in (None, "auto", "none"):
        _check_warm_start_run(db_path, warm_start)
    try:
        new = create_run(result, experiment, db_path, workers=workers or os.cpu_count() or 1, seed=seed,
                         settings=settings, executor=kind, scheduler=scheduler)
    except KBError as exc:
        fail(str(exc), 2)
    if headless or not _interactive():
        print(f"run r{new.run_id} of {experiment} (knowledge base {db_path})", flush=True)
        raise typer.Exit(_drive(db_path, new.run_id, max_log_mb=max_log_mb, loaded=result))
    proc = start_detached(db_path, new.run_id, project_dir_for(spec))
    preload_viewer()
    problem = wait_for_engine(db_path, new.run_id, proc)
    if problem:
        fail(f"the engine of r{new.run_id} did not start: {problem}", 2)
    from xxp_tui.cli.tui_launch import open_tui

    code = open_tui(db_path, new.run_id, read_only=read_only, mouse=not no_mouse, low_bandwidth=low_bandwidth)
    if older is not None:  # the viewer's screen hid the line printed before it
        print(two_kbs_hint(db_path, older), file=sys.stderr)
    raise typer.Exit(code)


def preload_viewer() -> None:
    """Import the viewer (Textual and its widgets: seconds on a busy machine) in a thread while the
    engine starts, so the first screen comes as soon as the engine beats, not an import later."""
    import contextlib
    import threading

    def load() -> None:
        with contextlib.suppress(Exception):  # open_tui imports it again and reports a real problem
            import xxp_tui.tui.app  # noqa: F401

    threading.Thread(target=load, name="preload-viewer", daemon=True).start()


def _alert_settings(spec: Path, stall_after: str | None, notify: list[str] | None,
                    notify_cmd: str | None) -> dict:
    """--stall-after, --notify (else `notify` in xxp.toml) and --notify-cmd as run settings; refused up front
    with a sentence when malformed, or when --notify is asked without the extra that sends it."""
    from xxp_tui.engine.notify import command_argv, missing_extra
    from xxp_tui.lang.library import ConfigError, libraries_for

    out: dict = {}
    if stall_after is not None:
        seconds = _duration(stall_after)
        if seconds is None or seconds <= 0:
            fail_usage(f"--stall-after must be a positive duration such as 90s, 10m or 2h, not {stall_after!r}.")
        out["stall_after"] = seconds
    urls = list(notify or [])
    if not urls:
        try:
            libs = libraries_for(spec)
            found, origin = libs.settings.get("notify"), libs.config_file
        except ConfigError:
            found, origin = None, None
        if isinstance(found, str):
            found = [found]
        if found is not None and not (isinstance(found, list) and all(isinstance(u, str) for u in found)):
            fail_usage(f"{origin}: notify must be a list of apprise URLs, such as [\"ntfy://my-topic\"].")
        urls = list(found or [])
    problem = missing_extra(urls)
    if problem:
        fail_usage(problem)
    if urls:
        out["notify"] = urls
    if notify_cmd is not None:
        try:
            out["notify_cmd"] = command_argv(notify_cmd)
        except ValueError as exc:
            fail_usage(f"{exc}.")
    return out


def _duration(text: str) -> float | None:
    text = text.strip().lower()
    units = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for unit in ("ms", "s", "m", "h"):
        if text.endswith(unit):
            text, scale = text[: -len(unit)], units[unit]
            break
    else:
        scale = 1.0
    try:
        seconds = float(text) * scale
    except ValueError:
        return None
    return seconds if seconds == seconds and seconds != float("inf") else None  # not nan, not inf


def _gpu_choice(spec: Path, gpus: str | None) -> str | None:
    """The run's GPU setting: --gpus / XXP_GPUS, else `gpus` in xxp.toml, else None (NVML finds them);
    a malformed one exits 2 with a sentence. The engine chooses the GPUs themselves when it starts."""
    from xxp_tui.engine.gpus import GpuError, parse_setting
    from xxp_tui.lang.library import ConfigError, libraries_for

    source = "--gpus"
    if gpus is None:
        try:
            libs = libraries_for(spec)
            gpus, origin = libs.settings.get("gpus"), libs.config_file
        except ConfigError:
            return None  # already reported by the spec's diagnostics
        if gpus is None:
            return None
        if not isinstance(gpus, str | list):
            fail_usage(f"{origin}: gpus must be a string such as \"0,1\" or \"none\", or a list of indexes.")
        source = f"gpus in {origin}"
    try:
        ids = parse_setting(gpus)
    except GpuError as exc:
        fail_usage(str(exc).replace("--gpus", source, 1) + ".")
    return "all" if ids is None else "none" if ids == [] else ",".join(ids)


def _executor_choice(spec: Path, executor: str | None, scheduler: str | None) -> tuple[str, str | None]:
    """The executor and scheduler of a new run: the flags, else `[executor]` in xxp.toml (or
    `[tool.xxp.executor]` in pyproject.toml), else local. Usage errors exit 2 with a sentence."""
    from xxp_tui.lang.library import ConfigError, libraries_for

    try:
        libs = libraries_for(spec)
        conf, origin = libs.settings.get("executor") or {}, libs.config_file
    except ConfigError:
        conf, origin = {}, None  # already reported by the spec's diagnostics
    if not isinstance(conf, dict):
        fail_usage(f"{origin}: 'executor' must be a table ([executor] with kind and scheduler).")
    kind = str(executor or conf.get("kind") or ("dask" if conf.get("scheduler") else "local")).strip().lower()
    if kind not in ("local", "dask"):
        where = "--executor (or XXP_EXECUTOR)" if executor else f"[executor] kind in {origin}"
        fail_usage(f"{where} must be local or dask, not {kind!r}.")
    if scheduler is not None and kind != "dask":
        fail_usage("--scheduler needs --executor dask.")
    if kind != "dask":
        return kind, None
    import importlib.util

    if importlib.util.find_spec("distributed") is None:
        fail_usage("--executor dask needs Dask distributed: pip install 'xxp-tui[dask]'.")
    source = "--scheduler"
    if scheduler is None and conf.get("scheduler"):
        scheduler, source = str(conf["scheduler"]), f"[executor] scheduler in {origin}"
    if scheduler is not None:
        scheduler = scheduler.strip()
        _check_scheduler(scheduler, source)
    return kind, scheduler


def _check_scheduler(address: str, source: str) -> None:
    """A well-formed scheduler address that answers (checked before anything is recorded)."""
    import re
    import socket

    m = re.fullmatch(r"(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})", address)
    if m is None:
        fail_usage(f"{source} takes a Dask scheduler address such as tcp://HOST:8786, not {address!r}.")
    host, port = m.group(2).strip("[]"), int(m.group(3))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        fail(f"cannot reach the Dask scheduler at {address} ({source}): {exc.strerror or exc}; is `dask scheduler` "
             "running there?", 2)


def resume(
    refs: list[str] = typer.Argument(None, metavar="[RUN | VARIANT...]", autocompletion=complete_run,
                                     help="r3, 3 or latest (default); or suspended variants: v12 v13 …"),
    headless: bool = typer.Option(False, "--headless", envvar="XXP_HEADLESS",
                                  help="Continue in the foreground, no TUI."),
    allow_changed_spec: bool = typer.Option(False, "--allow-changed-spec",
                                            help="Continue even though the spec files changed."),
    no_task_envs: bool = typer.Option(False, "--no-task-envs", help=NO_TASK_ENVS_HELP),
    strict_task_envs: bool = typer.Option(False, "--strict-task-envs", help=STRICT_TASK_ENVS_HELP),
    read_only: bool = READ_ONLY,
    no_mouse: bool = NO_MOUSE,
    low_bandwidth: bool = LOW_BANDWIDTH,
    as_json: bool = typer.Option(False, "--json", help="With a live engine: print its answer as one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Resume a paused run, or restart the engine of a run whose engine died (it reconciles:
    interrupted variants are re-queued, nothing finished is run again); `resume v12 …` continues
    suspended variants."""
    from xxp_tui.cli.steer_commands import resume_variants, send
    from xxp_tui.engine.launch import start_detached, wait_for_engine
    from xxp_tui.kb import runs as kbr

    refs = refs or ["latest"]
    if any(ref.strip().lower().startswith("v") for ref in refs):
        if not all(ref.strip().lower().startswith("v") for ref in refs):
            fail_usage("resume takes one run, or variants (v12 v13 …), not both.")
        resume_variants(refs, as_json, db)
        return
    if len(refs) > 1:
        fail_usage("resume takes one run (r3, 3 or latest); variants are written v12.")
    run_ref = refs[0]
    with kb_session(db) as kb:
        run_id = run_id_of(kb, run_ref)
        run = kbr.get_run(kb, run_id)
        db_path = kb.path
        if run.finished:
            fail(f"r{run_id} is {run.status}; nothing to resume.", 1)
        live = kbr.liveness(kb, run_id)
        if live.alive:  # a paused run: the engine un-pauses it, like any steering command
            from xxp_tui.kb.commands import Resume

            send(kb, run_id, Resume(), as_json)
            return
        kbr.set_paused(kb, run_id, False)
        if no_task_envs or strict_task_envs:  # given: from now on; not given: as the run started
            kbr.update_settings(kb, run_id, **({"no_task_envs": True} if no_task_envs else {}),
                                **({"strict_task_envs": True} if strict_task_envs else {}))
    if headless or not _interactive():
        raise typer.Exit(_drive(db_path, run_id, allow_changed_spec=allow_changed_spec))
    extra = ["--allow-changed-spec"] if allow_changed_spec else []
    proc = start_detached(db_path, run_id, Path(run.project_dir), extra)
    preload_viewer()
    problem = wait_for_engine(db_path, run_id, proc)
    if problem:
        fail(f"the engine of r{run_id} did not start: {problem}", 2)
    from xxp_tui.cli.tui_launch import open_tui

    raise typer.Exit(open_tui(db_path, run_id, read_only=read_only, mouse=not no_mouse, low_bandwidth=low_bandwidth))


def attach(
    run_ref: str = run_argument(),
    read_only: bool = READ_ONLY,
    no_mouse: bool = NO_MOUSE,
    low_bandwidth: bool = LOW_BANDWIDTH,
    db: Path = DB_OPTION,
) -> None:
    """Open the viewer on a run (it may be running, paused, finished or have a dead engine)."""
    with kb_session(db, readonly=True) as kb:
        run_id = run_id_of(kb, run_ref)
        db_path = kb.path
    if not _interactive():
        fail_usage("attach needs a terminal; use `xxp-tui variants` or `xxp-tui show` instead.")
    from xxp_tui.cli.tui_launch import open_tui

    raise typer.Exit(open_tui(db_path, run_id, read_only=read_only, mouse=not no_mouse, low_bandwidth=low_bandwidth))
