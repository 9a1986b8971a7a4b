"""Benchmark the viewer under load: does it stay responsive while an engine writes fast?

    python benchmarks/tui.py            # 10,000 then 100,000 variants, 50 changes/s, ~2 min
    python benchmarks/tui.py --variants 100000   # one case
    python benchmarks/tui.py --quick    # a smoke run: 2,000 variants, a few seconds
    python benchmarks/tui.py --strict   # exit 1 if a target is missed

A separate writer process plays the engine through xxp_tui.kb (the same functions the engine
uses, one short write transaction per change): it creates the variants, then makes `--rate`
status or metric changes per second (start a queued variant, report a metric step, complete one
with its objective), beating the heartbeat. Meanwhile the real app runs headless in this process
(App.run_test) with its real poller on the same KB.

Measured, after the initial load:
- key latency: time from a key press (cursor down, page, top/bottom, sort, filter typing, escape)
  to the first screen update that shows its effect. The app's `_display` is where Textual hands a
  rendered frame to the terminal driver; here it also turns the frame into terminal bytes, as a
  real terminal would need, and stamps the time.
- CPU share of this process (the app, its poller thread and the key driving) over the measured
  window: psutil cpu_times delta / wall time, as a share of one core.
- peak RSS of this process, which holds the viewer and nothing else: the run is created by a
  child process (creating a run imports the engine's dependencies, pandas among them, ~85 MB that
  `xxp-tui attach` never loads), and written by the writer process.
- attach: a second viewer opened once every variant is written (what `xxp-tui attach` meets):
  from the app's start to the first frame that shows rows (a big run arrives in slices, so this
  does not wait for the last of 100,000 rows), and to the last row.
Targets (issue 4): p95 < 100 ms, CPU < 35 % of one core, RSS < 300 MB; at 100,000 variants
(issue 19): p95 < 50 ms, first screen < 1 s, RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque
from pathlib import Path

import psutil

TARGET_P95_MS = 100.0
TARGET_P95_MS_LARGE = 50.0  # from LARGE variants on (issue 19)
TARGET_FIRST_SCREEN_S = 1.0
LARGE = 100_000
TARGET_CPU = 35.0
TARGET_RSS_MB = 300.0

TASK = """
task Train {
    define param depth { type Integer; default 1; }
    define param width { type Integer; default 1; }
    define param kind { type String; default "a"; }
    define metric loss { kind series; type Float; }
    define metric accuracy { kind single-value; type Float; }
    implementation "train.py";
}
"""
SPEC = """
workflow W { task T { implementation "b.train"; } }
experiment Bench {
    control { START -> Sweep -> END; }
    space Sweep of W {
        strategy gridsearch;
        param_values depth = range(1, 101);
        param_values width = range(1, 11);
        param_values kind = enum("a", "b", "c", "d", "e", "f", "g", "h", "i", "j");
        task T { param depth = depth; param width = width; param kind = kind; }
        objective maximize accuracy;
    }
}
"""
KINDS = "abcdefghij"


def make_spec(root: Path) -> Path:
    task_dir = root / "tasks" / "b" / "train"
    task_dir.mkdir(parents=True)
    (task_dir / "task.xxp").write_text(textwrap.dedent(TASK))
    (task_dir / "train.py").write_text("print('never run: the benchmark writer plays the engine')\n")
    spec = root / "bench.xxp"
    spec.write_text(textwrap.dedent(SPEC))
    return spec


# ----------------------------------------------------------------------------- the engine-like writer


def create(root: Path) -> None:
    """Write the spec and create its run (in a child process: see the module's docstring); print
    the KB's path and the run's id."""
    from xxp_tui.engine.launch import create_run
    from xxp_tui.lang import load_project

    spec = make_spec(root)
    result = load_project(spec)
    if not result.ok:
        raise SystemExit("\n".join(d.render() for d in result.diagnostics))
    db = root / ".xxp" / "kb.sqlite"
    run_id = create_run(result, "Bench", db, workers=8, seed=0).run_id
    print(json.dumps({"db": str(db), "run_id": run_id}), flush=True)


def writer(db: Path, run_id: int, n: int, rate: float, seconds: float, running_max: int = 8) -> None:
    """Create `n` variants, then make `rate` changes per second for `seconds`; print what was done."""
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import open_kb
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))  # the benchmark is over: report
    rng = random.Random(0)
    kb = open_kb(db, create=False)
    pid, started = os.getpid(), time.time()
    kbr.beat(kb, run_id, pid, started)
    kbr.set_status(kb, run_id, "running")
    kbr.upsert_node(kb, run_id, "Sweep", kind="space", status="running", iteration=1, total=n, fired={},
                    started=started)
    combos = [(d, w, k) for d in range(1, 101) for w in range(1, 11) for k in KINDS]
    ids: list[int] = []
    for start in range(0, n, 1000):
        batch = []
        for i in range(start, min(n, start + 1000)):
            d, w, k = combos[i % len(combos)]
            batch.append(kbv.NewVariant(space="Sweep", params={"T.depth": d, "T.width": w, "T.kind": k},
                                        config={"depth": d, "width": w, "kind": k}, seed=i, iteration=1))
        ids += kbv.insert(kb, run_id, batch)
    kbc.log_event(kb, run_id, "engine", "node", None, {"text": f"Sweep started: {n} variant(s)"})
    loaded = time.time()

    queued = deque(ids)
    running: dict[int, int] = {}  # variant -> steps reported
    changes = {"start": 0, "metric": 0, "complete": 0}
    interval = 1.0 / rate
    next_change = time.monotonic()
    end = next_change + seconds
    last_beat = 0.0
    while time.monotonic() < end and not stop:
        now = time.time()
        if now - last_beat >= 1.0:
            kbr.beat(kb, run_id, pid, started)
            last_beat = now
        done = [v for v, steps in running.items() if steps >= 5]
        if done and rng.random() < 0.5:
            vid = done[0]
            accuracy = rng.random()
            kbv.insert_metrics(kb, [(vid, "T", "accuracy", accuracy, None, None, now)])
            kbv.update(kb, vid, status="completed", ended=now, objective=accuracy)
            del running[vid]
            changes["complete"] += 1
        elif len(running) < running_max and queued:
            vid = queued.popleft()
            kbv.update(kb, vid, status="running", started=now)
            running[vid] = 0
            changes["start"] += 1
        elif running:
            vid = rng.choice(list(running))
            kbv.insert_metrics(kb, [(vid, "T", "loss", 1.0 / (running[vid] + 1), None, running[vid], now)])
            running[vid] += 1
            changes["metric"] += 1
        next_change += interval
        time.sleep(max(0.0, next_change - time.monotonic()))
    elapsed = time.time() - loaded
    kbr.clear_heartbeat(kb, run_id, pid)
    kb.close()
    print(json.dumps({"changes": changes, "rate": sum(changes.values()) / max(elapsed, 1e-9),
                      "load_seconds": loaded - started}), flush=True)


# ----------------------------------------------------------------------------- the app under test


def bench_app_class():
    from textual._compositor import CompositorUpdate

    from xxp_tui.tui.app import XxpApp

    class BenchApp(XxpApp):
        """The real app; `_display` also encodes each frame (headless Textual skips that) and
        stamps the first frame on which a pending key's effect is visible."""

        expect = None
        shown_at: float | None = None
        first_rows_at: float | None = None
        frames = 0

        def _display(self, screen, renderable) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(self.console)
                self.frames += 1
                if self.first_rows_at is None and getattr(self, "table", None) is not None and self.table.order:
                    self.first_rows_at = time.perf_counter()
                if self.expect is not None and self.shown_at is None and self.expect():
                    self.shown_at = time.perf_counter()
                    self.shown_cpu = time.thread_time()
            super()._display(screen, renderable)

    return BenchApp


class PeakRSS(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.05)


def key_script():
    """(key, label, effect) steps cycling through what a person does in the table. `effect(app,
    before)` is true once the key's change is in the app's state; `before` is a snapshot taken just
    before the press. Moves are judged by the cursor's variant, which only a key changes."""
    moved = lambda a, b: a.table.cursor_variant != b["vid"]  # noqa: E731
    steps = [("down", "cursor", moved)] * 8
    steps += [("pagedown", "page", moved)]
    # s lists the columns (the current one highlighted); j moves to the next one and Enter sorts by it
    steps += [("s", "sort", lambda a, b: type(a.screen).__name__ == "SortScreen"),
              ("j", "sort", lambda a, b: a.screen.query_one("OptionList").highlighted
               != [c.key for c in a.table.columns if c.key != "reason"].index(b["sort"])),
              ("enter", "sort", lambda a, b: a.table.sort_key != b["sort"])]
    steps += [("down", "cursor", moved)] * 4
    steps += [("G", "bottom", moved), ("g", "top", moved)]
    steps += [("slash", "filter", lambda a, b: a.cmdline.display and a.cmdline.has_focus)]
    typed = ""
    for ch in "kind:c":
        typed += ch
        steps.append((ch if ch != ":" else "colon", "filter", lambda a, b, t=typed: a.table.filter_text == t))
    steps += [("enter", "filter", lambda a, b: not a.cmdline.display)]
    steps += [("down", "cursor", moved)] * 4
    steps += [("slash", "filter", lambda a, b: a.cmdline.display)]
    steps += [("escape", "filter", lambda a, b: a.table.filter_text == "" and not a.cmdline.display)]
    return steps


async def drive(args, db: Path, run_id: int, writer_proc: subprocess.Popen) -> dict:
    app = bench_app_class()(db, run_id, keymap={})
    proc = psutil.Process()
    rss_before = proc.memory_info().rss / 2**20
    rss = PeakRSS()
    rss.start()
    result: dict = {"latencies": {}, "timeouts": 0, "samples": [], "busy": [], "rss_before_mb": rss_before}
    width, height = args.size
    async with app.run_test(size=(width, height)):
        t0 = time.perf_counter()
        deadline = t0 + args.load_timeout
        while len(app.table.rows) < args.variants:
            if time.perf_counter() > deadline or writer_proc.poll() not in (None, 0):
                raise SystemExit(f"the app showed {len(app.table.rows)} of {args.variants} rows")
            await asyncio.sleep(0.02)
        result["load_seconds"] = time.perf_counter() - t0
        result["rss_loaded_mb"] = proc.memory_info().rss / 2**20
        await asyncio.sleep(0.5)  # the first changes of the writer arrive

        cpu0, wall0, frames0 = proc.cpu_times(), time.perf_counter(), app.frames
        # 1) watching only
        await asyncio.sleep(args.watch)
        cpu1, wall1 = proc.cpu_times(), time.perf_counter()
        # 2) watching and pressing keys (a few a second, as a person does)
        steps = key_script()
        i = 0
        end = time.perf_counter() + args.keys
        while time.perf_counter() < end:
            key, label, effect = steps[i % len(steps)]
            i += 1
            if key in ("down", "pagedown") and app.table.cursor >= len(app.table.order) - 1:
                key = "up"  # at the bottom (the cursor follows its variant there): down would do nothing
            before = {"vid": app.table.cursor_variant, "sort": app.table.sort_key}
            app.shown_at = None
            app.expect = lambda effect=effect, before=before: effect(app, before)
            pressed, pressed_cpu = time.perf_counter(), time.thread_time()
            press(app, key)
            wait_until = pressed + 5.0
            while app.shown_at is None and time.perf_counter() < wait_until:
                await asyncio.sleep(0.001)
            app.expect = None
            cpu_ms = (app.shown_cpu - pressed_cpu) * 1000 if app.shown_at else 0.0
            where = (f"(UI thread busy {cpu_ms:5.1f} ms) {key} sort={app.table.sort_key} "
                     f"filter={app.table.filter_text!r} cursor={app.table.cursor}")
            if app.shown_at is None:
                result["timeouts"] += 1
                result["samples"].append((float("inf"), where))
            else:
                ms = (app.shown_at - pressed) * 1000
                result["latencies"].setdefault(label, []).append(ms)
                result["busy"].append(cpu_ms)
                result["samples"].append((ms, where))
            await asyncio.sleep(args.key_gap * (0.5 + random.random()))
        cpu2, wall2 = proc.cpu_times(), time.perf_counter()
        result["cpu_watch"] = _cpu(cpu0, cpu1) / (wall1 - wall0) * 100
        result["cpu_keys"] = _cpu(cpu1, cpu2) / (wall2 - wall1) * 100
        result["cpu"] = _cpu(cpu0, cpu2) / (wall2 - wall0) * 100
        result["fps"] = (app.frames - frames0) / (wall2 - wall0)
        result["window"] = wall2 - wall0
        result["rows"] = len(app.table.rows)
        result["running_shown"] = sum(1 for r in app.table.rows.values() if r.data["status"] == "running")
        result["completed_shown"] = sum(1 for r in app.table.rows.values() if r.data["status"] == "completed")
    rss.running = False
    rss.join()
    result["rss_mb"] = max(rss.peak, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024) / 2**20
    return result


async def attach(args, db: Path, run_id: int) -> dict:
    """A second viewer opened on the run once all its variants are written, as `xxp-tui attach`
    does: seconds from the app's start to its first frame showing rows, and to the last row."""
    app = bench_app_class()(db, run_id, keymap={})
    started, cpu0 = time.perf_counter(), time.process_time()
    async with app.run_test(size=args.size):
        deadline = started + args.load_timeout
        while app.first_rows_at is None and time.perf_counter() < deadline:
            await asyncio.sleep(0.002)
        first, first_cpu = (app.first_rows_at or float("inf")) - started, time.process_time() - cpu0
        while len(app.table.rows) < args.variants and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        return {"first_screen": first, "first_screen_cpu": first_cpu, "all_rows": time.perf_counter() - started}


KEY_CHARS = {"slash": "/", "colon": ":", "enter": "\r", "escape": "\x1b"}


def press(app, key: str) -> None:
    """Send a key the way the terminal driver does (its reader thread posts Key events), without
    Pilot's waits for the app to go idle, so the latency measured is the app's own."""
    from textual import events

    char = KEY_CHARS.get(key, key if len(key) == 1 else None)
    event = events.Key(key, char)
    event.set_sender(app)
    app._driver.send_message(event)


def _cpu(a, b) -> float:
    return (b.user - a.user) + (b.system - a.system)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: fewer variants, a few seconds")
    parser.add_argument("--variants", type=int, default=None, help="variants the writer creates (10000)")
    parser.add_argument("--rate", type=float, default=50.0, help="status/metric changes per second (50)")
    parser.add_argument("--watch", type=float, default=None, help="seconds of watching only (10)")
    parser.add_argument("--keys", type=float, default=None, help="seconds of pressing keys (15)")
    parser.add_argument("--key-gap", type=float, default=0.15, help="mean pause between keys, seconds")
    parser.add_argument("--size", type=lambda s: tuple(int(x) for x in s.split("x")), default=(120, 40),
                        help="terminal size WxH (120x40)")
    parser.add_argument("--verbose", action="store_true", help="also show the slowest key presses")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--writer", nargs=5, metavar=("DB", "RUN", "N", "RATE", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--create", metavar="ROOT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.create:
        create(Path(args.create))
        return 0
    if args.writer:
        db, run, n, rate, seconds = args.writer
        writer(Path(db), int(run), int(n), float(rate), float(seconds))
        return 0
    quick = args.quick
    cases = [args.variants] if args.variants else ([2000] if quick else [10_000, LARGE])
    missed = 0
    for n in cases:
        args.variants = n
        missed += bench_case(args)
    return 1 if missed else 0


def bench_case(args) -> int:
    quick = args.quick
    args.watch = args.watch if args.watch is not None else (1.5 if quick else 10.0)
    args.keys = args.keys if args.keys is not None else (3.0 if quick else 15.0)
    args.load_timeout = 60.0 if quick else 180.0

    with tempfile.TemporaryDirectory(prefix="xxp-bench-") as tmp:
        made = subprocess.run([sys.executable, __file__, "--create", tmp], stdout=subprocess.PIPE, text=True,
                              check=True)
        created = json.loads(made.stdout.splitlines()[-1])
        db, run_id = Path(created["db"]), int(created["run_id"])
        budget = args.load_timeout + args.watch + args.keys + 5
        writer_proc = subprocess.Popen(
            [sys.executable, __file__, "--writer", str(db), str(run_id), str(args.variants), str(args.rate),
             str(budget)], stdout=subprocess.PIPE, text=True)
        try:
            res = asyncio.run(drive(args, db, run_id, writer_proc))
            res["attach"] = asyncio.run(attach(args, db, run_id))
        finally:
            writer_proc.terminate()
            out, _ = writer_proc.communicate(timeout=30)
        lines = [line for line in out.splitlines() if line.startswith("{")]
        res["writer"] = json.loads(lines[-1]) if lines else None
    return report(args, res)


def report(args, res: dict) -> int:
    all_ms = [ms for values in res["latencies"].values() for ms in values]
    p95 = percentile(all_ms, 0.95)
    large = args.variants >= LARGE
    checks = [
        ("key → screen p95", f"{p95:.1f} ms", TARGET_P95_MS_LARGE if large else TARGET_P95_MS, p95, "ms"),
        ("app CPU share", f"{res['cpu']:.1f} % of one core", TARGET_CPU, res["cpu"], "%"),
        ("peak RSS", f"{res['rss_mb']:.0f} MB", TARGET_RSS_MB, res["rss_mb"], "MB"),
    ]
    attached = res["attach"]
    if large:
        checks.append(("attach first screen", f"{attached['first_screen']:.2f} s", TARGET_FIRST_SCREEN_S,
                       attached["first_screen"], "s"))
    print(f"xxp-tui viewer benchmark: {args.variants} variants, {args.rate:g} engine changes/s, "
          f"{args.size[0]}x{args.size[1]}{' (quick)' if args.quick else ''}")
    print(f"  attach (a second viewer on the written run): first screen {attached['first_screen']:.2f} s "
          f"({attached['first_screen_cpu']:.2f} s CPU), all {args.variants} rows {attached['all_rows']:.2f} s")
    print(f"  initial load of {args.variants} variants: {res['load_seconds']:.2f} s; "
          f"window {res['window']:.1f} s, {res['fps']:.1f} frames/s; table shows {res['rows']} rows, "
          f"{res['running_shown']} running, {res['completed_shown']} completed; RSS when loaded "
          f"{res['rss_loaded_mb']:.0f} MB ({res['rss_before_mb']:.0f} MB before the viewer started)")
    if res.get("writer"):
        w = res["writer"]
        print(f"  writer: {w['rate']:.1f} changes/s achieved ({w['changes']}), its load took {w['load_seconds']:.2f} s")
    print(f"  key presses: {len(all_ms)} measured, {res['timeouts']} without a visible effect within 5 s")
    for label, values in sorted(res["latencies"].items()):
        print(f"    {label:<8} n={len(values):<4} p50 {percentile(values, 0.5):6.1f} ms  "
              f"p95 {percentile(values, 0.95):6.1f} ms  max {max(values):6.1f} ms")
    if args.verbose:
        for ms, where in sorted(res["samples"], reverse=True)[:8]:
            print(f"    slowest: {ms:7.1f} ms  {where}")
    print(f"  UI thread CPU from key to frame: p50 {percentile(res['busy'], 0.5):.1f} ms, "
          f"p95 {percentile(res['busy'], 0.95):.1f} ms (the rest of the latency is waiting for a CPU)")
    load = os.getloadavg()
    print(f"  machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(f"  CPU while watching {res['cpu_watch']:.1f} %, while pressing keys {res['cpu_keys']:.1f} %")
    missed = 0
    for name, shown, target, value, unit in checks:
        ok = value < target
        missed += not ok
        print(f"  {name:<18} {shown:<24} target < {target:g} {unit:<3} {'PASS' if ok else 'MISS'}")
    if res["timeouts"]:
        missed += 1
        print("  MISS: some key presses never showed their effect")
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
