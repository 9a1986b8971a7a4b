"""On Dask, a task asking for GPUs gets the worker's own GPUs in CUDA_VISIBLE_DEVICES: a real scheduler
and a real worker on 127.0.0.1 started with `--resources GPU=2` and `XXP_WORKER_GPUS=5,7` (the ids of
that worker's GPUs on its machine; no GPU is needed, only ids). Two trainings running side by side on
that worker must never share one, and each task run records its GPU, CPU time and GPU-seconds."""

from __future__ import annotations

import json
import textwrap
from itertools import combinations
from pathlib import Path

import pytest

from tests.dask.conftest import Cluster, clean_env, free_port, xxp
from xxp_tui.kb import open_kb
from xxp_tui.kb import variants as kbv

pytest.importorskip("distributed")

TRAIN_XXP = """
task Train {
    define param x { type Integer; default 0; }
    define param ledger { type String; default ""; }
    define metric score { kind single-value; type Float; }
    implementation "train.py";
}
"""
TRAIN_PY = """
import json, os, time
from xxp_tui import sdk

start = time.time()
time.sleep(1.5)
with open(sdk.param("ledger"), "a") as fh:
    fh.write(json.dumps({"cuda": os.environ.get("CUDA_VISIBLE_DEVICES"), "start": start, "end": time.time()}) + "\\n")
sdk.log_metric("score", float(sdk.param("x", 0)))
"""
SPEC = """
workflow W {
    START -> Train -> END;
    task Train { implementation "g.train"; param ledger = "LEDGER"; resources { GPU = 1; } }
}
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x_vp = range(0, 4);
        task Train { param x = x_vp; }
    }
}
"""


@pytest.fixture
def gpu_cluster(tmp_path: Path):
    cluster = Cluster(tmp_path / "cluster")
    cluster.root.mkdir()
    cluster.port = free_port()
    cluster.address = f"tcp://127.0.0.1:{cluster.port}"
    cluster.start(n_workers=0)
    cluster.env = clean_env(DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES="0", XXP_WORKER_GPUS="5,7")
    cluster.add_worker("gpu-worker", "--resources", "GPU=2", "--nthreads", "2")
    try:
        yield cluster
    finally:
        cluster.stop()


def test_gpu_tasks_on_a_dask_worker_get_its_own_gpus_never_shared(tmp_path: Path, gpu_cluster: Cluster) -> None:
    folder = tmp_path / "tasks" / "g" / "train"
    folder.mkdir(parents=True)
    (folder / "task.xxp").write_text(textwrap.dedent(TRAIN_XXP))
    (folder / "train.py").write_text(textwrap.dedent(TRAIN_PY))
    ledger = tmp_path / "ledger"
    spec = tmp_path / "e.xxp"
    spec.write_text(textwrap.dedent(SPEC).replace("LEDGER", str(ledger)))
    db = tmp_path / "kb.sqlite"
    done = xxp("run", spec, "--headless", "--executor", "dask", "--scheduler", gpu_cluster.address, "--db", db,
               "--workers", "4", cwd=tmp_path, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert len(lines) == 4 and {x["cuda"] for x in lines} <= {"5", "7"}, lines
    overlapping = [(a, b) for a, b in combinations(lines, 2) if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, lines  # the worker's two GPU-units ran two at once
    for a, b in overlapping:
        assert a["cuda"] != b["cuda"], (a, b)
    with open_kb(db, create=False) as kb:
        runs = kbv.task_runs_for_run(kb, 1)
    assert sorted(t.gpus for t in runs) == sorted(x["cuda"] for x in lines)
    for t in runs:
        assert t.cpu_seconds is not None and t.cpu_seconds > 0 and t.peak_rss_bytes > 0
        assert t.gpu_seconds is not None and t.gpu_seconds >= 1.0
