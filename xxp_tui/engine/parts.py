"""What the engine's mixins (`Steering`, `Amending`, `Holding`, `Transferring`) use of the
engine, declared once so a type checker can follow them: attributes `Engine.__init__`/`load` set,
and the engine methods the mixins call. Annotations only: nothing here exists at run time, the
`Engine` instance supplies it all."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xxp_tui.engine.core.control_flow import ControlFlow
    from xxp_tui.engine.core.queue import VariantQueue
    from xxp_tui.engine.events import EngineEvent
    from xxp_tui.engine.shell import Running
    from xxp_tui.engine.strategies import LazyGrid, OptunaSearch
    from xxp_tui.engine.variant_exec import VariantExec
    from xxp_tui.kb import KB
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv
    from xxp_tui.lang.loader import LoadResult
    from xxp_tui.lang.model import Experiment, Project, Space


class EngineParts:
    kb: KB
    run_id: int
    run: kbr.Run
    project: Project
    exp: Experiment
    flow: ControlFlow
    seed: int
    paused: bool
    workers: int
    auto_slots: bool
    stop_request: str | None
    on_event: Callable[[EngineEvent], None] | None
    queued: VariantQueue[kbv.Variant]
    active: dict[int, VariantExec]
    waiting: dict[int, str]
    node_open: dict[str, set[int]]
    searches: dict[str, OptunaSearch]
    asked: dict[str, int]
    running: dict[str, Running]  # task key -> the task run in flight
    grids: dict[str, LazyGrid]
    saved_flow: dict[str, dict]
    allow_changed_spec: bool
    loaded: LoadResult | None  # the spec as the creating command loaded it (Amending._load_version)
    executor: Any  # the executor the run asked for (executors.make_executor)

    if TYPE_CHECKING:
        def emit(self, kind: str, text: str, variant: int | None = None, status: str | None = None,
                 log: bool = True, detail: dict | None = None) -> None: ...

        def _enqueue(self, v: kbv.Variant) -> None: ...

        def _dequeue(self, vid: int) -> kbv.Variant | None: ...

        def _finalize(self, vexec: VariantExec) -> None: ...

        def _maybe_finish_node(self, name: str) -> None: ...

        def _save_flow(self) -> None: ...

        def _objective_values(self, space: Space | None, variant_id: int) -> list[float] | None: ...

        def _variant_ref(self, ref: object) -> kbv.Variant | str: ...

        def _hold_ended(self, vid: int) -> None: ...

        def _cancel_held(self, reason: str) -> None: ...

        def _stop_variant(self, vexec: VariantExec, status: str, reason: str) -> None: ...

        def _tell(self, search: OptunaSearch, v: kbv.Variant, status: str,
                  values: list[float] | None) -> str | None: ...
