"""Traceability, through the real CLI: each run records its environment (Python, packages and their
hash, the project's git commit and dirty flag); each task execution the hash of its code and of
its inputs; each artifact its sha256 and size; each variant its seed, which the task receives; and
`show VARIANT --lineage` says where a variant and its inputs came from."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from xxp_tui.engine.cache import FileHashes, code_hash
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.lang import load_project

from .conftest import xxp
from .test_cache import CacheProject

pytestmark = pytest.mark.slow

SEED_TASK = """
task Seeded {
    define param x { type Integer; default 0; }
    define metric seen_seed { kind single-value; type Float; }
    implementation "seeded.py";
}
"""
SEED_PY = """
import os
from xxp_tui import sdk
assert int(os.environ["XXP_SEED"]) == sdk.seed()
sdk.log_metric("seen_seed", sdk.seed())
"""
SEED_SPEC = """
workflow W { START -> T -> END; task T { implementation "s.seeded"; } }
experiment E {
    control { START -> A -> B -> END; }
    space A of W { strategy gridsearch; param_values x = enum(1, 2); task T { param x = x; } }
    space B of W { strategy gridsearch; param_values x = enum(3); task T { param x = x; } seed = 11; }
}
"""


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_environment_code_inputs_artifacts_and_lineage(tmp_path: Path):
    cp = CacheProject(tmp_path)
    git(tmp_path, "init", "-q")
    git(tmp_path, "-c", "user.email=t@example.org", "-c", "user.name=t", "add", "-A")
    git(tmp_path, "-c", "user.email=t@example.org", "-c", "user.name=t", "commit", "-qm", "project")
    cp.run()
    with cp.kb() as kb:
        run = kbr.get_run(kb, kbr.resolve_run(kb, "latest"))
        env = kbr.get_environment(kb, run.id)
        assert env["python"] == sys.version.split()[0]
        packages = json.loads(env["packages"])
        assert "optuna" in packages and "textual" in packages
        assert env["packages_hash"] == hashlib.sha256(json.dumps(packages, sort_keys=True).encode()).hexdigest()
        assert (env["git_commit"], env["git_dirty"]) == (git(tmp_path, "rev-parse", "HEAD"), 0)

        project = load_project(cp.root / "e.xxp").project
        tasks = project.workflows["W"].tasks
        expected_code = {name: code_hash(t.signature, FileHashes()) for name, t in tasks.items()}
        for v in kbv.for_run(kb, run.id):
            for tr in kbv.task_runs(kb, v.id):
                assert tr.code_hash == expected_code[tr.task] and tr.code_hash
                assert tr.inputs_hash and len(tr.inputs_hash) == 64
            for art in kbv.artifacts(kb, v.id):
                data = Path(art["path"]).read_bytes()
                assert (art["sha256"], art["size"]) == (hashlib.sha256(data).hexdigest(), len(data))
        variant = next(v for v in kbv.for_run(kb, run.id) if v.params["Train.lr"] == 0.2)

    shown = json.loads(xxp("show", variant.label, "--lineage", "--json", "--db", cp.db, cwd=cp.root).stdout)
    lineage = shown["lineage"]
    assert (lineage["run"], lineage["space"], lineage["origin"]) == (run.label, "S", "strategy")
    assert lineage["spec_hash"] == run.spec_hash
    by_input = {(i["task"], i["input"]): i for i in lineage["inputs"]}
    assert set(by_input) == {("Load", "raw"), ("Train", "data"), ("Eval", "model")}
    assert by_input[("Eval", "model")]["produced_by"] == f"{variant.label} Train.model"
    assert by_input[("Train", "data")]["produced_by"].endswith("Load.data")  # the one Load every variant shares
    assert {t["task"]: t["inputs_hash"] for t in shown["tasks"]}.keys() == {"Load", "Train", "Eval"}

    # An uncommitted change to the project is recorded as a dirty tree.
    (tmp_path / "raw.txt").write_text("changed")
    cp.run()
    with cp.kb() as kb:
        env = kbr.get_environment(kb, kbr.resolve_run(kb, "latest"))
        assert env["git_dirty"] == 1


def test_each_variant_records_its_seed_and_the_task_receives_it(tmp_path: Path):
    from .conftest import Project

    p = Project(tmp_path)
    p.task("s.seeded", SEED_TASK, "seeded.py", SEED_PY)
    p.spec(SEED_SPEC)
    done = xxp("run", p.root / "e.xxp", "--headless", "--seed", "5", "--db", p.db, cwd=p.root)
    assert done.returncode == 0, done.stdout + done.stderr
    with p.kb() as kb:
        for v in p.variants():
            seen = kbv.final_metrics(kb, [v.id])[v.id][("T", "seen_seed")]
            expected = 11 if v.space == "B" else 5  # a space's own seed wins over the run's --seed
            assert v.seed == expected and seen == expected
