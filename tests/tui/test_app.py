"""The viewer driven by Textual's Pilot at 80x24 against a real engine process and a real KB.

Every steering test asserts on the KB (the command row, its outcome, the variant or run state,
the audit event), not only on the screen.
"""

from __future__ import annotations

import os
import signal

import pytest

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.widgets.run_tree import RunTree
from xxp_tui.tui.widgets.variant_table import VariantTable

from .conftest import wait_for

SIZE = (80, 24)


def app_for(run, **kw) -> XxpApp:
    return XxpApp(run.db, run.run_id, keymap={}, poll_interval=0.1, **kw)


def variant(run, vid: int) -> kbv.Variant:
    with run.kb() as kb:
        return kbv.get(kb, vid)


def commands(run) -> list[kbc.Command]:
    with run.kb() as kb:
        return kbc.for_run(kb, run.run_id)


async def goto(pilot, app: XxpApp, vid: int) -> None:
    await pilot.press("colon", *f"goto v{vid}", "enter")
    await wait_for(pilot, lambda: app.table.cursor_variant == vid, what=f"cursor on v{vid}")


async def test_table_and_tree_follow_the_engine(live_run):
    run = live_run(n=3, secs=0.3, workers=2)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        table = app.query_one(VariantTable)
        await wait_for(pilot, lambda: len(table.rows) == 6, what="6 rows")
        await wait_for(pilot, lambda: any(r.data["status"] == "running" for r in table.rows.values()),
                       what="a running row")
        grid = lambda: [r.data for r in table.rows.values() if r.data["space"] == "Grid"]  # noqa: E731
        await wait_for(pilot, lambda: all(d["status"] == "completed" for d in grid()), timeout=30,
                       what="the grid completed")
        # the objective column came with the completions
        assert {d["objective"] for d in grid()} == {0.0, 1.0, 2.0}
        tree = app.query_one(RunTree)
        # The node is marked done just after its last variant ends (a poll may fall in between).
        await wait_for(pilot, lambda: str(tree.node_items["Grid"].label).startswith("✓ Grid"), what="Grid done")
        assert "6/6" in str(tree.node_items["Grid"].label)
        # the interaction now waits: the status bar and the tree say so
        await wait_for(pilot, lambda: app.summary.run.status == "waiting_input", what="waiting_input")
        await wait_for(pilot, lambda: str(tree.node_items["Review"].label).startswith("●"), what="Review running")


async def test_prune_a_queued_variant_with_the_keyboard(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await goto(pilot, app, 10)
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("y")
        await wait_for(pilot, lambda: variant(run, 10).status == "pruned", what="v10 pruned in the KB")
        cmds = [c for c in commands(run) if c.verb == "prune"]
        assert len(cmds) == 1 and cmds[0].status == "done" and cmds[0].args == {"variants": ["v10"]}
        with run.kb() as kb:
            events = [e for e in kbc.events(kb, run.run_id) if e.command_id == cmds[0].id]
            assert len(events) == 1 and events[0].kind == "prune"
            assert kbv.task_runs(kb, 10) == []  # a pruned queued variant never starts
        await wait_for(pilot, lambda: app.table.rows[10].data["status"] == "pruned", what="table shows pruned")


async def test_prune_tagged_running_and_queued(live_run):
    # Tasks long enough that v1 cannot finish before the prune reaches the engine on a loaded
    # machine (it once did at 5 s, and the prune was refused as "v1 already completed").
    run = live_run(n=6, secs=120, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.table.rows.get(1) and app.table.rows[1].data["status"] == "running",
                       what="v1 running")
        await goto(pilot, app, 1)
        await pilot.press("space", "space")  # tags v1 and v2
        assert app.table.tagged == {1, 2}
        await pilot.press("d", "y")
        await wait_for(pilot, lambda: variant(run, 1).status == "pruned" and variant(run, 2).status == "pruned",
                       what="v1 and v2 pruned")
        with run.kb() as kb:
            tr = kbv.task_runs(kb, 1)[0]
        await wait_for(pilot, lambda: not _alive(tr.pid), timeout=30, what="v1's process gone")


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split()[2] != "Z"


async def test_priority_keys(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await goto(pilot, app, 9)
        await pilot.press("right_square_bracket")
        await wait_for(pilot, lambda: variant(run, 9).priority == 1, what="v9 priority 1")
        await wait_for(pilot, lambda: app.table.rows[9].data["priority"] == 1, what="table shows priority 1")
        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(pilot, lambda: variant(run, 9).priority == -1, timeout=20, what="v9 priority -1")


async def test_inject_through_the_form(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.nodes.get("Grid") and app.nodes["Grid"].status == "running"
                       and app.project is not None, what="Grid running, spec loaded")
        await pilot.press("i")
        await pilot.pause()
        form = app.screen
        assert form.__class__.__name__ == "InjectForm"
        await pilot.press(*"5000")  # x: outside its declared range (0, 1000) -> the form refuses
        await pilot.pause()
        assert form.query_one("#ok").disabled
        await pilot.press("backspace", "backspace")  # 50: off the grid range(0, 6), inside the declared range
        await pilot.pause()
        assert "off the grid" in str(form.query_one("#errors").render()) and not form.query_one("#ok").disabled
        await pilot.press("backspace", "backspace", "4", "tab", "b")
        await pilot.pause()
        assert not form.query_one("#ok").disabled
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: any(c.verb == "inject" and c.status == "done" for c in commands(run)),
                       what="inject applied")
        with run.kb() as kb:
            injected = [v for v in kbv.for_run(kb, run.run_id) if v.origin == "injected"]
        assert len(injected) == 1
        assert injected[0].params == {"S.x": 4, "S.label": "b", "S.secs": 3.0}
        assert injected[0].priority == 1


async def test_pause_resume_and_parallelism(live_run):
    run = live_run(n=6, secs=2, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, what="summary")
        await pilot.press("p")
        await wait_for(pilot, lambda: _run(run).paused, what="paused in the KB")
        await wait_for(pilot, lambda: app.summary.run.paused, what="viewer sees paused")
        await pilot.press("p")
        await wait_for(pilot, lambda: not _run(run).paused, what="resumed")
        await pilot.press("plus")
        await wait_for(pilot, lambda: _run(run).workers == 2, what="2 workers")
        await wait_for(pilot, lambda: app.summary.run.workers == 2, what="viewer sees 2 workers")
        await pilot.press("minus")
        await wait_for(pilot, lambda: _run(run).workers == 1, what="back to 1 worker")


def _run(run) -> kbr.Run:
    with run.kb() as kb:
        return kbr.get_run(kb, run.run_id)


async def test_answer_the_interaction(live_run):
    run = live_run(n=1, secs=0.2, workers=2)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.summary is not None and app.summary.run.status == "waiting_input"
                       and app.project is not None, timeout=30, what="waiting for an answer")
        await wait_for(pilot, lambda: app._waiting(), what="the viewer sees the waiting interaction")
        await pilot.press("a")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "AnswerForm"
        good = app.screen.query("Input").first()
        good.value = "maybe"
        await pilot.pause()
        assert app.screen.query_one("#ok").disabled  # not a Boolean
        good.value = "false"
        await pilot.pause()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: _run(run).status == "completed", timeout=20, what="run completed")
        with run.kb() as kb:
            node = kbr.nodes(kb, run.run_id)["Review"]
        assert node.result == {"good": False, "note": "ok"}


async def test_stop_the_run(live_run):
    run = live_run(n=6, secs=5, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.summary is not None and len(app.table.rows) == 12, what="rows")
        await pilot.press("X")
        await pilot.pause()
        await pilot.press("enter")  # Cancel has the focus: nothing happens
        await pilot.pause(0.3)
        assert not any(c.verb == "stop" for c in commands(run))
        await pilot.press("X", "y")
        await wait_for(pilot, lambda: _run(run).status == "stopped", timeout=20, what="stopped")
        with run.kb() as kb:
            counts = kbv.counts(kb, run.run_id)
        assert counts["queued"] == 0 and counts["running"] == 0 and counts["cancelled"] >= 10


async def test_command_line(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await pilot.press("colon", *"prio v8 7", "enter")
        await wait_for(pilot, lambda: variant(run, 8).priority == 7, what="v8 priority 7")
        await pilot.press("colon", *"prune v11 v12", "enter")
        await wait_for(pilot, lambda: variant(run, 11).status == variant(run, 12).status == "pruned",
                       what="v11 v12 pruned")
        await pilot.press("colon", *"inject Grid x=5 label=a", "enter")
        await wait_for(pilot, lambda: any(c.verb == "inject" and c.status == "done" for c in commands(run)),
                       what="injected")
        await pilot.press("colon", *"prune v1000", "enter")
        await wait_for(pilot, lambda: any(c.verb == "prune" and c.status == "refused" for c in commands(run)),
                       what="refused prune")
        # history: up recalls the last command
        await pilot.press("colon", "up")
        assert app.query_one("#cmdline").value == "prune v1000"
        await pilot.press("escape")
        await pilot.press("colon", *"frobnicate", "enter")  # a typo is an error message, not a command
        await pilot.pause()
        assert not any(c.verb == "frobnicate" for c in commands(run))


async def test_read_only_viewer_sends_nothing(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run, read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 12, what="rows")
        await goto(pilot, app, 9)
        await pilot.press("d", "y", "p", "plus", "right_square_bracket", "i", "X", "y")
        await pilot.press("colon", *"prune v9", "enter")
        await pilot.pause(0.5)
        assert commands(run) == []
        assert app.check_action("prune", ()) is False


async def test_filter_sort_and_follow(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        table = app.table
        await wait_for(pilot, lambda: len(table.rows) == 12, what="rows")
        await pilot.press("slash", *"label:b", "enter")
        await pilot.pause()
        assert len(table.order) == 6 and all(table.rows[v].data["params"]["S.label"] == "b" for v in table.order)
        await pilot.press("slash", *["backspace"] * 7, "enter")
        await pilot.pause()
        assert len(table.order) == 12
        await goto(pilot, app, 5)
        await pilot.press("F")  # follow: off at first, as in htop
        await pilot.press("colon", *"sort x desc", "enter")
        await pilot.pause()
        xs = [table.rows[v].data["params"]["S.x"] for v in table.order]
        assert xs == sorted(xs, reverse=True)
        assert table.cursor_variant == 5  # the cursor followed its variant


async def test_dead_engine_is_shown_and_restarted(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, what="summary")
        os.killpg(run.proc.pid, signal.SIGKILL)
        run.proc.wait()
        await wait_for(pilot, lambda: app.summary.engine == "dead", timeout=30, what="engine dead")
        assert app.check_action("resume_engine", ()) is True
        await pilot.press("R")
        await wait_for(pilot, lambda: app.summary.engine == "alive", timeout=30, what="engine alive again")
        with run.kb() as kb:
            assert kbr.liveness(kb, run.run_id).alive


async def test_help_lists_every_key(live_run):
    run = live_run(n=2, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert app.screen.__class__.__name__ == "HelpScreen"
        ids = {row[2] for row in app.screen.rows}
        assert {"xxp.prune", "xxp.inject", "xxp.pause", "xxp.answer", "xxp.quit", "xxp.table.tag",
                "xxp.priority.up", "xxp.stop", "xxp.filter", "xxp.command"} <= ids
        await pilot.press("escape")


async def test_keymap_remaps_by_binding_id(live_run):
    run = live_run(n=6, secs=3, workers=1)
    app = XxpApp(run.db, run.run_id, keymap={"xxp.pause": "P"}, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, what="summary")
        await pilot.press("p")
        await pilot.pause(0.5)
        assert not _run(run).paused
        await pilot.press("P")
        await wait_for(pilot, lambda: _run(run).paused, what="paused with the remapped key")


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_layout_fits(live_run, size):
    run = live_run(n=2, secs=3, workers=1)
    app = app_for(run)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: len(app.table.rows) == 4, what="rows")
        table = app.query_one(VariantTable)
        assert table.size.height >= 8
        assert table.size.width >= 50


async def test_a_note_through_the_form_on_a_run_no_engine_drives(tmp_path):
    """`n` opens the note form; the note goes to the KB directly (no engine: the run is frozen), into
    the audit log, and shows in the details pane."""
    from xxp_tui.kb import open_kb

    from .conftest import frozen_kb

    db, run_id = frozen_kb(tmp_path)
    app = XxpApp(db, run_id, keymap={}, poll_interval=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.table.cursor_variant is not None, what="the table")
        await goto(pilot, app, 3)
        await pilot.press("n")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "NoteForm", what="the note form")
        await pilot.press("ctrl+s")  # empty: refused, the form stays
        assert type(app.screen).__name__ == "NoteForm"
        await pilot.press(*"lr above 0.3 diverges", "enter", *"lesson, lr", "enter")
        with open_kb(db, create=False) as kb:
            def stored():
                return kb.query("SELECT variant_id, text, tags FROM notes")
            await wait_for(pilot, lambda: stored(), what="the note in the KB")
            assert [tuple(r) for r in stored()] == [(3, "lr above 0.3 diverges", '["lesson", "lr"]')]
            assert kb.scalar("SELECT count(*) FROM events WHERE kind = 'note' AND target = 'v3'") == 1
        await wait_for(pilot, lambda: "lr above 0.3 diverges" in pane_text(app.details_pane),
                       what="the note in the details pane")


def pane_text(widget) -> str:
    """What a widget shows, as plain text (its lines as Textual renders them)."""
    return "\n".join(strip.text for strip in widget.render_lines(widget.region.reset_offset))


async def test_a_note_on_a_running_variant_while_the_engine_runs(live_run):
    """Notes are not commands: written with the engine alive, they need nothing from it and leave
    the run going."""
    run = live_run(n=3, secs=3.0)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: variant(run, 1).status == "running", timeout=60, what="v1 running")
        await goto(pilot, app, 1)
        await pilot.press("n", *"loss spikes at step 2", "ctrl+s")
        with run.kb() as kb:
            await wait_for(pilot, lambda: kb.query("SELECT 1 FROM notes WHERE variant_id = 1"), what="the note")
            assert kbr.liveness(kb, run.run_id).alive
            assert not kbc.for_run(kb, run.run_id)  # no command was sent


async def test_hold_key_and_command_line_suspend_and_resume(live_run):
    # Tasks long enough that v1 cannot finish before the prune reaches the engine on a loaded
    # machine (it once did at 5 s, and the prune was refused as "v1 already completed").
    run = live_run(n=6, secs=120, workers=1)
    app = app_for(run)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.table.rows.get(1) and app.table.rows[1].data["status"] == "running",
                       what="v1 running")
        await goto(pilot, app, 1)
        await pilot.press("z")
        await wait_for(pilot, lambda: variant(run, 1).status == "suspended", what="v1 suspended in the KB")
        with run.kb() as kb:
            tr = kbv.task_runs(kb, 1)[0]
        await wait_for(pilot, lambda: _state(tr.pid) == "T", what="v1's process stopped")
        await wait_for(pilot, lambda: app.table.rows[1].data["status"] == "suspended", what="table shows suspended")
        await pilot.press("z")  # again: resumed
        await wait_for(pilot, lambda: variant(run, 1).status == "running", what="v1 running again")
        await wait_for(pilot, lambda: _state(tr.pid) != "T", what="v1's process continued")
        await pilot.press("colon", *"suspend v3", "enter")
        await wait_for(pilot, lambda: variant(run, 3).status == "suspended", what="queued v3 suspended")
        await pilot.press("colon", *"resume v3", "enter")
        await wait_for(pilot, lambda: variant(run, 3).status == "queued", what="v3 queued again")
        verbs = [c.verb for c in commands(run) if c.status == "done"]
        assert verbs == ["suspend", "resume_variant", "suspend", "resume_variant"]


def _state(pid: int | None) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
