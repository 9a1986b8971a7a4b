"""Loop bounds and the control-graph position across a resume, and pruning a running variant:
the control graph (engine/core/control_flow.py) and a variant's task states (engine/variant_exec.py) driven
by hand, with the core's answers to its tasks' ends. No processes, no KB."""

from __future__ import annotations

import pytest

from xxp_tui.engine.core import machine
from xxp_tui.engine.core.control_flow import ControlFlow, NodeRun
from xxp_tui.engine.core.events import FailTask, MarkSkipped, RecordTaskEnd, TaskEnded
from xxp_tui.engine.core.outcomes import TaskExit, variant_outcome
from xxp_tui.engine.variant_exec import FAILED, RUNNING, SKIPPED, VariantExec
from xxp_tui.kb.variants import Variant

from ...lang.helpers import BASE_WORKFLOW, load


def experiment(tmp_path, control: str, spaces: tuple[str, ...]):
    body = "\n".join(f"space {s} of W {{ strategy gridsearch; }}" for s in spaces)
    result = load(tmp_path, BASE_WORKFLOW + f"experiment E {{ control {{ {control} }} {body} }}")
    assert result.ok, [d.render() for d in result.diagnostics]
    return result.project


def always(_edge):
    return True, None


@pytest.mark.parametrize("bound", [1, 2, 4])
def test_max_iterations_n_runs_at_most_n_rounds_even_across_resumes(tmp_path, bound):
    """Every round the graph is saved and rebuilt, as a resumed engine rebuilds it from the KB."""
    exp = experiment(tmp_path, f'START -> A; A -> B; B ?-> A {{ condition "True"; max_iterations {bound} }}; '
                               'B -> END;', ("A", "B")).experiments["E"]
    flow = ControlFlow(exp)
    todo = list(flow.start().start)
    rounds = {"A": 0, "B": 0}
    while todo:
        assert sum(rounds.values()) < 50, "the loop never ended"
        name = todo.pop(0)
        rounds[name] += 1
        todo.extend(flow.finish(name, always).start)
        saved = {n: (s.status, s.iteration, s.to_json()) for n, s in flow.nodes.items()}
        flow = ControlFlow(exp, {n: NodeRun.from_json(*state) for n, state in saved.items()})
    assert rounds == {"A": bound, "B": bound}
    assert flow.finished


def variant_exec(tmp_path) -> VariantExec:
    project = experiment(tmp_path, "START -> S; S -> END;", ("S",))
    v = Variant(id=7, run_id=1, space="S", iteration=1, status="running", reason=None, params={}, config={},
                seed=0, priority=0, origin="strategy", trial=None, objective=None, created=0.0, started=0.0,
                ended=None, attempts=0, rev=0)
    return VariantExec(v, project.workflows["W"])


def test_pruning_a_running_variant_skips_what_waits_and_settles_when_its_task_ends(tmp_path):
    vexec = variant_exec(tmp_path)
    assert vexec.ready() == ["Load"]
    vexec.state["Load"] = RUNNING
    vexec.attempts["Load"] = 1
    vexec.stop("pruned", "pruned by you")
    assert vexec.state["Train"] == SKIPPED and vexec.ready() == []
    assert not vexec.settled  # Load still runs: the engine cancels it and waits for its end
    actions = machine.handle(TaskEnded(TaskExit("Load", -15), attempts=1, retries=3, stopping=vexec.stopping))
    assert actions == [RecordTaskEnd("cancelled", "pruned by you"), MarkSkipped("Load")]  # no retry
    vexec.state["Load"] = SKIPPED
    assert vexec.settled
    assert variant_outcome(stopping=vexec.stopping, stop_status=vexec.stop_status, failure=vexec.failure,
                           objectives=["Train.acc"], values=lambda: None)[:2] == ("pruned", "pruned by you")


def test_a_task_failed_for_good_rules_out_what_depends_on_it(tmp_path):
    vexec = variant_exec(tmp_path)
    vexec.state["Load"] = RUNNING
    vexec.attempts["Load"] = 2
    actions = machine.handle(TaskEnded(TaskExit("Load", 1), attempts=2, retries=1))
    assert actions[1] == FailTask("Load", "Load exited with code 1", 0)  # retries used up
    vexec.state["Load"] = FAILED  # what the engine does with a FailTask
    vexec.failure = actions[1].reason
    vexec.rule_out_downstream("Load")
    assert vexec.state["Train"] == SKIPPED and vexec.settled and not vexec.succeeded
    assert variant_outcome(stopping=None, stop_status=None, failure=vexec.failure, objectives=[],
                           values=lambda: None)[:2] == ("failed", "Load exited with code 1")
