"""`export --format parquet` and `--format mlflow` on a real run: the Parquet table reads back with
its types; the MLflow export reads back through `mlflow.search_runs` from a local sqlite:/// store
(counts, params, a series' steps, nesting) and a second export duplicates nothing."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.engine.conftest import clean_env, xxp


def test_parquet_export_reads_back_typed(finished, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "variants.parquet"
    done = xxp("export", "--format", "parquet", "--out", out, "--db", finished.db, cwd=finished.root)
    assert done.returncode == 0 and "wrote 4 variant(s)" in done.stdout, done.stderr
    df = pd.read_parquet(out)
    assert len(df) == 4 and sorted(df["Fit.x"]) == [0.0, 0.25, 0.5, 1.0]
    assert df["Fit.k"].dtype.kind == "i" and df["pareto"].sum() == 3
    done = xxp("export", "--format", "parquet", "--db", finished.db, cwd=finished.root)
    assert done.returncode == 2 and "--out" in done.stderr


def test_mlflow_export_nests_variants_and_is_idempotent(finished, tmp_path):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = clean_env()
    env.pop("MLFLOW_TRACKING_URI", None)
    first = xxp("export", "--format", "mlflow", "--tracking-uri", uri, "--experiment", "team", "--json",
                "--db", finished.db, cwd=tmp_path, env=env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    report = json.loads(first.stdout)
    assert (report["created"], report["updated"], report["unchanged"]) == (4, 0, 0)

    again = xxp("export", "--format", "mlflow", "--tracking-uri", uri, "--experiment", "team", "--json",
                "--db", finished.db, cwd=tmp_path, env=env, timeout=300)
    assert again.returncode == 0, again.stdout + again.stderr
    second = json.loads(again.stdout)
    assert (second["created"], second["unchanged"], second["parent_run"]) == (0, 4, report["parent_run"])

    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=["team"])
    assert len(df) == 5  # one parent per xxp run, one nested run per variant, nothing twice
    children = df[df["tags.mlflow.parentRunId"] == report["parent_run"]]
    assert len(children) == 4 and set(children["status"]) == {"FINISHED"}
    assert sorted(children["params.Fit.x"].astype(float)) == [0.0, 0.25, 0.5, 1.0]
    assert set(children["params.Fit.k"]) == {"3"} and set(children["tags.xxp.space"]) == {"Front"}
    assert set(children["tags.xxp.origin"]) == {"strategy"} and children["tags.xxp.seed"].notna().all()
    row = children[children["params.Fit.x"] == "0.5"].iloc[0]
    assert row["metrics.y"] == 0.5 and row["metrics.cost"] == 0.0
    client = mlflow.tracking.MlflowClient(uri)
    curve = client.get_metric_history(row["run_id"], "curve")
    assert [(m.step, m.value) for m in curve] == [(0, 0.5), (1, 1.0), (2, 1.5), (3, 2.0)]
    logs = [f.path for f in client.list_artifacts(row["run_id"], "logs/Fit/attempt1")]
    assert any(p.endswith("stdout.log") or "stdout" in p for p in logs), logs
    parent = df[df["run_id"] == report["parent_run"]].iloc[0]
    assert parent["tags.xxp.run"] == "r1" and parent["status"] == "FINISHED"


def test_mlflow_export_needs_a_tracking_uri(finished):
    env = clean_env()
    env.pop("MLFLOW_TRACKING_URI", None)
    done = xxp("export", "--format", "mlflow", "--db", finished.db, cwd=finished.root, env=env)
    assert done.returncode == 2 and "--tracking-uri" in done.stderr and "Traceback" not in done.stderr
    done = xxp("export", "--format", "csv", "--experiment", "x", "--db", finished.db, cwd=finished.root, env=env)
    assert done.returncode == 2 and "go with --format mlflow" in done.stderr
    if importlib.util.find_spec("mlflow") is not None:
        done = xxp("export", "--format", "mlflow", "--tracking-uri", "foo://bar", "--db", finished.db,
                   cwd=finished.root, env=env, timeout=300)
        assert done.returncode == 1 and "cannot use the MLflow store at foo://bar" in done.stderr, done.stderr
        assert "internal error" not in done.stderr
