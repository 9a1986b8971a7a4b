"""A steering client for test_concurrency, run as its own OS process:

    python steer_worker.py MODE DB RUN SEED SECONDS OUT.json

issues random steering commands to run RUN for SECONDS, then writes what it did to OUT.json.
MODE `api` submits through `xxp_tui.kb.commands` (submit, then wait for the outcome); MODE `cli`
runs the real `xxp-tui` commands (prioritize, pause, resume, parallel, prune, inject). Every
exception, every unanswered command and every unexpected CLI exit or output is recorded as an error.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path

from xxp_tui.kb import commands as kbc
from xxp_tui.kb import open_kb

PRUNE_POOL = 30  # only the last variants may be pruned, so the run never runs dry
ANSWER_WITHIN = 30.0


def pick(rng: random.Random, n: int, mode: str) -> tuple[str, dict]:
    verbs = ["prioritize"] * 4 + ["pause", "resume", "parallel", "parallel", "prune", "inject"]
    if mode == "api":
        verbs.append("bogus")
    verb = rng.choice(verbs)
    if verb == "prioritize":
        return verb, {"variant": f"v{rng.randint(1, n)}", "priority": rng.randint(0, 5)}
    if verb == "parallel":
        return verb, {"workers": rng.randint(1, 3)}
    if verb == "prune":
        return verb, {"variants": [f"v{rng.randint(n - PRUNE_POOL + 1, n)}"]}
    if verb == "inject":
        return verb, {"space": "Grid", "values": {"Work.x": rng.randint(0, 9)}, "priority": 0}
    if verb == "bogus":  # a command the engine must refuse, not choke on
        return "prioritize", {"variant": "v999999", "priority": 1}
    return verb, {}


def cli_argv(verb: str, args: dict, run: str) -> list[str]:
    if verb == "prioritize":
        return ["prioritize", args["variant"], "--priority", str(args["priority"])]
    if verb == "parallel":
        return ["parallel", run, str(args["workers"])]
    if verb == "prune":
        return ["prune", *args["variants"]]
    if verb == "inject":
        (key, value), = args["values"].items()
        return ["inject", run, "--space", args["space"], "--set", f"{key}={value}", "--priority", "0"]
    return [verb, run]


def main() -> int:
    mode, db, run_id, seed, seconds, out = sys.argv[1:7]
    run_id = int(run_id)
    rng = random.Random(int(seed))
    cli = str(Path(sys.executable).with_name("xxp-tui"))
    result: dict = {"mode": mode, "issued": {}, "cli_calls": 0, "errors": []}
    kb = open_kb(db, create=False)
    n = kb.scalar("SELECT COUNT(*) FROM variants WHERE run_id = ?", (run_id,))
    # Steer for `seconds`, and on a loaded machine on until this client has done its share (50 API
    # commands or 5 CLI calls), within a hard limit: the test asserts counts, not a machine's speed.
    start = time.monotonic()
    deadline, hard_deadline = start + float(seconds), start + 4 * float(seconds)

    def done_enough() -> bool:
        return len(result["issued"]) >= 50 if mode == "api" else result["cli_calls"] >= 5

    while time.monotonic() < deadline or (not done_enough() and time.monotonic() < hard_deadline):
        verb, args = pick(rng, n, mode)
        try:
            if mode == "api":
                cid = kbc.submit(kb, run_id, kbc.decode(verb, args), who=f"api-{seed}@test")
                cmd = kbc.wait(kb, cid, timeout=ANSWER_WITHIN)
                result["issued"][cid] = cmd.status
                if cmd.status == "pending":
                    result["errors"].append(f"#{cid} {verb} not answered within {ANSWER_WITHIN:g} s")
            else:
                argv = [cli, *cli_argv(verb, args, f"r{run_id}"), "--db", db]
                done = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
                result["cli_calls"] += 1
                text = done.stdout + done.stderr
                refused = done.returncode == 1 and "refused" in done.stderr
                if (done.returncode != 0 and not refused) or "locked" in text.lower() or "Traceback" in text:
                    result["errors"].append(f"{argv[1:-2]} -> exit {done.returncode}: {text.strip()}")
                elif "has not answered" in text or "not running" in text:
                    result["errors"].append(f"{argv[1:-2]}: {text.strip()}")
        except Exception:
            result["errors"].append(traceback.format_exc())
    kb.close()
    Path(out).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
