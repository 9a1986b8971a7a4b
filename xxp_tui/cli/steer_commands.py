"""Steering a running experiment: each command goes through the KB to the engine, which applies it
once and writes back the outcome; the command prints that outcome (or says the engine is not
running and the command waits for `xxp-tui resume`).

Each command is made as its class of `kb.commands`' vocabulary, which checks its arguments: a bad one
is a usage error (exit 2) here, before anything reaches the KB."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_argument, run_id_of, variant_argument
from xxp_tui.cli.completion import (
    complete_run,
    complete_space,
    complete_task_param,
    complete_variant,
    complete_waiting,
)
from xxp_tui.cli.output import fail, fail_usage

if TYPE_CHECKING:  # the vocabulary is imported where a command runs: `xxp-tui --help` stays light
    from xxp_tui.kb.commands import SteerCommand

WAIT = 15.0


def register(app: typer.Typer) -> None:
    # `resume` lives in run_commands: besides un-pausing, it restarts a dead engine.
    for fn in (prune, prioritize, inject, pause, parallel, answer, stop, suspend):
        app.command(fn.__name__)(fn)


def send(kb, run_id: int, command: SteerCommand, as_json: bool = False) -> None:
    """Submit, wait for the engine's outcome, print it; exit 1 when refused. With `as_json`, one
    object: command id, run, verb, status (done, refused, pending: not answered in time, queued: no
    engine running) and the outcome sentence."""
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import runs as kbr

    verb = command.verb
    run = kbr.get_run(kb, run_id)
    if run.finished:
        fail(f"r{run_id} is {run.status}; it takes no more commands.")
    cmd_id = kbc.submit(kb, run_id, command)
    live = kbr.liveness(kb, run_id)
    if not live.alive:
        _report(as_json, cmd_id, run_id, verb, "queued",
                f"{verb}: queued as command #{cmd_id}, but the engine of r{run_id} is not running "
                f"({live.label}); it is applied when the run resumes: xxp-tui resume r{run_id}")
        raise typer.Exit(0)
    cmd = kbc.wait(kb, cmd_id, timeout=WAIT)
    if cmd.status == "pending":
        _report(as_json, cmd_id, run_id, verb, "pending",
                f"{verb}: sent as command #{cmd_id}; the engine has not answered within {WAIT:.0f} s")
        raise typer.Exit(0)
    if cmd.status == "refused":
        # The engine's sentence may itself start with "refused:" (a prune of only finished variants).
        reason = (cmd.outcome or "").removeprefix("refused: ")
        if as_json:
            _report(True, cmd_id, run_id, verb, "refused", reason)
            raise typer.Exit(1)
        fail(f"{verb} refused: {reason}")
    _report(as_json, cmd_id, run_id, verb, "done", cmd.outcome or "")


def _report(as_json: bool, cmd_id: int, run_id: int, verb: str, status: str, outcome: str) -> None:
    if as_json:
        print(json.dumps({"command": cmd_id, "run": f"r{run_id}", "verb": verb, "status": status,
                          "outcome": outcome}, indent=2))
    else:
        print(outcome)


def _variant_run(kb, ref: str) -> int:
    from xxp_tui.kb import variants as kbv

    vid = kbv.parse_variant_ref(ref)
    if vid is None:
        fail_usage(f"{ref!r} is not a variant (write v12 or 12).")
    v = kbv.find(kb, vid)
    if v is None:
        fail_usage(f"No variant v{vid} in {kb.path}.")
    return v.run_id


def make(cls: type[SteerCommand], **args) -> SteerCommand:
    """The command, or a usage error (exit 2) with its own sentence when an argument is out of bounds."""
    from xxp_tui.kb.commands import CommandError

    try:
        return cls(**args)
    except CommandError as exc:
        problem = str(exc)
        fail_usage(problem[0].upper() + problem[1:] + ".")


JSON = typer.Option(False, "--json", help="Print the engine's answer as one JSON object.")


def prune(variants: list[str] = typer.Argument(..., metavar="VARIANT...", help="v12 v13 …",
                                               autocompletion=complete_variant),
          as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Prune variants: queued ones never run, running ones are stopped (process group killed)."""
    from xxp_tui.kb.commands import Prune

    command = make(Prune, variants=tuple(variants))
    with kb_session(db) as kb:
        runs = {_variant_run(kb, ref) for ref in variants}
        if len(runs) > 1:
            fail_usage("Those variants belong to different runs; prune them one run at a time.")
        send(kb, runs.pop(), command, as_json)


def _one_run(kb, variants: list[str], verb: str) -> int:
    runs = {_variant_run(kb, ref) for ref in variants}
    if len(runs) > 1:
        fail_usage(f"Those variants belong to different runs; {verb} them one run at a time.")
    return runs.pop()


def suspend(variants: list[str] = typer.Argument(..., metavar="VARIANT...", help="v12 v13 …",
                                                 autocompletion=complete_variant),
            release_slot: bool = typer.Option(False, "--release-slot",
                                              help="Let another task use its slot meanwhile (its process "
                                                   "still holds its memory and GPUs)."),
            as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Hold variants: a running one's processes are stopped (SIGSTOP), a queued one does not start;
    `xxp-tui resume VARIANT…` continues them. Held time does not count toward a task's timeout."""
    from xxp_tui.kb.commands import Suspend

    with kb_session(db) as kb:
        send(kb, _one_run(kb, variants, "suspend"), Suspend(tuple(variants), release_slot), as_json)


def resume_variants(variants: list[str], as_json: bool, db: Path | None) -> None:
    """`resume v12 v13`: continue suspended variants (called by `resume`, which also takes a run)."""
    from xxp_tui.kb.commands import ResumeVariants

    with kb_session(db) as kb:
        send(kb, _one_run(kb, variants, "resume"), ResumeVariants(tuple(variants)), as_json)


def prioritize(variant: str = variant_argument(),
               priority: int = typer.Option(..., "--priority", "-p", help="Higher runs sooner (default 0)."),
               as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Change a queued variant's priority; higher runs sooner."""
    from xxp_tui.kb.commands import Prioritize

    command = make(Prioritize, variant=variant, priority=priority)
    with kb_session(db) as kb:
        send(kb, _variant_run(kb, variant), command, as_json)


def inject(run_ref: str = run_argument(),
           space: str = typer.Option(..., "--space", "-s", help="The space to add a variant to.",
                                     autocompletion=complete_space),
           assignments: list[str] = typer.Option([], "--set", help="Task.param=value (repeatable).",
                                                 autocompletion=complete_task_param),
           priority: int = typer.Option(1, "--priority", "-p", help="Priority of the new variant."),
           as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Add a variant with chosen params to a running space (checked against its value lists)."""
    from xxp_tui.kb.commands import Inject
    from xxp_tui.lang.assign import parse_assignments

    values, errors = parse_assignments(assignments)
    if errors:
        fail_usage("; ".join(errors))
    command = make(Inject, space=space, values=values, priority=priority)
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), command, as_json)


def pause(run_ref: str = run_argument(), as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Pause a run: running tasks finish, no new ones start."""
    from xxp_tui.kb.commands import Pause

    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), Pause(), as_json)


def parallel(words: list[str] = typer.Argument(None, metavar="[RUN] N", autocompletion=complete_run,
                                               help="The run (default: latest), then the number of tasks run at once."),
             as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Change how many tasks run at once, live: `parallel 4` for the latest run, `parallel r3 4`."""
    if not words or len(words) > 2:
        fail_usage("parallel takes [RUN] N: a run (default: latest) and a number.")
    run_ref, count = ("latest", words[0]) if len(words) == 1 else (words[0], words[1])
    from xxp_tui.kb.commands import Parallel

    if not count.strip().isdigit() or int(count) < 1:
        fail_usage(f"N must be a whole number, 1 or more, not {count!r}.")
    command = make(Parallel, workers=int(count))
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), command, as_json)


def answer(run_ref: str = run_argument(),
           node: str = typer.Argument(None, metavar="[NODE]", help="The interaction (or v12 for a task).",
                                      autocompletion=complete_waiting),
           assignments: list[str] = typer.Option([], "--set", help="field=value (repeatable)."),
           as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Answer a waiting interaction; the answer becomes that node's result for later conditions."""
    from xxp_tui.kb.commands import Answer
    from xxp_tui.lang.assign import parse_assignments

    values, errors = parse_assignments(assignments)
    if errors:
        fail_usage("; ".join(errors))
    command = make(Answer, values=values, node=node)
    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), command, as_json)


def stop(run_ref: str = run_argument(), as_json: bool = JSON, db: Path = DB_OPTION) -> None:
    """Stop a run for good: running tasks are killed, queued variants cancelled."""
    from xxp_tui.kb.commands import Stop

    with kb_session(db) as kb:
        send(kb, run_id_of(kb, run_ref), Stop(), as_json)
