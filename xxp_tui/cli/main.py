"""Root of the CLI: builds the typer app from the command modules."""

from __future__ import annotations

import typer

from xxp_tui import __version__
from xxp_tui.cli import (
    amend_commands,
    design_commands,
    inspect_commands,
    knowledge_commands,
    lessons_commands,
    run_commands,
    spec_commands,
    steer_commands,
)

EXIT_CODES_HELP = """\b
Exit codes:
  0    success: every variant completed or was pruned; a command was applied
  1    a variant failed, the engine refused a command, or a spec has diagnostics
  2    misuse or an invalid spec: nothing was run
  3    an internal error of xxp-tui: the traceback is saved; please report it
  130  interrupted (Ctrl-C): the run is resumable

Settings also come from the environment ([env var: …] beside each option): a flag wins over the
environment, which wins over xxp.toml, which wins over the default. NO_COLOR turns colour off."""

app = typer.Typer(
    name="xxp-tui",
    help="Run and steer ExtremeXP experiments from a terminal.",
    epilog=EXIT_CODES_HELP,
    invoke_without_command=True,
    add_completion=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xxp-tui {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    color: str = typer.Option("auto", "--color", metavar="auto|always|never", envvar="XXP_COLOR",
                              autocompletion=lambda: ["auto", "always", "never"],
                              help="Colour in headless output: auto (a terminal, unless NO_COLOR is set), "
                                   "always or never."),
) -> None:
    """Run and steer ExtremeXP experiments from a terminal. With no command on a terminal: pick a
    run of the nearest knowledge base to watch."""
    from xxp_tui.cli import color as colour

    if color not in colour.MODES:
        from xxp_tui.cli.output import fail_usage

        fail_usage(f"--color takes auto, always or never, not {color!r}.")
    colour.set_mode(color)
    if ctx.invoked_subcommand is not None:
        return
    import sys

    from xxp_tui.cli.common import find_db

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    db = find_db(None)
    from xxp_tui.cli.tui_launch import open_tui, pick_run

    run_id = pick_run(db)
    if run_id is not None:
        raise typer.Exit(open_tui(db, run_id))


spec_commands.register(app)
run_commands.register(app)
inspect_commands.register(app)
steer_commands.register(app)
amend_commands.register(app)
knowledge_commands.register(app)
design_commands.register(app)
lessons_commands.register(app)


def main() -> None:
    """The console script. A defect never shows the user a traceback: it gets a sentence and the
    path of a private file holding the traceback (or the traceback itself with XXP_DEBUG=1)."""
    import os
    import sys

    from xxp_tui.cli.completion import answer_click_protocol, click_instruction

    instruction = click_instruction()
    if instruction is not None:  # click's completion protocol (Typer's own order is handled by app())
        sys.exit(answer_click_protocol(app, *instruction))
    try:
        app()
    except KeyboardInterrupt:
        print("xxp-tui: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        from xxp_tui.kb.connection import KBError

        if isinstance(exc, KBError):  # e.g. a run or variant that is not there: a sentence, not a bug
            print(f"xxp-tui: {exc}", file=sys.stderr)
            sys.exit(2)
        sentence = _storage_sentence(exc)
        if sentence:  # the KB's disk, not a bug: full, read-only, failing
            print(f"xxp-tui: {sentence}", file=sys.stderr)
            sys.exit(1)
        if os.environ.get("XXP_DEBUG"):  # a bug of ours, not the user's input
            raise
        print(f"xxp-tui: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"xxp-tui: the details are in {_save_traceback()}; please report it", file=sys.stderr)
        sys.exit(3)


def _storage_sentence(exc: Exception) -> str | None:
    import sys
    from pathlib import Path

    from xxp_tui.kb.connection import DatabaseError, default_db_path, storage_sentence

    if not isinstance(exc, DatabaseError):
        return None

    args = sys.argv[1:]
    path = next((a[5:] for a in args if a.startswith("--db=")), None)
    if path is None and "--db" in args[:-1]:
        path = args[args.index("--db") + 1]
    return storage_sentence(Path(path) if path else default_db_path(), exc)


def _save_traceback() -> str:
    import os
    import tempfile
    import time
    import traceback

    from xxp_tui.paths import cache_dir

    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, path = tempfile.mkstemp(prefix=time.strftime("crash-%Y%m%d-%H%M%S-"), suffix=".log", dir=folder)
    except OSError:
        fd, path = tempfile.mkstemp(prefix="xxp-tui-crash-", suffix=".log")
    with os.fdopen(fd, "w") as fh:
        fh.write(traceback.format_exc())
    return path
