"""Concurrency of the command channel: while a run goes on, 4 OS processes steer it in a loop for
STEER_SECONDS (two through `xxp_tui.kb.commands`, two through the real `xxp-tui` commands). Nobody
sees "database is locked", the engine applies each command exactly once (one outcome and one audit
event per command, and the run's final state is what the commands, applied once each in order,
make it), and the audit log is complete.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.engine.live import LiveRun, clean_env, wait_until, xxp
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import variants as kbv

pytestmark = pytest.mark.slow

STEER_SECONDS = 20.0
CLIENTS = ("api", "api", "cli", "cli")
GRID_SIZE = 400  # more work than 4 × STEER_SECONDS of steering can see finish
WORKER = Path(__file__).with_name("steer_worker.py")

SPEC = """
workflow W { task Work { implementation "t.work"; } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, GRID_SIZE);
        task Work { param x = x; param secs = 1.0; }
        objective maximize score;
    }
}
""".replace("GRID_SIZE", str(GRID_SIZE))


@pytest.fixture
def busy_run(tmp_path: Path):
    run = LiveRun(tmp_path, SPEC, workers=2)
    yield run.start()
    run.stop()


def test_four_processes_steering_for_20s_each_command_applied_once(busy_run: LiveRun, tmp_path: Path):
    run = busy_run
    run.wait_running(2)
    procs = []
    for i, mode in enumerate(CLIENTS):
        out = tmp_path / f"client{i}.json"
        argv = [sys.executable, str(WORKER), mode, str(run.db), str(run.run_id), str(100 + i), str(STEER_SECONDS),
                str(out)]
        procs.append((subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       stdin=subprocess.DEVNULL, env=clean_env()), out))
    reports = []
    for proc, out in procs:
        stdout, stderr = proc.communicate(timeout=4 * STEER_SECONDS + 180)
        assert proc.returncode == 0, f"{stdout}\n{stderr}"
        assert "locked" not in stderr.lower() and "Traceback" not in stderr, stderr
        reports.append(json.loads(out.read_text()))
    for report in reports:
        assert report["errors"] == [], report["errors"][:5]

    assert run.proc.poll() is None, f"the engine died under steering:\n{run.engine_log()}"
    assert not run.run().finished
    completed_meanwhile = len(run.variants(status="completed"))
    assert completed_meanwhile >= 3, "the run hardly moved while it was steered"
    stop = xxp("stop", f"r{run.run_id}", "--db", str(run.db))
    assert stop.returncode == 0, stop.stderr
    assert run.wait_exit(60) == 0
    log = run.engine_log()
    assert "locked" not in log.lower() and "Traceback" not in log, log[-3000:]

    commands = kbc.for_run(run.kb, run.run_id)
    api_issued = {int(cid): status for r in reports for cid, status in r["issued"].items()}
    cli_calls = sum(r["cli_calls"] for r in reports)
    assert len(api_issued) >= 100 and cli_calls >= 10, (len(api_issued), cli_calls)
    assert len(commands) >= len(api_issued) + cli_calls  # + the final stop
    by_id = {c.id: c for c in commands}

    # Every command ended done or refused, with an outcome; what API clients saw is what stands.
    assert [c for c in commands if c.status not in ("done", "refused") or not c.outcome or c.applied is None] == []
    for cid, status in api_issued.items():
        assert by_id[cid].status == status
    assert any(c.status == "refused" for c in commands) and any(c.status == "done" for c in commands)

    # Exactly one audit event per command, agreeing with the command; none without a command.
    events = [e for e in kbc.events(run.kb, run.run_id, limit=1_000_000) if e.command_id is not None]
    assert len(events) == len(commands)
    assert sorted(e.command_id for e in events) == sorted(by_id)
    for e in events:
        c = by_id[e.command_id]
        assert (e.kind, e.actor, e.detail["status"], e.detail["outcome"]) == (c.verb, c.issuer, c.status, c.outcome)
    applied = [c.applied for c in commands]
    assert applied == sorted(applied), "commands must be applied in the order they were issued"

    # The final state is the commands' effects, each applied once, in order.
    done = [c for c in commands if c.status == "done"]
    final = run.run()
    last_parallel = [c for c in done if c.verb == "parallel"][-1]
    assert final.workers == last_parallel.args["workers"]
    last_pause = [c for c in done if c.verb in ("pause", "resume")][-1]
    assert final.paused == (last_pause.verb == "pause")
    variants = run.variants()
    injected = [v for v in variants if v.origin == "injected"]
    assert len(injected) == sum(1 for c in done if c.verb == "inject")
    assert len(variants) == GRID_SIZE + len(injected)
    pruned_by_commands = {v for c in done if c.verb == "prune"
                          for v in c.outcome.split("; ")[0].removeprefix("pruned ").split(", ")}
    assert {v.label for v in variants if v.status == "pruned"} == pruned_by_commands
    expected_priority: dict[int, int] = {}
    for c in done:
        if c.verb == "prioritize":
            expected_priority[kbv.parse_variant_ref(c.args["variant"])] = c.args["priority"]
    for v in variants:
        if v.id in expected_priority:
            assert v.priority == expected_priority[v.id], v
    assert run.integrity() == "ok"
    wait_until(lambda: run.running_task_runs() == [], 10, "no task run left running")
