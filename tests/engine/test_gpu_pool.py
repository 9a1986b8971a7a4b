"""The local executor's GPU pool, end to end: real engines, real task processes, real KB. No machine
of ours has a GPU, and none is needed: `--gpus 0,1` gives the pool two ids (trusted, as NVML is
absent), and what is checked is what the tasks see in CUDA_VISIBLE_DEVICES and when they run."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

from tests.engine.conftest import Project, wait_until, xxp
from tests.engine.live import LiveRun
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

TRAIN_XXP = """
task Train {
    define param x { type Integer; default 0; range (0, 100); }
    define param ledger { type String; default ""; }
    define param secs { type Float; default 1.0; }
    define metric score { kind single-value; type Float; }
    implementation "train.py";
}
"""
# Writes what it saw and when it ran, one JSON line per execution.
TRAIN_PY = """
import json, os, time
from xxp_tui import sdk

start = time.time()
time.sleep(float(sdk.param("secs", 1.0)))
seen = os.environ.get("CUDA_VISIBLE_DEVICES")
with open(sdk.param("ledger"), "a") as fh:
    fh.write(json.dumps({"variant": os.environ["XXP_VARIANT"], "task": os.environ.get("XXP_TASK", "?"),
                         "cuda": seen, "start": start, "end": time.time()}) + "\\n")
sdk.log_metric("score", float(sdk.param("x", 0)))
"""

SPEC = """
workflow W {
    START -> Train -> Cpu -> END;
    task Train { implementation "g.train"; param ledger = "LEDGER"; resources { GPU = GPUS; } }
    task Cpu { implementation "g.train"; param ledger = "LEDGER"; param secs = 0.1; }
}
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x_vp = range(0, 4);
        task Train { param x = x_vp; }
        task Cpu { param x = x_vp; }
        objective maximize Train.score;
    }
}
"""


def gpu_project(project: Project, gpus: str = "1") -> Path:
    project.task("g.train", TRAIN_XXP, "train.py", TRAIN_PY)
    return project.spec(SPEC.replace("LEDGER", str(project.root / "ledger")).replace("GPUS", gpus))


def ledger(project: Project) -> list[dict]:
    path = project.root / "ledger"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_two_gpus_run_at_most_two_trainings_at_once_each_on_its_own_gpu(project: Project) -> None:
    spec = gpu_project(project)
    done = xxp("run", spec, "--headless", "--workers", "4", "--gpus", "0,1", "--db", project.db, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = ledger(project)
    trains = [x for x in lines if x["cuda"] not in ("",)]
    cpus = [x for x in lines if x["cuda"] == ""]
    assert len(trains) == 4 and len(cpus) == 4, lines
    assert {x["cuda"] for x in trains} <= {"0", "1"}
    for a, b in combinations(trains, 2):  # overlapping trainings never share a GPU
        if a["start"] < b["end"] and b["start"] < a["end"]:
            assert a["cuda"] != b["cuda"], (a, b)
    for t in trains:  # never more than two at once, though 4 workers were free
        overlapping = [o for o in trains if o["start"] <= t["start"] < o["end"]]
        assert len(overlapping) <= 2, overlapping

    with project.kb() as kb:
        run = kbr.get_run(kb, kbr.resolve_run(kb, "latest"))
        events = [e.detail.get("text", "") for e in kbc.events(kb, run.id)]
        assert "GPUs: 0,1 as given (NVML not available to check them)" in events
        recorded = {(tr.variant_id, tr.task): tr.gpus
                    for v in kbv.for_run(kb, run.id) for tr in kbv.task_runs(kb, v.id)}
    seen = {(int(x["variant"].lstrip("v")), "Train" if x["cuda"] else "Cpu"): x["cuda"] for x in lines}
    assert recorded == seen  # what each task run was given is what it saw

    shown = xxp("show", "v1", "--json", "--db", project.db)
    assert shown.returncode == 0, shown.stderr
    tasks = {t["task"]: t["gpus"] for t in json.loads(shown.stdout)["tasks"]}
    assert tasks == {"Train": seen[(1, "Train")], "Cpu": ""}


def test_a_task_asking_more_gpus_than_the_run_has_is_refused_at_start(project: Project) -> None:
    spec = gpu_project(project, gpus="3")
    (project.root / "xxp.toml").write_text("gpus = [0, 1]\n")  # as --gpus 0,1
    done = xxp("run", spec, "--headless", "--db", project.db, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "xxp-tui: task Train of Grid asks for 3 GPU(s) but this run has 2 GPU(s) (0, 1); choose them with "
        "--gpus; nothing was run")
    assert not ledger(project)


def test_a_malformed_gpus_setting_is_one_sentence_and_exit_2(project: Project) -> None:
    spec = gpu_project(project)
    done = xxp("run", spec, "--headless", "--gpus", "bad", "--db", project.db)
    assert done.returncode == 2
    assert done.stderr.strip() == "xxp-tui: --gpus: 'bad' is not a GPU index; give indexes like 0,1,3, or none."
    assert not project.db.exists() or not project.variants()
    (project.root / "xxp.toml").write_text('gpus = "0;1"\n')
    done = xxp("run", spec, "--headless", "--db", project.db)
    assert done.returncode == 2
    assert done.stderr.strip() == (f"xxp-tui: gpus in {project.root / 'xxp.toml'}: '0;1' is not a GPU index; "
                                   "give indexes like 0,1,3, or none.")


GATED_SPEC = """
workflow W { task G { implementation "t.gated"; resources { GPU = 1; } } }
experiment E {
    control { START -> Grid -> END; }
    space Grid of W {
        strategy gridsearch;
        param_values x = range(0, 3);
        task G { param x = x; param gates = "{gates}"; }
        objective maximize score;
    }
}
"""


def test_after_an_engine_sigkill_the_adopted_tasks_keep_their_gpus_and_none_stays_taken(tmp_path: Path) -> None:
    run = LiveRun(tmp_path, GATED_SPEC, workers=3)
    with open_rw(run) as kb:
        kbr.update_settings(kb, run.run_id, gpus="0,1")
    try:
        run.start()
        started = wait_until(lambda: len(trs := [t for t in run.running_task_runs() if t.pgid]) == 2 and trs, 30,
                             "two tasks on the two GPUs")
        first = [t.variant_id for t in started]
        held = {tr.variant_id: tr.gpus for tr in started}
        assert sorted(held.values()) == ["0", "1"]
        (third,) = {1, 2, 3} - set(first)
        run.kill()
        run.start()
        wait_until(lambda: any("2 running task(s) adopted" in e.detail.get("text", "")
                               for e in kbc.events(run.kb, run.run_id)), 30, "the resume")
        wait_until(lambda: run.variant(third).reason == "task G waits for a free GPU", 30, "the third to wait")
        freed, kept = first
        run.release(freed)
        tr = wait_until(lambda: [t for t in run.task_runs(third) if t.pgid is not None], 30, "the third task")[0]
        (ended,) = run.task_runs(freed)
        assert ended.ended is not None and tr.started >= ended.ended  # it waited for a GPU to be freed
        assert tr.gpus == held[freed] != held[kept]
        assert run.variant(third).reason is None
        run.release_all()
        assert run.wait_finished().status == "completed"
    finally:
        run.stop()


def open_rw(run: LiveRun):
    from xxp_tui.kb import open_kb

    return open_kb(run.db, create=False)
