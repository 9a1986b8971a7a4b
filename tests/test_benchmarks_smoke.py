"""The throughput benchmark must keep working: a quick run in a subprocess reports seven positive rates
(engine, bare, optuna, the engine on a Dask LocalCluster, the engine on ExtremeXP-style tasks, and
both engines with the fork server off)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"


def test_throughput_quick_json_reports_seven_positive_rates(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert set(report["rates"]) == {"engine", "bare", "optuna", "dask", "extremexp", "engine-popen",
                                    "extremexp-popen"}
    assert all(rate > 0 for rate in report["rates"].values()), report["rates"]
    assert set(report["verdicts"]) == {"engine/bare", "extremexp/bare", "engine/optuna"}
    assert report["ratios"]["engine-popen/bare"] > 0 and report["median_ratios"]["extremexp-popen/bare"] > 0
    assert all(v in ("PASS", "MISS") for v in report["verdicts"].values())
    assert report["engine"]["completed"] == report["n"]
    assert report["dask"]["completed"] == report["n"] and report["ratios"]["dask/engine"] > 0
    assert report["extremexp"]["completed"] == report["n"] and report["ratios"]["extremexp/engine"] > 0


def test_reuse_quick_json_reports_both_ratios(tmp_path: Path) -> None:
    script = SCRIPT.parent / "reuse.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    cache, warm = report["cache"], report["warm_start"]
    assert cache["cache_hits"] == cache["tasks"] == 4  # the second run executed nothing
    assert 0 < cache["second_s"] < cache["first_s"]
    assert len(warm["cold_trials"]) == len(warm["warm_trials"]) == 1 and warm["ratio"] > 0
    assert len(cache["second_cli_all_s"]) == 5 and cache["cli_ratio"] > 0
    assert len(report["validate"]["all_s"]) == 3 and report["validate"]["median_s"] > 0


def test_shim_cost_quick_json_reports_a_ratio(tmp_path: Path) -> None:
    script = SCRIPT.parent / "shim_cost.py"
    out = subprocess.run([sys.executable, str(script), "--runs", "3", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["runs"] == 3 and report["shim/bare"] > 0 and report["cpu_ms_median"]["shim"] > 0


@pytest.mark.slow
def test_transfer_quick_json_reports_the_three_arms(tmp_path: Path) -> None:
    script = SCRIPT.parent / "transfer.py"
    out = subprocess.run([sys.executable, str(script), "--quick", "--json"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=480, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert set(report["median"]) == {"cold", "zero-shot", "box"}
    assert set(report["ratio_new"]) == {"zero-shot", "box"} and all(r > 0 for r in report["ratio_new"].values())
    assert all(1 <= n <= report["budget"] + 1 for arm in report["trials"].values() for ns in arm.values() for n in ns)
    assert "offset_d + 0.8 * scale_d" in report["target_definition"]


def test_ssh_bandwidth_reports_first_screen_idle_and_busy(tmp_path: Path) -> None:
    from tests.tui.ssh_server import missing

    if missing():
        pytest.skip(missing())
    script = SCRIPT.parent / "ssh_bandwidth.py"
    out = subprocess.run([sys.executable, str(script), "--seconds", "2", "--variants", "200", "--json"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=240, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    assert report["first_screen_bytes"] > 4096  # a whole 80x24 screen, encrypted
    assert 0 <= report["idle_bytes_per_s"] < report["busy_bytes_per_s"] and report["busy_changes_per_s"] > 10
