"""Long chains of cache hits: the engine's cost per reused task, and whether it stays responsive.

A workflow of N tasks in a chain (START -> T1 -> ... -> TN -> END), every task the same library task
with the same params and no inputs, so they share one cache key: in the first run T1 executes and
T2..TN are cache hits; the second run of the same spec reuses all N. For N = 100, 1,000 and 10,000
it prints the wall time per reused task (which must not grow with N) and the longest gap between
heartbeats while the chain was reused (which must stay near a second: the loop returns between
steps, so the engine beats, applies commands and obeys signals throughout).

    .venv/bin/python benchmarks/cache_chain.py [--sizes 100,1000,10000] [--json]

Measured on a shared 2-core machine under heavy load (load average ~17), so wall times are
inflated by the process start-up (~10 s there): all reused, 100 tasks 12.9 s (129 ms a task, mostly
start-up), 1,000 tasks 49.6 s (50 ms a task), longest heartbeat gap 2.0 s at 1,000. Before the fix
a hit copied its source's metrics under the source's name, doubling them at every hit: 23 hits of
this chain took 5 minutes and 8 million metric rows.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from xxp_tui.kb import open_kb  # noqa: E402
from xxp_tui.kb import runs as kbr  # noqa: E402

STEP_XXP = """
task Step {
    define param p { type Integer; default 1; }
    define metric done { kind single-value; type Float; }
    implementation "step.py";
}
"""
STEP_PY = """
from xxp_tui import sdk
sdk.log_metric("done", 1.0)
"""


def spec(n: int) -> str:
    chain = " -> ".join(f"T{i}" for i in range(1, n + 1))
    tasks = "\n".join(f'    task T{i} {{ implementation "t.step"; }}' for i in range(1, n + 1))
    return f"""
workflow Chain {{
    START -> {chain} -> END;
{tasks}
}}
experiment E {{
    control {{ START -> S -> END; }}
    space S of Chain {{ strategy singlerun; }}
}}
"""


def watch_beats(db: Path, run_id: int, stop: threading.Event, gaps: list[float]) -> None:
    """The longest time the run's heartbeat went without a beat while the engine ran."""
    last = None
    while not stop.is_set():
        try:
            with open_kb(db, create=False, readonly=True) as kb:
                while not stop.is_set():
                    live = kbr.liveness(kb, run_id)
                    if live.pid is not None and live.age is not None:
                        beat = time.time() - live.age
                        if last is not None and beat > last:
                            gaps.append(beat - last)
                        last = beat
                    time.sleep(0.1)
        except Exception:
            time.sleep(0.1)


def run(folder: Path, db: Path, run_id: int) -> tuple[float, float]:
    gaps: list[float] = []
    stop = threading.Event()
    watcher = threading.Thread(target=watch_beats, args=(db, run_id, stop, gaps), daemon=True)
    watcher.start()
    began = time.monotonic()
    done = subprocess.run([str(Path(sys.executable).with_name("xxp-tui")), "run", "e.xxp", "--headless", "--db",
                           str(db)], cwd=folder, capture_output=True, text=True)
    took = time.monotonic() - began
    stop.set()
    watcher.join()
    if done.returncode != 0:
        raise SystemExit(f"run failed ({done.returncode}): {done.stdout[-2000:]}{done.stderr[-2000:]}")
    return took, max(gaps, default=0.0)


def measure(n: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        lib = folder / "tasks" / "t" / "step"
        lib.mkdir(parents=True)
        (lib / "task.xxp").write_text(textwrap.dedent(STEP_XXP))
        (lib / "step.py").write_text(textwrap.dedent(STEP_PY))
        (folder / "e.xxp").write_text(spec(n))
        db = folder / "kb.sqlite"
        first, first_gap = run(folder, db, 1)
        second, second_gap = run(folder, db, 2)
        with open_kb(db, create=False, readonly=True) as kb:
            cached = kb.scalar("SELECT COUNT(*) FROM task_runs WHERE status = 'cached'")
    return {"tasks": n, "first_s": round(first, 2), "second_s": round(second, 2),
            "ms_per_reused_task": round(1000 * second / n, 3), "cache_hits": cached,
            "max_beat_gap_s": round(max(first_gap, second_gap), 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100,1000,10000")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = [measure(int(n)) for n in args.sizes.split(",")]
    if args.json:
        print(json.dumps(rows))
        return
    for r in rows:
        print(f"{r['tasks']:>6} tasks: first run {r['first_s']:7.2f} s, all reused {r['second_s']:7.2f} s "
              f"= {r['ms_per_reused_task']:7.3f} ms per reused task ({r['cache_hits']} hits); "
              f"longest heartbeat gap {r['max_beat_gap_s']:.2f} s")


if __name__ == "__main__":
    main()
