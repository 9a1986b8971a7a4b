"""Resume rebuilds the exact position in the control graph (issue 12, defect 2).

A join remembered in memory only which of its branches had fired: an engine killed after one
branch of `(A || B) -> Review` finished came back to a join that waited forever for that branch,
and the run ended "completed" with the review and everything after it "skipped: never reached".

The test kills a real engine process (SIGKILL, by itself, at a crash point named in
XXP_TEST_CRASH_AT) at every node boundary of a control graph with a sequence, a parallel group, a
conditional edge, an `else`, a bounded loop and an interaction, just before and just after each
boundary is written, one boundary after the other in one run; the run must end on exactly the
path of an uninterrupted run of the same spec.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, wait_until
from xxp_tui.engine.launch import start_detached
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr

pytestmark = pytest.mark.slow

SPEC = """
workflow W { task P { implementation "t.prep"; } }
experiment E {
    control {
        START -> First -> (Left || Right) -> Ask;
        Ask ?-> Loop { condition "results['Ask'][1]['result']['more']" };
        Ask ?-> Skipped { else };
        Loop ?-> Loop { condition "results['Loop'][1]['result']['prepared'] > 0"; max_iterations 2 };
        Loop ?-> Last { else };
        Skipped -> Last;
        Last -> END;
    }
    space First of W { strategy gridsearch; param_values x = enum(1, 2); task P { param x = x; } }
    space Left of W { strategy gridsearch; param_values x = enum(3); task P { param x = x; } }
    space Right of W { strategy gridsearch; param_values x = enum(4, 5); task P { param x = x; } }
    space Loop of W { strategy gridsearch; param_values x = enum(6); task P { param x = x; } }
    space Skipped of W { strategy gridsearch; param_values x = enum(7); task P { param x = x; } }
    space Last of W { strategy gridsearch; param_values x = enum(8, 9); task P { param x = x; } }
    interaction Ask {
        prompt "Loop?";
        define param more { type Boolean; default false; }
    }
}
"""


def path_taken(run: LiveRun) -> tuple:
    """What a run did, independent of timing: each node's end state and rounds, the edges it fired,
    and each variant's (node, round, params, status)."""
    nodes = kbr.nodes(run.kb, run.run_id)
    shape = sorted((n, s.status, s.iteration, sorted(s.fired.get("fired", {}).items())) for n, s in nodes.items())
    variants = sorted((v.space, v.iteration, sorted(v.params.items()), v.status) for v in run.variants())
    return run.run().status, shape, variants


def boundaries(run: LiveRun) -> list[str]:
    """`node#round` of every node round that finished, in the order it finished."""
    rounds: dict[str, int] = {}
    out = []
    for e in kbc.events(run.kb, run.run_id, limit=100_000):
        text = e.detail.get("text") or ""
        if e.actor == "engine" and e.kind == "node" and " finished" in text:
            name = text.split(" ", 1)[0]
            rounds[name] = rounds.get(name, 0) + 1
            out.append(f"{name}#{rounds[name]}")
    return out


def passed(run: LiveRun, point: str) -> bool:
    if point == "start":
        return run.run().status != "starting"
    name, round_ = point.split("#")
    state = kbr.nodes(run.kb, run.run_id)[name]
    return state.iteration > int(round_) or (state.iteration == int(round_) and state.status in ("done", "failed"))


def answer_if_asked(run: LiveRun, answered: list[int]) -> None:
    """Answer Ask (more=true) once it waits; the answer is a command, applied by whichever engine runs."""
    if answered or not any(v.space == "Ask" and v.status == "waiting_input" for v in run.variants()):
        return
    with contextlib.closing(kbr.KB(run.db)) as kb:
        answered.append(kbc.submit(kb, run.run_id, kbc.Answer({"more": True}, node="Ask")))


def drive(run: LiveRun, crash_at: str | None, answered: list[int], monkeypatch) -> int:
    """One engine process, to its end (or its crash); returns its exit status."""
    if crash_at is None:
        monkeypatch.delenv("XXP_TEST_CRASH_AT", raising=False)
    else:
        monkeypatch.setenv("XXP_TEST_CRASH_AT", crash_at)
    proc = start_detached(run.db, run.run_id, run.root)
    run.proc = proc
    try:
        def ended():
            answer_if_asked(run, answered)
            return proc.poll() is not None

        wait_until(ended, 120, f"the engine (crash at {crash_at}) to end")
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    return proc.returncode


def test_resume_takes_the_uninterrupted_path_after_a_kill_at_every_node_boundary(tmp_path: Path, monkeypatch):
    reference = LiveRun(tmp_path / "reference", SPEC, workers=2)
    answered: list[int] = []
    try:
        assert drive(reference, None, answered, monkeypatch) == 0, reference.engine_log()
        expected = path_taken(reference)
        order = ["start", *boundaries(reference)]
    finally:
        reference.stop()
    assert expected[0] == "completed"
    # the path exercises what it should: the loop ran 2 rounds, the else after Ask was ruled out
    shape = {n: (status, rounds) for n, status, rounds, _ in expected[1]}
    assert shape["Loop"] == ("done", 2) and shape["Skipped"] == ("skipped", 0) and shape["Ask"] == ("done", 1)
    assert order[:2] == ["start", "First#1"] and order.count("Loop#2") == 1 and order[-1] == "Last#1"

    run = LiveRun(tmp_path / "crashed", SPEC, workers=2)
    answered = []
    crashes = 0
    try:
        for point in order:
            for phase in ("before", "after"):
                if passed(run, point):
                    continue  # the parallel branches may end in the other order this time
                target = f"{point}:{phase}"
                code = drive(run, target, answered, monkeypatch)
                assert code == -signal.SIGKILL, f"the engine did not crash at {target}: exit {code}\n{run.engine_log()}"
                crashes += 1
                assert run.integrity() == "ok"
                assert not run.run().finished, f"the run ended at {target}"
        assert drive(run, None, answered, monkeypatch) == 0, run.engine_log()
        assert path_taken(run) == expected
        # every boundary was crashed at twice, but for a parallel branch that ended before its turn
        assert crashes >= 2 * len(order) - 2, crashes
        print(f"{crashes} crashes at {len(order)} boundaries")
    finally:
        run.stop()
