"""`xxp_tui.results` on a real KB: columns, dtypes, a multi-objective run's Pareto front, series
with their steps, task executions; pandas is imported only when a function is called."""

from __future__ import annotations

import subprocess
import sys

import pytest

pd = pytest.importorskip("pandas")

from xxp_tui import results  # noqa: E402


def test_variants_frame_has_typed_columns_and_the_pareto_front(finished):
    df = results.variants("latest", db=finished.db)
    assert len(df) == 4
    assert list(df.columns[: len(results.VARIANT_COLUMNS)]) == list(results.VARIANT_COLUMNS)
    assert {"Fit.x", "Fit.k", "Fit.kind", "y", "cost", "curve"} <= set(df.columns)
    assert str(df["Fit.x"].dtype) == "Float64" and str(df["Fit.k"].dtype) == "Int64"
    assert str(df["Fit.kind"].dtype) == "string" and str(df["y"].dtype) == "Float64"
    assert str(df["pareto"].dtype) == "boolean" and str(df["seed"].dtype) == "Int64"
    assert str(df["started"].dtype).startswith("datetime64") and str(df["started"].dt.tz) == "UTC"
    assert (df["status"] == "completed").all() and (df["space"] == "Front").all()
    assert (df["duration"] > 0).all()
    # y = x is maximised, cost = x² - x/2 minimised: x = 0 is dominated by x = 0.25, the rest is the front
    front = dict(zip(df["Fit.x"], df["pareto"], strict=True))
    assert front == {0.0: False, 0.25: True, 0.5: True, 1.0: True}
    assert df.set_index("Fit.x")["objective"].to_dict() == {0.0: 0.0, 0.25: 0.25, 0.5: 0.5, 1.0: 1.0}
    assert df["curve"].tolist() == pytest.approx([0.0, 1.0, 2.0, 4.0])  # a series' final value: its last step


def test_metrics_frame_keeps_series_steps(finished):
    variant = results.variants(db=finished.db).set_index("Fit.x").loc[0.5, "variant"]
    df = results.metrics(variant, db=finished.db)
    curve = df[df["name"] == "curve"].set_index("step")["value"]
    assert curve.index.tolist() == [0, 1, 2, 3] and curve.tolist() == [0.5, 1.0, 1.5, 2.0]
    assert str(df["step"].dtype) == "Int64"
    singles = df[df["step"].isna()].set_index("name")["value"].to_dict()
    assert singles == {"y": 0.5, "cost": 0.0}
    assert (df["task"] == "Fit").all()


def test_runs_and_tasks_frames(finished):
    runs = results.runs(db=finished.db)
    assert runs["run"].tolist() == ["r1"] and runs.loc[0, "n_completed"] == 4
    assert runs.loc[0, "experiment"] == "Multi" and runs.loc[0, "engine_pid"] > 0
    tasks = results.tasks(1, db=finished.db)
    assert len(tasks) == 4 and (tasks["exit_code"] == 0).all() and (tasks["task"] == "Fit").all()
    assert str(tasks["cache_hit"].dtype) == "boolean" and tasks["stdout"].notna().all()


def test_bad_references_are_one_sentence(finished, tmp_path):
    with pytest.raises(results.ResultsError, match="no run r9"):
        results.variants("r9", db=finished.db)
    with pytest.raises(results.ResultsError, match="not a variant"):
        results.metrics("bogus", db=finished.db)
    with pytest.raises(results.ResultsError, match="No knowledge base"):
        results.runs(db=tmp_path / "none.sqlite")


def test_importing_results_loads_no_pandas():
    code = "import sys, xxp_tui.results; print('pandas' in sys.modules, 'sqlite_utils' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_a_variants_notes_are_in_its_row(finished):
    from tests.engine.conftest import xxp

    first = results.variants(db=finished.db).iloc[0]["variant"]
    done = xxp("note", first, "label noise in this split", "--tag", "data", "--db", finished.db)
    assert done.returncode == 0, done.stdout + done.stderr
    df = results.variants(db=finished.db).set_index("variant")
    assert df.loc[first, "notes"].endswith(": label noise in this split")
    assert df.drop(index=first)["notes"].isna().all()
