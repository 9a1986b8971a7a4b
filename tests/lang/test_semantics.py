"""Language semantics: value domains, space sizes, control graphs, resolution of libraries."""

from __future__ import annotations

import pytest

from xxp_tui.lang import load_project
from xxp_tui.lang.check import classify_condition
from xxp_tui.lang.domains import EnumDomain, RangeDomain, UniformDomain, domain_size

from .helpers import BASE_WORKFLOW, diags, load, make_project


def space(tmp_path, body: str, strategy: str = "gridsearch", extra: str = ""):
    src = BASE_WORKFLOW + f"""
    experiment E {{
        space S of W {{
            strategy {strategy};
            {body}
            task Train {{ param depth = d; }}
            {extra}
        }}
    }}
    """
    result = load(tmp_path, src)
    return result, result.project.experiments["E"].spaces["S"]


def test_integer_range_is_end_exclusive(tmp_path):
    _, sp = space(tmp_path, "param_values d = range(2, 8, 2);")
    assert sp.values("d") == [2, 4, 6]
    _, sp = space(tmp_path, "param_values d = range(4, 6);")
    assert sp.values("d") == [4, 5]


def test_repeated_value_list_concatenates_like_extremexp(tmp_path):
    _, sp = space(tmp_path, "param_values d = range(3, 5);\n            param_values d = enum(5, 6);")
    assert sp.values("d") == [3, 4, 5, 6]
    assert sp.grid_size() == 4


def test_grid_size_is_the_product(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        space S of W {
            strategy gridsearch;
            param_values d = range(1, 4);
            param_values k = enum("rbf", "linear");
            param_values lr = enum(0.1, 0.01);
            task Train { param depth = d; param kernel = k; param lr = lr; }
        }
    }
    """
    sp = load(tmp_path, src).project.experiments["E"].spaces["S"]
    assert sp.size() == 3 * 2 * 2


def test_random_search_size_is_min_of_runs_and_grid(tmp_path):
    _, sp = space(tmp_path, "runs = 2;\n            param_values d = enum(1, 2, 3);", strategy="randomsearch")
    assert sp.size() == 2
    _, sp = space(tmp_path, "runs = 9;\n            param_values d = enum(1, 2, 3);", strategy="randomsearch")
    assert sp.size() == 3


def test_optuna_spaces_are_open_ended_with_total_budget(tmp_path):
    result, sp = space(
        tmp_path, "runs = 20;\n            param_values d = range(1, 10);", strategy="bayesian",
        extra="objective maximize accuracy;",
    )
    assert result.ok, diags(result)
    assert sp.size() is None and sp.runs == 20 and sp.is_optuna
    assert sp.objectives[0].direction == "maximize" and sp.objectives[0].metric == "accuracy"


def test_singlerun_yields_one(tmp_path):
    _, sp = space(tmp_path, "param_values d = enum(1);", strategy="singlerun")
    assert sp.size() == 1


def test_float_and_log_ranges():
    r = RangeDomain(0.1, 0.5, 0.1)
    assert r.enumerate() == [0.1, 0.2, 0.3, 0.4]
    assert r.is_finite and r.size() == 4
    log = RangeDomain(1e-4, 1e-1, log=True)
    assert not log.is_finite
    assert log.contains(0.01) and not log.contains(0.5)
    assert domain_size([log]) is None
    with pytest.raises(ValueError):
        log.enumerate()
    u = UniformDomain(0.0, 1.0)
    assert u.contains(0.5) and not u.contains(1.5) and not u.is_finite
    assert u.describe() == "uniform(0.0, 1.0)"
    assert RangeDomain(0.0, 1.0).is_finite is False  # floats without a step are continuous


def test_closed_range_and_membership():
    r = RangeDomain(50, 90, closed=True)
    assert r.within_bounds(90) and not r.within_bounds(91)
    assert RangeDomain(0, 10**12).contains(10**11)  # no enumeration of huge ranges
    assert not RangeDomain(0, 10, 3).contains(4) and RangeDomain(0, 10, 3).contains(6)
    assert EnumDomain((1, "a", True)).contains("a") and not EnumDomain((1,)).contains(True)


def test_log_range_in_spec_is_continuous(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        space S of W {
            strategy tpe; runs = 10;
            param_values lr = range(1e-4, 1e-1, log);
            param_values u = uniform(0.001, 0.5);
            task Train { param lr = lr; }
            objective maximize accuracy;
        }
    }
    """
    result = load(tmp_path, src)
    sp = result.project.experiments["E"].spaces["S"]
    assert sp.param_values["lr"][0] == RangeDomain(1e-4, 1e-1, None, log=True)
    assert sp.param_values["u"][0] == UniformDomain(0.001, 0.5)


def test_parallel_groups_fan_in_and_else(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        control {
            START -> (A || B) -> C;
            C ?-> A { condition "results['C'][1]['result']['accuracy'] < 0.9"; max_iterations 3 };
            C ?-> END { else };
        }
        space A of W { strategy gridsearch; }
        space B of W { strategy gridsearch; }
        space C of W { strategy gridsearch; }
    }
    """
    result = load(tmp_path, src)
    assert result.ok, diags(result)
    exp = result.project.experiments["E"]
    edges = [(e.src, e.dst, e.label, e.max_iterations) for e in exp.edges]
    assert edges == [
        ("START", "A", None, None), ("START", "B", None, None),
        ("A", "C", None, None), ("B", "C", None, None),
        ("C", "A", "results['C'][1]['result']['accuracy'] < 0.9", 3),
        ("C", "END", "else", None),
    ]
    assert exp.start_nodes() == ["A", "B"]


def test_start_is_the_node_without_incoming_edges(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        control { S1 ?-> S2 { condition "True" }; S2 -> S1; }
        space S1 of W { strategy gridsearch; }
        space S2 of W { strategy gridsearch; }
    }
    """
    exp = load(tmp_path, src).project.experiments["E"]
    assert exp.start_nodes() == []  # a pure cycle has no entry …
    src = BASE_WORKFLOW + """
    experiment E {
        control { S1 ?-> S1 { condition "True"; max_iterations 2 }; S1 -> S2; }
        space S1 of W { strategy gridsearch; }
        space S2 of W { strategy gridsearch; }
    }
    """
    exp = load(tmp_path, src).project.experiments["E"]
    assert exp.start_nodes() == ["S1"]  # … but a self-loop does not hide the start (ExtremeXP's bug)


def test_workflow_fan_in_and_topological_order(tmp_path):
    src = """
    workflow W {
        START -> Load -> Train -> END;
        START -> Other -> Train;
        task Load { implementation "lib.Load"; }
        task Other { implementation "lib.Load"; }
        task Train { implementation "lib.Train"; }
    }
    """
    wf = load(tmp_path, src).project.workflows["W"]
    assert wf.order == ["Load", "Other", "Train"]
    assert sorted(wf.predecessors("Train")) == ["Load", "Other"]


def test_data_links_order_tasks_too(tmp_path):
    src = """
    workflow W {
        task Train { implementation "lib.Train"; }
        task Load { implementation "lib.Load"; }
        Load.data --> Train.data;
    }
    """
    wf = load(tmp_path, src).project.workflows["W"]
    assert wf.order == ["Load", "Train"]


def test_variant_overrides_and_is_revalidated(tmp_path):
    files = {"tasks/lib/Other/task.xxp": "task Other { define input data other; implementation \"o.py\"; }\n",
             "tasks/lib/Other/o.py": ""}
    src = BASE_WORKFLOW + 'workflow V from W { task Train { implementation "lib.Other"; } }\n'
    result = load(tmp_path, src, files)
    v = result.project.workflows["V"]
    assert v.base == "W"
    assert v.tasks["Train"].implementation == "lib.Other"
    assert result.project.workflows["W"].tasks["Train"].implementation == "lib.Train"
    # The inherited link now reaches a port the new implementation does not declare.
    assert any("declares no input port data" in d[3] for d in diags(result, "warning"))


def test_old_dialect_define_and_configure(tmp_path):
    src = """
    workflow W {
        define task Load;
        define task Train;
        START -> Load -> Train -> END;
        configure task Load { implementation "lib.Load"; }
    }
    workflow V from W { configure task Train { implementation "lib.Train"; } }
    experiment E {
        space S of V {
            strategy gridsearch;
            param d = enum(1, 2);
            configure task Train { param depth = d; }
        }
    }
    """
    result = load(tmp_path, src)
    assert result.ok, diags(result)
    assert result.project.experiments["E"].spaces["S"].grid_size() == 2


def test_inline_task_definition_with_a_script(tmp_path):
    files = {"steps/train.py": "print(1)\n"}
    src = """
    workflow W {
        task Train {
            implementation "steps/train.py";
            define param lr { type Float; default 0.1; }
            define metric acc { kind single-value; }
            timeout 90s; retries 2; cache false;
        }
    }
    """
    result = load(tmp_path, src, files)
    assert result.ok, diags(result)
    t = result.project.workflows["W"].tasks["Train"]
    assert t.signature.script.name == "train.py" and t.signature.folder is None
    assert t.signature.params["lr"].default == 0.1 and "acc" in t.signature.metrics
    assert (t.timeout, t.retries, t.cache) == (90.0, 2, False)


def test_implementation_path_relative_to_task_folder_or_library_root(tmp_path):
    files = {
        "tasks/lib/A/task.xxp": 'task A { implementation "a.py"; }\n',
        "tasks/lib/A/a.py": "",
        "tasks/lib/B/task.xxp": 'task B { implementation "lib/B/b.py"; }\n',
        "tasks/lib/B/b.py": "",
    }
    src = 'workflow W { task A { implementation "lib.A"; } task B { implementation "lib/B"; } }\n'
    result = load(tmp_path, src, files)
    assert result.ok, diags(result)
    wf = result.project.workflows["W"]
    assert wf.tasks["A"].signature.script == (tmp_path / "tasks/lib/A/a.py").resolve()
    assert wf.tasks["B"].signature.script == (tmp_path / "tasks/lib/B/b.py").resolve()


def test_default_library_folders_are_found_in_parent_folders(tmp_path):
    (tmp_path / ".git").mkdir()
    lib = tmp_path / "library-tasks" / "Pkg" / "T"
    lib.mkdir(parents=True)
    (lib / "task.xxp").write_text('task T { implementation "t.py"; }\n')
    (lib / "t.py").write_text("")
    (tmp_path / "library-experiments").mkdir()
    (tmp_path / "library-experiments" / "Sub.xxp").write_text(
        'workflow Sub { task X { implementation "Pkg.T"; } }\n'
    )
    spec = tmp_path / "experiments" / "deep" / "e.xxp"
    spec.parent.mkdir(parents=True)
    spec.write_text('workflow W { task A { implementation "Pkg.T"; } task P { subworkflow "Sub"; } }\n')
    result = load_project(spec)
    assert result.ok, [d.render() for d in result.diagnostics]
    assert list(result.project.workflows["W"].tasks) == ["A", "P/X"]


def test_pyproject_tool_xxp_overrides_libraries(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.xxp]\ntask_libraries = ["my-lib"]\n')
    lib = tmp_path / "my-lib" / "T"
    lib.mkdir(parents=True)
    (lib / "task.xxp").write_text('task T { implementation "t.py"; }\n')
    (lib / "t.py").write_text("")
    spec = tmp_path / "e.xxp"
    spec.write_text('workflow W { task A { implementation "T"; } }\n')
    assert load_project(spec).ok


def test_broken_config_file_is_a_diagnostic(tmp_path):
    (tmp_path / "xxp.toml").write_text("task_libraries = [\n")
    spec = tmp_path / "e.xxp"
    spec.write_text("workflow W { }\n")
    result = load_project(spec)
    assert any("cannot read xxp.toml" in d.message for d in result.errors)


def test_import_resolves_against_importer_then_workflow_library(tmp_path):
    make_project(tmp_path, BASE_WORKFLOW, name="workflows/shared/w.xxp")
    exp_dir = tmp_path / "experiments"
    exp_dir.mkdir()
    (exp_dir / "e.xxp").write_text(
        'import "shared/w.xxp";\nexperiment E { space S of W { strategy gridsearch; } }\n'
    )
    result = load_project(exp_dir / "e.xxp")
    assert result.ok, [d.render() for d in result.diagnostics]
    assert "W" in result.project.workflows


def test_experiment_level_task_and_interaction(tmp_path):
    files = {"tasks/lib/Review/task.xxp": """
        task Review {
            type interactive;
            define param refine { type Boolean; default true; }
            implementation "review.py";
        }
        """, "tasks/lib/Review/review.py": ""}
    src = BASE_WORKFLOW + """
    experiment E {
        control { START -> S -> Review -> Report -> END; }
        space S of W { strategy gridsearch; }
        interaction Review { implementation "lib.Review"; prompt "Refine?"; }
        task Report { implementation "lib.Load"; input data Tpl { path "t.md"; } }
    }
    """
    result = load(tmp_path, src, files)
    assert result.ok, diags(result)
    exp = result.project.experiments["E"]
    review = exp.tasks["Review"]
    assert review.kind == "interaction" and review.waits_for_human and review.prompt == "Refine?"
    assert set(review.fields) == {"refine"}
    assert exp.tasks["Report"].input_data["Tpl"]["path"] == "t.md"


def test_condition_forms():
    assert classify_condition("results['S1'][1]['result']['x'] < 100") == ("expression", None, [])
    assert classify_condition("check_results_less_than 100") == ("function", "check_results_less_than", ["100"])
    assert classify_condition("is_good") == ("function", "is_good", [])
    assert classify_condition("1 +")[0] == "invalid"
    assert classify_condition("")[0] == "invalid"


def test_spec_hash_changes_with_any_file(tmp_path):
    spec = make_project(tmp_path, BASE_WORKFLOW)
    first = load_project(spec).project.spec_hash
    assert load_project(spec).project.spec_hash == first
    sig = tmp_path / "tasks/lib/Train/task.xxp"
    sig.write_text(sig.read_text().replace("default 3", "default 4"))
    assert load_project(spec).project.spec_hash != first
