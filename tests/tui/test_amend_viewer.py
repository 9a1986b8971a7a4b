"""Amending through the viewer with Pilot: `A` opens the run's current spec in $EDITOR (here a small
script that edits the file, as a person would), the first save has a syntax error (shown as
file:line:col with the caret, and the file opens again), the second is valid; the amendment is
shown, confirmed, applied by the real engine, and the tree and table show the new version."""

from __future__ import annotations

import stat
import sys
import textwrap
from pathlib import Path

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import spec_versions as kbsv
from xxp_tui.kb import variants as kbv
from xxp_tui.tui.app import XxpApp

from .conftest import wait_for

EDITOR = """\
#!{python}
# A scripted editor: the first call breaks the spec (a missing ';'), the next one fixes it and
# widens the grid's `x` from range(0, 6) to range(0, 8); it counts its calls in a file beside it.
import sys
from pathlib import Path

path = Path(sys.argv[1])
calls = Path(__file__).with_suffix(".calls")
n = int(calls.read_text()) if calls.exists() else 0
calls.write_text(str(n + 1))
text = path.read_text()
if n == 0:
    text = text.replace("strategy gridsearch;", "strategy gridsearch")
else:
    text = text.replace("strategy gridsearch\\n", "strategy gridsearch;\\n").replace("range(0, 6)", "range(0, 8)")
path.write_text(text)
"""


def scripted_editor(folder: Path) -> Path:
    path = folder / "editor.py"
    path.write_text(textwrap.dedent(EDITOR).replace("{python}", sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


async def test_amend_through_the_viewer_with_an_editor(live_run, tmp_path, monkeypatch):
    run = live_run(n=6, secs=3, workers=1)
    monkeypatch.setenv("EDITOR", str(scripted_editor(tmp_path)))
    monkeypatch.delenv("VISUAL", raising=False)
    app = XxpApp(run.db, run.run_id, keymap={}, poll_interval=0.1)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.nodes["Grid"].status == "running" and app.project is not None
                       and len(app.table.rows) >= 12, what="Grid running, spec loaded")
        await pilot.press("A")
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen", what="the error dialog")
        shown = str(app.screen.detail)
        assert "e.xxp:" in shown and "error" in shown and "^" in shown, shown
        await pilot.press("y")  # edit again
        await wait_for(pilot, lambda: app.screen.__class__.__name__ == "ConfirmScreen"
                       and "Amend r1" in app.screen.question, what="the amendment summary")
        summary = str(app.screen.detail)
        assert "Grid: x range(0, 6) -> range(0, 8)" in summary and "adds 4 grid point(s)" in summary, summary
        await pilot.press("y")
        await wait_for(pilot, lambda: any(c.verb == "amend" and c.status == "done" for c in commands(run)),
                       timeout=20, what="the amendment applied")
        with run.kb() as kb:
            assert [v.version for v in kbsv.for_run(kb, run.run_id)] == [1, 2]

        def added() -> list:  # the grid hands its new points out as its queue runs low: poll for them
            with run.kb() as kb:
                return [v for v in kbv.for_run(kb, run.run_id) if v.params.get("S.x") in (6, 7)]

        await wait_for(pilot, lambda: len(added()) == 4, timeout=30, what="the 4 new grid points queued")
        assert {v.spec_version for v in added()} == {2}
        assert "range(0, 8)" in run.spec.read_text()  # the run's spec file follows the applied version
        await wait_for(pilot, lambda: "spec s2" in str(app.run_tree.root.label), what="the tree shows s2")
        origin = next(c for c in app.table.columns if c.key == "origin")
        await wait_for(pilot, lambda: any(app.table._cell_text(r, origin) == "strategy s2"
                                          for r in app.table.rows.values()), what="the table shows s2")


def commands(run) -> list[kbc.Command]:
    with run.kb() as kb:
        return kbc.for_run(kb, run.run_id)
