"""What `inject` accepts on a grid, on the quickstart's own spaces (README's examples): the short
name of a param when one task of the space has it, an off-grid value the task's declared range
admits (marked off the grid), and a refusal naming the declared range for anything outside it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from xxp_tui.lang import load_project
from xxp_tui.lang.assign import check_injection
from xxp_tui.lang.model import Binding

QUICKSTART = Path(__file__).resolve().parents[2] / "sample_workflows" / "quickstart" / "quickstart.xxp"


@pytest.fixture(scope="module")
def quickstart():
    result = load_project(QUICKSTART)
    assert result.ok
    return result.project


def space_of(project, name: str):
    (experiment,) = project.experiments.values()
    space = experiment.spaces[name]
    return space, project.workflows.get(space.workflow)


def test_readme_example_inject_grid_lr_is_accepted_off_the_grid(quickstart):
    space, workflow = space_of(quickstart, "Grid")  # lr_vp = enum(0.05, 0.2); Train declares lr in (0.0001, 1.0)
    check = check_injection(space, workflow, {"lr": 0.01})
    assert check.ok, check.errors
    assert check.params["Train.lr"] == 0.01 and check.off_grid == ["Train.lr"]
    assert check_injection(space, workflow, {"Train.lr": 0.01}).params == check.params


def test_a_grid_value_is_not_off_the_grid(quickstart):
    space, workflow = space_of(quickstart, "Grid")
    check = check_injection(space, workflow, {"lr": 0.2, "epochs": 20})
    assert check.ok and check.off_grid == []
    assert check.params == {"Train.lr": 0.2, "Train.epochs": 20}


def test_outside_the_declared_range_is_refused_naming_it(quickstart):
    space, workflow = space_of(quickstart, "Grid")
    check = check_injection(space, workflow, {"lr": 5.0})
    assert check.errors == ["Train.lr=5.0 is outside Train.lr's declared range(0.0001, 1.0) "
                            "(the space's lr_vp = enum(0.05, 0.2))"]


def test_readme_example_on_the_bayesian_space(quickstart):
    space, workflow = space_of(quickstart, "Tune")  # lr_vp = range(0.01, 0.5, log), degree_vp = range(2, 5)
    check = check_injection(space, workflow, {"lr": 0.01, "degree": 3})
    assert check.ok and check.off_grid == []
    assert check_injection(space, workflow, {"degree": 7}).off_grid == ["Train.degree"]  # declared (1, 8)
    assert "outside Train.degree's declared" in check_injection(space, workflow, {"degree": 9}).errors[0]


def test_unknown_and_ambiguous_short_names(quickstart):
    space, workflow = space_of(quickstart, "Grid")
    assert check_injection(space, workflow, {"rate": 1}).errors[0].startswith("rate is not a parameter of space Grid")
    twin = replace(space, bindings=(*space.bindings, Binding(task="Generate", param="lr", vp="lr_vp")))
    errors = check_injection(twin, workflow, {"lr": 0.05}).errors
    assert errors == ["lr is ambiguous in space Grid: say which one (Train.lr, Generate.lr)"]
