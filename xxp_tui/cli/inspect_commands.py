"""`xxp-tui runs`, `variants`, `show` and `export`: reading the knowledge base."""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from pathlib import Path

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_id_of
from xxp_tui.cli.output import fail, fail_usage, print_table


def register(app: typer.Typer) -> None:
    app.command("runs")(runs)
    app.command("variants")(variants)
    app.command("show")(show)
    app.command("export")(export)


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def runs(as_json: bool = typer.Option(False, "--json", help="Print JSON rows."), db: Path = DB_OPTION) -> None:
    """List runs: id, experiment, status, variants per state, started, engine liveness, executor
    (for Dask: the scheduler's address and the live workers)."""
    from xxp_tui.kb.queries import run_summaries

    with kb_session(db, readonly=True) as kb:
        summaries = run_summaries(kb)
    if as_json:
        print(json.dumps([s.to_json() for s in summaries], indent=2))
        return
    if not summaries:
        print("No runs yet.")
        return
    rows = []
    for s in summaries:
        counts = " ".join(f"{n} {st}" for st, n in s.counts.items() if n) or "-"
        rows.append([s.run.label, s.run.experiment, s.run.status, counts, _when(s.run.started or s.run.created),
                     s.engine if s.engine != "dead" else f"dead: xxp-tui resume {s.run.label}", s.executor_label])
    print_table(["run", "experiment", "status", "variants", "started", "engine", "executor"], rows)


def variants(
    run_ref: str = typer.Argument("latest", metavar="RUN", help="r3, 3 or latest."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    status: str = typer.Option(None, "--status", help="Only variants in this state."),
    db: Path = DB_OPTION,
) -> None:
    """List a run's variants with params, metrics, priority, origin and reason."""
    from xxp_tui.kb.queries import variant_rows
    from xxp_tui.kb.variants import VARIANT_STATES

    if status is not None and status not in VARIANT_STATES:
        fail_usage(f"--status must be one of {', '.join(VARIANT_STATES)}.")
    with kb_session(db, readonly=True) as kb:
        rows = variant_rows(kb, run_id_of(kb, run_ref), status=status)
    if as_json:
        keys = ("id", "run", "space", "status", "params", "metrics", "priority", "origin", "off_grid", "reason")
        print(json.dumps([{k: r[k] for k in keys} for r in rows], indent=2))
        return
    if not rows:
        print("No variants.")
        return
    params = list(dict.fromkeys(k for r in rows for k in r["params"]))
    table = []
    for r in rows:
        table.append([r["id"], r["space"], r["status"], str(r["priority"]), _fmt(r["objective"]),
                      *[_fmt(r["params"].get(p)) for p in params],
                      f"{r['origin']} (off grid)" if r["off_grid"] else r["origin"], r["reason"] or ""])
    print_table(["id", "space", "status", "prio", "objective", *params, "origin", "reason"], table)


def show(
    ref: str = typer.Argument(..., metavar="RUN|VARIANT", help="r3 / latest, or v12."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    lineage: bool = typer.Option(False, "--lineage", help="For a variant: where its inputs came from."),
    db: Path = DB_OPTION,
) -> None:
    """Everything recorded about a run or a variant, including task executions and log paths."""
    from xxp_tui.kb import variants as kbv

    with kb_session(db, readonly=True) as kb:
        vid = kbv.parse_variant_ref(ref) if ref.lower().startswith("v") else None
        if vid is not None:
            data = _variant_record(kb, vid, lineage)
        elif ref.lower().startswith("v"):
            fail_usage(f"{ref!r} is neither a run (r3, 3, latest) nor a variant (v12).")
        else:
            data = _run_record(kb, run_id_of(kb, ref))
    if as_json:
        print(json.dumps(data, indent=2, default=str))
        return
    _print_record(data)


def _run_record(kb, run_id: int) -> dict:
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb.queries import run_summary

    s = run_summary(kb, run_id)
    env = kbr.get_environment(kb, run_id) or {}
    env.pop("packages", None)
    env.pop("run_id", None)
    env["recorded"] = _when(env.get("recorded"))
    run = s.to_json()
    for key in ("created", "started", "ended"):
        run[key] = _when(run[key])
    return {
        "run": run,
        "seed": s.run.seed,
        "spec_hash": s.run.spec_hash,
        "settings": s.run.settings,
        "environment": env,
        "nodes": {n: {"kind": st.kind, "status": st.status, "round": st.iteration, "reason": st.reason,
                      "answer": st.result} for n, st in kbr.nodes(kb, run_id).items()},
        "commands": [{"id": c.id, "verb": c.verb, "args": c.args, "by": c.issuer, "status": c.status,
                      "outcome": c.outcome, "at": _when(c.created)} for c in kbc.for_run(kb, run_id)],
        "events": [f"{_when(e.time)} {e.actor}: {e.kind} {e.detail.get('text') or e.detail.get('outcome') or ''}"
                   for e in kbc.events(kb, run_id)[-20:]],
    }


def _variant_record(kb, vid: int, lineage: bool) -> dict:
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv
    from xxp_tui.kb.queries import metric_dict

    v = kbv.get(kb, vid)
    finals = metric_dict(kbv.final_metrics(kb, [vid])[vid])
    series: dict[str, int] = {}
    for m in kbv.metrics(kb, vid):
        if m.step is not None:
            series[m.name] = series.get(m.name, 0) + 1
    record = {
        "variant": {"id": v.label, "run": f"r{v.run_id}", "space": v.space, "round": v.iteration,
                    "status": v.status, "reason": v.reason, "origin": v.origin, "priority": v.priority,
                    "seed": v.seed, "trial": v.trial, "objective": v.objective, "created": _when(v.created),
                    "started": _when(v.started), "ended": _when(v.ended),
                    "duration": None if v.duration is None else round(v.duration, 3)},
        "params": v.params,
        "configuration": v.config,
        "metrics": finals,
        "series": series,
        "tasks": [{"task": t.task, "attempt": t.attempt, "status": t.status, "reason": t.reason,
                   "exit_code": t.exit_code, "signal": t.signal, "duration": None if t.duration is None
                   else round(t.duration, 3), "cache_hit": t.cache_hit, "argv": t.argv, "cwd": t.cwd,
                   "stdout": t.stdout_path, "stderr": t.stderr_path, "code_hash": t.code_hash,
                   "inputs_hash": t.inputs_hash, "cache_key": t.cache_key, "cache_source": t.cache_source}
                  for t in kbv.task_runs(kb, vid)],
        "artifacts": [{"task": a["task"], "port": a["port"], "path": a["path"], "sha256": a["sha256"],
                       "size": a["size"]} for a in kbv.artifacts(kb, vid)],
        "events": [f"{_when(e.time)} {e.actor}: {e.kind} {e.detail.get('outcome') or e.detail.get('text') or ''}"
                   for e in kbc.events(kb, v.run_id, target=v.label)],
    }
    if lineage:
        run = kbr.get_run(kb, v.run_id)
        record["lineage"] = {"run": f"r{v.run_id}", "spec": run.spec_path, "spec_hash": run.spec_hash,
                             "space": v.space, "origin": v.origin, "source_variant": v.source_variant,
                             "inputs": _inputs_lineage(kb, vid)}
    return record


def _inputs_lineage(kb, vid: int) -> list[dict]:
    """Each task's inputs with the task (and variant) that produced them."""
    from xxp_tui.kb import variants as kbv

    out = []
    for t in kbv.task_runs(kb, vid):
        if t.cwd is None:
            continue
        try:
            inputs = json.loads((Path(t.cwd) / "params.json").read_text()).get("inputs", {})
        except (OSError, ValueError):
            continue
        for port, path in inputs.items():
            art = kbv.artifact_by_path(kb, path)
            producer = f"v{art['variant_id']} {art['task']}.{art['port']}" if art else "external data"
            out.append({"task": t.task, "input": port, "path": path, "produced_by": producer})
    return out


def _print_record(data: dict, indent: int = 0) -> None:
    pad = "  " * indent
    for key, value in data.items():
        if isinstance(value, dict):
            if not value:
                print(f"{pad}{key}: -")
                continue
            print(f"{pad}{key}:")
            _print_record(value, indent + 1)
        elif isinstance(value, list):
            print(f"{pad}{key}:" + (" -" if not value else ""))
            for item in value:
                if isinstance(item, dict):
                    first = True
                    for k, v in item.items():
                        lead = "- " if first else "  "
                        print(f"{pad}  {lead}{k}: {_fmt(v) if not isinstance(v, list) else ' '.join(map(str, v))}")
                        first = False
                else:
                    print(f"{pad}  - {item}")
        else:
            print(f"{pad}{key}: {_fmt(value)}")


def export(
    run_ref: str = typer.Argument("latest", metavar="RUN", help="r3, 3 or latest."),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, json or optuna."),
    out: Path = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    db: Path = DB_OPTION,
) -> None:
    """Export a run's variants (params and final metrics) as CSV or JSON, or as an Optuna study."""
    from xxp_tui.kb.queries import variant_rows

    if fmt not in ("csv", "json", "optuna"):
        fail_usage("--format must be csv, json or optuna.")
    if fmt == "optuna" and out is None:
        fail_usage("--format optuna writes an SQLite study; give --out study.db.")
    with kb_session(db, readonly=True) as kb:
        run_id = run_id_of(kb, run_ref)
        rows = variant_rows(kb, run_id)
        if fmt == "optuna":
            from xxp_tui.engine.studies import StudyError, export_optuna

            try:
                studies = export_optuna(kb, run_id, out)
            except StudyError as exc:
                fail(str(exc))
            print(f"wrote {len(studies)} study(ies) to {out}: {', '.join(studies)}")
            print(f"open it with: optuna-dashboard sqlite:///{out}")
            return
    if fmt == "json":
        text = json.dumps(rows, indent=2, default=str)
    else:
        params = list(dict.fromkeys(k for r in rows for k in r["params"]))
        metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "space", "status", "origin", "priority", "seed", "duration", "reason",
                         *params, *metrics])
        for r in rows:
            writer.writerow([r["id"], r["space"], r["status"], r["origin"], r["priority"], r["seed"],
                             r["duration"], r["reason"], *[r["params"].get(p) for p in params],
                             *[r["metrics"].get(m) for m in metrics]])
        text = buf.getvalue()
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.write_text(text)
        print(f"wrote {len(rows)} variant(s) to {out}")
