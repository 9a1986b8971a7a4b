"""The rule table: every semantic rule has an id, a one-line doc, and an example here that makes
exactly that rule report. A new rule without an example fails `test_every_rule_has_an_id_a_doc_and_an_example`."""

from __future__ import annotations

import pytest

from xxp_tui.lang.check import RULES
from xxp_tui.lang.loader import load_project

from .helpers import BASE_WORKFLOW, make_project


def space(body: str, strategy: str = "gridsearch", workflow: str = "W") -> str:
    return BASE_WORKFLOW + f"""
experiment E {{
    space S of {workflow} {{
        strategy {strategy};
        {body}
    }}
}}
"""


TWO_SPACES = "space A of W { strategy gridsearch; }\n    space B of W { strategy gridsearch; }"


def control(block: str) -> str:
    return BASE_WORKFLOW + f"experiment E {{\n    control {{ {block} }}\n    {TWO_SPACES}\n}}\n"


TRAIN = "task Train { param depth = d; }"

# rule id -> (spec, extra files, a fragment of the message the rule reports)
EXAMPLES: dict[str, tuple[str, dict[str, str], str]] = {
    "task.duplicate-port": ("task Odd { define input data x; define input data x; }", {}, "declared twice"),
    "task.duplicate-param": ("task Odd { define param p { type Integer; } define param p { type Integer; } }", {},
                             "param p is declared twice"),
    "task.duplicate-metric": ("task Odd { define metric m { kind series; } define metric m { kind series; } }", {},
                              "metric m is declared twice"),
    "task.metric-kind": ("task Odd { define metric m { kind sries; } }", {}, "metric kind must be"),
    "task.retries": ("task Odd { retries -1; }", {}, "retries must be 0 or more"),
    "param.type": ("task Odd { define param p { type Integr; } }", {}, "unknown parameter type Integr"),
    "param.default-type": ('task Odd { define param p { type Integer; default "x"; } }', {}, "is not of type"),
    "param.default-in-domain": ("task Odd { define param p { type Integer; default 20; range (1, 10); } }", {},
                                "is outside its"),
    "workflow.link-ports": (BASE_WORKFLOW.replace("Load.data --> Train.data", "Load.data --> Train.dta"), {},
                            "declares no input port dta"),
    "space.binding-statements": (space('task Train { implementation "lib.Train"; }'), {}, "only 'param' may be set"),
    "space.binding-twice": (space("param_values d = enum(1, 2);\n task Train { param depth = d; param depth = d; }"),
                            {}, "is bound twice"),
    "space.warmstart": (space("runs = 2; objective maximize accuracy; warmstart yesterday;", "tpe"), {},
                        "warmstart takes auto"),
    "space.warmstart-strategy": (space("warmstart auto;"), {}, "warmstart seeds the sampler"),
    "space.transfer": (space("transfer everything;"), {}, "transfer takes"),
    "space.workflow": (space("", workflow="Q"), {}, "unknown workflow Q"),
    "space.strategy": (space("", "gridsearh"), {}, "unknown strategy"),
    "space.runs": (space("runs = 0; objective maximize accuracy;", "tpe"), {}, "runs must be at least 1"),
    "space.budget": (space("objective maximize accuracy;", "tpe"), {}, "needs a budget"),
    "space.grid-runs": (space("runs = 3;"), {}, "'runs' is ignored"),
    "space.objective-needed": (space("runs = 3;", "tpe"), {}, "needs an objective"),
    "space.cmaes-single-objective": (space("runs = 3; objective maximize accuracy, minimize loss;", "cmaes"), {},
                                     "cmaes optimises a single objective"),
    "space.parallel": (space("parallel = 0;"), {}, "parallel must be at least 1"),
    "space.pruner": (space("runs = 3; objective maximize accuracy; pruner medain;", "tpe"), {}, "unknown pruner"),
    "space.pruner-objective": (space("runs = 3; pruner median;", "random"), {}, "a pruner needs an objective"),
    "space.pruner-strategy": (space("objective maximize accuracy; pruner median;"), {}, "pruners work with"),
    "space.pruner-watch-task": (space("runs = 3; objective maximize accuracy; pruner median on Trian.loss;", "tpe"),
                                {}, "has no task Trian"),
    "space.pruner-watch-series": (space("runs = 3; objective maximize accuracy; pruner median on Train.accuracy;",
                                        "tpe"), {}, "which no task declares as a series metric"),
    "space.listed-values": (space("param_values d = uniform(1, 5);\n " + TRAIN), {}, "needs listed values"),
    "space.cmaes-numbers": (space('runs = 3; objective maximize accuracy; param_values k = enum("a", "b");\n'
                                  " task Train { param kernel = k; }", "cmaes"), {}, "cmaes needs numbers"),
    "space.binding-task": (space("param_values d = enum(1, 2);\n task Trian { param depth = d; }"), {},
                           "has no task Trian"),
    "space.binding-param": (space("param_values d = enum(1, 2);\n task Train { param dept = d; }"), {},
                            "does not declare param dept"),
    "space.binding-value-list": (space("param_values d = enum(1, 2);\n task Train { param depth = dd; }"), {},
                                 "unknown value list dd"),
    "space.binding-values-fit": (space('param_values d = enum(1, "deep");\n ' + TRAIN), {},
                                 "is not of type Integer"),
    "space.value-list-unused": (space("param_values d = enum(1, 2);"), {}, "is not bound to any task parameter"),
    "space.objective-task": (space("runs = 3; objective maximize Trian.accuracy;", "tpe"), {}, "has no task Trian"),
    "space.objective-task-metric": (space("runs = 3; objective maximize Train.acuracy;", "tpe"), {},
                                    "task Train declares no metric acuracy"),
    "space.objective-metric": (space("runs = 3; objective maximize acuracy;", "tpe"), {},
                               "declares metric acuracy"),
    "space.objective-ambiguous": (
        BASE_WORKFLOW.replace('task Load { implementation "lib.Load"; }',
                              'task Load { implementation "lib.Load"; define metric accuracy { kind series; } }')
        + "experiment E { space S of W { strategy tpe; runs = 3; objective maximize accuracy; } }\n",
        {}, "is reported by"),
    "space.abstract-task": (BASE_WORKFLOW + "workflow Abs { define task X; }\n"
                            "experiment E { space S of Abs { strategy gridsearch; } }\n", {}, "has no implementation"),
    "space.python-hooks": (space('filter "keep";'), {}, "no configurations module found"),
    "experiment-task.implementation": (BASE_WORKFLOW + "experiment E { task T { prompt \"x\"; } }\n", {},
                                       "needs an implementation"),
    "experiment-task.interaction-type": (BASE_WORKFLOW + 'experiment E { interaction R { implementation "lib.Load"; '
                                         'prompt "ok?"; } }\n', {}, "does not say 'type interactive;'"),
    "experiment.empty": (BASE_WORKFLOW + "experiment E { }\n", {}, "it does nothing"),
    "control.group-start-end": (control("(START || A) -> B -> END;"), {}, "cannot be part of a parallel group"),
    "control.edge-kind": (control("START -> A; A ?-> B { max_iterations 2 }; B -> END;"), {},
                          "needs { condition"),
    "control.else-twice": (control('START -> A; A ?-> B { condition "True" }; A ?-> B { else }; '
                                   "A ?-> END { else }; B -> END;"), {}, "has two else edges"),
    "control.max-iterations": (control('START -> A; A ?-> B { condition "True"; max_iterations 0 }; B -> END;'),
                               {}, "max_iterations must be at least 1"),
    "control.condition-form": (control('START -> A; A ?-> B { condition "1 +" }; B -> END;'), {},
                               "a condition is a Python expression"),
    "control.condition-function": (control('START -> A; A ?-> B { condition "is_good 3" }; B -> END;'), {},
                                   "no conditions module was found"),
    "control.condition-results": (control("START -> A; A ?-> B { condition \"results['Z'][1] > 1\" }; B -> END;"),
                                  {}, "there is no control node Z"),
    "control.else-alone": (control("START -> A; A ?-> B { else }; B -> END;"), {}, "has an else edge but no"),
    "control.loop-bound": (control('START -> A -> B; B ?-> A { condition "True" }; B ?-> END { else };'), {},
                           "has no max_iterations"),
    "control.loop-exit": (control("START -> A -> B; B ?-> A { max_iterations 2 }; B -> END;"), {},
                          "can never be left"),
    "control.unreachable": (control("START -> A -> END; B -> A;"), {}, "can never be reached"),
}

# Rules no text can trigger today (none).
UNREACHABLE: set[str] = set()


def test_every_rule_has_an_id_a_doc_and_an_example():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids)), "a rule id is registered twice"
    for r in RULES:
        assert r.doc and "\n" not in r.doc and r.doc.endswith((".", ")")), f"{r.id}: no one-line doc"
    assert set(ids) - UNREACHABLE == set(EXAMPLES), (
        f"rules without an example: {sorted(set(ids) - UNREACHABLE - set(EXAMPLES))}; "
        f"examples of no rule: {sorted(set(EXAMPLES) - set(ids))}"
    )


@pytest.mark.parametrize("rule_id", sorted(EXAMPLES))
def test_the_example_triggers_its_rule(tmp_path, rule_id):
    spec, files, fragment = EXAMPLES[rule_id]
    name = "tasks/lib/Odd/task.xxp" if spec.lstrip().startswith("task Odd") else "spec.xxp"
    if name != "spec.xxp":  # a signature rule: the library task is used by a workflow
        files = {**files, name: spec, "tasks/lib/Odd/odd.py": ""}
        spec = 'workflow W { START -> O -> END; task O { implementation "lib.Odd"; } }\n'
    trace: list = []
    load_project(make_project(tmp_path, spec, files), trace=trace)
    hits = [d for rid, d in trace if rid == rule_id]
    assert any(fragment in d.message for d in hits), (
        f"{rule_id} did not report {fragment!r}; the rules reported: {[(rid, d.message) for rid, d in trace]}"
    )
