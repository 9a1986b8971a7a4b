"""What an amendment would do, computed by a front end from the knowledge base before it asks.

The CLI (`xxp-tui amend`) and the viewer show this plan and ask for confirmation; the engine
computes it again when it applies the command, since the run moves on in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xxp_tui.engine.amendment import Amendment, NodeState, VariantState, plan
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import spec_versions as kbsv
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import KB
from xxp_tui.lang import load_project
from xxp_tui.lang.loader import LoadResult


@dataclass(frozen=True)
class Preview:
    result: LoadResult  # the proposed spec, loaded (diagnostics when it is not valid)
    amendment: Amendment | None  # None when the proposed spec is not valid
    version: kbsv.SpecVersion  # what the run executes now
    diff: str  # unified diff of the entry text, executing -> proposed

    @property
    def unchanged(self) -> bool:
        return self.amendment is not None and self.amendment.empty and not self.diff


def preview(kb: KB, run_id: int, path: Path, text: str) -> Preview:
    run = kbr.get_run(kb, run_id)
    current = kbsv.latest(kb, run_id)
    result = load_project(path, text=text)
    diff = kbsv.unified_diff(current.text, text, f"s{current.version}", str(path))
    if not result.ok or result.project is None:
        return Preview(result, None, current, diff)
    executing = load_project(Path(current.path or run.spec_path), text=current.text)
    new = result.project.experiments.get(run.experiment)
    if executing.project is None or run.experiment not in executing.project.experiments or new is None:
        out = Amendment()
        out.refusals.append(f"the new spec has no experiment {run.experiment}" if new is None
                            else f"the version r{run_id} executes (s{current.version}) cannot be read any more")
        return Preview(result, out, current, diff)
    old = executing.project.experiments[run.experiment]
    nodes = {name: NodeState(n.status, n.iteration) for name, n in kbr.nodes(kb, run_id).items()}
    variants = [VariantState(v.id, v.space, v.status, v.origin, v.config) for v in kbv.for_run(kb, run_id)
                if v.space in nodes and v.iteration == nodes[v.space].iteration]
    amendment = plan(old, new, nodes, variants, executing.project.workflows, result.project.workflows,
                     run.seed or 0)
    return Preview(result, amendment, current, diff)
