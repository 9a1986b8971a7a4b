"""A space binds params of a sub-workflow's tasks by their flattened names (`task Prep/Scale {…}`)."""

from __future__ import annotations

from xxp_tui.lang import load_project

from .helpers import diags, make_project

SCALE_SIG = """
task Scale {
    define input data data;
    define output data data;
    define param k { type Integer; default 1; range (1, 10); }
    implementation "scale.py";
}
"""
PREPROCESS = """
workflow Preprocess {
    define input data raw;
    define output data scaled;
    START -> Scale -> END;
    task Scale { implementation "lib.Scale"; }
    raw --> Scale.data;
    Scale.data --> scaled;
}
"""
FILES = {
    "tasks/lib/Scale/task.xxp": SCALE_SIG,
    "tasks/lib/Scale/scale.py": "print('scale')\n",
    "workflows/Preprocess.xxp": PREPROCESS,
}
SPEC = """
workflow W {
    START -> Load -> Prep -> Train -> END;
    task Load { implementation "lib.Load"; }
    task Prep { subworkflow "Preprocess"; }
    task Train { implementation "lib.Train"; }
    Load.data --> Prep.raw;
    Prep.scaled --> Train.data;
}
experiment E {
    control { START -> S -> END; }
    space S of W {
        strategy gridsearch;
        param_values k_vp = enum(2, 3);
        param_values lr_vp = enum(0.1);
        BINDING
        task Train { param lr = lr_vp; }
    }
}
"""


def load_with(tmp_path, binding: str):
    path = make_project(tmp_path, SPEC.replace("BINDING", binding), FILES)
    (tmp_path / "xxp.toml").write_text('task_libraries = ["tasks"]\nworkflow_libraries = ["workflows"]\n')
    return load_project(path)


def test_a_space_binds_a_sub_workflow_task_param_by_its_flattened_name(tmp_path):
    result = load_with(tmp_path, "task Prep/Scale { param k = k_vp; }")
    assert result.ok, [d.render() for d in result.diagnostics]
    space = result.project.experiments["E"].spaces["S"]
    assert {(b.task, b.param, b.vp) for b in space.bindings} == {("Prep/Scale", "k", "k_vp"), ("Train", "lr", "lr_vp")}
    assert [b.key for b in space.bindings] == ["Prep/Scale.k", "Train.lr"]
    assert space.size() == 2


def test_the_older_configure_spelling_and_a_fixed_value_work_too(tmp_path):
    result = load_with(tmp_path, "configure task Prep/Scale { param k = 4; }")
    assert result.ok, [d.render() for d in result.diagnostics]
    binding = next(b for b in result.project.experiments["E"].spaces["S"].bindings if b.task == "Prep/Scale")
    assert (binding.param, binding.value, binding.vp) == ("k", 4, None)


def test_an_unknown_path_says_did_you_mean(tmp_path):
    result = load_with(tmp_path, "task Prep/Scal { param k = k_vp; }")
    errors = diags(result, "error")
    assert len(errors) == 1
    line, _col, _, message = errors[0]
    assert message == 'workflow W has no task Prep/Scal (did you mean "Prep/Scale"?)'
    assert line == 15


def test_naming_the_sub_workflow_itself_lists_its_tasks_flattened_names(tmp_path):
    result = load_with(tmp_path, "task Prep { param k = k_vp; }")
    [(_, _, _, message)] = diags(result, "error")
    assert message.startswith("Prep is a sub-workflow of W; bind the params of its tasks by their flattened names: "
                              "Prep/Scale")


def test_a_param_the_inner_task_does_not_declare_is_reported(tmp_path):
    result = load_with(tmp_path, "task Prep/Scale { param kk = k_vp; }")
    [(_, _, _, message)] = diags(result, "error")
    assert message.startswith('task Prep/Scale does not declare param kk (did you mean "k"?)')


def test_a_value_of_the_wrong_type_for_the_inner_param_is_an_error(tmp_path):
    result = load_with(tmp_path, 'task Prep/Scale { param k = "many"; }')
    [(_, _, _, message)] = diags(result, "error")
    assert "Prep/Scale.k requires" in message


def test_a_path_is_only_a_space_binding_not_a_workflow_task_name(tmp_path):
    path = make_project(tmp_path, 'workflow W { task A/B { implementation "lib.Load"; } }\n')
    result = load_project(path)
    assert not result.ok
    assert result.errors[0].pos.line == 1


def test_a_broken_statement_inside_a_path_binding_is_reported_and_the_rest_kept(tmp_path):
    result = load_with(tmp_path, "task Prep/Scale { param k = k_vp; param = 3; }")
    errors = diags(result, "error")
    assert errors == [(15, 49, "error", "unexpected '='; expected a name")]
    space = result.project.experiments["E"].spaces["S"] if result.project else None
    assert space is None or any(b.key == "Prep/Scale.k" for b in space.bindings)


def test_an_injected_point_names_the_inner_param_by_its_flattened_key(tmp_path):
    from xxp_tui.lang.assign import check_injection

    result = load_with(tmp_path, "task Prep/Scale { param k = k_vp; }")
    space = result.project.experiments["E"].spaces["S"]
    workflow = result.project.workflows["W"]
    ok = check_injection(space, workflow, {"Prep/Scale.k": 3, "Train.lr": 0.1})
    assert ok.ok and ok.params["Prep/Scale.k"] == 3, ok.errors
    wrong = check_injection(space, workflow, {"Prep/Scale.k": "three", "Train.lr": 0.1})
    assert not wrong.ok and "Prep/Scale.k" in wrong.errors[0]
