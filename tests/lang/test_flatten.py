"""Flattening on its own: workflows parsed from text, sub-workflows looked up in memory, no file
read. `flatten.py` leaves all I/O to its host, so its rules can be tested this directly."""

from __future__ import annotations

import textwrap
from pathlib import Path

from xxp_tui.lang import syntax
from xxp_tui.lang.diagnostics import Diagnostics
from xxp_tui.lang.flatten import Flat, Flattener
from xxp_tui.lang.model import Task
from xxp_tui.lang.parser import parse_text
from xxp_tui.lang.variants import RawTask, RawWorkflow, VariantBuilder


class InMemoryHost:
    """Sub-workflows by name from the same text; a task is its name (no implementation resolved)."""

    def __init__(self, text: str) -> None:
        self.diags = Diagnostics()
        self.variants = VariantBuilder(self.diags)
        for decl in parse_text(textwrap.dedent(text), "mem.xxp", self.diags).workflows:
            self.variants.declare(decl)

    def written_in(self, node: object, raw: RawWorkflow) -> str:
        return self.variants.written_in(node, raw)

    def subworkflow(self, ref: syntax.Text, near: Path) -> RawWorkflow | None:
        return self.variants.raw(ref.value)

    def task(self, raw_task: RawTask, prefix: str) -> Task:
        return Task(prefix + raw_task.name, raw_task.pos)

    def flatten(self, name: str) -> Flat | None:
        raw = self.variants.raw(name)
        assert raw is not None
        return Flattener(self).flatten(raw, prefix="")


PREP = """
workflow Prep {
    define input data raw;
    define output data clean;
    START -> Scale -> Split -> END;
    task Scale; task Split;
    raw --> Scale.x;
    Split.y --> clean;
}
"""


def test_a_subworkflow_task_becomes_its_tasks_with_edges_through_its_starts_and_ends():
    host = InMemoryHost(PREP + """
    workflow Main {
        START -> Load -> P -> Train -> END;
        task Load; task Train;
        task P { subworkflow "Prep"; }
        Load.data --> P.raw;
        P.clean --> Train.data;
    }
    """)
    flat = host.flatten("Main")
    assert flat is not None and not host.diags.items, host.diags.items
    assert set(flat.tasks) == {"Load", "P/Scale", "P/Split", "Train"}
    assert ("Load", "P/Scale") in flat.edges and ("P/Split", "Train") in flat.edges
    assert ("P/Scale", "P/Split") in flat.edges
    assert flat.starts == ["Load"] and flat.ends == ["Train"]
    # the outer links reach the tasks inside that read and write the sub-workflow's data
    pairs = {(str(link.src.task), link.src.port, str(link.dst.task), link.dst.port) for link in flat.links}
    assert ("Load", "data", "P/Scale", "x") in pairs and ("P/Split", "y", "Train", "data") in pairs


def test_subworkflows_that_include_each_other_are_reported_not_followed():
    host = InMemoryHost("""
    workflow A { START -> X -> END; task X { subworkflow "B"; } }
    workflow B { START -> Y -> END; task Y { subworkflow "A"; } }
    """)
    host.flatten("A")
    assert [d.message for d in host.diags.items] == ["sub-workflows include each other: A -> B -> A"]


def test_a_link_the_wrong_way_through_workflow_data_is_an_error_at_its_end():
    host = InMemoryHost(PREP.replace("raw --> Scale.x;", "raw --> Scale.x; Scale.z --> raw;"))
    host.flatten("Prep")
    assert [(d.pos.line, d.message) for d in host.diags.items] == [
        (7, "raw is input data of Prep; a task cannot write to it")
    ]
