"""Applying an amendment to the running experiment (`xxp-tui amend`, `resume --allow-changed-spec`).

`Amending` is a part of `Engine` (a mixin, like `Steering`): the `amend` command's handler, and how
the engine finds the version of the spec it executes when it starts. What an amendment does is
decided by the pure `amendment.plan`; here it is carried out, in the command's one transaction:
the new spec version is recorded first (so every variant sampled from now on records it), queued
variants outside the new space are cancelled, grids get their new points, Optuna samplers are
rebuilt with the new distributions and told the finished trials that lie inside them, and the
control flow takes the new graph with its recorded position.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from xxp_tui.engine.amendment import REMOVED, Amendment, NodeState, VariantState, config_key, plan, remap_fired
from xxp_tui.engine.core.control_flow import ACTIVE, ControlFlow, NodeRun
from xxp_tui.engine.parts import EngineParts
from xxp_tui.engine.strategies import LazyGrid, OptunaSearch, StrategyError, config_at, derive_seed, to_params
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import spec_versions as kbsv
from xxp_tui.kb import variants as kbv
from xxp_tui.lang import load_project
from xxp_tui.lang.loader import LoadResult

RESUME_ISSUER = "resume --allow-changed-spec"


class AmendedGrid(LazyGrid):
    """A grid handed out lazily, skipping the points the space's variants hold already (an amended
    grid, or one resumed after an amendment: its order no longer says which points were taken)."""

    def __init__(self, space, have: set[str]) -> None:
        super().__init__(space)
        self.have = have
        self.held = sum(1 for i in range(self.size) if config_key(config_at(self.lists, i)) in have)

    @property
    def left(self) -> int:
        return max(0, self.size - self.next - self.held)

    def take(self, n: int) -> list[dict]:
        out: list[dict] = []
        while len(out) < n and self.next < self.size:
            config = config_at(self.lists, self.next)
            self.next += 1
            if config_key(config) in self.have:
                self.held -= 1
            else:
                out.append(config)
        return out


def first_error(result: LoadResult) -> str:
    if result.errors:
        d = result.errors[0]
        return f"{d.pos}: {d.message}"
    return "it cannot be read"


class Amending(EngineParts):
    """The `amend` command and the spec version a (re)started engine executes."""

    # ------------------------------------------------------------------ which version runs

    def _load_version(self, run: kbr.Run) -> tuple[LoadResult, tuple[str, str] | None]:
        """The spec this engine executes: the run's latest version. Also, on a resume with
        --allow-changed-spec, the spec on disk when it is none of the run's versions (path, text):
        it is then submitted as an amendment, so it goes through the same checks as `amend`."""
        versions = kbsv.for_run(self.kb, run.id)
        latest = versions[-1]
        given = self.loaded
        if given is not None and given.ok and given.project is not None and given.project.spec_hash == latest.hash:
            return given, None  # the command that created the run loaded this very text a moment ago
        on_disk = load_project(Path(run.spec_path))
        disk_hash = on_disk.project.spec_hash if on_disk.ok and on_disk.project is not None else None
        if disk_hash == latest.hash:
            return on_disk, None
        executing = load_project(Path(latest.path or run.spec_path), text=latest.text)
        if run.status == "starting" or disk_hash is None or disk_hash in {v.hash for v in versions}:
            return executing, None
        from xxp_tui.engine.shell import EngineError

        if not self.allow_changed_spec:
            raise EngineError(
                f"the spec of r{run.id} changed since the run started (files under {run.project_dir}); "
                "resume with --allow-changed-spec to continue with the new text, or amend it: "
                f"xxp-tui amend r{run.id}")
        return executing, (run.spec_path, Path(run.spec_path).read_text(encoding="utf-8", errors="replace"))

    def _submit_disk_amendment(self, pending: tuple[str, str] | None) -> None:
        if pending is not None:
            path, text = pending
            kbc.submit(self.kb, self.run_id, kbc.Amend(text=text, path=path), who=RESUME_ISSUER)

    def _grid_for_restore(self, name: str, mine: list[kbv.Variant]) -> LazyGrid:
        """A resumed grid: after an amendment its points are those no variant holds yet."""
        space = self.exp.spaces[name]
        if any(v.spec_version > 1 for v in mine) or (kbsv.latest(self.kb, self.run_id).version > 1):
            return AmendedGrid(space, {config_key(v.config) for v in mine if v.origin == "strategy"})
        return LazyGrid(space, sum(1 for v in mine if v.origin == "strategy"))

    # ------------------------------------------------------------------ the command

    def amendment_for(self, project) -> Amendment:
        """The plan that turns what this engine executes into `project` at the run's position now."""
        exp = self.exp
        nodes = {name: NodeState(n.status, n.iteration) for name, n in self.flow.nodes.items()}
        current = []
        for v in kbv.for_run(self.kb, self.run_id):
            node = self.flow.nodes.get(v.space)
            if node is not None and v.iteration == node.iteration:
                current.append(VariantState(v.id, v.space, v.status, v.origin, v.config))
        new = project.experiments.get(exp.name)
        if new is None:
            out = Amendment()
            out.refusals.append(f"the new spec has no experiment {exp.name}")
            return out
        return plan(exp, new, nodes, current, self.project.workflows, project.workflows, self.seed)

    def _cmd_amend(self, command: kbc.Amend, cmd: kbc.Command, after: list) -> tuple[str, str]:
        text = command.text
        path = Path(command.path or self.run.spec_path)
        result = load_project(path, text=text)
        if not result.ok or result.project is None:
            return "refused", f"the new spec is not valid: {first_error(result)}"
        amendment = self.amendment_for(result.project)
        if not amendment.ok:
            return "refused", amendment.refusal()
        latest = kbsv.latest(self.kb, self.run_id)
        if amendment.empty and latest.text == text:
            return "done", f"r{self.run_id} already runs this spec (s{latest.version}): nothing to change"
        lines = amendment.lines() or ["no change to what runs (only the text)"]
        version = kbsv.add(self.kb, self.run_id, path=str(path), text=text, hash=result.project.spec_hash,
                           issuer=cmd.issuer, summary=lines)
        touched = self._apply_amendment(result.project, amendment)
        def finish_touched() -> None:
            for name in touched:
                if name in self.flow.nodes and self.flow.nodes[name].status == ACTIVE:
                    self._maybe_finish_node(name)

        after.append(finish_touched)
        return "done", f"r{self.run_id} amended to s{version.version}: " + "; ".join(lines)

    def _apply_amendment(self, project, amendment: Amendment) -> list[str]:
        """Carry out a checked plan (inside the command's transaction); the spaces it touched."""
        old_exp, new_exp = self.exp, project.experiments[self.exp.name]
        for change in amendment.spaces.values():
            for vid in change.cancel:
                if self._dequeue(vid) is None:
                    continue
                kbv.update(self.kb, vid, status="cancelled", reason=REMOVED, ended=time.time())
                self.node_open.get(change.name, set()).discard(vid)
                search = self.searches.get(change.name)
                if search is not None:  # a trial that never ran gives its budget back
                    search.live.pop(vid, None)
                    self.asked[change.name] = max(0, self.asked.get(change.name, 0) - 1)
        states = {name: NodeRun(n.status, n.iteration, remap_fired(old_exp, new_exp, n.fired),
                                remap_fired(old_exp, new_exp, n.inputs)) for name, n in self.flow.nodes.items()}
        self.project, self.exp = project, new_exp
        self.flow = ControlFlow(new_exp, states)
        for name in amendment.nodes_added:
            kbr.upsert_node(self.kb, self.run_id, name, kind=new_exp.node_kind(name), status="pending")
        for name in amendment.nodes_removed:
            kbr.delete_node(self.kb, self.run_id, name)
            self.saved_flow.pop(name, None)
        self._save_flow()
        touched = []
        for name, change in amendment.spaces.items():
            if not change.started or self.flow.nodes[name].status != ACTIVE:
                continue
            touched.append(name)
            self._amend_space(name, change)
        return touched

    def _amend_space(self, name: str, change) -> None:
        space = self.exp.spaces[name]
        iteration = self.flow.nodes[name].iteration
        seed = space.seed if space.seed is not None else self.seed
        mine = [v for v in kbv.for_run(self.kb, self.run_id, space=name) if v.iteration == iteration]
        total = None
        if change.resample:
            search = OptunaSearch(space, derive_seed(seed, name, iteration))
            told: list[str] = []
            kept: list[str] = []
            for v in mine:
                if v.finished:
                    note = self._tell(search, v, v.status, self._objective_values(space, v.id))
                    (kept if note else told).append(f"v{v.id}")
            self.searches[name] = search
            self.emit("node", f"{name}: sampler rebuilt with the new distributions; told {len(told)} earlier "
                              f"trial(s) ({', '.join(told) or 'none'}), kept {len(kept)} outside them untold "
                              f"({', '.join(kept) or 'none'})", detail={"told": told, "untold": kept})
        if space.is_optuna:
            total = space.runs
        elif change.add_lazily or (name in self.grids and change.values):
            with contextlib.suppress(StrategyError):  # the plan refused a grid past the limit already
                self.grids[name] = AmendedGrid(space, {config_key(v.config) for v in mine
                                                       if v.origin == "strategy"})
            still = sum(1 for v in mine if v.status != "cancelled" or v.reason != REMOVED)
            total = still + self.grids[name].left if name in self.grids else None
        elif change.add:
            ids = kbv.insert(self.kb, self.run_id, [
                kbv.NewVariant(space=name, params=to_params(space, c), config=c, seed=seed, iteration=iteration)
                for c in change.add])
            self.node_open.setdefault(name, set()).update(ids)
            for vid in ids:
                self._enqueue(kbv.get(self.kb, vid))
            total = sum(1 for v in mine if v.reason != REMOVED) + len(ids)
        if total is not None:
            kbr.upsert_node(self.kb, self.run_id, name, total=total)
        self.emit("node", f"{name} amended: " + "; ".join(change.lines()))
