"""A plain-data summary of a loaded project: `xxp-tui validate --json` and the human summary."""

from __future__ import annotations

from xxp_tui.lang.domains import describe
from xxp_tui.lang.loader import LoadResult
from xxp_tui.lang.model import Project, Space


def space_summary(space: Space) -> dict:
    values: dict[str, object] = {}
    for vp, domains in space.param_values.items():
        listed = space.values(vp)
        values[vp] = listed if listed is not None else describe(list(domains))
    out: dict[str, object] = {
        "workflow": space.workflow,
        "strategy": space.strategy,
        "size": space.size(),
        "param_values": values,
    }
    if space.runs is not None:
        out["runs"] = space.runs
    if space.objectives:
        out["objectives"] = [f"{o.direction} {o.label}" for o in space.objectives]
    searched: dict[str, list[str]] = {}
    for b in space.bindings:
        if b.vp is not None:
            searched.setdefault(b.vp, []).append(b.key)
    if searched:
        out["bindings"] = searched  # value list -> the Task.param(s) it sets: what transfer compares
    return out


def project_summary(project: Project) -> dict:
    return {
        "workflows": {
            name: {"base": wf.base, "tasks": wf.order} for name, wf in project.workflows.items()
        },
        "experiments": {
            name: {
                "intent": exp.intent,
                "spaces": {sname: space_summary(sp) for sname, sp in exp.spaces.items()},
                "control": [[e.src, e.dst, e.label] for e in exp.edges],
            }
            for name, exp in project.experiments.items()
        },
    }


def result_json(result: LoadResult) -> dict:
    summary = project_summary(result.project) if result.project else {"workflows": {}, "experiments": {}}
    return {
        "ok": result.ok,
        "diagnostics": [d.to_json() for d in result.diagnostics],
        **summary,
    }


def human_summary(result: LoadResult) -> list[str]:
    """A few lines saying what the spec holds."""
    project = result.project
    if project is None:
        return []
    lines = []
    if project.signatures:
        for sig in project.signatures:
            params = ", ".join(sig.params) or "no params"
            metrics = ", ".join(sig.metrics) or "no metrics"
            lines.append(f"  task {sig.name}: {params}; {metrics}")
    for wf in project.workflows.values():
        base = f" from {wf.base}" if wf.base else ""
        lines.append(f"  workflow {wf.name}{base}: {' -> '.join(wf.order) or '(no tasks)'}")
    for exp in project.experiments.values():
        lines.append(f"  experiment {exp.name}: {len(exp.spaces)} space(s), {len(exp.tasks)} other node(s)")
        for sp in exp.spaces.values():
            size = sp.size()
            if size is not None:
                amount = f"{size} configuration{'s' if size != 1 else ''}"
            else:
                amount = f"budget {sp.runs}" if sp.runs else "open-ended"
            lines.append(f"    space {sp.name} of {sp.workflow}: {sp.strategy}, {amount}")
        for e in exp.edges:
            cond = f"  [{e.label}]" if e.label else ""
            lines.append(f"    {e.src} -> {e.dst}{cond}")
    return lines
