"""The control graph as a pure state machine: which nodes start, how loops are bounded.

No processes: the experiment is loaded from text and `ControlFlow` is driven with finish events.
"""

from __future__ import annotations

from xxp_tui.engine.core.control_flow import ControlFlow

from ..lang.helpers import BASE_WORKFLOW, load


def flow(tmp_path, control: str, spaces: tuple[str, ...]) -> ControlFlow:
    body = "\n".join(f"space {s} of W {{ strategy gridsearch; }}" for s in spaces)
    src = BASE_WORKFLOW + f"experiment E {{ control {{ {control} }} {body} }}"
    result = load(tmp_path, src)
    assert result.ok, [d.render() for d in result.diagnostics]
    return ControlFlow(result.project.experiments["E"])


def always(_edge):
    return True, None


def rounds_of(cf: ControlFlow, node: str, after: str | None = None) -> int:
    """Drive the graph to its end, every condition true; how many rounds `node` ran."""
    step = cf.start()
    todo = list(step.start)
    runs = {}
    guard = 0
    while todo:
        guard += 1
        assert guard < 1000, "the loop never ended"
        name = todo.pop(0)
        runs[name] = runs.get(name, 0) + 1
        todo.extend(cf.finish(name, always).start)
    return runs.get(node, 0)


def test_max_iterations_bounds_a_self_loop_to_that_many_rounds(tmp_path):
    cf = flow(tmp_path, 'START -> S1; S1 ?-> S1 { condition "True"; max_iterations 3 }; S1 -> S2; S2 -> END;',
              ("S1", "S2"))
    assert rounds_of(cf, "S1") == 3
    assert cf.nodes["S1"].iteration == 3


def test_max_iterations_bounds_a_longer_loop_by_rounds_of_the_node_it_restarts(tmp_path):
    cf = flow(tmp_path, 'START -> A; A -> B; B ?-> A { condition "True"; max_iterations 2 }; B -> END;',
              ("A", "B"))
    assert rounds_of(cf, "A") == 2
    assert rounds_of(flow(tmp_path, 'START -> A; A -> B; B ?-> A { condition "True"; max_iterations 1 }; '
                                    'B -> END;', ("A", "B")), "A") == 1


def test_the_limit_reached_is_a_note(tmp_path):
    cf = flow(tmp_path, 'START -> S1; S1 ?-> S1 { condition "True"; max_iterations 2 }; S1 -> END;', ("S1",))
    cf.start()
    assert cf.finish("S1", always).start == ["S1"]
    last = cf.finish("S1", always)
    assert last.start == [] and last.notes == ["S1 -> S1: loop limit of 2 reached"]


def test_a_node_ruled_out_inside_a_loop_is_known_to_be_reachable_later(tmp_path):
    """B ?-> C is false in the first round, true in the second: C is ruled out, then starts. The
    engine must not announce it "skipped" the first time (ControlFlow says it may be reached later)."""
    cf = flow(tmp_path, 'START -> A; A -> B; B ?-> A { condition "True"; max_iterations 2 }; '
                        'B ?-> C { condition "ok" }; C -> END;', ("A", "B", "C"))
    rounds = iter([False, True])

    def c_edge(edge):
        return (next(rounds), None) if edge.dst == "C" else (True, None)

    assert cf.start().start == ["A"]
    assert cf.finish("A", c_edge).start == ["B"]
    first = cf.finish("B", c_edge)
    assert first.start == ["A"] and first.skipped == ["C"]
    assert cf.may_be_reached_later("C")
    assert cf.finish("A", c_edge).start == ["B"]
    assert cf.finish("B", c_edge).start == ["C"]


def test_a_node_ruled_out_outside_any_loop_is_skipped_for_good(tmp_path):
    cf = flow(tmp_path, 'START -> A; A ?-> B { condition "x" }; A ?-> END { else }; B -> END;', ("A", "B"))
    cf.start()
    assert cf.finish("A", lambda e: (False, None)).skipped == ["B"]
    assert not cf.may_be_reached_later("B")
