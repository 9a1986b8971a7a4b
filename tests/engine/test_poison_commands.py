"""No input through the command channel may stop the engine (issue 12, defect 1).

A priority too large for the KB's integers once raised OverflowError inside the engine: it exited,
the command stayed pending, and every resume applied it again and died again. Priorities are now
range-checked by the CLI, the viewer's command line and the engine; and a command whose handler
raises anything at all is refused with the error's sentence while the engine goes on. A stored row the
vocabulary cannot decode (a missing or renamed argument, an unknown verb, arguments that are not JSON)
is refused with the decoder's sentence.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.live import LiveRun, wait_until, xxp
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb
from xxp_tui.tui.commandline import parse

pytestmark = pytest.mark.slow

GRID = """
workflow W { task G { implementation "t.gated"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 3);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""
HUGE = 99999999999999999999


def test_poison_commands_are_refused_and_the_engine_goes_on(tmp_path: Path):
    run = LiveRun(tmp_path, GRID).start()
    try:
        assert run.wait_running(1) == [1]
        poisons = [  # each reached the engine as any front end (or an older CLI) could send it
            ("prioritize", {"variant": "v2", "priority": HUGE}, "priority must be between"),
            ("inject", {"space": "Grid", "values": {"G.x": 1}, "priority": HUGE}, "priority must be between"),
            # JSON allows Infinity: int() of it once raised OverflowError, which no handler expected
            ("parallel", {"workers": float("inf")}, "parallelism must be a whole number between 1 and 1024, not inf"),
            ("prune", {"variants": ["v2", "v" + "9" * 30]}, "is not a variant of r"),
            # rows the vocabulary cannot decode: a renamed, an unknown, a missing argument; a verb accepted
            # once though no handler did it
            ("answer", {"value": {"x": 1}}, "malformed answer command: unknown argument value (it takes values, node)"),
            ("pause", {"now": True}, "malformed pause command: unknown argument now (it takes no arguments)"),
            ("inject", {"values": {"G.x": 1}}, "malformed inject command: space missing"),
            ("rerun", {"variant": "v1"}, "unknown command rerun"),
            ("amend", {"text": 5}, "the amended spec must be text, not int"),
        ]
        with open_kb(run.db, create=False) as kb:
            ids = [kbc.submit_raw(kb, run.run_id, verb, args) for verb, args, _ in poisons]
            with kb.write():  # a hand-written row whose arguments are not JSON
                ids.append(kb.conn.execute(
                    "INSERT INTO commands (run_id, verb, args, issuer, status, created) "
                    "VALUES (?, 'stop', '{oops', 'test', 'pending', 0)", (run.run_id,)).lastrowid)
            poisons.append(("stop", {}, "malformed stop command: its arguments are not a JSON object"))
            for cmd_id, (verb, _, expected) in zip(ids, poisons, strict=True):
                cmd = kbc.wait(kb, cmd_id, timeout=30)
                assert cmd.status != "pending", f"{verb}: the engine never answered\n{run.engine_log()}"
                assert expected in (cmd.outcome or ""), (verb, cmd.status, cmd.outcome)
                assert cmd.status == ("done" if verb == "prune" else "refused"), (verb, cmd.outcome)
            # prune refused the bad reference and applied the good one in the same command
            assert kbc.get(kb, ids[3]).outcome.startswith("pruned v2; refused: ")
            for args, expected in (({"path": "/nonexistent/folder/e.xxp", "text": "experiment {"},
                                     "the new spec is not valid: "), ({"path": 7, "text": ""}, "amend")):
                bad = kbc.wait(kb, kbc.submit_raw(kb, run.run_id, "amend", args), timeout=30)
                assert bad.status == "refused" and expected in bad.outcome, (args, bad.outcome)
            ok = kbc.submit(kb, run.run_id, kbc.Prioritize("v3", 5))
            assert kbc.wait(kb, ok, timeout=30).outcome == "v3 priority 0 -> 5"
        assert run.proc.poll() is None, run.engine_log()
        assert run.variant(2).status == "pruned"
        run.release_all()
        assert run.wait_finished().status == "completed"
        assert run.wait_exit(30) == 0, run.engine_log()
    finally:
        run.stop()


def test_cli_and_viewer_range_check_priorities(tmp_path: Path):
    for args in (["prioritize", "v1", "--priority", str(HUGE)], ["inject", "--space", "S", "--priority", str(-HUGE)]):
        done = xxp(*args, "--db", str(tmp_path / "kb.sqlite"))
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "riority must be between -1,000,000,000 and 1,000,000,000" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    parsed = parse(f"prio v1 {HUGE}")
    assert parsed.error and "priority must be between" in parsed.error
    assert parse("prio v1 7").args == {"variant": "v1", "priority": 7}


def test_a_poison_command_left_pending_by_a_dead_engine_does_not_kill_the_next(tmp_path: Path):
    """The resume loop of the report: the command is pending when an engine starts."""
    run = LiveRun(tmp_path, GRID)
    with open_kb(run.db, create=False) as kb:
        cmd = kbc.submit_raw(kb, run.run_id, "prioritize", {"variant": "v1", "priority": HUGE})
    run.start()
    try:
        with open_kb(run.db, create=False) as kb:
            done = wait_until(lambda: (c := kbc.get(kb, cmd)).status != "pending" and c, 30, "the refusal")
        assert done.status == "refused" and "priority must be between" in done.outcome
        run.release_all()
        assert run.wait_finished().status == "completed"
        assert run.wait_exit(30) == 0, run.engine_log()
    finally:
        run.stop()
