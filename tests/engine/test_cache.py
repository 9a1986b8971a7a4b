"""The task cache, end to end through the real CLI: a task whose key (code + dependency files +
params + seed + input contents + environment) was computed before is not executed again (its
process never starts: every task appends to a calls log when it runs), and a change invalidates
exactly the tasks it affects and their downstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from xxp_tui.kb import cache as kbcache
from xxp_tui.kb import variants as kbv

from .conftest import Project, xxp

pytestmark = pytest.mark.slow

LOAD_XXP = """
task Load {
    define input data raw;
    define output data data;
    define param n { type Integer; default 1; }
    implementation "load.py";
}
"""
LOAD_PY = """
import os
from xxp_tui import sdk
with open(os.environ["CALLS"], "a") as fh:
    fh.write(f"Load n={sdk.param('n')}\\n")
text = open(sdk.input_path("raw")).read()
open(sdk.output_path("data"), "w").write(text * int(sdk.param("n")))
"""
TRAIN_XXP = """
task Train {
    define input data data;
    define output data model;
    define param lr { type Float; default 0.1; }
    define metric score { kind single-value; type Float; }
    define metric curve { kind series; type Float; }
    implementation "train.py";
    dependency "helper.txt";
}
"""
TRAIN_PY = """
import os
from pathlib import Path
from xxp_tui import sdk
lr = float(sdk.param("lr"))
with open(os.environ["CALLS"], "a") as fh:
    fh.write(f"Train lr={lr}\\n")
data = open(sdk.input_path("data")).read()
for step in range(3):
    sdk.log_metric("curve", lr * step, step=step)
version = (Path(__file__).parent / "helper.txt").read_text().strip()
open(sdk.output_path("model"), "w").write(f"{lr} {len(data)} {version}")
sdk.log_metric("score", lr * len(data))
"""
EVAL_XXP = """
task Eval {
    define input data model;
    define metric accuracy { kind single-value; type Float; }
    implementation "eval.py";
}
"""
EVAL_PY = """
import os
from xxp_tui import sdk
model = open(sdk.input_path("model")).read()
with open(os.environ["CALLS"], "a") as fh:
    fh.write(f"Eval {model}\\n")
lr, size, version = model.split()
sdk.log_metric("accuracy", float(lr) + int(size) / 1000)
"""
SPEC = """
workflow W {
    START -> Load -> Train -> Eval -> END;
    task Load { implementation "c.load"; }
    task Train { implementation "c.train"; }
    task Eval { implementation "c.eval"; }
    define input data Raw;
    configure data Raw { path "raw.txt"; }
    Raw --> Load.raw;
    Load.data --> Train.data;
    Train.model --> Eval.model;
}
experiment E {
    control { START -> S -> END; }
    space S of W {
        strategy gridsearch;
        param_values lr_vp = enum(LRS);
        task Train { param lr = lr_vp; }
        objective maximize accuracy;
    }
}
"""


class CacheProject(Project):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.calls_file = root / "calls.log"
        self.task("c.load", LOAD_XXP, "load.py", LOAD_PY)
        train = self.task("c.train", TRAIN_XXP, "train.py", TRAIN_PY)
        (train / "helper.txt").write_text("v1\n")
        self.task("c.eval", EVAL_XXP, "eval.py", EVAL_PY)
        (root / "raw.txt").write_text("abc")
        self.write_spec("0.1, 0.2, 0.3")

    def write_spec(self, lrs: str, extra_train: str = "") -> None:
        text = SPEC.replace("LRS", lrs)
        if extra_train:
            text = text.replace('task Train { implementation "c.train"; }',
                                f'task Train {{ implementation "c.train"; {extra_train} }}')
        self.spec(text)

    def run(self, *extra: str) -> list[str]:
        """Run the experiment headless; the task executions it caused, from the calls log."""
        before = self.calls()
        done = xxp("run", self.root / "e.xxp", "--headless", "--workers", "2", "--db", self.db, *extra,
                   cwd=self.root, env=self.env)
        assert done.returncode == 0, done.stdout + done.stderr
        return self.calls()[len(before):]

    def calls(self) -> list[str]:
        return self.calls_file.read_text().splitlines() if self.calls_file.exists() else []

    @property
    def env(self) -> dict:
        from .conftest import clean_env

        return clean_env(CALLS=str(self.calls_file))

    def results(self) -> dict[float, dict]:
        """lr -> {status, accuracy, tasks: {task: (status, cache_hit)}} of the latest run."""
        out = {}
        with self.kb() as kb:
            for v in self.variants():
                finals = kbv.final_metrics(kb, [v.id])[v.id]
                tasks = {t.task: (t.status, t.cache_hit) for t in kbv.task_runs(kb, v.id)}
                out[v.params["Train.lr"]] = {"status": v.status, "accuracy": finals.get(("Eval", "accuracy")),
                                             "score": finals.get(("Train", "score")), "tasks": tasks,
                                             "curve": [m.value for m in kbv.metrics(kb, v.id, "curve")]}
        return out


@pytest.fixture
def cp(tmp_path: Path) -> CacheProject:
    return CacheProject(tmp_path)


def test_a_shared_prefix_runs_once_and_an_unchanged_rerun_starts_no_process(cp):
    first = cp.run()
    assert sorted(first) == sorted(["Load n=1", "Train lr=0.1", "Train lr=0.2", "Train lr=0.3",
                                    "Eval 0.1 3 v1", "Eval 0.2 3 v1", "Eval 0.3 3 v1"])
    results1 = cp.results()
    assert all(r["status"] == "completed" for r in results1.values())
    loads = sorted(r["tasks"]["Load"] for r in results1.values())
    assert loads == [("cached", True), ("cached", True), ("completed", False)]

    assert cp.run() == []  # nothing executed the second time
    results2 = cp.results()
    for lr, r in results2.items():
        assert r["tasks"] == {"Load": ("cached", True), "Train": ("cached", True), "Eval": ("cached", True)}
        assert (r["accuracy"], r["score"], r["curve"]) == (
            results1[lr]["accuracy"], results1[lr]["score"], results1[lr]["curve"])
    with cp.kb() as kb:
        run2 = [v for v in cp.variants()]
        for v in run2:
            for tr in kbv.task_runs(kb, v.id):
                source = kbv.get_task_run(kb, tr.cache_source)
                assert source.status == "completed" and source.cache_key == tr.cache_key
                assert tr.outputs == source.outputs  # the very same files: identical outputs
                assert all(Path(p).exists() for p in tr.outputs.values())
            arts = {a["port"]: a["sha256"] for a in kbv.artifacts(kb, v.id)}
            assert set(arts) == {"data", "model"} and all(arts.values())


def test_changes_invalidate_exactly_the_affected_tasks(cp):
    cp.run()
    # A param: only the new point's Train and Eval run.
    cp.write_spec("0.1, 0.2, 0.4")
    assert sorted(cp.run()) == ["Eval 0.4 3 v1", "Train lr=0.4"]
    # The code of Train (a declared dependency file): Train and its downstream run again, Load does not.
    (cp.root / "tasks" / "c" / "train" / "helper.txt").write_text("v2\n")
    assert sorted(cp.run()) == ["Eval 0.1 3 v2", "Eval 0.2 3 v2", "Eval 0.4 3 v2", "Train lr=0.1", "Train lr=0.2",
                                "Train lr=0.4"]
    # Train's script itself. Its outputs come out byte for byte the same, so Eval, keyed on the content
    # of its inputs, is still valid: an early cut-off, as in content-addressed build systems.
    script = cp.root / "tasks" / "c" / "train" / "train.py"
    script.write_text(script.read_text() + "\n# a comment changes the code hash\n")
    assert sorted(cp.run()) == ["Train lr=0.1", "Train lr=0.2", "Train lr=0.4"]
    # An input's content: everything downstream of Load runs again.
    (cp.root / "raw.txt").write_text("abcd")
    assert sorted(cp.run()) == ["Eval 0.1 4 v2", "Eval 0.2 4 v2", "Eval 0.4 4 v2", "Load n=1", "Train lr=0.1",
                                "Train lr=0.2", "Train lr=0.4"]


def test_opting_out_and_missing_outputs(cp):
    cp.run()
    assert len(cp.run("--no-cache")) == 9  # every task of every variant
    cp.write_spec("0.1, 0.2, 0.3", extra_train="cache false;")
    assert sorted(cp.run()) == ["Train lr=0.1", "Train lr=0.2", "Train lr=0.3"]  # Eval's input is unchanged
    # Outputs deleted behind the cache's back are not trusted: Load runs again.
    with cp.kb() as kb:
        for entry in kbcache.entries(kb):
            if entry.task == "Load":
                for path in entry.outputs.values():
                    Path(path).unlink(missing_ok=True)
    assert "Load n=1" in cp.run()


def test_cache_ls_and_gc(cp):
    import json

    cp.run()
    entries = json.loads(xxp("cache", "ls", "--json", "--db", cp.db, cwd=cp.root).stdout)
    assert sorted(e["task"] for e in entries) == ["Eval", "Eval", "Eval", "Load", "Train", "Train", "Train"]
    assert all(e["intact"] for e in entries)
    load = next(e for e in entries if e["task"] == "Load")
    assert load["hits"] == 2 and load["size"] > 0
    # Nothing is broken: gc evicts nothing; with the outputs of Load gone it evicts exactly that entry.
    assert "evicted 0 of 7" in xxp("cache", "gc", "--db", cp.db, cwd=cp.root).stdout
    with cp.kb() as kb:
        (entry,) = [e for e in kbcache.entries(kb) if e.task == "Load"]
    for path in entry.outputs.values():
        Path(path).unlink()
    train = next(e for e in entries if e["task"] == "Train")
    with cp.kb() as kb:  # an output changed behind the cache's back is not intact either
        (changed,) = [e for e in kbcache.entries(kb) if e.task_run == train["entry"]]
    Path(changed.outputs["model"]).write_text("tampered")
    listed = {e["entry"]: e["intact"] for e in json.loads(xxp("cache", "ls", "--json", "--db", cp.db).stdout)}
    assert [k for k, ok in listed.items() if not ok] == sorted([entry.task_run, train["entry"]])
    assert "would evict 2 of 7" in xxp("cache", "gc", "--dry-run", "--db", cp.db, cwd=cp.root).stdout
    assert "evicted 2 of 7" in xxp("cache", "gc", "--db", cp.db, cwd=cp.root).stdout
    assert len(json.loads(xxp("cache", "ls", "--json", "--db", cp.db, cwd=cp.root).stdout)) == 5
    # --all --delete-outputs empties the cache and frees the files; the next run computes everything.
    done = xxp("cache", "gc", "--all", "--delete-outputs", "--db", cp.db, cwd=cp.root)
    assert "evicted 5 of 5" in done.stdout
    with cp.kb() as kb:
        assert kbcache.entries(kb) == []
    assert len(cp.run()) == 7


def test_hashing_a_large_input_reports_progress(tmp_path):
    """The engine hashes inputs on its own thread; for a large file it must hear about progress
    (to keep its heartbeat fresh) rather than go silent for the whole read."""
    from xxp_tui.engine.cache import FileHashes
    from xxp_tui.engine.hashing import CHUNK

    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * (3 * CHUNK + 1))
    calls = []
    hashes = FileHashes(progress=lambda: calls.append(1))
    first = hashes.of(big)
    assert len(calls) == 4 and first == hashes.of(big) and len(calls) == 4  # memoised: not read again


def test_waiting_for_an_identical_running_task_holds_its_slot(cp):
    """With 2 slots, variants that wait for the one Load they share do not let every other variant
    start meanwhile (a bayesian space would otherwise ask its whole budget at once)."""
    cp.write_spec("0.1, 0.2, 0.3, 0.4, 0.5")
    assert sorted(c for c in cp.run() if c.startswith("Load")) == ["Load n=1"]
    intervals = sorted((v.started, v.ended) for v in cp.variants())
    most = max(sum(1 for s, e in intervals if s <= t < e) for t, _ in intervals)
    assert most <= 2, intervals


def test_a_helper_module_beside_the_script_is_part_of_the_code(cp):
    train = cp.root / "tasks" / "c" / "train"
    (train / "helpers.py").write_text("SCALE = 1\n")  # on the task's PYTHONPATH, named by no dependency
    cp.run()
    assert cp.run() == []
    (train / "helpers.py").write_text("SCALE = 2\n")
    assert sorted(c for c in cp.run() if c.startswith("Train")) == ["Train lr=0.1", "Train lr=0.2", "Train lr=0.3"]
