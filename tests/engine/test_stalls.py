"""Stalls and notifications, end to end: real engines, real silent task processes, a real KB, a real
HTTP receiver on 127.0.0.1 that apprise posts to (its `json://` scheme), and a real notify command."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.engine.conftest import Project, clean_env, wait_until, xxp, xxp_popen
from xxp_tui.kb import commands as kbc
from xxp_tui.lang import load_project

QUIET_XXP = """
task Quiet {
    define param gate { type String; default ""; }
    define metric done { kind single-value; type Float; }
    implementation "quiet.py";
}
"""
# Says one line, then nothing at all until its gate file appears (at most a minute), then prints for 4 s.
QUIET_PY = """
import os, sys, time
from xxp_tui import sdk

print("started", flush=True)
gate = sdk.param("gate")
deadline = time.time() + 60
while not os.path.exists(gate) and time.time() < deadline:
    time.sleep(0.1)
for step in range(20):  # moves again for a few seconds before it ends
    print("moving again", step, flush=True)
    time.sleep(0.2)
sdk.log_metric("done", 1.0)
"""

SPEC = """
workflow W {
    START -> Quiet -> END;
    task Quiet { implementation "s.quiet"; param gate = "GATE"; BLOCK }
}
experiment E {
    control { START -> One -> END; }
    space One of W { strategy gridsearch; param_values x_vp = enum(1); }
}
"""


class Receiver:
    """A local HTTP server keeping the JSON bodies posted to it."""

    def __init__(self) -> None:
        bodies: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                bodies.append(json.loads(self.rfile.read(length) or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.bodies = bodies
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _spec(project: Project, block: str = "") -> tuple[Path, Path]:
    project.task("s.quiet", QUIET_XXP, "quiet.py", QUIET_PY)
    gate = project.root / "gate"
    return project.spec(SPEC.replace("GATE", str(gate)).replace("BLOCK", block)), gate


def _variants(project: Project) -> list[dict]:
    done = xxp("variants", "latest", "--json", "--db", project.db)
    return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []


def test_a_silent_task_is_marked_stalled_then_moves_again_and_each_alert_is_sent(project: Project) -> None:
    pytest.importorskip("apprise")
    spec, gate = _spec(project)
    receiver = Receiver()
    ledger = project.root / "events.jsonl"
    command = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"a\").write(sys.stdin.read() + chr(10))' {ledger}"
    proc = xxp_popen("run", spec, "--headless", "--stall-after", "2s", "--notify", receiver.url,
                     "--notify-cmd", command, "--db", project.db)
    try:
        wait_until(lambda: any(v["stalled"] for v in _variants(project)), 90, "the variant marked stalled")
        wait_until(lambda: any(b.get("title", "").endswith("stalled") for b in receiver.bodies), 30,
                   "the stall notification posted")
        gate.write_text("go")
        wait_until(lambda: not any(v["stalled"] for v in _variants(project)), 60, "the stall flag cleared")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        if proc.poll() is None:
            proc.kill()
        receiver.close()
    with project.kb() as kb:
        texts = [e.detail.get("text", "") for e in kbc.events(kb, 1) if e.kind == "stall"]
    assert any("stalled: it printed nothing" in t for t in texts) and any("moves again" in t for t in texts), texts
    shown = json.loads(xxp("show", "v1", "--json", "--db", project.db).stdout)
    assert shown["tasks"][0]["stalled"] is True and shown["variant"]["status"] == "completed"
    sent = [json.loads(line) for line in ledger.read_text().splitlines() if line.strip()]
    assert [e["event"] for e in sent] == ["stalled", "run_ended"], sent
    assert sent[0]["variant"] == "v1" and sent[1]["status"] == "completed" and sent[1]["run"] == "r1"
    titles = [b.get("title", "") for b in receiver.bodies]
    assert len(titles) == 2 and titles[1].endswith("run ended"), receiver.bodies
    assert "completed" in receiver.bodies[1].get("message", ""), receiver.bodies


def test_on_stall_kill_makes_the_task_a_failure_with_that_reason(project: Project) -> None:
    spec, _gate = _spec(project, "stall_after 2s; on_stall kill;")
    ledger = project.root / "events.jsonl"
    command = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"a\").write(sys.stdin.read() + chr(10))' {ledger}"
    done = xxp("run", spec, "--headless", "--notify-cmd", command, "--db", project.db, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    (variant,) = _variants(project)
    assert variant["status"] == "failed" and "stalled" in variant["reason"] and "on_stall kill" in variant["reason"]
    assert not variant["stalled"]
    sent = [json.loads(line)["event"] for line in ledger.read_text().splitlines() if line.strip()]
    assert sent == ["stalled", "run_ended"]


def test_stall_settings_in_task_xxp_and_their_errors(project: Project) -> None:
    signature = QUIET_XXP.replace('implementation', 'stall_after 90s;\n    on_stall kill;\n    implementation')
    project.task("s.quiet", signature,
                 "quiet.py", QUIET_PY)
    spec = project.spec(SPEC.replace("GATE", "g").replace("BLOCK", ""))
    result = load_project(spec)
    assert result.ok, [d.render() for d in result.diagnostics]
    quiet = result.project.workflows["W"].tasks["Quiet"]
    assert quiet.stall_after == 90 and quiet.on_stall == "kill"
    bad = project.spec(SPEC.replace("GATE", "g").replace("BLOCK", 'stall_after "soon"; on_stall shout;'), "bad.xxp")
    done = xxp("validate", bad)
    assert done.returncode != 0
    assert "stall_after must be a positive duration" in done.stderr + done.stdout
    assert "on_stall must be mark or kill, not 'shout'" in done.stderr + done.stdout
    usage = xxp("run", spec, "--headless", "--stall-after", "never", "--db", project.db)
    assert usage.returncode == 2 and "--stall-after must be a positive duration" in usage.stderr


def test_notify_without_apprise_is_refused_up_front_naming_the_extra(project: Project) -> None:
    spec, _gate = _spec(project)
    import subprocess

    code = "import sys; sys.modules['apprise'] = None; sys.argv[0] = 'xxp-tui'; from xxp_tui.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code, "run", str(spec), "--headless", "--notify", "ntfy://topic",
                           "--db", str(project.db)], capture_output=True, text=True, env=clean_env(), timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "optional extra notify" in done.stderr and "Traceback" not in done.stderr
    assert not project.db.exists() or "r1" not in xxp("runs", "--db", project.db).stdout
