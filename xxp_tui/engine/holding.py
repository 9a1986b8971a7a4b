"""Holding one variant: `suspend` and `resume_variant` (a part of `Engine`, like steering.py).

Why a hold and not a prune: a human who wants a GPU back for a while, or to look at a half-trained
model, must not lose the work done so far. A held variant:

- running: its tasks' process groups get SIGSTOP (locally through the supervisor, on Dask through the
  worker), and SIGCONT when it is resumed; none of its other tasks starts meanwhile;
- queued: it is taken out of the queue, and put back (with its priority) when it is resumed.

Its status is `suspended`; `held_since` in the KB says since when, so the hold survives an engine
crash: a resumed engine adopts the stopped task and keeps it stopped, and continues any other task it
finds stopped (a crash between a resume and its SIGCONT). Held time does not count toward a task's
`timeout`. A stopped process keeps its memory and GPUs, so it keeps its slot unless the human said
`--release-slot`. Pruning or stopping a held variant kills it like any other (the executors continue
a group after its SIGTERM, so a stopped process does die).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from xxp_tui.engine.parts import EngineParts
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import variants as kbv


@dataclass
class Hold:
    since: float
    queued: bool  # held back from the queue (True) or its running tasks stopped (False)
    releases_slot: bool = False


class Holding(EngineParts):
    """The engine's holds (`self.holds`: variant id -> Hold) and the commands that make them."""

    holds: dict[int, Hold]
    held_time: dict[str, float]  # task key -> seconds it was held before the current hold

    # ------------------------------------------------------------------ commands

    def _cmd_suspend(self, command: kbc.Suspend, cmd: kbc.Command, after: list) -> tuple[str, str]:
        release = command.release_slot
        done, refused = [], []
        now = time.time()
        for ref in command.variants:
            v = self._variant_ref(ref)
            if isinstance(v, str):
                refused.append(v)
                continue
            problem = self._hold_problem(v)
            if problem:
                refused.append(problem)
                continue
            reason = f"suspended by {cmd.issuer}" + (" (its slot released)" if release else "")
            if v.id in self.active:
                self.holds[v.id] = Hold(now, queued=False, releases_slot=release)
                after.append(lambda vid=v.id: self._signal_held(vid, stop=True))
            else:
                self._dequeue(v.id)
                self.holds[v.id] = Hold(now, queued=True, releases_slot=release)
            kbv.update(self.kb, v.id, status="suspended", reason=reason, held_since=now,
                       hold_releases_slot=int(release))
            done.append(f"v{v.id}")
        return _outcome("suspended", done, refused)

    def _cmd_resume_variant(self, command: kbc.ResumeVariants, cmd: kbc.Command, after: list) -> tuple[str, str]:
        done, refused = [], []
        now = time.time()
        for ref in command.variants:
            v = self._variant_ref(ref)
            if isinstance(v, str):
                refused.append(v)
                continue
            hold = self.holds.get(v.id)
            if hold is None or v.status != "suspended":
                refused.append(f"v{v.id} is not suspended (it is {v.status})")
                continue
            del self.holds[v.id]
            kbv.update(self.kb, v.id, status="queued" if hold.queued else "running", reason=None, held_since=None,
                       hold_releases_slot=0)
            if hold.queued:
                self._enqueue(kbv.get(self.kb, v.id))
            else:
                vexec = self.active[v.id]
                vexec.variant = kbv.get(self.kb, v.id)
                for r in self._held_runs(v.id):
                    self.held_time[r.spec.key] = self._held_seconds(r, now, hold)
                after.append(lambda vid=v.id: self._signal_held(vid, stop=False))
            done.append(f"v{v.id}")
        return _outcome("resumed", done, refused)

    def _hold_problem(self, v: kbv.Variant) -> str | None:
        if v.finished:
            return f"v{v.id} already {v.status}"
        if v.status == "suspended":
            return f"v{v.id} is already suspended"
        if v.status == "waiting_input" or v.id in self.waiting:
            return f"v{v.id} waits for an answer; there is nothing to hold"
        if v.id in self.active:
            if self.active[v.id].stopping:
                return f"v{v.id} is being stopped"
            return None
        if v.id in self.queued:
            return None
        return f"v{v.id} is {v.status}; only a queued or running variant can be suspended"

    # ------------------------------------------------------------------ processes

    def _held_runs(self, vid: int) -> list:
        vexec = self.active.get(vid)
        if vexec is None:
            return []
        return [r for key in vexec.handles.values() if (r := self.running.get(key)) is not None]

    def _signal_held(self, vid: int, stop: bool) -> None:
        """SIGSTOP / SIGCONT the running tasks of a variant (after the command's transaction)."""
        for r in self._held_runs(vid):
            self.executor.hold(r.handle, stop)

    def _held_seconds(self, r, now: float, hold: Hold | None = None) -> float:
        """How long task run `r` has been held so far: what its timeout does not count."""
        hold = hold if hold is not None else self.holds.get(r.vexec.id)
        earlier = self.held_time.get(r.spec.key, 0.0)
        if hold is None or hold.queued:
            return earlier
        return earlier + max(0.0, now - max(hold.since, r.handle.started))

    def _is_held(self, vid: int) -> bool:
        """A variant none of whose tasks may start now."""
        return vid in self.holds

    def _released_slots(self) -> int:
        """Slots that held tasks gave back (`suspend --release-slot`): others may use them."""
        return sum(len(self._held_runs(vid)) for vid, hold in self.holds.items()
                   if hold.releases_slot and not hold.queued)

    def _releases_slot(self, vid: int) -> bool:
        hold = self.holds.get(vid)
        return hold is not None and hold.releases_slot

    # ------------------------------------------------------------------ ends and restarts

    def _hold_ended(self, vid: int) -> None:
        """The variant finished (completed, pruned, cancelled) while held: the hold goes with it."""
        if self.holds.pop(vid, None) is not None:
            kbv.update(self.kb, vid, held_since=None, hold_releases_slot=0)

    def _cancel_held(self, reason: str) -> None:
        """Stop the run: queued variants that were held are cancelled like the other queued ones."""
        for vid, hold in list(self.holds.items()):
            if hold.queued:
                kbv.update(self.kb, vid, status="cancelled", reason=reason, ended=time.time(), held_since=None)
                del self.holds[vid]

    def _restore_hold(self, v: kbv.Variant) -> None:
        """A resumed engine takes over a hold from the KB; queued until a survivor adopts it."""
        self.holds[v.id] = Hold(v.held_since or time.time(), queued=True, releases_slot=v.hold_releases_slot)

    def _adoptable_hold(self, vid: int) -> kbv.Variant | None:
        """A held variant whose task survived the engine: it is started again (to adopt the task)
        and stays held."""
        hold = self.holds.get(vid)
        if hold is None:
            return None
        hold.queued = False
        return kbv.get(self.kb, vid)

    def _settle_stopped_tasks(self) -> None:
        """After adoption: the tasks of held variants are stopped (again: the crash may have come
        between the KB's `suspended` and the SIGSTOP), every other adopted task is continued (the
        crash may have come between a resume and its SIGCONT)."""
        for r in list(self.running.values()):
            held = r.vexec.id in self.holds
            self.executor.hold(r.handle, held)
        for vid, hold in self.holds.items():
            if not hold.queued:
                kbv.update(self.kb, vid, status="suspended")
                self.active[vid].variant = kbv.get(self.kb, vid)
            else:
                self._dequeue(vid)

    def _interrupted_status(self, vid: int) -> str:
        """What an engine that is interrupted leaves a started variant as: a held one stays held."""
        return "suspended" if vid in self.holds else "queued"


def _outcome(verb: str, done: list[str], refused: list[str]) -> tuple[str, str]:
    parts = []
    if done:
        parts.append(f"{verb} {', '.join(done)}")
    if refused:
        parts.append(f"refused: {'; '.join(refused)}")
    return ("done" if done else "refused"), "; ".join(parts)
