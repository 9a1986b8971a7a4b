"""Each resolution and semantic rule: the diagnostic, its severity and its exact position."""

from __future__ import annotations

from .helpers import BASE_WORKFLOW, at, diags, find, load


def check(tmp_path, src, text, token, line, severity="error", nth=1, files=None):
    result = load(tmp_path, src, files)
    got = find(result, text)
    assert got[:2] == at(src, line, token, nth), got
    assert got[2] == severity, got
    return got[3]


# ----------------------------------------------------------------------------- names


def test_unknown_base_workflow_with_did_you_mean(tmp_path):
    src = BASE_WORKFLOW + "workflow V from Ww { }\n"
    msg = check(tmp_path, src, "unknown workflow Ww", "Ww", 7)
    assert msg.endswith('(did you mean "W"?)')


def test_unknown_task_in_flow(tmp_path):
    src = """
    workflow W {
        START -> Lod -> END;
        task Load { implementation "lib.Load"; }
    }
    """
    msg = check(tmp_path, src, "unknown task Lod", "Lod", 2)
    assert 'did you mean "Load"' in msg


def test_duplicate_task(tmp_path):
    src = """
    workflow W {
        task Load { implementation "lib.Load"; }
        task Load { implementation "lib.Load"; }
    }
    """
    msg = check(tmp_path, src, "task Load is defined twice", "Load", 3)
    assert "first defined at" in msg and ":2:10" in msg


def test_duplicate_workflow_and_space(tmp_path):
    src = BASE_WORKFLOW + """
    workflow W { }
    experiment E {
        space S of W { strategy gridsearch; }
        space S of W { strategy random; }
    }
    """
    check(tmp_path, src, "workflow W is defined twice", "W", "workflow W { }")
    check(tmp_path, src, "node S is defined twice", "S", "strategy random")


def test_workflow_cycle_is_named(tmp_path):
    src = """
    workflow W {
        START -> Load -> Train -> END;
        Train -> Load;
        task Load { implementation "lib.Load"; }
        task Train { implementation "lib.Train"; }
    }
    """
    # reported where the step back is written (Train -> Load), not at the workflow's header
    msg = check(tmp_path, src, "has a cycle", "Load", 3)
    assert msg == "workflow W has a cycle: Load -> Train -> Load (closed here by Train -> Load)"


def test_workflow_cycle_through_a_data_link_is_reported_at_the_link(tmp_path):
    src = """
    workflow W {
        START -> A -> B -> C -> END;
        task A { implementation "lib.Load"; }
        task B { implementation "lib.Train"; }
        task C { implementation "lib.Train"; }
        C.model --> A.data;
    }
    """
    msg = check(tmp_path, src, "has a cycle", "C", 6)
    assert msg == "workflow W has a cycle: A -> B -> C -> A (closed here by C -> A)"


def test_variant_cycle(tmp_path):
    src = "workflow A from B { }\nworkflow B from A { }\n"
    result = load(tmp_path, src)
    assert any("variants form a cycle" in d[3] for d in diags(result, "error"))


def test_unresolvable_implementation_with_did_you_mean(tmp_path):
    src = """
    workflow W {
        task Load { implementation "lib.Lod"; }
    }
    """
    msg = check(tmp_path, src, "cannot find task", '"lib.Lod"', 2)
    assert 'did you mean "lib.Load"' in msg


def test_unresolvable_subworkflow(tmp_path):
    src = """
    workflow W {
        task Prep { subworkflow "Preprocess"; }
    }
    """
    check(tmp_path, src, 'cannot find sub-workflow "Preprocess"', '"Preprocess"', 2)


def test_link_to_unknown_task_and_data(tmp_path):
    src = """
    workflow W {
        task Load { implementation "lib.Load"; }
        Load.data --> Trian.data;
        Raw --> Load.data;
    }
    """
    check(tmp_path, src, "unknown task Trian", "Trian", 3)
    check(tmp_path, src, "unknown data Raw", "Raw", 4)


def test_a_typo_in_a_base_workflow_is_reported_once_not_per_variant(tmp_path):
    src = """
    workflow W {
        START -> Load -> Trian -> END;
        task Load { implementation "lib.Load"; }
        task Train;
        Load.data --> Trian.data;
        Raw --> Load.data;
    }
    workflow V1 from W { task Train { implementation "lib.Train"; } }
    workflow V2 from W { task Train { implementation "lib.Train"; } }
    """
    result = load(tmp_path, src)
    flow = [d for d in diags(result) if d[:2] == at(src, 2, "Trian")]
    link = [d for d in diags(result) if d[:2] == at(src, 5, "Trian")]
    raw = [d for d in diags(result) if d[:2] == at(src, 6, "Raw")]
    assert [d[3] for d in flow] == ['unknown task Trian in workflow W (did you mean "Train"?)']
    assert [d[3] for d in link] == ['unknown task Trian in workflow W (did you mean "Train"?)']
    assert [d[3] for d in raw] == ["unknown data Raw in workflow W"]


def test_link_to_undeclared_port_is_a_warning_with_did_you_mean(tmp_path):
    src = """
    workflow W {
        START -> Load -> Train -> END;
        task Load { implementation "lib.Load"; }
        task Train { implementation "lib.Train"; }
        Load.dta --> Train.data;
    }
    """
    msg = check(tmp_path, src, "declares no output port dta", "Load.dta", 5, severity="warning")
    assert 'did you mean "data"' in msg


def test_configure_data_needs_a_definition(tmp_path):
    src = """
    workflow W {
        define input data Raw;
        configure data Rwa { path "x.csv"; }
    }
    """
    msg = check(tmp_path, src, "configure data Rwa", "Rwa", 3)
    assert 'did you mean "Raw"' in msg


def test_space_of_unknown_workflow(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        space S of Q { strategy gridsearch; }
    }
    """
    check(tmp_path, src, "unknown workflow Q", "Q", "space S of Q")


def test_unknown_control_node(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        control { START -> Gird -> END; }
        space Grid of W { strategy gridsearch; }
    }
    """
    msg = check(tmp_path, src, "unknown control node Gird", "Gird", "START -> Gird")
    assert 'did you mean "Grid"' in msg


def test_missing_import(tmp_path):
    src = 'import "nowhere.xxp";\n' + BASE_WORKFLOW
    check(tmp_path, src, 'cannot find imported file "nowhere.xxp"', '"nowhere.xxp"', 1)


def test_value_list_in_a_workflow_is_refused(tmp_path):
    src = """
    workflow W {
        task Train { implementation "lib.Train"; param lr = lr_vp; }
    }
    """
    check(tmp_path, src, "value lists are bound in a space", "param lr", 2)


def test_configure_task_needs_a_declaration(tmp_path):
    src = """
    workflow W {
        define task Load;
        configure task Laod { implementation "lib.Load"; }
    }
    """
    msg = check(tmp_path, src, "task Laod is not a task of workflow W", "Laod", 3)
    assert 'did you mean "Load"' in msg


def test_variant_override_of_unknown_task(tmp_path):
    src = BASE_WORKFLOW + 'workflow V from W { task Trian { implementation "lib.Train"; } }\n'
    msg = check(tmp_path, src, "task Trian is not a task of base workflow W", "Trian", 7)
    assert 'did you mean "Train"' in msg


# ----------------------------------------------------------------------------- params and values


def space_src(body: str, strategy: str = "gridsearch") -> str:
    return BASE_WORKFLOW + f"""
    experiment E {{
        space S of W {{
            strategy {strategy};
            {body}
        }}
    }}
    """


def test_param_not_declared_by_the_task(tmp_path):
    src = space_src("param_values d = enum(1, 2);\n        task Train { param dept = d; }")
    msg = check(tmp_path, src, "does not declare param dept", "param dept", "param dept")
    assert 'did you mean "depth"' in msg and "its params: lr, depth, kernel" in msg


def test_value_of_wrong_type_is_an_error(tmp_path):
    src = space_src('param_values d = enum(1, "deep");\n        task Train { param depth = d; }')
    msg = check(tmp_path, src, "is not of type Integer", "param_values", "param_values")
    assert "'deep'" in msg


def test_value_outside_declared_range_is_a_warning(tmp_path):
    src = space_src("param_values d = range(5, 13, 2);\n        task Train { param depth = d; }")
    msg = check(tmp_path, src, "outside Train.depth", "param_values", "param_values", severity="warning")
    assert msg.startswith("value 11 in d")


def test_value_outside_declared_enum(tmp_path):
    src = space_src('param_values k = enum("rbf", "poly");\n        task Train { param kernel = k; }')
    msg = check(tmp_path, src, "outside Train.kernel", "param_values", "param_values", severity="warning")
    assert "'poly'" in msg


def test_unknown_value_list(tmp_path):
    src = space_src("param_values depth_vp = enum(1, 2);\n        task Train { param depth = depth_v; }")
    msg = check(tmp_path, src, "unknown value list depth_v", "param depth", "param depth")
    assert 'did you mean "depth_vp"' in msg


def test_unused_value_list_is_a_warning(tmp_path):
    src = space_src("param_values d = enum(1, 2);")
    check(tmp_path, src, "value list d is not bound", "param_values", "param_values", severity="warning")


def test_unknown_strategy(tmp_path):
    src = space_src("", strategy="gridsearh")
    msg = check(tmp_path, src, "unknown strategy gridsearh", "gridsearh", "strategy")
    assert 'did you mean "gridsearch"' in msg


def test_bayesian_needs_budget_and_objective(tmp_path):
    src = space_src("param_values lr = uniform(0.001, 0.1);\n        task Train { param lr = lr; }", "bayesian")
    check(tmp_path, src, "needs a budget", "S", "space S")
    check(tmp_path, src, "needs an objective", "S", "space S")


def test_grid_refuses_continuous_values(tmp_path):
    src = space_src("param_values lr = range(1e-4, 1e-1, log);\n        task Train { param lr = lr; }")
    msg = check(tmp_path, src, "gridsearch needs listed values", "param_values", "param_values")
    assert "range(0.0001, 0.1, log)" in msg


def test_only_param_in_a_space_task_block(tmp_path):
    src = space_src('task Train { implementation "lib.Other"; }')
    check(tmp_path, src, "only 'param' may be set", "implementation", "lib.Other")


def test_pruner_rules(tmp_path):
    src = space_src("runs = 4;\n        pruner medain;", "tpe")
    msg = check(tmp_path, src, "unknown pruner medain", "medain", "pruner")
    assert 'did you mean "median"' in msg
    src = space_src("runs = 4;\n        pruner median;", "random")
    check(tmp_path, src, "a pruner needs an objective", "median", "pruner")


def test_a_misspelt_objective_is_an_error_with_did_you_mean(tmp_path):
    # Near a declared metric: a typo, and every trial would fail "the objective … was not reported".
    src = space_src("objective maximize acuracy;")
    msg = check(tmp_path, src, "declares metric acuracy", "acuracy", "objective", severity="error")
    assert 'did you mean "accuracy"' in msg
    src = space_src("objective maximize Train.acuracy;")
    msg = check(tmp_path, src, "declares no metric acuracy", "acuracy", "objective", severity="error")
    assert 'did you mean "accuracy"' in msg


def test_an_undeclared_objective_unlike_any_metric_stays_a_warning(tmp_path):
    # ExtremeXP scripts report results they never declare; the run reads them if they come.
    src = space_src("objective maximize f1_weighted;")
    check(tmp_path, src, "declares metric f1_weighted", "f1_weighted", "objective", severity="warning")


def test_signature_rules(tmp_path):
    sig = """
    task Bad {
        define input data x;
        define input data x;
        define param p { type Integr; default 1; }
        define param q { type Integer; default "one"; }
        define param r { type Integer; default 50; range (1, 10); }
        define metric m { kind sries; }
        implementation "missing.py";
    }
    """
    files = {"tasks/lib/Bad/task.xxp": sig}
    src = 'workflow W { task B { implementation "lib.Bad"; } }\n'
    result = load(tmp_path, src, files)
    got = {d[3].split(" (")[0]: (d[0], d[1], d[2]) for d in diags(result)}
    assert got["input port x is declared twice"] == (*at(sig, 3, "x"), "error")
    assert got['unknown parameter type Integr'] == (*at(sig, 4, "Integr"), "error")
    assert got["default 'one' of param q is not of type Integer"] == (*at(sig, 5, "q"), "error")
    assert got["default 50 of param r is outside its range(1, 10)"] == (*at(sig, 6, "range"), "error")
    assert got["metric kind must be single-value or series, not sries"] == (*at(sig, 7, "sries"), "error")
    assert got['implementation file "missing.py" not found'] == (*at(sig, 8, '"missing.py"'), "warning")


# ----------------------------------------------------------------------------- control flow


def control_src(control: str, extra: str = "") -> str:
    return BASE_WORKFLOW + f"""
    experiment E {{
        control {{
            {control}
        }}
        space S1 of W {{ strategy gridsearch; }}
        space S2 of W {{ strategy gridsearch; }}
        {extra}
    }}
    """


def test_unbounded_loop_is_a_warning_and_max_iterations_silences_it(tmp_path):
    src = control_src('START -> S1;\n            S1 ?-> S1 { condition "len(results[\'S1\']) < 3" };')
    msg = check(tmp_path, src, "has no max_iterations", "S1 ?->", "S1 ?->", severity="warning")
    assert msg.startswith("loop S1 -> S1")
    src = control_src('START -> S1;\n            S1 ?-> S1 { condition "True"; max_iterations 3 };')
    assert not any("max_iterations" in d[3] for d in diags(load(tmp_path, src)))


def test_else_edges(tmp_path):
    src = control_src(
        'START -> S1;\n            S1 ?-> S2 { condition "True" };\n'
        "            S1 ?-> END { else };\n            S1 ?-> S2 { else };"
    )
    check(tmp_path, src, "S1 has two else edges", "S1", "S1 ?-> S2 { else")
    src = control_src('START -> S1;\n            S1 ?-> S2 { condition "True"; else };')
    check(tmp_path, src, "either 'else' or has a condition", "S1 ?->", "S1 ?->")


def test_condition_must_be_python_or_function_form(tmp_path):
    src = control_src('START -> S1;\n            S1 ?-> S2 { condition "results[ <" };')
    check(tmp_path, src, "a condition is a Python expression", '"results', "?->")


def test_condition_function_must_exist_in_conditions_module(tmp_path):
    files = {"conditions.py": "def above(t, results):\n    return True\n"}
    src = control_src('START -> S1;\n            S1 ?-> S2 { condition "abov 0.9" };')
    msg = check(tmp_path, src, "defines no function abov", '"abov', "?->", files=files)
    assert msg == 'conditions.py defines no function abov (did you mean "above"?)'


def test_unreachable_node_is_a_warning(tmp_path):
    src = control_src("START -> S1 -> END;\n            S2 -> END;")
    check(tmp_path, src, "S2 can never be reached", "S2", "S2 -> END", severity="warning")


def test_filter_function_must_exist(tmp_path):
    files = {"configurations.py": "def keep_small(configs):\n    return configs\n"}
    src = space_src('filter "keep_smal";')
    msg = check(tmp_path, src, "defines no function keep_smal", '"keep_smal"', "filter", files=files)
    assert 'did you mean "keep_small"' in msg


def test_valid_project_has_no_diagnostics(tmp_path):
    src = BASE_WORKFLOW + """
    experiment E {
        control { START -> S -> END; }
        space S of W {
            strategy gridsearch;
            param_values d = range(1, 4);
            task Train { param depth = d; }
            objective maximize accuracy;
        }
    }
    """
    result = load(tmp_path, src)
    assert diags(result) == []
    assert result.ok
