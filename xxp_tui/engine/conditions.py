"""Evaluating control-edge conditions over ExtremeXP-shaped results.

`results[node][i] = {"configuration": {value list: value}, "result": {metric: value}}`, with `i`
counting completed variants of the node's latest round from 1 (an interaction's answer and an
experiment task's results are `results[node][1]`). A condition is either a Python expression over
`results`, or `"fn arg1 arg2"`, which calls `fn("arg1", "arg2", results)` from the conditions module.
Conditions are the project's own code, as in ExtremeXP (trusted like its tasks: they run with full
builtins, nothing pretends to sandbox them); the engine runs them in a child process with a time
limit (see usercode.py). A failing one is reported and counts as false, it never stops the engine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from xxp_tui.lang.check import classify_condition
from xxp_tui.lang.model import ControlEdge


class Conditions:
    def __init__(self, module_path: Path | None) -> None:
        self.module_path = module_path
        self._module: ModuleType | None = None
        self._error: str | None = None

    def _load(self) -> ModuleType | None:
        if self._module is None and self._error is None and self.module_path is not None:
            spec = importlib.util.spec_from_file_location("xxp_conditions", self.module_path)
            if spec is None or spec.loader is None:
                self._error = f"{self.module_path.name} cannot be loaded as a Python module"
                return None
            module = importlib.util.module_from_spec(spec)
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                self._error = f"{self.module_path.name} failed to load: {exc!r}"
                return None
            self._module = module
        return self._module

    def evaluate_all(self, edges: list[ControlEdge], results: dict) -> list[tuple[bool, str | None]]:
        """Each edge's outcome, in order: one call for a node's edges, so one child process."""
        return [self.evaluate(edge, results) for edge in edges]

    def evaluate(self, edge: ControlEdge, results: dict) -> tuple[bool, str | None]:
        text = edge.condition or "True"
        label = f"{edge.src} ?-> {edge.dst} [{text}]"
        kind, fn_name, args = classify_condition(text)
        try:
            if kind == "function":
                module = self._load()
                fn = getattr(module, fn_name, None) if module is not None and fn_name else None
                if callable(fn):
                    value = bool(fn(*args, results))
                    return value, f"{label}: {value}"
                if args:
                    why = self._error or f"no function {fn_name} in the conditions module"
                    return False, f"{label}: false ({why})"
            if kind == "invalid":
                return False, f"{label}: false (not a valid condition)"
            value = bool(eval(compile(text.strip(), "<condition>", "eval"), {"results": results}))
            return value, f"{label}: {value}"
        except Exception as exc:
            return False, f"{label}: false (raised {exc!r})"
