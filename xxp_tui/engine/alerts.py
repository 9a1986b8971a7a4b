"""The engine's watch over what a human should hear about: stalled tasks and notifications.

The controller calls three hooks: `on_emit` for each engine event (a variant or an interaction that
waits for an answer is announced), `turn` once per loop turn (stalls, failures to notify), `close` when
the run loop ends (the run's end is announced, the last messages delivered). Everything else is here,
on top of stalls.py (what counts as a stall) and notify.py (how messages leave).
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING

from xxp_tui.engine.notify import Notifier
from xxp_tui.engine.stalls import StallChange, StallWatch
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import DatabaseError

if TYPE_CHECKING:
    from xxp_tui.engine.shell import Engine

ENDED = ("completed", "failed", "stopped", "interrupted")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g}h"
    if seconds >= 60:
        return f"{seconds / 60:.3g}m"
    return f"{seconds:.3g}s"


class Alerts:
    def __init__(self, engine: Engine, settings: dict) -> None:
        self.engine = engine
        self.stalls = StallWatch(default_after=settings.get("stall_after") or None)
        self.notifier = Notifier(urls=list(settings.get("notify") or []), command=settings.get("notify_cmd") or None)
        self.last_run_text: str | None = None  # the engine's last word on the run ("run r3 completed: …")

    # -- hooks

    def on_emit(self, kind: str, text: str, variant: int | None, status: str | None) -> None:
        if kind == "input":
            self._notify("waiting_input", text, variant)
        elif kind == "run":
            self.last_run_text = text

    def turn(self, now: float) -> None:
        engine = self.engine
        running = [(key, r.vexec.id, r.task, r.task_run_id, r.vexec.workflow.tasks.get(r.task),
                    (str(r.spec.stdout_path), str(r.spec.stderr_path), str(r.spec.metrics_path)))
                   for key, r in engine.running.items()]
        changes, ended = self.stalls.check(time.monotonic(), running)
        for change in changes:
            self._apply(change)
        for w in ended:
            if not self.stalls.stalled_in(w.variant):
                self._flag(w.variant, False)
        while not self.notifier.failures.empty():
            engine.emit("warning", self.notifier.failures.get())

    def close(self, status: str | None) -> None:
        engine = self.engine
        for variant in {w.variant for w in self.stalls.watched.values() if w.stalled}:
            with contextlib.suppress(DatabaseError):  # the KB may be what failed
                self._flag(variant, False)
        if status in ENDED:
            text = self.last_run_text if self.last_run_text and status in self.last_run_text else None
            self._notify("run_ended", text or f"run r{engine.run_id} {status}", None, status=status)
        self.notifier.close()
        while not self.notifier.failures.empty():  # too late for the KB's event log: the engine's own log
            print(f"xxp-tui: warning: {self.notifier.failures.get()}", file=sys.stderr)

    # -- parts

    def _apply(self, c: StallChange) -> None:
        engine = self.engine
        r = engine.running.get(c.key)
        if c.stalled:
            what = f"printed nothing and reported no metric for {_duration(c.silent_for)}"
            kbv.update_task_run(engine.kb, c.task_run, stalled=time.time())
            action = "; stopping it (on_stall kill)" if c.kill else ""
            engine.emit("stall", f"v{c.variant} {c.task} stalled: it {what}{action}", c.variant,
                        detail={"task": c.task, "task_run": c.task_run, "seconds": round(c.silent_for, 1)})
            if c.kill and r is not None:
                engine.executor.cancel(r.handle, f"stalled: it {what} (on_stall kill)")
            else:
                self._flag(c.variant, True)
            self._notify("stalled", f"v{c.variant} {c.task} stalled: it {what}", c.variant)
        else:
            engine.emit("stall", f"v{c.variant} {c.task} moves again", c.variant,
                        detail={"task": c.task, "task_run": c.task_run})
            if not self.stalls.stalled_in(c.variant):
                self._flag(c.variant, False)

    def _flag(self, variant: int, stalled: bool) -> None:
        v = kbv.find(self.engine.kb, variant)
        if v is not None and v.stalled != stalled:
            kbv.update(self.engine.kb, variant, stalled=int(stalled))

    def _notify(self, kind: str, text: str, variant: int | None, status: str | None = None) -> None:
        engine = self.engine
        exp = getattr(getattr(engine, "exp", None), "name", None)
        self.notifier.send({
            "event": kind, "run": f"r{engine.run_id}", "experiment": exp, "variant": f"v{variant}" if variant else None,
            "status": status, "text": text, "time": time.time(),
            "title": f"xxp-tui r{engine.run_id}" + (f" {exp}" if exp else "") + f": {kind.replace('_', ' ')}",
        })
