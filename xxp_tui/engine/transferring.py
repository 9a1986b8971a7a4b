"""The engine's side of transfer (see transfer.py for what is transferred and why): a mixin of
`Engine`, like steering.py, so the engine (shell.py) only calls in at three points — when a space
starts (narrow, then after warm start enqueue the zero-shot starts) and when it is restored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from xxp_tui.engine.parts import EngineParts
from xxp_tui.engine.strategies import OptunaSearch, to_params
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

if TYPE_CHECKING:  # transfer (and the studies it reads) is imported by a space that transfers: ~10 ms of start
    from xxp_tui.engine import transfer

BOX_SETTING = "transfer_box"  # run setting: space -> the box applied (`transfer boundingbox;`)


class Transferring(EngineParts):
    """`_transfer_plan` / `_transfer_starts` / `_restore_box` of `Engine`."""

    def _transfer_plan(self, name: str) -> transfer.Plan | None:
        """With `warmstart auto`: find related spaces; log (propose) or apply (boundingbox) the
        learned search space. The zero-shot starts are enqueued later, after warm start, so they
        skip configurations the sampler already knows."""
        from xxp_tui.engine import transfer

        space, search = self.exp.spaces[name], self.searches[name]
        if space.transfer == "none":
            self.emit("transfer", f"{name}: no transfer from related spaces (transfer none)")
            return None
        plan = transfer.plan(self.kb, self.run_id, space, search.dists, self.exp.intent, known=[])
        if not plan.sources:
            self.emit("transfer", f"{name}: no related earlier space (same intent, or the same searched "
                                  "params), nothing transferred")
            return None
        sources = ", ".join(f"{s.label} ({s.why})" for s in plan.sources)
        self.emit("transfer", f"{name}: {len(plan.sources)} related space(s): {sources}",
                  detail={"sources": [s.label for s in plan.sources]})
        if not plan.box:
            self.emit("transfer", f"{name}: the best configurations of related spaces span the whole space; "
                                  "no narrower space to learn")
            return plan
        described = transfer.describe_box(plan.box, plan.was)
        lines = transfer.snippet(search.dists, plan.box)
        detail = {"box": plan.box, "snippet": lines, "mode": space.transfer}
        if space.transfer == "boundingbox":
            search.dists = transfer.narrowed(search.dists, plan.box)
            boxes = dict(self.run.settings.get(BOX_SETTING) or {})
            boxes[name] = plan.box
            kbr.update_settings(self.kb, self.run_id, **{BOX_SETTING: boxes})
            self.run.settings[BOX_SETTING] = boxes
            self.emit("transfer", f"{name}: search space narrowed to the bounding box of the best configurations "
                                  f"of related spaces (transfer boundingbox): {described}", detail=detail)
        else:
            self.emit("transfer", f"{name}: proposed search space (the bounding box of the best configurations "
                                  f"of related spaces): {described}. `xxp-tui amend` is not available yet; to "
                                  f"use it, put these lines in space {name} (or write `transfer boundingbox;` "
                                  f"to apply it automatically): " + " ".join(lines), detail=detail)
        return plan

    def _transfer_starts(self, name: str, iteration: int, plan: transfer.Plan) -> None:
        """Enqueue the zero-shot starts (origin `transfer`), counted in the budget."""
        from xxp_tui.engine import transfer

        space, search = self.exp.spaces[name], self.searches[name]
        known = [dict(t.params) for t in search.study.trials]
        fresh = transfer.plan(self.kb, self.run_id, space, search.dists, self.exp.intent, known=known)
        room = max(0, (space.runs or 0) - self.asked.get(name, 0))
        starts = fresh.starts[:room]
        if not starts:
            self.emit("transfer", f"{name}: no zero-shot start (the best related configurations are known already "
                                  "or there is no budget)")
            return
        seed = space.seed if space.seed is not None else self.seed
        new = [kbv.NewVariant(space=name, params=to_params(space, r.config), config=r.config, seed=seed,
                              origin="transfer", iteration=iteration, source_variant=r.variant.id,
                              reason=f"transfer: rank {r.rank} of {r.size} in {r.source.label}")
               for r in starts]
        ids = kbv.insert(self.kb, self.run_id, new)
        self.asked[name] = self.asked.get(name, 0) + len(ids)
        for vid in ids:
            self.node_open.setdefault(name, set()).add(vid)
            self._enqueue(kbv.get(self.kb, vid))
        listed = ", ".join(f"v{vid} (v{r.variant.id}, rank {r.rank}/{r.size} in {r.source.label})"
                           for vid, r in zip(ids, starts, strict=True))
        self.emit("transfer", f"{name}: {len(ids)} zero-shot start(s) enqueued first, counted in the budget: {listed}",
                  detail={"variants": ids, "sources": [r.variant.id for r in starts]})

    def _restore_box(self, name: str, search: OptunaSearch) -> None:
        """A resumed engine narrows a space again as the first engine did."""
        from xxp_tui.engine import transfer

        box = (self.run.settings.get(BOX_SETTING) or {}).get(name)
        if box:
            search.dists = transfer.narrowed(search.dists, box)
