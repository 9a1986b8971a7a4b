"""Run mypy on the whole package and hold each part to its budget of errors.

`make test` runs this before pytest. kb, lang and engine must have none; every other part of xxp_tui may have
at most the count in tools/mypy_budget.toml, so the count never grows and can only be lowered (this
prints the new figure when a part does better than its budget). The configuration is pyproject.toml's
[tool.mypy].

    python tools/mypy_budget.py            # check (exit 1 over budget)
    python tools/mypy_budget.py --counts   # only print the counts
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_FILE = Path(__file__).with_name("mypy_budget.toml")
MUST_BE_CLEAN = ("kb", "lang", "engine")
ERROR = re.compile(r"^xxp_tui/(?P<path>[^:]+)\.py:\d+(:\d+)?: error:")


def part_of(path: str) -> str:
    """`engine/controller` -> engine; a module at the package's top (`results`) -> other."""
    head, sep, _ = path.partition("/")
    return head if sep else "other"


def allowed(part: str, budget: dict[str, int]) -> int:
    return 0 if part in MUST_BE_CLEAN else budget.get(part, 0)


def over_budget(counts: Counter[str], budget: dict[str, int]) -> list[str]:
    """The parts with more errors than they may have (a part missing from the budget may have none)."""
    return sorted(p for p in counts if counts[p] > allowed(p, budget))


def count_errors() -> tuple[Counter[str], str]:
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--no-pretty"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 2: mypy itself failed (bad configuration, crash)
        sys.exit(f"mypy failed (exit {done.returncode}):\n{done.stdout}{done.stderr}")
    if done.returncode == 1 and not parse(done.stdout):  # e.g. "No module named mypy": not a clean bill
        sys.exit(f"mypy did not run: {(done.stderr or done.stdout).strip()} (the test extra has it)")
    return parse(done.stdout), done.stdout


def parse(output: str) -> Counter[str]:
    """Errors per part of xxp_tui in mypy's output (notes and other lines are not errors)."""
    counts: Counter[str] = Counter()
    for line in output.splitlines():
        if match := ERROR.match(line):
            counts[part_of(match["path"])] += 1
    return counts


def main(argv: list[str]) -> int:
    budget: dict[str, int] = tomllib.loads(BUDGET_FILE.read_text(encoding="utf-8"))
    counts, output = count_errors()
    parts = sorted(set(budget) | set(counts) | set(MUST_BE_CLEAN))
    print("mypy errors per part of xxp_tui (count / budget):")
    for part in parts:
        print(f"  {part:<8} {counts[part]:>4} / {allowed(part, budget)}")
    print(f"  {'total':<8} {sum(counts.values()):>4}")
    if "--counts" in argv:
        return 0
    over = over_budget(counts, budget)
    if over:
        print("\n".join(line for line in output.splitlines()
                        if (m := ERROR.match(line)) and part_of(m["path"]) in over))
        print(f"mypy: over budget in {', '.join(over)} (kb, lang and engine take none; the others see "
              f"{BUDGET_FILE.relative_to(ROOT)}): fix the errors above", file=sys.stderr)
        return 1
    better = [p for p in parts if p not in MUST_BE_CLEAN and counts[p] < budget.get(p, 0)]
    if better:
        print("mypy: fewer errors than budgeted in " + ", ".join(f"{p} ({counts[p]})" for p in better)
              + f"; lower {BUDGET_FILE.relative_to(ROOT)} to keep them")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
