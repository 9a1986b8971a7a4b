"""The viewer's details of a variant show the warning of an output its task did not write (issue 10),
however many events came after it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from tests.engine.conftest import Project, xxp
from xxp_tui.kb import runs as kbr
from xxp_tui.tui.app import XxpApp

from .conftest import wait_for


def pane_text(app: XxpApp) -> str:
    console = Console(width=200, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(app.details_pane.content)  # what the pane was last updated with
    return console.export_text()


async def test_the_details_pane_shows_the_warning(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.task("x.make", "task Make { define output data table; implementation \"make.py\"; }", "make.py",
           "resultMap.put('made', 1)\n")
    chain = " -> ".join(f"U{i}" for i in range(6))
    tasks = "\n".join(f'task U{i} {{ implementation "x.use"; }}' for i in range(6))
    p.task("x.use", "task Use { define input data table; implementation \"use.py\"; }", "use.py",
           "variables.put('seen', variables.get('table'))\n")
    spec = p.spec(f"""
        workflow W {{
            START -> Make -> {chain} -> END;
            task Make {{ implementation "x.make"; }}
            {tasks}
            {" ".join(f"Make.table --> U{i}.table;" for i in range(6))}
        }}
        experiment E {{ control {{ START -> S -> END; }} space S of W {{ strategy gridsearch; }} }}""")
    out = xxp("run", spec, "--headless", "--db", p.db, cwd=tmp_path, timeout=180)
    assert out.returncode == 0, out.stdout[-2000:]
    app = XxpApp(p.db, 1, keymap={}, poll_interval=0.1)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.summary.run is not None and app.summary.run.status == "completed",
                       what="the finished run")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "warning: v1: Make did not write output table" in pane_text(app),
                       what="the warning in the details pane")
    with p.kb() as kb:
        assert kbr.get_run(kb, 1).status == "completed"

