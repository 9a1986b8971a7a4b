"""Root of the CLI: builds the typer app from the command modules."""

from __future__ import annotations

import typer

from xxp_tui import __version__
from xxp_tui.cli import inspect_commands, knowledge_commands, run_commands, spec_commands, steer_commands

app = typer.Typer(
    name="xxp-tui",
    help="Run and steer ExtremeXP experiments from a terminal.",
    invoke_without_command=True,
    add_completion=False,
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
) -> None:
    """Run and steer ExtremeXP experiments from a terminal. With no command on a terminal: pick a
    run of the nearest knowledge base to watch."""
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
knowledge_commands.register(app)


def main() -> None:
    app()
