"""Smoke run of benchmarks/tui.py: a real writer process, the real app headless, real keys.

The figures depend on the machine (other tests share its CPUs), so this checks that the benchmark
runs end to end and that the app kept up: every row arrived, every key press showed its effect
on screen, and nothing is grossly slow. The targets themselves are judged by the full run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "tui.py"


def test_quick_benchmark_runs_and_the_app_keeps_up():
    proc = subprocess.run([sys.executable, str(BENCH), "--quick"], capture_output=True, text=True, timeout=90)
    out = proc.stdout
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2000 variants" in out and "table shows 2000 rows" in out, out
    assert re.search(r"key presses: \d+ measured, 0 without a visible effect", out), out
    p95 = float(re.search(r"key → screen p95\s+([\d.]+) ms", out).group(1))
    cpu = float(re.search(r"app CPU share\s+([\d.]+) %", out).group(1))
    rss = float(re.search(r"peak RSS\s+([\d.]+) MB", out).group(1))
    assert 0 < p95 < 1000 and 0 < cpu < 100 and 0 < rss < 1000, out
    for target in ("target < 100 ms", "target < 35 %", "target < 300 MB"):
        assert target in out
    assert re.search(r"writer: (4\d|5\d)\.\d changes/s", out), out  # the writer kept its 50/s
