"""The knowledge screen (`K`) on a real KB left by two real headless runs of the quickstart: the
second run reuses the first one's tasks from the cache and its Tune space is warm-started."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.geometry import Region

from xxp_tui.kb import open_kb
from xxp_tui.kb import variants as kbv
from xxp_tui.tui.app import XxpApp
from xxp_tui.tui.screens.knowledge import KnowledgeScreen, knowledge_report

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("knowledge")
    shutil.copytree(ROOT / "sample_workflows" / "quickstart", root / "q")
    db = root / "kb.sqlite"
    for extra in ([], ["--warm-start", "auto"]):
        done = subprocess.run([sys.executable, "-m", "xxp_tui", "run", str(root / "q" / "quickstart.xxp"),
                               "--headless", "--db", str(db), *extra], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
    return db


def test_report_counts_what_the_kb_holds(two_runs):
    report = knowledge_report(two_runs, 2)
    with open_kb(two_runs, create=False, readonly=True) as kb:
        runs2 = kbv.for_run(kb, 2)
        hits = sum(t.cache_hit for v in runs2 for t in kbv.task_runs(kb, v.id))
        warm = sum(1 for v in runs2 if v.origin == "warm_start" and v.space == "Tune")
    assert report.cache_hits == hits > 0
    tune = next(s for s in report.spaces if s.name == "Tune")
    assert tune.origins.get("warm_start") == warm > 0
    assert tune.importance and set(tune.importance) <= {"Train.lr", "Train.degree"}
    best = report.best["PolyPipeline"]
    assert best and best[0][2] == max(r[2] for r in best)
    assert len({r[3] for r in best}) == len(best)  # distinct configurations


async def test_the_screen_opens_with_K_and_shows_the_report(two_runs):
    app = XxpApp(two_runs, 2, keymap={}, poll_interval=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("K")
        await wait_for(pilot, lambda: isinstance(app.screen, KnowledgeScreen), what="the knowledge screen")
        screen = app.screen
        await wait_for(pilot, lambda: screen.report is not None, timeout=60, what="the report")
        await pilot.pause()
        body = screen.query_one("#knowledge-body")
        text = "\n".join(strip.text for strip in body.render_lines(Region(0, 0, body.size.width, body.size.height)))
        assert "Best of PolyPipeline across every run" in text
        assert "Parameter importance in Tune" in text
        assert "reused from the cache" in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, KnowledgeScreen), what="closed")


async def test_a_finished_run_offers_no_steering(two_runs):
    app = XxpApp(two_runs, 2, keymap={}, poll_interval=0.2)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.summary is not None, what="the summary")
        assert app.summary.run.finished
        for action in ("prune", "inject", "pause_resume", "stop", "parallel", "priority_up"):
            assert app.check_action(action, ()) is False, action
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any("Help" in t for t in titles), titles  # the palette still lists what a viewer can do
        assert not any("Prune" in t or "Inject" in t for t in titles), titles


async def test_the_run_picker_opens_the_chosen_run(two_runs):
    """`xxp-tui` with no arguments: the newest run first; Enter returns the highlighted one."""
    from xxp_tui.kb import open_kb
    from xxp_tui.kb.queries import run_summaries
    from xxp_tui.tui.picker import RunPicker

    with open_kb(two_runs, create=False, readonly=True) as kb:
        summaries = run_summaries(kb)
    app = RunPicker(two_runs, summaries)
    async with app.run_test(size=(100, 20)) as pilot:
        await pilot.press("down", "enter")
    assert app.return_value == 1  # r2 is listed first, r1 below it
