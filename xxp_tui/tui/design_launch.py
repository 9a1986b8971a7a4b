"""Opening the designer (imported only by `xxp-tui design`, so --help never loads Textual)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def open_designer(file: Path | None) -> int:
    """Run the designer; `r` in it saves and then runs the spec in the run viewer."""
    from xxp_tui.tui.design_app import DesignApp

    path = file or Path("design.xxp")
    outcome = DesignApp(path).run()
    if isinstance(outcome, tuple) and outcome[0] == "run":
        _, spec, experiment = outcome
        argv = [sys.executable, "-m", "xxp_tui", "run", str(spec)]
        if experiment:
            argv += ["--experiment", experiment]
        return subprocess.call(argv)
    return 0
