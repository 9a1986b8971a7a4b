"""Results as pandas DataFrames, for notebooks: a read-only view of the knowledge base.

    from xxp_tui import results
    df = results.variants("latest")          # one row per variant, one column per Task.param and metric
    curve = results.metrics("v12")           # a variant's metric points, series with their steps

Why a Python API: a data scientist's next step after a run is a notebook, and re-parsing
`xxp-tui variants --json` is what everyone did before. The KB is opened read-only (nothing here
can change a run) and pandas is imported only when a function is called, so `import xxp_tui`
stays light; pandas comes with the `frames` extra (`pip install 'xxp-tui[frames]'`).

The rows are built by `*_records` functions (plain dicts, no pandas) that `export` reuses.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from xxp_tui.kb import KB

PathLike = str | Path

# Columns every variants frame starts with, before the params and metrics; their pandas dtypes.
VARIANT_COLUMNS: dict[str, str] = {
    "variant": "string", "run": "string", "space": "string", "round": "Int64", "status": "string",
    "origin": "string", "priority": "Int64", "seed": "Int64", "trial": "Int64", "objective": "Float64",
    "pareto": "boolean", "created": "datetime", "started": "datetime", "ended": "datetime",
    "duration": "Float64", "reason": "string", "notes": "string",
}


class ResultsError(Exception):
    """A request this API cannot answer (no KB, no such run or variant, pandas missing): one sentence."""


def _pandas():
    try:
        import pandas
    except ImportError:
        raise ResultsError("xxp_tui.results needs pandas: pip install 'xxp-tui[frames]'") from None
    return pandas


@contextmanager
def _open(db: PathLike | None) -> Iterator[KB]:
    """The KB the CLI would read (--db, $XXP_DB, or the nearest one upwards), opened read-only."""
    from xxp_tui.cli.common import locate_kb
    from xxp_tui.kb import KBError, open_kb

    try:
        path = locate_kb(Path(db) if db is not None else None)
        kb = open_kb(path, create=False, readonly=True)
    except KBError as exc:
        raise ResultsError(str(exc)) from None
    try:
        yield kb
    finally:
        kb.close()


def _run_id(kb: KB, run: str | int) -> int:
    from xxp_tui.kb import KBError
    from xxp_tui.kb import runs as kbr

    try:
        return kbr.resolve_run(kb, str(run))
    except KBError as exc:
        raise ResultsError(str(exc)) from None


# ----------------------------------------------------------------------------- records (no pandas)


def run_records(kb: KB) -> list[dict[str, Any]]:
    from xxp_tui.kb.queries import run_summaries

    rows = []
    for s in run_summaries(kb):
        r = s.run
        row = {"run": r.label, "experiment": r.experiment, "status": r.status, "reason": r.reason,
               "created": r.created, "started": r.started, "ended": r.ended, "workers": r.workers,
               "seed": r.seed, "executor": r.executor, "scheduler": r.scheduler, "spec": r.spec_path,
               "spec_hash": r.spec_hash, "engine": s.engine, "engine_pid": s.liveness.pid}
        row.update({f"n_{state}": n for state, n in s.counts.items()})
        rows.append(row)
    return rows


def variant_records(kb: KB, run_id: int) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """(rows, param columns, metric columns) of a run's variants; rows hold every column."""
    from xxp_tui.kb import notes as kbnotes
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv
    from xxp_tui.kb.queries import metric_dict

    run = kbr.get_run(kb, run_id)
    objectives = _objectives(kbr.spec_record(kb, run_id)[2], run.experiment)
    variants = kbv.for_run(kb, run_id)
    finals = kbv.final_metrics(kb, [v.id for v in variants])
    notes: dict[str, list[str]] = {}  # what humans wrote about a variant (`xxp-tui note`, the viewer's n)
    for n in kbnotes.for_run(kb, run_id):
        if n.variant_id is not None:
            notes.setdefault(n.target, []).append(f"{n.author}: {n.text}")
    params = list(dict.fromkeys(k for v in variants for k in v.params))
    metric_of = {v.id: metric_dict(finals[v.id]) for v in variants}
    metrics = list(dict.fromkeys(k for v in variants for k in metric_of[v.id]))
    clash = set(params) & set(metrics)
    rows = []
    for v in variants:
        row: dict[str, Any] = {
            "variant": v.label, "run": f"r{v.run_id}", "space": v.space, "round": v.iteration, "status": v.status,
            "origin": v.origin, "priority": v.priority, "seed": v.seed, "trial": v.trial, "objective": v.objective,
            "pareto": False, "created": v.created, "started": v.started, "ended": v.ended,
            "duration": None if v.started is None or v.ended is None else v.ended - v.started,
            "reason": v.reason, "notes": "; ".join(notes.get(v.label, [])) or None,
        }
        row.update({p: v.params.get(p) for p in params})
        row.update({(f"metric:{m}" if m in clash else m): metric_of[v.id].get(m) for m in metrics})
        row["_objectives"] = _objective_values(objectives.get(v.space, ()), finals[v.id]) \
            if v.status == "completed" else None
        rows.append(row)
    _mark_pareto(rows, objectives)
    for row in rows:
        del row["_objectives"]
    return rows, params, [f"metric:{m}" if m in clash else m for m in metrics]


def metric_records(kb: KB, variant_id: int) -> list[dict[str, Any]]:
    from xxp_tui.kb import variants as kbv

    v = kbv.get(kb, variant_id)
    return [{"variant": v.label, "task": m.task, "name": m.name, "step": m.step, "value": m.value,
             "text": m.text, "time": m.time} for m in kbv.metrics(kb, variant_id)]


def task_records(kb: KB, run_id: int) -> list[dict[str, Any]]:
    from xxp_tui.kb import variants as kbv

    return [{"task_run": t.id, "variant": f"v{t.variant_id}", "task": t.task, "attempt": t.attempt,
             "status": t.status, "reason": t.reason, "exit_code": t.exit_code, "signal": t.signal,
             "started": t.started, "ended": t.ended,
             "duration": None if t.started is None or t.ended is None else t.ended - t.started,
             "cache_hit": t.cache_hit, "host": t.host, "pid": t.pid, "cwd": t.cwd, "stdout": t.stdout_path,
             "stderr": t.stderr_path, "code_hash": t.code_hash, "cache_key": t.cache_key}
            for t in kbv.task_runs_for_run(kb, run_id)]


def _objectives(model: dict, experiment: str) -> dict[str, list[tuple[str, str, str | None]]]:
    """space -> [(direction, metric, task or None)] from a run's recorded model."""
    out = {}
    for name, sp in model.get("experiments", {}).get(experiment, {}).get("spaces", {}).items():
        terms = []
        for text in sp.get("objectives") or []:
            direction, _, label = text.partition(" ")
            task, _, metric = label.rpartition(".")
            terms.append(("minimize" if direction.startswith("minimi") else "maximize", metric, task or None))
        out[name] = terms
    return out


def _objective_values(terms, finals: dict) -> tuple[float, ...] | None:
    """The variant's objective values, each as "bigger is better", or None if one is missing."""
    values = []
    for direction, metric, task in terms:
        found = [x for (t, name), x in finals.items() if name == metric and (task is None or t == task)]
        x = found[-1] if found else None
        if not isinstance(x, int | float) or isinstance(x, bool) or not math.isfinite(x):
            return None
        values.append(float(x) if direction == "maximize" else -float(x))
    return tuple(values) or None


def _mark_pareto(rows: list[dict], objectives: dict) -> None:
    """`pareto` is True for the completed variants no other variant of the same space dominates
    (with one objective: those with the best value). Warm-start copies count as the space's trials."""
    by_space: dict[str, list[dict]] = {}
    for row in rows:
        if row["_objectives"] is not None:
            by_space.setdefault(row["space"], []).append(row)
    for members in by_space.values():
        for row in members:
            mine = row["_objectives"]
            row["pareto"] = not any(
                other is not row and all(a >= b for a, b in zip(other["_objectives"], mine, strict=True))
                and any(a > b for a, b in zip(other["_objectives"], mine, strict=True))
                for other in members)


# ----------------------------------------------------------------------------- DataFrames


def _frame(rows: list[dict], dtypes: dict[str, str], columns: list[str] | None = None) -> pd.DataFrame:
    pd = _pandas()
    df = pd.DataFrame(rows, columns=columns if columns is not None else list(dtypes))
    for col, dtype in dtypes.items():
        if col not in df.columns:
            continue
        if dtype == "datetime":
            df[col] = pd.to_datetime(df[col].astype("Float64"), unit="s", utc=True)
        else:
            df[col] = df[col].astype(dtype)
    return df


def _value_dtype(values: list) -> str | None:
    """A nullable dtype for a param or metric column: Int64, Float64, boolean, string, or None
    (mixed: left as objects)."""
    present = [x for x in values if x is not None]
    if not present:
        return "Float64"
    if all(isinstance(x, bool) for x in present):
        return "boolean"
    if all(isinstance(x, int) and not isinstance(x, bool) for x in present):
        return "Int64"
    if all(isinstance(x, int | float) and not isinstance(x, bool) for x in present):
        return "Float64"
    if all(isinstance(x, str) for x in present):
        return "string"
    return None


def runs(db: PathLike | None = None) -> pd.DataFrame:
    """One row per run: experiment, status, timings, executor, engine (alive/exited/dead and its
    pid) and the number of variants per state (`n_completed`, `n_failed`…)."""
    with _open(db) as kb:
        rows = run_records(kb)
    dtypes = {"run": "string", "experiment": "string", "status": "string", "reason": "string",
              "created": "datetime", "started": "datetime", "ended": "datetime", "workers": "Int64",
              "seed": "Int64", "executor": "string", "scheduler": "string", "spec": "string",
              "spec_hash": "string", "engine": "string", "engine_pid": "Int64"}
    from xxp_tui.kb.variants import VARIANT_STATES

    dtypes.update({f"n_{state}": "Int64" for state in VARIANT_STATES})
    return _frame(rows, dtypes)


def variants(run: str | int = "latest", db: PathLike | None = None) -> pd.DataFrame:
    """One row per variant of a run: the columns of `VARIANT_COLUMNS` (status, origin, space, seed,
    timings as UTC datetimes, the first objective, `pareto`, the reason and human notes), then one
    column per `Task.param`, then one per final metric (named `Task.metric` where two tasks report
    the same name). Values keep their type: Int64, Float64, boolean or string columns, nullable."""
    with _open(db) as kb:
        return variants_frame(*variant_records(kb, _run_id(kb, run)))


def variants_frame(rows: list[dict], params: list[str], metrics: list[str]) -> pd.DataFrame:
    """The DataFrame of `variant_records`' output (also what `export --format parquet` writes)."""
    dtypes = dict(VARIANT_COLUMNS)
    for col in (*params, *metrics):
        dtype = _value_dtype([r.get(col) for r in rows])
        if dtype is not None:
            dtypes[col] = dtype
    return _frame(rows, dtypes, [*VARIANT_COLUMNS, *params, *metrics])


def metrics(variant: str | int, db: PathLike | None = None) -> pd.DataFrame:
    """Every metric point a variant's tasks reported, in order: task, name, step (missing for a
    single value), value (or text for a non-numeric one) and time. A series' learning curve is
    `df[df.name == "loss"].set_index("step").value`."""
    from xxp_tui.kb import KBError
    from xxp_tui.kb import variants as kbv

    vid = kbv.parse_variant_ref(str(variant))
    if vid is None:
        raise ResultsError(f"{variant!r} is not a variant (write v12 or 12)")
    with _open(db) as kb:
        try:
            rows = metric_records(kb, vid)
        except KBError as exc:
            raise ResultsError(str(exc)) from None
    return _frame(rows, {"variant": "string", "task": "string", "name": "string", "step": "Int64",
                         "value": "Float64", "text": "string", "time": "datetime"})


def tasks(run: str | int = "latest", db: PathLike | None = None) -> pd.DataFrame:
    """One row per task execution (attempt) of a run: variant, task, status, exit code or signal,
    timings, whether the cache answered, host and pid, working folder and log paths."""
    with _open(db) as kb:
        rows = task_records(kb, _run_id(kb, run))
    return _frame(rows, {"task_run": "Int64", "variant": "string", "task": "string", "attempt": "Int64",
                         "status": "string", "reason": "string", "exit_code": "Int64", "signal": "Int64",
                         "started": "datetime", "ended": "datetime", "duration": "Float64",
                         "cache_hit": "boolean", "host": "string", "pid": "Int64", "cwd": "string",
                         "stdout": "string", "stderr": "string", "code_hash": "string", "cache_key": "string"})
