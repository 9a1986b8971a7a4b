"""The task-side API: what a task script uses to read its inputs and report results.

Standard library only, and nothing else of xxp_tui is imported, so it costs a task nothing.
A task gets its context from environment variables set by the engine:

- `XXP_PARAMS`: path of a JSON file `{"params": {...}, "inputs": {port: path},
  "outputs": {port: path}, "seed": int, "task": str, "variant": str, "run": str}`
- `XXP_OUTPUT_DIR`: the folder where declared output ports are written
- `XXP_METRICS`: a JSONL file; each line `{"name": ..., "value": ..., "step": ...}` is a metric
- `XXP_SEED`: the variant's seed (also in the params file)

    from xxp_tui import sdk
    lr = sdk.param("lr", 0.1)
    rows = open(sdk.input_path("dataset")).read()
    for epoch in range(10):
        sdk.log_metric("loss", 1 / (epoch + 1), step=epoch)
    sdk.log_metric("accuracy", 0.93)
"""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any


def _ctx() -> dict[str, Any]:
    """The task's context file, read on each call (it is small; no state to go stale)."""
    path = os.environ.get("XXP_PARAMS")
    if not path:
        return {"params": {}, "inputs": {}, "outputs": {}}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def params() -> dict[str, Any]:
    """All parameters of this task, typed (ints stay ints, floats floats)."""
    return dict(_ctx().get("params", {}))


def param(name: str, default: Any = None) -> Any:
    return _ctx().get("params", {}).get(name, default)


def inputs() -> dict[str, str]:
    return dict(_ctx().get("inputs", {}))


def input_path(port: str) -> Path:
    """Path of the file or folder linked to input port `port`."""
    found = _ctx().get("inputs", {}).get(port)
    if found is None:
        known = ", ".join(sorted(_ctx().get("inputs", {}))) or "none"
        raise KeyError(f"no input port {port!r} (inputs: {known})")
    return Path(found)


def output_path(port: str) -> Path:
    """Where to write output port `port`; its folder exists."""
    declared = _ctx().get("outputs", {}).get(port)
    path = Path(declared) if declared else Path(os.environ.get("XXP_OUTPUT_DIR", ".")) / port
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def seed() -> int:
    value = _ctx().get("seed", os.environ.get("XXP_SEED", 0))
    return int(value)


def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Report a metric; with `step` it is a series (live charts, pruning)."""
    line = {"name": str(name), "value": _number(value), "step": step, "time": time.time()}
    target = os.environ.get("XXP_METRICS")
    if not target:
        print(f"[metric] {json.dumps(line)}")
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
        fh.flush()


def _number(value: Any) -> float | int | str:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value if math.isfinite(value) else str(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
