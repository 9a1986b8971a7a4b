"""The `xxp-tui` command line (typer). Front end only: it reads the KB and sends commands.

Each command module imports what it needs inside the command function, so `xxp-tui --help`
loads neither textual nor optuna nor networkx (a test checks it).
"""

from xxp_tui.cli.main import app, main

__all__ = ["app", "main"]
