"""What SIGKILLs of the engine cost, measured: the kill/resume torture of tests/engine/torture.py
with more rounds than the test suite affords (default 60), over a control graph with a sequence, a
parallel group, a conditional with an `else`, a loop and an interaction answered with `xxp-tui
answer`. Each round starts an engine, waits a random time, SIGKILLs it; the next engine adopts the
tasks still running and collects those that ended meanwhile.

Figures (targets in brackets): kills, kills that caught tasks running, variants completed once each
[all], lost [0], re-runs of work that had finished or was running [0], tasks adopted and collected,
the control path taken [the uninterrupted one], SQLite integrity [ok], processes left [0].

    .venv/bin/python benchmarks/kill_resume.py [--rounds N] [--seed S] [--json] [--strict]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.engine.torture import torture  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=60, help="SIGKILLs of the engine (default 60)")
    parser.add_argument("--seed", type=int, default=2026, help="seed of the kill delays")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="xxp-kill-resume-") as folder:
        report = torture(Path(folder), args.rounds, seed=args.seed)
    figures = report.as_dict()
    met = (report.completed_once and report.lost == 0 and report.rerun == 0 and report.integrity == "ok"
           and report.orphans == 0 and not report.problems)
    figures["verdict"] = "PASS" if met else "MISS"
    figures["path_verdict"] = "PASS" if report.path_ok else "MISS"
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"kills: {report.rounds} ({report.kills_with_tasks_running} with tasks running), "
              f"runs: {report.runs}, {report.seconds:.0f} s")
        print(f"variants: {report.variants}, completed once each: {report.completed_once}, lost: {report.lost}")
        print(f"re-runs of work that had finished or was running: {report.rerun} "
              f"(restarted before their process existed: {report.never_started_restarted})")
        print(f"tasks adopted: {report.adopted}, collected after ending meanwhile: {report.collected}")
        print(f"path as uninterrupted: {report.path_ok}; integrity: {report.integrity}; processes left: "
              f"{report.orphans}")
        for problem in report.problems:
            print(f"problem: {problem}")
        print(f"verdict: {figures['verdict']} (path: {figures['path_verdict']})")
    return 1 if args.strict and not (met and report.path_ok) else 0


if __name__ == "__main__":
    sys.exit(main())
