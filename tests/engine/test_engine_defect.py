"""A defect inside the engine's loop never leaves a run `running` with variants stuck `running`.

The defect is injected (a real bug cannot be summoned on demand): a headless run in a subprocess
whose engine raises on its first turn after a task started. The run must end `interrupted` with the
reason, its running variant queued again, the user told in sentences (no traceback), and
`resume --headless` must finish it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from .conftest import clean_env, xxp
from .helpers_faults import grid_project

DRIVER = textwrap.dedent("""
    import sys
    from xxp_tui.cli.main import main
    from xxp_tui.engine.shell import Engine

    original = Engine._on_started

    def broken(self, event):
        original(self, event)
        raise ModuleNotFoundError("No module named 'imaginary'")

    Engine._on_started = broken
    sys.argv = ["xxp-tui", *sys.argv[1:]]
    main()
""")


@pytest.mark.slow
def test_an_engine_defect_interrupts_the_run_resumably_with_a_sentence(project):
    spec = grid_project(project, ("ok",))
    done = subprocess.run([sys.executable, "-c", DRIVER, "run", str(spec), "--headless", "--workers", "1",
                           "--db", str(project.db)], cwd=project.root, env=clean_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    assert "the engine stopped on an error (ModuleNotFoundError: No module named 'imaginary')" in done.stderr
    assert "xxp-tui resume r1" in done.stderr
    run = project.latest_run()
    assert run.status == "interrupted" and "ModuleNotFoundError" in run.reason
    assert [v.status for v in project.variants()] == ["queued"]

    resumed = xxp("resume", "r1", "--headless", "--db", project.db, cwd=project.root, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert [v.status for v in project.variants()] == ["completed"]
    assert project.latest_run().status == "completed"
