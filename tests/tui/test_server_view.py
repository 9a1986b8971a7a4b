"""The compute server in the viewer, against a real engine process and a real KB: the header lists the
run's GPUs busy and free (with utilisation and memory from NVML: here the test-only stand-in module
tests/engine/fake_nvml/pynvml.py, the one stand-in allowed, because no machine of ours has a GPU), a
silent task shows as stalled in the table and the details, and the details carry what tasks cost."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

from rich.console import Console

from tests.engine.test_stalls import QUIET_PY, QUIET_XXP
from xxp_tui.engine.launch import create_run, start_detached, wait_for_engine
from xxp_tui.lang import load_project
from xxp_tui.tui.app import XxpApp

from .conftest import stop_engine, wait_for


def pane_text(app: XxpApp) -> str:
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(app.details_pane.content)  # what the pane was last updated with
    return console.export_text()


FAKE_NVML = Path(__file__).parent.parent / "engine" / "fake_nvml"

SPEC = """
workflow W {
    START -> Quiet -> END;
    task Quiet { implementation "s.quiet"; param gate = "GATE"; resources { GPU = 1; } }
}
experiment E {
    control { START -> One -> END; }
    space One of W { strategy gridsearch; param_values x_vp = enum(1); }
}
"""


async def test_header_shows_gpus_busy_and_free_and_a_stalled_task_is_badged(tmp_path, monkeypatch):
    folder = tmp_path / "tasks" / "s" / "quiet"
    folder.mkdir(parents=True)
    (folder / "task.xxp").write_text(textwrap.dedent(QUIET_XXP))
    (folder / "quiet.py").write_text(textwrap.dedent(QUIET_PY))
    gate = tmp_path / "gate"
    spec = tmp_path / "e.xxp"
    spec.write_text(textwrap.dedent(SPEC).replace("GATE", str(gate)))
    db = tmp_path / ".xxp" / "kb.sqlite"
    run_id = create_run(load_project(spec), "E", db, workers=2, seed=0,
                        settings={"gpus": "0,1", "stall_after": 1.0}).run_id
    proc = start_detached(db, run_id, tmp_path)
    assert wait_for_engine(db, run_id, proc) is None
    monkeypatch.syspath_prepend(str(FAKE_NVML))  # the viewer asks "NVML" for utilisation and memory
    try:
        app = XxpApp(db, run_id, keymap={}, poll_interval=0.1)
        async with app.run_test(size=(160, 40)) as pilot:
            bar = lambda: str(app.status_bar.render())  # noqa: E731
            await wait_for(pilot, lambda: "busy" in bar(), timeout=60, what="a busy GPU in the header")
            text = bar()
            busy = "0" if "GPU 0 busy" in text else "1"
            free = "1" if busy == "0" else "0"
            util = 10 * (int(busy) + 1)  # what the stand-in answers
            assert f"GPU {busy} busy {util}% {int(busy) + 1:.1f}/16G" in text and f"1 GPU free ({free})" in text, text
            await wait_for(pilot, lambda: app.table.rows[1].data.get("stalled"), timeout=60, what="stalled row")
            await wait_for(pilot, lambda: "stalled" in app.table._cell_text(
                app.table.rows[1], next(c for c in app.table.columns if c.key == "status")), what="stalled cell")
            details = lambda: pane_text(app)  # noqa: E731
            await wait_for(pilot, lambda: "STALLED" in details(), timeout=30, what="STALLED in the details")
            gate.write_text("go")
            await wait_for(pilot, lambda: app.table.rows[1].data["status"] == "completed", timeout=60,
                           what="the variant completed")
            await wait_for(pilot, lambda: "cost: CPU" in details() and f"GPU {busy}" in details(), timeout=30,
                           what="the cost in the details")
            await wait_for(pilot, lambda: "busy" not in bar() and "2 GPUs free" in bar(), timeout=30,
                           what="both GPUs free again")
    finally:
        sys.modules.pop("pynvml", None)
        stop_engine(db, proc.pid)
