"""What the ExtremeXP shim costs a task: CPU time of one trivial task, bare against through the shim.

The same work twice: read the parameter x, report it as the metric `score`. `bare` is a Python
script that reads XXP_PARAMS and appends to XXP_METRICS itself; `shim` is the ExtremeXP script
`resultMap.put("score", float(variables.get("x")))` started the way the engine starts it
(taskspec.SHIM_BOOT). They alternate `--runs` times; the medians of the CPU time of each process
(user + system, from the kernel's accounting of waited-for children) are printed with their ratio.
Issue 10's target: shim/bare within 1.10.

    .venv/bin/python benchmarks/shim_cost.py [--runs 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from xxp_tui.engine.taskspec import SHIM_BOOT, compile_shim

BARE_PY = """\
import json
import os

with open(os.environ["XXP_PARAMS"], encoding="utf-8") as fh:
    x = json.load(fh)["params"]["x"]
with open(os.environ["XXP_METRICS"], "a", encoding="utf-8") as fh:
    fh.write(json.dumps({"name": "score", "value": float(x)}) + "\\n")
"""
SHIM_PY = 'resultMap.put("score", float(variables.get("x")))\n'


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(runs: int) -> dict:
    compile_shim()  # as the engine does before its first shim task
    with tempfile.TemporaryDirectory(prefix="xxp-shim-cost-") as tmp:
        root = Path(tmp)
        (root / "bare.py").write_text(BARE_PY)
        (root / "shim.py").write_text(SHIM_PY)
        (root / "params.json").write_text(json.dumps({"params": {"x": 3}, "inputs": {}, "outputs": {}}))
        env = {**os.environ, "XXP_PARAMS": str(root / "params.json"), "XXP_METRICS": str(root / "m.jsonl"),
               "XXP_OUTPUT_DIR": str(root)}
        commands = {"bare": [sys.executable, str(root / "bare.py")],
                    "shim": [sys.executable, "-c", SHIM_BOOT, str(root / "shim.py")]}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, argv in commands.items():
                before = child_cpu()
                subprocess.run(argv, env=env, cwd=root, check=True, stdin=subprocess.DEVNULL)
                cpu[name].append(child_cpu() - before)
        lines = (root / "m.jsonl").read_text().splitlines()
        if len(lines) != 2 * runs:
            raise RuntimeError(f"expected {2 * runs} metric lines, found {len(lines)}")
    medians = {name: statistics.median(values) for name, values in cpu.items()}
    return {"runs": runs, "cpu_ms_median": {k: round(v * 1000, 2) for k, v in medians.items()},
            "shim/bare": round(medians["shim"] / medians["bare"], 3) if medians["bare"] else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300, help="launches of each (default 300)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    report = measure(args.runs)
    if args.json:
        print(json.dumps(report))
    else:
        cpu = report["cpu_ms_median"]
        print(f"shim cost over {report['runs']} runs each (median CPU per task): bare {cpu['bare']:.2f} ms, "
              f"shim {cpu['shim']:.2f} ms, shim/bare {report['shim/bare']:.3f} (target <= 1.10)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
