"""Root of the CLI: builds the typer app from the command modules."""

from __future__ import annotations

import typer

from xxp_tui import __version__
from xxp_tui.cli import inspect_commands, run_commands, spec_commands, steer_commands

app = typer.Typer(
    name="xxp-tui",
    help="Run and steer ExtremeXP experiments from a terminal.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"xxp-tui {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Run and steer ExtremeXP experiments from a terminal."""


spec_commands.register(app)
run_commands.register(app)
inspect_commands.register(app)
steer_commands.register(app)


def main() -> None:
    app()
