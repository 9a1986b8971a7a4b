"""The kill/resume torture: random SIGKILLs of the engine during a run whose control graph has every
kind of node and edge, then figures on what the crashes cost. Used by tests/engine/test_torture.py
(20 rounds, a time budget) and benchmarks/kill_resume.py (more rounds, a report).

The control graph: a sequence (Grid -> the parallel group), a parallel group (Left || Right) joined
by Check, a conditional (Check ?-> Loop) with an `else` (Check ?-> Never, never taken), a loop
(Loop ?-> Loop, max_iterations 3, then its `else` to Ask), an interaction (Ask, answered with
`xxp-tui answer` while the kills go on) and a conditional on its answer (Ask ?-> Final). Each
variant runs Prep -> Work; Work reports a `progress` series (3 points) and a `score`. Grid's and
Loop's Work take longer (`long` seconds), long enough to outlive an engine's restart: adopted.

Each round starts an engine (a detached one, as `xxp-tui run` does), waits a random time (seeded)
after its first beat, SIGKILLs it (its tasks run on under their supervisor), and checks the KB: its
integrity, and that nothing completed before changed. After the rounds an engine finishes the run.

Figures:
- completed_once: every (variant, task) completed exactly once, every variant completed;
- lost: variants that did not complete, or whose metrics are not exactly what Work reports
  (a point lost or reported twice through an adoption);
- rerun: task executions that started again although an earlier execution of the same task had
  started (its process existed: the supervisor wrote its proc.json): work that had finished or was
  running when the engine died and was done again;
- adopted / collected: what the resumes reported;
- path: the control nodes' final states, compared with an uninterrupted run's;
- integrity: SQLite's integrity check after every kill and at the end;
- orphans: task or supervisor processes left once the run has ended.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil

from tests.engine.live import LiveRun, script_path, script_processes, wait_until, xxp
from xxp_tui.engine.executors.records import PROC_RECORD
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

SPEC = """
workflow W {
    START -> Prep -> Work -> END;
    task Prep { implementation "t.prep"; }
    task Work { implementation "t.work"; }
}
experiment E {
    control {
        START -> Grid -> (Left || Right) -> Check;
        Check ?-> Loop { condition "True" };
        Check ?-> Never { else };
        Never -> END;
        Loop ?-> Loop { condition "True"; max_iterations 3 };
        Loop ?-> Ask { else };
        Ask ?-> Final { condition "results['Ask'][1]['result']['go']" };
        Ask ?-> END { else };
        Final -> END;
    }
    space Grid of W { strategy gridsearch; param_values x = range(0, 4);
        task Prep { param x = x; } task Work { param x = x; param secs = LONG; } objective maximize score; }
    space Left of W { strategy gridsearch; param_values x = range(10, 12);
        task Prep { param x = x; } task Work { param x = x; param secs = SECS; } objective maximize score; }
    space Right of W { strategy gridsearch; param_values x = range(20, 22);
        task Prep { param x = x; } task Work { param x = x; param secs = SECS; } objective maximize score; }
    space Check of W { strategy singlerun;
        task Prep { param x = 1; } task Work { param x = 1; param secs = SECS; } objective maximize score; }
    space Never of W { strategy singlerun;
        task Prep { param x = 2; } task Work { param x = 2; param secs = SECS; } objective maximize score; }
    space Loop of W { strategy gridsearch; param_values x = range(30, 32);
        task Prep { param x = x; } task Work { param x = x; param secs = LONG; } objective maximize score; }
    interaction Ask {
        prompt "Go on to Final?";
        define param go { type Boolean; default false; }
    }
    space Final of W { strategy gridsearch; param_values x = range(40, 42);
        task Prep { param x = x; } task Work { param x = x; param secs = SECS; } objective maximize score; }
}
"""
# What an uninterrupted run does: every node done but Never (its `else` is not taken); Loop 3 rounds.
EXPECTED_PATH = {"Grid": "done", "Left": "done", "Right": "done", "Check": "done", "Never": "skipped",
                 "Loop": "done", "Ask": "done", "Final": "done"}
EXPECTED_VARIANTS = {"Grid": 4, "Left": 2, "Right": 2, "Check": 1, "Loop": 6, "Ask": 1, "Final": 2}
LOOP_ROUNDS = 3  # max_iterations 3: three rounds, the first included (`torture(root, 0)` shows it)
RESUMED = re.compile(r"(\d+) running task\(s\) adopted|(\d+) task\(s\) that ended meanwhile collected")


@dataclass
class Report:
    rounds: int = 0
    runs: int = 0  # more than 1: a run ended before all the kills were done
    kills_with_tasks_running: int = 0
    seconds: float = 0.0
    variants: int = 0
    completed_once: bool = False
    lost: int = 0
    rerun: int = 0
    never_started_restarted: int = 0  # task runs recorded but killed before their process existed
    adopted: int = 0
    collected: int = 0
    paths: list[dict] = field(default_factory=list)  # the control nodes' final states, per run
    variants_per_node: list[dict] = field(default_factory=list)  # per run
    path_ok: bool = False
    integrity: str = ""
    orphans: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def torture(root: Path, rounds: int, seed: int = 12, delay: tuple[float, float] = (0.1, 1.2),
            secs: float = 1.0, long: float = 4.0, budget: float | None = None) -> Report:
    """Run the experiment through `rounds` SIGKILLs of its engine (fewer if `budget` seconds pass),
    then to its end; the figures. A run that ends before the kills are done (it should not: the
    graph has more work than the rounds last) is followed by a fresh one, so that every round counts."""
    began = time.monotonic()
    rng = random.Random(seed)
    report = Report()
    while not report.runs or (report.rounds < rounds and (budget is None or time.monotonic() - began <= budget)):
        report.runs += 1
        run = LiveRun(root / f"run{report.runs}", SPEC.replace("SECS", str(secs)).replace("LONG", str(long)), workers=2)
        try:
            _kill_rounds(run, rng, rounds, delay, began, budget, report)
            _finish(run)
            _figures(run, report)
        finally:
            run.stop()
            _kill_leftovers(run)
    report.seconds = time.monotonic() - began
    return report


def _kill_rounds(run: LiveRun, rng: random.Random, rounds: int, delay: tuple[float, float], began: float,
                 budget: float | None, report: Report) -> None:
    kept: dict[int, tuple] = {}
    while report.rounds < rounds and (budget is None or time.monotonic() - began <= budget):
        if run.run().finished:
            return
        run.start()
        _answer_if_asked(run)
        time.sleep(rng.uniform(*delay))
        if run.proc.poll() is not None or run.run().finished:
            return
        report.kills_with_tasks_running += bool(run.running_task_runs())
        run.kill()
        report.rounds += 1
        integrity = run.integrity()
        if integrity != "ok":
            report.problems.append(f"integrity after kill {report.rounds}: {integrity}")
        now = _completed(run)
        changed = [vid for vid, before in kept.items() if now.get(vid) != before]
        if changed:
            report.problems.append(f"completed variants changed after kill {report.rounds}: {changed}")
        kept.update(now)
    run.kept = kept


def _finish(run: LiveRun) -> None:
    """One last engine runs the experiment to its end (answering Ask if it asks)."""
    if not run.run().finished:
        run.start()
        deadline = time.monotonic() + 120
        while not run.run().finished and time.monotonic() < deadline:
            _answer_if_asked(run)
            time.sleep(0.1)
        run.wait_exit(60)


def _answer_if_asked(run: LiveRun) -> None:
    """Answer Ask once it waits (once: a command queued while no engine ran is applied on resume)."""
    if getattr(run, "answered", False) or not any(v.space == "Ask" for v in run.variants(status="waiting_input")):
        return
    done = xxp("answer", f"r{run.run_id}", "Ask", "--set", "go=true", "--db", str(run.db), timeout=60)
    run.answered = done.returncode == 0


def _completed(run: LiveRun) -> dict[int, tuple]:
    out = {}
    for v in run.variants(status="completed"):
        rows = sorted((m.task or "", m.name, m.value, m.text, m.step) for m in kbv.metrics(run.kb, v.id))
        out[v.id] = (v.space, v.params, v.objective, v.ended, rows)
    return out


def _figures(run: LiveRun, report: Report) -> None:
    kept = getattr(run, "kept", {})
    variants = run.variants()
    report.variants += len(variants)
    counts: dict[str, int] = {}
    for v in variants:
        counts[v.space] = counts.get(v.space, 0) + 1
    report.variants_per_node.append(counts)
    once = report.completed_once or report.runs == 1
    for v in variants:
        if v.status != "completed":
            report.lost += 1
            continue
        if v.space == "Ask":
            continue
        runs = kbv.task_runs(run.kb, v.id)
        for task in ("Prep", "Work"):
            mine = [tr for tr in runs if tr.task == task]
            finished = [tr for tr in mine if tr.status in ("completed", "cached")]
            once = once and len(finished) == 1
            started = [tr for tr in mine if tr.cwd and (Path(tr.cwd) / PROC_RECORD).exists()]
            report.rerun += max(0, len(started) - 1)
            report.never_started_restarted += sum(1 for tr in mine if tr.status == "interrupted") - max(
                0, len(started) - 1)
        names = sorted((m.task, m.name, m.step) for m in kbv.metrics(run.kb, v.id))
        expected = sorted([("Prep", "prepared", None), ("Work", "progress", 0), ("Work", "progress", 1),
                           ("Work", "progress", 2), ("Work", "score", None)])
        if names != expected:
            report.lost += 1
            report.problems.append(f"v{v.id} metrics {names}")
    report.completed_once = once and report.lost == 0
    now = _completed(run)
    changed = [vid for vid, before in kept.items() if now.get(vid) != before]
    if changed:
        report.problems.append(f"completed variants changed by the last engine: {changed}")
    nodes = kbr.nodes(run.kb, run.run_id)
    path = {name: node.status for name, node in nodes.items()}
    report.paths.append(path)
    loop = nodes.get("Loop")
    report.path_ok = ((report.path_ok or report.runs == 1) and path == EXPECTED_PATH and loop.iteration == LOOP_ROUNDS
                      and counts == EXPECTED_VARIANTS)
    for e in kbc.events(run.kb, run.run_id):
        for adopted, collected in RESUMED.findall(e.detail.get("text", "") if e.kind == "run" else ""):
            report.adopted += int(adopted or 0)
            report.collected += int(collected or 0)
    integrity = run.integrity()
    report.integrity = integrity if report.integrity in ("", "ok") else report.integrity
    report.orphans += len(_leftovers(run, wait=10.0))


def _leftovers(run: LiveRun, wait: float) -> list[psutil.Process]:
    """Task and supervisor processes of this project still alive (after up to `wait` seconds)."""
    def find():
        found = [p for name in ("work", "prep") for p in script_processes(script_path(run.root, name))]
        for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
            with contextlib.suppress(psutil.Error, TypeError):
                if proc.info["status"] != psutil.STATUS_ZOMBIE and \
                        "xxp_tui.engine.executors.supervisor" in (proc.info["cmdline"] or []) and \
                        str(run.root) in (proc.info["cwd"] or ""):
                    found.append(proc)
        return found

    with contextlib.suppress(AssertionError):
        wait_until(lambda: not find(), wait, "no process left")
    return find()


def _kill_leftovers(run: LiveRun) -> None:
    for proc in _leftovers(run, wait=0):
        with contextlib.suppress(psutil.Error):
            proc.kill()
