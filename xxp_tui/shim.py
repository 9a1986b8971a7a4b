"""Runs an ExtremeXP-style task script unchanged: `python -m xxp_tui.shim script.py`.

ExtremeXP scripts are plain scripts that find two injected globals: `variables` (params and data
port paths, read with `variables.get("name")`) and `resultMap` (results, written with
`resultMap.put("accuracy", 0.93)`). This shim builds both from the xxp task context (see sdk.py)
and runs the script with them. Each numeric `put` is reported as a metric at once; every result,
numeric or not, is also written to `XXP_OUTPUT_DIR/result_map.json` so later conditions can read
text results too. Values in `variables` are typed (ints, floats), which ExtremeXP code that calls
`int(variables.get("x"))` accepts as well.

Standard library only, like sdk.py.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from pathlib import Path
from typing import Any

from xxp_tui import sdk

RESULT_FILE = "result_map.json"


class ResultMap(dict):
    """`resultMap.put(key, value)`; also a dict, as some scripts index it directly."""

    def put(self, key: str, value: Any) -> None:
        self[key] = value
        if isinstance(value, (bool, int | float)):
            sdk.log_metric(key, value)
        _save(self)


class Variables(dict):
    """`variables.get(name)`: params, then input and output port paths, then context fields."""


def _save(results: dict) -> None:
    out = Path(os.environ.get("XXP_OUTPUT_DIR", "."))
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RESULT_FILE + ".tmp")
    tmp.write_text(json.dumps(results, default=str), encoding="utf-8")
    tmp.replace(out / RESULT_FILE)


def build_variables() -> Variables:
    ctx = sdk._ctx()
    variables = Variables()
    variables.update({k: str(v) for k, v in ctx.get("outputs", {}).items()})
    variables.update({k: str(v) for k, v in ctx.get("inputs", {}).items()})
    variables.update(ctx.get("params", {}))
    variables.update({
        "task_name": ctx.get("task"),
        "wf_id": ctx.get("variant"),
        "exp_id": ctx.get("run"),
        "seed": ctx.get("seed"),
        "output_folder": os.environ.get("XXP_OUTPUT_DIR", "."),
    })
    return variables


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m xxp_tui.shim SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = argv[0]
    sys.argv = list(argv)
    sys.path.insert(0, str(Path(script).resolve().parent))
    results = ResultMap()
    runpy.run_path(script, init_globals={"variables": build_variables(), "resultMap": results},
                   run_name="__main__")
    if results:
        _save(results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
