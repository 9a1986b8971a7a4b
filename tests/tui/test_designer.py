"""The designer through Pilot, keyboard only: a workflow and an experiment built from an empty
file, saved, validated and run for real; an untouched file saved unchanged; snapshots."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from xxp_tui.scaffold import new_project
from xxp_tui.tui.design_app import DesignApp

from .conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "sample_workflows" / "quickstart" / "quickstart.xxp"


def xxp(*args: object, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "xxp_tui", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


async def command(pilot, line: str) -> str:
    """`:` then the line then Enter; returns what the designer said."""
    await pilot.press("colon", *line, "enter")
    await pilot.pause()
    return pilot.app.screen_ref.message


async def test_build_a_workflow_and_an_experiment_from_an_empty_file_with_the_keyboard(tmp_path):
    project = tmp_path / "proj"
    new_project(project)  # its task library: Make (output result, param size) and Check (input result_in)
    spec = project / "mine.xxp"
    app = DesignApp(spec)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        # w: a new workflow
        await pilot.press("w", *"Flow", "enter")
        assert screen.message == "workflow Flow created"
        # the library: search, pick, `a` fills in the add command for the highlighted task
        for query in ("Make", "Check"):
            await pilot.press("slash", *query, "enter", "a")
            assert screen.query_one("#design-cmd").value == f"add {query} {query}"
            await pilot.press("enter")
            assert screen.message == f"task {query} added to Flow"
        # the canvas cursor is on Check (just added); up selects Make; `l` starts a link from it
        await pilot.press("up")
        assert screen.selected_task() == "Make"
        # only declared ports are offered: Tab completes Make's output, then Check's input
        await pilot.press("l")
        await wait_for(pilot, lambda: screen.query_one("#design-cmd")._suggestion == "link Make.result",
                       what="the output port offered")
        await pilot.press("tab", "space", "C")
        await wait_for(pilot, lambda: screen.query_one("#design-cmd")._suggestion == "link Make.result Check.result_in",
                       what="the input port offered")
        await pilot.press("tab", "enter")
        assert screen.message == "Make.result --> Check.result_in"
        # a port Make does not declare is refused, naming the ones it has
        assert await command(pilot, "link Make.nope Check.result_in") == \
            "task Make has no output port nope (outputs: result)."
        await pilot.press("escape")
        # an experiment with a space over the workflow, values checked as typed
        await pilot.press("e", *"Try", "enter")
        await pilot.press("s", *"Grid", "enter")
        assert screen.message == "space Grid of Flow added"
        # a strategy that does not exist is written, and validation says so in place, under the space
        await pilot.press("g", *"nosuchstrategy", "enter")
        assert "\n  ✗ unknown strategy nosuchstrategy (strategies: gridsearch" in \
            str(screen.query_one("#canvas").render())
        await pilot.press("equals_sign", *"Make.size enum(3, 3000)")
        assert "3000 is outside size's declared range" in str(screen.query_one("#design-hint").render())
        for _ in range(5):
            await pilot.press("backspace")
        await pilot.press(*"30)")
        assert "ok: 2 value(s) (declared Integer" in str(screen.query_one("#design-hint").render())
        await pilot.press("enter")
        assert screen.message == "Make.size searched over enum(3, 30)"
        await pilot.press("o", *"Check.score", "enter")
        await pilot.press("g", *"gridsearch", "enter")
        assert str(screen.query_one("#design-diags").render()) == "✓ valid"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert screen.message == f"saved {spec}"
        await pilot.press("r")  # saved and valid: the designer hands the spec to the run viewer
    assert app.return_value == ("run", spec, "Try")
    text = spec.read_text()
    assert "START -> Make -> Check -> END;" in text and "param_values Make_size = enum(3, 30);" in text
    assert spec.stat().st_mode & 0o777 == 0o600
    valid = xxp("validate", "--json", spec, cwd=tmp_path)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    summary = json.loads(valid.stdout)
    assert summary["workflows"]["Flow"]["tasks"] == ["Make", "Check"]
    assert summary["experiments"]["Try"]["spaces"]["Grid"]["param_values"] == {"Make_size": [3, 30]}
    run = xxp("run", spec, "--headless", "--workers", "2", "--db", tmp_path / "kb.sqlite", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 completed" in run.stdout


async def test_a_cycle_is_refused_with_the_cycle_named(tmp_path):
    spec = tmp_path / "w.xxp"
    spec.write_text("workflow W {\n    START -> A -> B -> END;\n    task A;\n    task B;\n}\n")
    app = DesignApp(spec)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        assert await command(pilot, "link B.out A.inp") == "linking B.out to A.inp would make a cycle: A -> B -> A."
        await pilot.press("escape")
        # reorder the chain from the canvas: B is selected, K moves it up
        await pilot.press("down", "K")
        assert "START -> B -> A -> END;" in screen.text
        await pilot.press("q", "q")
    assert spec.read_text().startswith("workflow W {\n    START -> A -> B")  # not saved: unchanged


async def test_reopening_and_saving_an_untouched_file_changes_nothing(tmp_path):
    folder = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART.parent, folder)
    spec = folder / "quickstart.xxp"
    odd = folder / "odd.xxp"
    odd.write_text("workflow  W{task A ;   // not canonical at all\n}\n")
    for path in (spec, odd):
        before = path.read_bytes()
        app = DesignApp(path)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda app=app: app.screen_ref.result is not None, what="validation")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert app.screen_ref.message == f"saved {path}"
            await pilot.press("q")
        assert path.read_bytes() == before


async def test_run_refuses_a_spec_with_errors(tmp_path):
    spec = tmp_path / "w.xxp"
    app = DesignApp(spec)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        await command(pilot, "workflow W")
        await command(pilot, "add A no.such.task")
        # the error is shown in place, under the task it is about, as well as in the list
        assert '✗ cannot find task "no.such.task"' in str(screen.query_one("#canvas").render())
        await pilot.press("r")
        assert screen.message.startswith("cannot run: 1 error(s); the first: cannot find task \"no.such.task\"")
        assert not spec.exists()


def quickstart_designer(monkeypatch):
    monkeypatch.chdir(ROOT)
    return DesignApp(Path("sample_workflows/quickstart/quickstart.xxp"))


async def _loaded(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen_ref is not None and pilot.app.screen_ref.result is not None,
                   what="validation")
    await pilot.pause()


def test_designer_snapshot_80x24(snap_compare, monkeypatch):
    assert snap_compare(quickstart_designer(monkeypatch), terminal_size=(80, 24), run_before=_loaded)


def test_designer_snapshot_160x48_experiment(snap_compare, monkeypatch):
    async def run_before(pilot):
        await _loaded(pilot)
        await pilot.press("left_square_bracket")  # the last document: the experiment
        await pilot.pause()

    assert snap_compare(quickstart_designer(monkeypatch), terminal_size=(160, 48), run_before=run_before)


async def test_a_sub_workflow_is_one_box_until_opened():
    spec = ROOT / "tests/conformance/extremexp/exp_engine/library-experiments/IDEKO_main.xxp"
    app = DesignApp(spec)
    async with app.run_test(size=(100, 40)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        canvas = screen.query_one("#canvas")
        assert "│ PrepareData/… │" in str(canvas.render())
        await pilot.press("down")
        assert screen.selected_task() == "PrepareData/AddPadding"
        await pilot.press("z")
        assert screen.message == "sub-workflow PrepareData opened"
        assert "│ PrepareData/AddPadding │" in str(canvas.render())
        await pilot.press("q")


async def test_a_file_with_a_syntax_error_shows_it_and_refuses_edits(tmp_path):
    spec = tmp_path / "bad.xxp"
    spec.write_text("workflow W {\n    task A\n}\n")
    app = DesignApp(spec)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        assert "2:11 error: missing ';' at the end of this statement" in str(screen.query_one("#design-diags").render())
        assert "syntax error" in str(screen.query_one("#canvas").render())
        assert await command(pilot, "workflow X") == \
            "the file has a syntax error; fix it (see the diagnostics) before editing."
        await pilot.press("escape", "q")
    assert spec.read_text() == "workflow W {\n    task A\n}\n"


async def test_new_project_and_new_task_from_the_designer(tmp_path):
    app = DesignApp(tmp_path / "scratch.xxp")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen_ref
        await wait_for(pilot, lambda: screen.result is not None, what="first validation")
        assert await command(pilot, "newproject proj") == f"created the project {tmp_path / 'proj'}; " \
            "designing experiment.xxp"
        assert screen.path == tmp_path / "proj" / "experiment.xxp"
        assert [i.name for i in screen.items] == ["Check", "Make"]
        assert str(screen.query_one("#design-diags").render()) == "✓ valid"
        await pilot.press("t", *"Clean", "enter")
        assert screen.message == f"created {tmp_path / 'proj' / 'tasks' / 'Clean' / 'task.xxp'}; a adds it"
        assert "Clean" in [i.name for i in screen.items]
        await pilot.press("slash", *"Clean", "enter", "a", "enter")
        assert screen.message == "task Clean added to Main"
        assert str(screen.query_one("#design-diags").render()) == "✓ valid"
        await pilot.press("q", "q")
