"""ExtremeXP task scripts run unchanged: every global and helper function of the task-side API,
through real `xxp-tui run` processes and real task subprocesses (issue 10).

The task scripts assert what they receive (a failed assertion fails the variant, which the test
sees with its reason) and report what they found as results, which the test reads from the KB.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from xxp_tui.engine import cache
from xxp_tui.engine.taskspec import SHIM_BOOT
from xxp_tui.extremexp import results as xresults
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import variants as kbv

from .conftest import Project, clean_env, xxp

REPO = Path(__file__).resolve().parents[2]

FIRST_PY = r'''
# Older generation: dependent_modules_folders, then proactive_helper; os and sys are not imported.
[sys.path.append(os.path.join(os.getcwd(), f)) for f in variables.get("dependent_modules_folders").split(",")]
import proactive_helper as ph
import polyutil  # from the project's dependencies folder, named by `dependency "common/**"`

assert variables.get("count") == "3", repr(variables.get("count"))  # params as ExtremeXP gives them: text
assert variables["ratio"] == "0.5" and float(variables.get("ratio")) == 0.5
assert variables.get("task_name") == "First" and variables.get("PA_TASK_NAME") == "First"
assert variables.get("wf_id") == "v1" and variables.get("exp_id") == "r1", (variables.get("wf_id"),)
for key in ("PA_JOB_ID", "PA_JOB_NAME", "PA_TASK_ID", "params"):
    assert isinstance(variables.get(key), str) and variables.get(key), key
assert "count --> 3" in variables.get("params")
assert polyutil.double(21) == 42
assert ph.get_experiment_results() == {}  # the first node: nothing finished before it
assert ph.get_experiment_results(variables) == {}

ph.save_dataset(variables, "data", {"a": 1})                    # (variables, key, value): pickled
ph.save_dataset(variables, "text", "hello", resultMap)          # (variables, key, value, resultMap)
ph.save_datasets(variables, ("extra", [1, 2]))                  # (variables, (key, value), ...)
assert ph.load_pickled_dataset_by_path(variables.get("extra")) == [1, 2]
assert os.path.isdir(ph.create_dir(variables, "scratch"))
variables.put("token", "abc")
variables.put("count", "999")  # a later task's own param of that name wins
resultMap.put("first_ok", 1)
'''

SECOND_PY = r'''
# Newer generation: eexp_engine_utils with (variables, resultMap, key) signatures.
import pickle

from eexp_engine_utils import types, utils

v, rm = types.get_runtime_context()
assert v is variables and rm is resultMap
assert variables.get("token") == "abc"          # put by First
assert variables.get("count") == "7"            # its own param wins over First's put
data = utils.load_dataset(variables, resultMap, "data")   # bytes, as the new helpers return
assert isinstance(data, bytes) and pickle.loads(data) == {"a": 1}
assert utils.load_pickled_dataset_by_path(variables.get("data")) == {"a": 1}
assert utils.load_pickled_dataset_by_path(variables.get("text")) == "hello"  # the old helpers pickled
assert pickle.loads(utils.load_dataset_local(variables, "data")) == {"a": 1}
utils.save_dataset_local(variables, resultMap, "local_blob", b"z")
assert open(variables.get("local_blob"), "rb").read() == b"z"
utils.save_datasets(variables, resultMap, "folder", [b"x", b"y"], ["a.bin", "b.bin"])
utils.save_dataset(variables, resultMap, "blob", b"\x00\x01")
path = utils.get_file_path(variables, "folder", "c.txt")
assert path.endswith("c.txt") and os.path.isdir(os.path.dirname(path))
resultMap["direct"] = 5                          # dict use: a number becomes a metric too
resultMap.put("note", "a text result")
variables.put("token", "abcd")
'''

THIRD_PY = r'''
# local_helper (ExtremeXP's LOCAL executionware): load by extension.
import json

import local_helper as lh
import proactive_helper as ph

assert variables.get("token") == "abcd"          # the nearer put wins
assert lh.load_dataset(variables, resultMap, "config") == {"k": [1, 2]}  # .json from the dataset library
assert lh.load_datasets(variables, "notes") == "plain text\n"           # .txt
assert ph.load_datasets(variables, resultMap, "folder") == [b"x", b"y"]  # the folder's files, by name
assert ph.load_dataset(variables, "blob") == b"\x00\x01"                 # old generation: not a pickle, bytes
assert ph.load_dataset(variables, "data") == {"a": 1}                    # old generation: unpickled
assert ph.load_datasets(variables, "data", "blob") == [{"a": 1}, b"\x00\x01"]  # old generation: one per key
import eexp_engine.executionware.proactive_helper as eph                 # the module's other import path
assert eph.load_dataset is ph.load_dataset
lh.save_datasets(variables, ("lh_text", "some text"), ("lh_obj", {"b": 2}))
assert open(os.path.join(os.environ["XXP_OUTPUT_DIR"], "lh_text")).read() == "some text"
assert ph.load_pickled_dataset_by_path(os.path.join(os.environ["XXP_OUTPUT_DIR"], "lh_obj")) == {"b": 2}
lh.save_result({"lh_result": 3})                                         # local_helper's way to report results
try:
    lh.load_dataset(variables, resultMap, "table")                       # a .csv: pandas, if the task has it
    has_pandas = True
except Exception as exc:                                                  # our one-sentence error otherwise
    assert "needs pandas" in str(exc), str(exc)
    has_pandas = False
try:
    import numpy
except ImportError:
    numpy = None
if numpy is not None:
    assert lh.load_dataset(variables, resultMap, "array").tolist() == [1, 2, 3]
    assert json.loads(json.dumps({"a": numpy.arange(3)}, cls=ph.NumpyEncoder)) == {"a": [0, 1, 2]}
resultMap.put("round", int(variables.get("round")))
'''

READER_PY = r'''
# An experiment task: results of the nodes that finished before its node, nested per task.
from eexp_engine_utils import utils

results = utils.get_experiment_results(variables)
assert set(results) == {"A"}, sorted(results)               # never its own node
first = results["A"][1]
assert results["A"]["1"] is first                            # the index as int and as string
assert first["configuration"]["round_vp"] in (1, 2)
assert first["result"]["First"]["first_ok"] == 1             # nested per task
assert first["result"]["first_ok"] == 1 and first["result"]["Second.direct"] == 5
assert first["result"]["note"] == "a text result"
with open("experiment_results.json") as fh:                  # the results file ExtremeXP ships
    assert json.load(fh)["A"]["1"]["result"]["Third"]["round"] == first["configuration"]["round_vp"]
resultMap.put("reader_ok", 1)
'''

CONTRACT_SPEC = """
workflow Contract {
    START -> First -> Second -> Third -> END;
    task First { implementation "x.first"; }
    task Second { implementation "x.second"; }
    task Third { implementation "x.third"; }
    define input data Config;
    define input data Notes;
    define input data Array;
    define input data Table;
    configure data Config { path "config.json"; }
    configure data Notes { path "notes.txt"; }
    configure data Array { path "array.npy"; }
    configure data Table { path "table.csv"; }
    Config --> Third.config;
    Notes --> Third.notes;
    Array --> Third.array;
    Table --> Third.table;
    First.data --> Second.data;
    First.text --> Second.text;
    First.data --> Third.data;
    Second.folder --> Third.folder;
    Second.blob --> Third.blob;
}
experiment E {
    control { START -> A -> B -> END; }
    space A of Contract {
        strategy gridsearch;
        param_values round_vp = enum(ROUND);
        task Third { param round = round_vp; }
    }
    task B { implementation "x.reader"; }
}
"""


def contract_project(root: Path) -> Project:
    p = Project(root)
    (root / "eexp_config.py").write_text(textwrap.dedent("""\
        TASK_LIBRARY_PATH = "tasks"
        DATASET_LIBRARY_RELATIVE_PATH = "datasets"
        PYTHON_DEPENDENCIES_RELATIVE_PATH = "deps"
        DATA_ABSTRACTION_BASE_URL = "http://localhost:8445/api"
        """))
    (root / "deps" / "common").mkdir(parents=True)
    (root / "deps" / "common" / "polyutil.py").write_text("def double(x):\n    return 2 * x\n")
    (root / "datasets").mkdir()
    (root / "datasets" / "config.json").write_text('{"k": [1, 2]}')
    (root / "datasets" / "notes.txt").write_text("plain text\n")
    (root / "datasets" / "table.csv").write_text("a,b\n1,2\n")
    np = pytest.importorskip("numpy")
    np.save(root / "datasets" / "array.npy", np.array([1, 2, 3]))
    p.task("x.first", """
        task First {
            define output data data; define output data text; define output data extra;
            define param count { type Integer; default 3; }
            define param ratio { type Float; default 0.5; }
            implementation "first.py";
            dependency "common/**";
        }""", "first.py", FIRST_PY)
    p.task("x.second", """
        task Second {
            define input data data; define input data text;
            define output data folder; define output data blob; define output data local_blob;
            define param count { type Integer; default 7; }
            implementation "second.py";
        }""", "second.py", SECOND_PY)
    p.task("x.third", """
        task Third {
            define input data config; define input data notes; define input data array; define input data table;
            define input data data; define input data folder; define input data blob;
            define param round { type Integer; default 0; }
            implementation "third.py";
        }""", "third.py", THIRD_PY)
    p.task("x.reader", "task Reader { implementation \"reader.py\"; }", "reader.py", "import json\n" + READER_PY)
    return p


def run(p: Project, spec: Path, *args: str) -> subprocess.CompletedProcess:
    out = xxp("run", spec, "--headless", "--db", p.db, *args, cwd=p.root, timeout=180)
    return out


def results_of(p: Project, run_id: int) -> dict[str, dict]:
    """variant label -> {metric: value or text}."""
    with p.kb() as kb:
        out = {}
        for v in kbv.for_run(kb, run_id):
            out[v.label] = {(m.task, m.name): (m.value if m.value is not None else m.text)
                            for m in kbv.metrics(kb, v.id)}
        return out


def test_every_global_and_helper_function_through_real_tasks(tmp_path: Path) -> None:
    p = contract_project(tmp_path)
    spec = p.spec(CONTRACT_SPEC.replace("ROUND", "1"))
    out = run(p, spec)
    variants = p.variants()
    assert out.returncode == 0, (out.stdout[-3000:], [(v.label, v.reason) for v in variants])
    assert [v.status for v in variants] == ["completed", "completed"]
    found = results_of(p, 1)
    a, b = found["v1"], found["v2"]
    assert a[("First", "first_ok")] == 1 and a[("Second", "direct")] == 5 and a[("Third", "round")] == 1
    assert a[("Third", "lh_result")] == 3
    assert a[("Second", "note")] == "a text result"
    assert a[("First", "text")].endswith("/First/out/text")  # save_dataset put the path in the resultMap
    assert b[("B", "reader_ok")] == 1
    with p.kb() as kb:
        puts = [e.detail for e in kbc.events(kb, 1) if e.kind == "put"]
    assert [(d["task"], d["variables"]) for d in puts] == [("First", {"token": "abc", "count": "999"}),
                                                           ("Second", {"token": "abcd"})]
    shown = xxp("show", "v1", "--db", p.db, cwd=p.root)
    assert "put token='abc'" in shown.stdout

    # Second run, Third's param changed: First and Second are reused from the cache and still hand
    # on what they put (Third asserts the token); the reused tasks record their puts too.
    spec.write_text(textwrap.dedent(CONTRACT_SPEC.replace("ROUND", "2")))
    out = run(p, spec)
    with p.kb() as kb:
        v3 = kbv.get(kb, 3)
        runs = {t.task: t for t in kbv.task_runs(kb, 3)}
        puts = [e.detail for e in kbc.events(kb, 2) if e.kind == "put"]
    assert out.returncode == 0 and v3.status == "completed", (v3.reason, out.stdout[-2000:])
    assert runs["First"].cache_hit and runs["Second"].cache_hit and not runs["Third"].cache_hit
    assert [d["variables"]["token"] for d in puts] == ["abc", "abcd"]


def test_a_projects_own_proactive_helper_wins_and_ddm_calls_fail_in_one_sentence(tmp_path: Path) -> None:
    p = Project(tmp_path)
    own = tmp_path / "tasks" / "x" / "own"
    p.task("x.own", """
        task Own { implementation "own.py"; dependency "helpers/**"; }""", "own.py", """
        [sys.path.append(os.path.join(os.getcwd(), f)) for f in variables.get("dependent_modules_folders").split(",")]
        import proactive_helper as ph
        resultMap.put("mark", ph.MARK)
        """)
    (own / "helpers").mkdir()
    (own / "helpers" / "proactive_helper.py").write_text('MARK = "project"\n')
    p.task("x.ddm", "task Ddm { implementation \"ddm.py\"; }", "ddm.py", """
        from eexp_engine_utils import utils
        utils.save_datasets_ddm(variables, resultMap, "k", [b"x"])
        """)
    spec = p.spec("""
        workflow W1 { task Own { implementation "x.own"; } }
        workflow W2 { task Ddm { implementation "x.ddm"; } }
        experiment E {
            control { START -> (S1 || S2) -> END; }
            space S1 of W1 { strategy gridsearch; }
            space S2 of W2 { strategy gridsearch; }
        }""")
    run(p, spec)
    by_space = {v.space: v for v in p.variants()}
    assert by_space["S1"].status == "completed", by_space["S1"].reason
    assert results_of(p, 1)[by_space["S1"].label][("Own", "mark")] == "project"
    ddm = by_space["S2"]
    assert ddm.status == "failed"
    assert "save_datasets_ddm needs ExtremeXP's DDM" in ddm.reason, ddm.reason
    with p.kb() as kb:
        stderr = Path(kbv.task_runs(kb, ddm.id)[-1].stderr_path).read_text()
    assert "Traceback" not in stderr and stderr.count("\n") == 1, stderr


def test_a_declared_but_unwritten_output_does_not_fail_its_downstream_task(tmp_path: Path) -> None:
    p = Project(tmp_path)
    p.task("x.make", """
        task Make { define output data table; define output data log; implementation "make.py"; }""",
           "make.py", """
        with open(variables.get("log"), "w") as fh:
            fh.write("made")
        resultMap.put("made", 1)
        """)
    p.task("x.use", """
        task Use { define input data table; define input data log; implementation "use.py"; }""", "use.py", """
        assert variables.get("table").endswith("/Make/out/table")  # it gets the path all the same
        assert not os.path.exists(variables.get("table"))
        resultMap.put("used", 1)
        """)
    p.task("x.read", """
        task Read { define input data table; implementation "read.py"; }""", "read.py", """
        from eexp_engine_utils import utils
        utils.load_dataset(variables, resultMap, "table")
        """)
    spec = p.spec("""
        workflow W {
            START -> Make -> Use -> Read -> END;
            task Make { implementation "x.make"; }
            task Use { implementation "x.use"; }
            task Read { implementation "x.read"; }
            Make.table --> Use.table;
            Make.log --> Use.log;
            Make.table --> Read.table;
        }
        experiment E { control { START -> S -> END; } space S of W { strategy gridsearch; } }""")
    run(p, spec)
    (v,) = p.variants()
    with p.kb() as kb:
        runs = {t.task: t for t in kbv.task_runs(kb, v.id)}
        warnings = [e.detail for e in kbc.events(kb, 1) if e.kind == "warning"]
    assert runs["Make"].status == "completed" and runs["Use"].status == "completed"
    # Read reads the port: it fails with its own one-sentence error, naming the unwritten file.
    assert runs["Read"].status == "failed" and "did not write it" in (runs["Read"].reason or ""), runs["Read"].reason
    assert [w["text"] for w in warnings] == ["v1: Make did not write output table"]
    assert "Make did not write output table" in xxp("show", "v1", "--db", p.db, cwd=p.root).stdout


def test_eexp_config_is_read_never_run_and_xxp_toml_wins(tmp_path: Path) -> None:
    from xxp_tui.lang import load_project

    (tmp_path / "eexp_config.py").write_text(textwrap.dedent("""\
        import os
        os.system("touch PWNED")
        TASK_LIBRARY_PATH = "my-tasks"
        EXPERIMENT_LIBRARY_PATH = "my-flows"
        DATASET_LIBRARY_RELATIVE_PATH = "data"
        PYTHON_DEPENDENCIES_RELATIVE_PATH = "deps"
        PYTHON_CONDITIONS = "conds.my_conditions"
        PROACTIVE_URL = "http://proactive:8880"
        DDM_TOKEN = "secret-token-value"
        COMPUTED = os.path.join("a", "b")
        """))
    for folder in ("my-tasks/t/a", "other-tasks/t/a", "my-flows", "data", "deps", "conds", "spec"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "my-tasks/t/a/task.xxp").write_text('task A { implementation "a.py"; }')
    (tmp_path / "my-tasks/t/a/a.py").write_text("")
    (tmp_path / "conds/my_conditions.py").write_text("def ok(results):\n    return True\n")
    (tmp_path / "my-flows/Sub.xxp").write_text('workflow Sub { task A { implementation "t.a"; } }')
    spec = tmp_path / "spec" / "e.xxp"
    spec.write_text('workflow W { task P { subworkflow "Sub"; } }\n'
                    'experiment E { control { START -> S -> END; } space S of W { strategy gridsearch; } }\n')
    result = load_project(spec)
    assert result.ok, [d.render(None) for d in result.diagnostics]
    project = result.project
    assert not (tmp_path / "PWNED").exists() and not (tmp_path / "spec" / "PWNED").exists()
    assert project.dataset_dir == (tmp_path / "data").resolve()
    assert project.dependencies_dir == (tmp_path / "deps").resolve()
    assert project.conditions_module == (tmp_path / "conds/my_conditions.py").resolve()
    assert project.unused_settings == ("PROACTIVE_URL", "DDM_TOKEN", "COMPUTED")
    (sig,) = [t.signature for t in project.workflows["W"].tasks.values()]
    assert sig.folder == (tmp_path / "my-tasks/t/a").resolve()
    assert sig.dependency_root == (tmp_path / "deps").resolve()

    out = xxp("validate", spec, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("settings xxp-tui does not use") == 1
    assert "PROACTIVE_URL, DDM_TOKEN, COMPUTED" in out.stdout and "secret-token-value" not in out.stdout

    # xxp.toml wins over eexp_config.py.
    (tmp_path / "other-tasks/t/a/task.xxp").write_text('task A { implementation "a.py"; }')
    (tmp_path / "other-tasks/t/a/a.py").write_text("")
    (tmp_path / "xxp.toml").write_text('task_libraries = ["other-tasks"]\n')
    (sig,) = [t.signature for t in load_project(spec).project.workflows["W"].tasks.values()]
    assert sig.folder == (tmp_path / "other-tasks/t/a").resolve()


def test_an_unreadable_eexp_config_is_one_diagnostic(tmp_path: Path) -> None:
    (tmp_path / "eexp_config.py").write_text("TASK_LIBRARY_PATH = (\n")
    spec = tmp_path / "e.xxp"
    spec.write_text("workflow W { task A; }\n")
    out = xxp("validate", spec, cwd=tmp_path)
    assert out.returncode == 1 and "cannot read eexp_config.py" in out.stderr and "Traceback" not in out.stderr


def test_the_sample_extremexp_project_runs_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "extremexp"
    shutil.copytree(REPO / "sample_workflows" / "extremexp", root,
                    ignore=shutil.ignore_patterns(".xxp", "__pycache__"))
    spec = root / "library-experiments" / "curve_fit.xxp"
    out = xxp("run", spec, "--headless", cwd=root, env=clean_env(), timeout=180)
    p = Project(root)
    p.db = next(db for db in (root / ".xxp" / "kb.sqlite", spec.parent / ".xxp" / "kb.sqlite") if db.exists())
    variants = p.variants()
    assert out.returncode == 0, (out.stdout[-3000:], [(v.label, v.space, v.reason) for v in variants])
    assert [(v.space, v.status) for v in variants] == [("Straight", "completed")] * 2 + \
        [("Curved", "completed")] * 2 + [("Summary", "completed")]
    assert "fit_not_good_enough 0.99]: True" in out.stdout  # nested results, conditions module from eexp_config
    summary = results_of(p, 1)["v5"]
    assert summary[("Summary", "best_r2")] > 0.99 and summary[("Summary", "best_node")] == "Curved"


def test_results_answer_the_index_as_int_and_string() -> None:
    finals = {("Fit", "mse"): 0.5, ("Score", "r2"): 0.9, ("Score", "Fit"): 7}
    result = xresults.variant_result(finals)
    assert result["r2"] == 0.9 and result["Score.r2"] == 0.9 and result["Score"] == {"r2": 0.9, "Fit": 7}
    assert result["Fit"] == 7  # a flat metric is never hidden by a task of the same name
    rounds = xresults.Rounds({1: {"result": result}, 2: {"result": {}}})
    assert rounds["1"] is rounds[1] and "2" in rounds and rounds.get("3") is None and len(rounds) == 2
    back = xresults.loads(xresults.dumps({"S": rounds}))
    assert back["S"][1] == back["S"]["1"] == {"result": result}
    with pytest.raises(KeyError):
        rounds["x"]


def test_a_shim_tasks_cache_key_covers_what_it_can_read_and_a_native_key_is_unchanged() -> None:
    base = ("code", {"p": 1}, 0, "inputs", "env", ["out"])
    native = cache.cache_key(*base)
    assert cache.cache_key(*base, "") == native
    one = cache.cache_key(*base, cache.shim_extra({"k": "1"}, "{}"))
    assert one != native
    assert one != cache.cache_key(*base, cache.shim_extra({"k": "2"}, "{}"))
    assert one != cache.cache_key(*base, cache.shim_extra({"k": "1"}, '{"S": {}}'))


def test_the_shim_imports_nothing_a_task_does_not_need(tmp_path: Path) -> None:
    """Issue 10's cheap shim: no runpy, pathlib, typing or xxp_tui.sdk before the script runs."""
    script = tmp_path / "t.py"
    script.write_text('resultMap.put("score", float(variables.get("x")))\n')
    params = tmp_path / "params.json"
    params.write_text(json.dumps({"params": {"x": 2}, "inputs": {}, "outputs": {}}))
    env = clean_env(XXP_PARAMS=str(params), XXP_METRICS=str(tmp_path / "m.jsonl"), XXP_OUTPUT_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", SHIM_BOOT, str(script)], env=env,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert {"runpy", "pathlib", "typing", "xxp_tui.sdk", "math", "importlib.util"}.isdisjoint(imported), imported
    assert json.loads((tmp_path / "m.jsonl").read_text())["value"] == 2.0
    assert not (tmp_path / "result_map.json").exists()  # all numbers: they arrived as metrics
