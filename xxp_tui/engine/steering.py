"""Steering: the commands front ends put in the KB, applied by the engine exactly once.

`Steering` is a part of `Engine` (a mixin: it works on the engine's own state), kept in its own
module because it is the one place that turns a human's command into state changes: each command
is applied in one transaction with its outcome ("done" or "refused" with a sentence) and its audit
event, and what must happen after the commit (stopping processes, finishing a node) is returned
as `after` actions.

Dispatch is by command class (`HANDLERS`, at the end): a stored row is decoded into its command of
`kb.commands`' vocabulary first, so a malformed row is refused with the decoder's sentence and a
handler only ever sees well-formed arguments.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from xxp_tui.engine.amending import Amending
from xxp_tui.engine.core.control_flow import ACTIVE
from xxp_tui.engine.events import EngineEvent, short
from xxp_tui.engine.holding import Holding
from xxp_tui.engine.parts import EngineParts
from xxp_tui.engine.variant_exec import DONE
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.connection import storage_failure
from xxp_tui.lang.assign import check_answer, check_injection


class Steering(EngineParts):
    """The `_cmd_<verb>` handlers of `Engine` and the loop that applies pending commands."""

    def _apply_commands(self) -> None:
        for cmd in kbc.pending(self.kb, self.run_id):
            after: list[Callable[[], None]] = []
            try:
                with self.kb.write():
                    status, outcome = self._handle(cmd, after)
                    self._record_outcome(cmd, status, outcome)
            except Exception as exc:  # no command may stop the engine, whatever it holds
                if storage_failure(exc):
                    raise  # the KB itself failed (disk full, I/O error): the engine's problem, not the command's
                # Its writes were rolled back with the transaction, and none of its `after` actions
                # run (handlers check their arguments before they change anything in memory).
                after.clear()
                status, outcome = "refused", f"{cmd.verb} could not be applied: {_sentence(exc)}"
                with self.kb.write():
                    self._record_outcome(cmd, status, outcome)
            for action in after:
                action()
            if self.on_event is not None:
                self.on_event(EngineEvent(time.time(), "command", f"{cmd.verb} by {cmd.issuer}: {outcome}"))

    def _handle(self, cmd: kbc.Command, after: list) -> tuple[str, str]:
        try:
            command = cmd.decoded()
        except kbc.CommandError as exc:
            return "refused", str(exc)
        return HANDLERS[type(command)](self, command, cmd, after)

    def _record_outcome(self, cmd: kbc.Command, status: str, outcome: str) -> None:
        kbc.finish(self.kb, cmd, status, outcome)
        kbc.log_event(self.kb, self.run_id, cmd.issuer, cmd.verb, _target(cmd.args),
                      {"args": cmd.args, "status": status, "outcome": outcome}, cmd.id)

    def _variant_ref(self, ref) -> kbv.Variant | str:
        vid = kbv.parse_variant_ref(str(ref))
        v = kbv.find(self.kb, vid) if vid is not None else None
        if v is None or v.run_id != self.run_id:
            return f"{ref} is not a variant of r{self.run_id}"
        return v

    def _cmd_prune(self, command: kbc.Prune, cmd: kbc.Command, after: list) -> tuple[str, str]:
        done, refused = [], []
        reason = f"pruned by {cmd.issuer}"
        for ref in command.variants:
            v = self._variant_ref(ref)
            if isinstance(v, str):
                refused.append(v)
                continue
            if v.finished:
                refused.append(f"v{v.id} already {v.status}")
                continue
            if v.id in self.active:
                vexec = self.active[v.id]
                vexec.stopping, vexec.stop_status = reason, "pruned"
                kbv.update(self.kb, v.id, status="pruned", reason=reason, ended=time.time())
                after.append(lambda vexec=vexec: self._stop_variant(vexec, "pruned", reason))
            else:
                self._dequeue(v.id)
                self.waiting.pop(v.id, None)
                self._hold_ended(v.id)
                kbv.update(self.kb, v.id, status="pruned", reason=reason, ended=time.time())
                after.append(lambda v=v: self._after_prune_queued(v))
            done.append(f"v{v.id}")
        return _outcome("pruned", done, refused)

    def _after_prune_queued(self, v: kbv.Variant) -> None:
        search = self.searches.get(v.space)
        if search is not None:
            self._tell(search, kbv.get(self.kb, v.id), "pruned", None)
        self.node_open.get(v.space, set()).discard(v.id)
        self.emit("variant", f"v{v.id} {v.space} pruned", v.id, "pruned")
        if v.space in self.flow.nodes and self.flow.nodes[v.space].status == ACTIVE:
            self._maybe_finish_node(v.space)

    def _cmd_prioritize(self, command: kbc.Prioritize, cmd: kbc.Command, after: list) -> tuple[str, str]:
        v = self._variant_ref(command.variant)
        if isinstance(v, str):
            return "refused", v
        if v.finished:
            return "refused", f"v{v.id} already {v.status}"
        priority = command.priority
        before = v.priority
        kbv.update(self.kb, v.id, priority=priority)
        if v.id in self.queued:
            self._enqueue(kbv.get(self.kb, v.id))
        elif v.id in self.active:
            self.active[v.id].variant = kbv.get(self.kb, v.id)
        note = " (already running: it keeps its place)" if v.status == "running" else ""
        return "done", f"v{v.id} priority {before} -> {priority}{note}"

    def _cmd_inject(self, command: kbc.Inject, cmd: kbc.Command, after: list) -> tuple[str, str]:
        node = command.space
        if node not in self.exp.spaces:
            return "refused", f"{node} is not a space of {self.exp.name} (spaces: {', '.join(self.exp.spaces)})"
        state = self.flow.nodes[node]
        if state.status != ACTIVE:
            return "refused", f"space {node} is not running (it is {state.status}); variants can be injected " \
                              "into a running space"
        space = self.exp.spaces[node]
        workflow = self.project.workflows.get(space.workflow)
        check = check_injection(space, workflow, command.values)
        if not check.ok:
            return "refused", "; ".join(check.errors)
        priority = command.priority
        (vid,) = kbv.insert(self.kb, self.run_id, [kbv.NewVariant(
            space=node, params=check.params, config=check.config,
            seed=space.seed if space.seed is not None else self.seed, priority=priority, origin="injected",
            iteration=state.iteration, off_grid=bool(check.off_grid))])
        self.node_open.setdefault(node, set()).add(vid)
        self._enqueue(kbv.get(self.kb, vid))
        filled = f"; defaults used for {', '.join(check.filled)}" if check.filled else ""
        off = f"; off the grid: {', '.join(check.off_grid)}" if check.off_grid else ""
        return "done", f"injected v{vid} into {node}: {short(check.params)}{filled}{off}"

    def _cmd_pause(self, command: kbc.Pause, cmd: kbc.Command, after: list) -> tuple[str, str]:
        if self.paused:
            return "done", f"r{self.run_id} is already paused"
        self.paused = True
        kbr.set_paused(self.kb, self.run_id, True)
        return "done", f"r{self.run_id} paused: running tasks finish, no new ones start"

    def _cmd_resume(self, command: kbc.Resume, cmd: kbc.Command, after: list) -> tuple[str, str]:
        if not self.paused:
            return "done", f"r{self.run_id} is running"
        self.paused = False
        kbr.set_paused(self.kb, self.run_id, False)
        return "done", f"r{self.run_id} resumed"

    def _cmd_parallel(self, command: kbc.Parallel, cmd: kbc.Command, after: list) -> tuple[str, str]:
        n = command.workers
        before, self.workers = self.workers, n
        kbr.set_workers(self.kb, self.run_id, n)
        if self.auto_slots:  # a human's choice outlasts the cluster's size, and a restart
            self.auto_slots = False
            kbr.update_settings(self.kb, self.run_id, slots=None)
        return "done", f"workers {before} -> {n}"

    def _cmd_answer(self, command: kbc.Answer, cmd: kbc.Command, after: list) -> tuple[str, str]:
        target = command.node
        waiting = {vid: node for vid, node in self.waiting.items()}
        task_waits = {v.id: v for v in self.active.values() if v.waiting()}
        if not waiting and not task_waits:
            return "refused", f"nothing in r{self.run_id} is waiting for an answer"
        vid = None
        if target is None:
            if len(waiting) + len(task_waits) > 1:
                names = [*waiting.values(), *(f"v{i}" for i in task_waits)]
                return "refused", f"several things wait for an answer ({', '.join(names)}); name one"
            vid = next(iter([*waiting, *task_waits]))
        else:
            vid = next((i for i, n in waiting.items() if n == target), None)
            if vid is None:
                ref = kbv.parse_variant_ref(str(target).split(".")[0])
                if ref in waiting or ref in task_waits:
                    vid = ref
            if vid is None:
                return "refused", f"{target} is not waiting for an answer"
        values = command.values
        if vid in waiting:
            node = waiting[vid]
            answer, errors = check_answer(self.exp.tasks[node].fields, values)
            if errors:
                return "refused", "; ".join(errors)
            del self.waiting[vid]
            kbv.update(self.kb, vid, status="completed", ended=time.time(), reason=None, started=time.time())
            rows = [(vid, node, k, float(v) if isinstance(v, int | float) else None,
                     None if isinstance(v, int | float) else str(v), None, time.time()) for k, v in answer.items()]
            kbv.insert_metrics(self.kb, rows)
            kbr.upsert_node(self.kb, self.run_id, node, result=answer)
            self.node_open.get(node, set()).discard(vid)

            def answered() -> None:
                self.emit("variant", f"v{vid} {node} completed: {short(answer)}", vid, "completed")
                self._maybe_finish_node(node)

            after.append(answered)
            return "done", f"{node} answered: {short(answer)}"
        vexec = task_waits[vid]
        name = vexec.waiting()[0]
        task = vexec.workflow.tasks[name]
        fields = dict(task.signature.params) if task.signature else {}
        answer, errors = check_answer(fields, values)
        if errors:
            return "refused", "; ".join(errors)
        rows = [(vid, name, k, float(v) if isinstance(v, int | float) else None,
                 None if isinstance(v, int | float) else str(v), None, time.time()) for k, v in answer.items()]
        kbv.insert_metrics(self.kb, rows)
        kbv.insert_task_run(self.kb, variant_id=vid, task=name, attempt=vexec.attempts[name], status="completed",
                            started=time.time(), ended=time.time(), reason="answered by a human")
        vexec.state[name] = DONE
        vexec.outputs[name] = {}
        kbv.update(self.kb, vid, status="running", reason=None)
        after.append(lambda: self._finalize(vexec) if vexec.settled else None)
        return "done", f"v{vid} {name} answered: {short(answer)}"

    def _cmd_stop(self, command: kbc.Stop, cmd: kbc.Command, after: list) -> tuple[str, str]:
        count = len(self.active)
        self._stop_everything("the run was stopped", after)
        return "done", f"r{self.run_id} stopping: {count} running variant(s) cancelled"

    def _stop_everything(self, reason: str, after: list) -> None:
        """Cancel what is queued or waiting now; running variants are stopped by the `after` actions."""
        self.stop_request = "stop"
        for vid in list(self.queued):
            kbv.update(self.kb, vid, status="cancelled", reason=reason, ended=time.time())
        for vid in list(self.waiting):
            kbv.update(self.kb, vid, status="cancelled", reason=reason, ended=time.time())
        self._cancel_held(reason)
        self.queued.clear()
        self.waiting.clear()
        for vexec in list(self.active.values()):
            kbv.update(self.kb, vexec.id, status="cancelled", reason=reason, ended=time.time())
            vexec.stopping, vexec.stop_status = reason, "cancelled"
            after.append(lambda vexec=vexec: self._stop_variant(vexec, "cancelled", reason))


# One handler per command class of the vocabulary (a test checks none is missing).
HANDLERS: dict[type[kbc.SteerCommand], Callable[..., tuple[str, str]]] = {
    kbc.Prune: Steering._cmd_prune,
    kbc.Prioritize: Steering._cmd_prioritize,
    kbc.Inject: Steering._cmd_inject,
    kbc.Pause: Steering._cmd_pause,
    kbc.Resume: Steering._cmd_resume,
    kbc.Parallel: Steering._cmd_parallel,
    kbc.Answer: Steering._cmd_answer,
    kbc.Stop: Steering._cmd_stop,
    kbc.Amend: Amending._cmd_amend,
    kbc.Suspend: Holding._cmd_suspend,
    kbc.ResumeVariants: Holding._cmd_resume_variant,
}


def _sentence(exc: BaseException) -> str:
    """An exception as a sentence: its own message, else its kind."""
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def _target(args: object) -> str | None:
    """What the audit event is about, read from the stored arguments (which may be malformed)."""
    if not isinstance(args, dict):
        return None
    for key in ("variant", "space", "node"):
        if key in args:
            return str(args[key])
    if "variants" in args:
        refs = args["variants"]
        return ",".join(str(v) for v in refs) if isinstance(refs, list) else str(refs)
    return None


def _outcome(verb: str, done: list[str], refused: list[str]) -> tuple[str, str]:
    parts = []
    if done:
        parts.append(f"{verb} {', '.join(done)}")
    if refused:
        parts.append(f"refused: {'; '.join(refused)}")
    return ("done" if done else "refused"), "; ".join(parts)
