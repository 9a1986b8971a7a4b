"""tools/mypy_budget.py's verdict, on mypy output written here (`make test` runs the real mypy)."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "tools" / "mypy_budget.py"
spec = importlib.util.spec_from_file_location("mypy_budget", SCRIPT)
assert spec is not None and spec.loader is not None
budget_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget_tool)

OUTPUT = """\
xxp_tui/engine/controller.py:12: error: "Engine" has no attribute "kb"  [attr-defined]
xxp_tui/engine/executors/local.py:3:5: error: Incompatible types  [assignment]
xxp_tui/engine/controller.py:12: note: a note is not an error
xxp_tui/results.py:24: error: Item "None" has no attribute "x"  [union-attr]
xxp_tui/lang/check.py:55: error: Incompatible types in assignment  [assignment]
"""


def test_errors_are_counted_per_part():
    assert budget_tool.parse(OUTPUT) == Counter({"engine": 2, "other": 1, "lang": 1})


def test_kb_spec_and_engine_take_none_whatever_the_budget_says():
    counts = budget_tool.parse(OUTPUT)
    assert budget_tool.over_budget(counts, {"engine": 2, "other": 1, "lang": 5}) == ["engine", "lang"]
    assert budget_tool.over_budget(counts, {"other": 0}) == ["engine", "lang", "other"]
    # a part the budget does not name may have no error
    assert budget_tool.over_budget(Counter({"tui": 1}), {"cli": 3}) == ["tui"]
    assert budget_tool.over_budget(Counter({"tui": 3}), {"tui": 3}) == []


def test_the_budget_file_holds_no_allowance_for_kb_spec_or_engine():
    import tomllib

    budget = tomllib.loads(budget_tool.BUDGET_FILE.read_text(encoding="utf-8"))
    assert all(isinstance(v, int) and v >= 0 for v in budget.values())
    assert not {"kb", "lang", "engine"} & {k for k, v in budget.items() if v}
