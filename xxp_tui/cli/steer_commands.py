"""Steering a running experiment: each command goes through the KB to the engine, which applies it
once and writes back the outcome; the command prints that outcome (or says the engine is not
running and the command waits for `xxp-tui resume`)."""

from __future__ import annotations

from pathlib import Path

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_id_of
from xxp_tui.cli.output import fail, fail_usage

WAIT = 15.0


def register(app: typer.Typer) -> None:
    # `resume` lives in run_commands: besides un-pausing, it restarts a dead engine.
    for fn in (prune, prioritize, inject, pause, parallel, answer, stop):
        app.command(fn.__name__)(fn)


def send(kb, run_id: int, verb: str, args: dict) -> None:
    """Submit, wait for the engine's outcome, print it; exit 1 when refused."""
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import runs as kbr

    run = kbr.get_run(kb, run_id)
    if run.finished:
        fail(f"r{run_id} is {run.status}; it takes no more commands.")
    cmd_id = kbc.submit(kb, run_id, verb, args)
    live = kbr.liveness(kb, run_id)
    if not live.alive:
        print(f"{verb}: queued as command #{cmd_id}, but the engine of r{run_id} is not running "
              f"({live.label}); it is applied when the run resumes: xxp-tui resume r{run_id}")
        raise typer.Exit(0)
    cmd = kbc.wait(kb, cmd_id, timeout=WAIT)
    if cmd.status == "pending":
        print(f"{verb}: sent as command #{cmd_id}; the engine has not answered within {WAIT:.0f} s")
        raise typer.Exit(0)
    if cmd.status == "refused":
        fail(f"{verb} refused: {cmd.outcome}")
    print(cmd.outcome)


def _variant_run(kb, ref: str) -> int:
    from xxp_tui.kb import variants as kbv

    vid = kbv.parse_variant_ref(ref)
    if vid is None:
        fail_usage(f"{ref!r} is not a variant (write v12 or 12).")
    v = kbv.find(kb, vid)
    if v is None:
        fail_usage(f"No variant v{vid} in {kb.path}.")
    return v.run_id


def _check_priority(priority: int) -> None:
    from xxp_tui.kb.commands import priority_problem

    problem = priority_problem(priority)
    if problem:
        fail_usage(problem[0].upper() + problem[1:] + ".")


def prune(variants: list[str] = typer.Argument(..., metavar="VARIANT...", help="v12 v13 …"),
          db: Path = DB_OPTION) -> None:
    """Prune variants: queued ones never run, running ones are stopped (process group killed)."""
    with kb_session(db) as kb:
        runs = {_variant_run(kb, ref) for ref in variants}
        if len(runs) > 1:
            fail_usage("Those variants belong to different runs; prune them one run at a time.")
        send(kb, runs.pop(), "prune", {"variants": list(variants)})


def prioritize(variant: str = typer.Argument(..., metavar="VARIANT"),
               priority: int = typer.Option(..., "--priority", "-p", help="Higher runs sooner (default 0)."),
               db: Path = DB_OPTION) -> None:
    """Change a queued variant's priority; higher runs sooner."""
    _check_priority(priority)
    with kb_session(db) as kb:
        send(kb, _variant_run(kb, variant), "prioritize", {"variant": variant, "priority": priority})


def inject(run_ref: str = typer.Argument("latest", metavar="RUN"),
           space: str = typer.Option(..., "--space", "-s", help="The space to add a variant to."),
           assignments: list[str] = typer.Option([], "--set", help="Task.param=value (repeatable)."),
           priority: int = typer.Option(1, "--priority", "-p", help="Priority of the new variant."),
           db: Path = DB_OPTION) -> None:
    """Add a variant with chosen params to a running space (checked against its value lists)."""
    from xxp_tui.spec.assign import parse_assignments

    values, errors = parse_assignments(assignments)
    if errors:
        fail_usage("; ".join(errors))
    _check_priority(priority)
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), "inject", {"space": space, "values": values, "priority": priority})


def pause(run_ref: str = typer.Argument("latest", metavar="RUN"), db: Path = DB_OPTION) -> None:
    """Pause a run: running tasks finish, no new ones start."""
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), "pause", {})


def parallel(run_ref: str = typer.Argument(..., metavar="RUN"),
             workers: int = typer.Argument(..., metavar="N", help="Tasks run at once."),
             db: Path = DB_OPTION) -> None:
    """Change how many tasks run at once, live."""
    if workers < 1:
        fail_usage("N must be 1 or more.")
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), "parallel", {"workers": workers})


def answer(run_ref: str = typer.Argument("latest", metavar="RUN"),
           node: str = typer.Argument(None, metavar="[NODE]", help="The interaction (or v12 for a task)."),
           assignments: list[str] = typer.Option([], "--set", help="field=value (repeatable)."),
           db: Path = DB_OPTION) -> None:
    """Answer a waiting interaction; the answer becomes that node's result for later conditions."""
    from xxp_tui.spec.assign import parse_assignments

    values, errors = parse_assignments(assignments)
    if errors:
        fail_usage("; ".join(errors))
    with kb_session(db) as kb:
        args = {"values": values}
        if node is not None:
            args["node"] = node
        send(kb, run_id_of(kb, run_ref), "answer", args)


def stop(run_ref: str = typer.Argument("latest", metavar="RUN"), db: Path = DB_OPTION) -> None:
    """Stop a run for good: running tasks are killed, queued variants cancelled."""
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), "stop", {})
