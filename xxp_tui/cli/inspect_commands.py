"""`xxp-tui runs`, `variants`, `show` and `export`: reading the knowledge base."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_argument, run_id_of
from xxp_tui.cli.completion import choices, complete_run_or_variant
from xxp_tui.cli.output import fail, fail_usage, print_table, say


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
                     _engine_label(s), s.executor_label, s.cost_label])
    print_table(["run", "experiment", "status", "variants", "started", "engine", "executor", "cost"], rows)


def _engine_label(s) -> str:
    """`alive (pid 4242)`; a dead engine says how to resume."""
    pid = f" (pid {s.liveness.pid})" if s.liveness.pid is not None and s.engine != "not started" else ""
    if s.engine == "dead":
        return f"dead{pid}: xxp-tui resume {s.run.label}"
    return f"{s.engine}{pid}"


def variants(
    run_ref: str = run_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    status: str = typer.Option(None, "--status", help="Only variants in this state.",
                               autocompletion=choices("queued", "running", "suspended", "completed", "failed", "pruned",
                                                      "cancelled", "waiting_input")),
    db: Path = DB_OPTION,
) -> None:
    """List a run's variants with params, metrics, priority, origin and reason."""
    from xxp_tui.kb.queries import variant_rows
    from xxp_tui.kb.variants import VARIANT_STATES

    if status is not None and status not in VARIANT_STATES:
        fail_usage(f"--status must be one of {', '.join(VARIANT_STATES)}.")
    from xxp_tui.kb import notes as kbn

    with kb_session(db, readonly=True) as kb:
        rows = variant_rows(kb, run_id_of(kb, run_ref), status=status)
        notes = kbn.for_variants(kb, [int(r["id"][1:]) for r in rows]) if as_json else {}
    if as_json:
        keys = ("id", "run", "space", "status", "params", "metrics", "objective", "pareto", "priority", "origin",
                "off_grid", "stalled", "reason")
        print(json.dumps([{**{k: r[k] for k in keys}, "notes": [n.to_json() for n in notes[int(r["id"][1:])]]}
                          for r in rows], indent=2))
        return
    if not rows:
        print("No variants.")
        return
    params = list(dict.fromkeys(k for r in rows for k in r["params"]))
    table = []
    for r in rows:
        table.append([r["id"], r["space"], r["status"], str(r["priority"]), _objective_text(r),
                      *[_fmt(r["params"].get(p)) for p in params],
                      f"{r['origin']} (off grid)" if r["off_grid"] else r["origin"], r["reason"] or ""])
    print_table(["id", "space", "status", "prio", "objective", *params, "origin", "reason"], table)


def _objective_text(row: dict) -> str:
    """The objective values, `/`-separated for several, `*` marking a variant on the Pareto front."""
    values = row["objective"] or []
    if not any(x is not None for x in values):
        return "-"
    return "/".join(_fmt(x) for x in values) + (" *" if row.get("pareto") else "")


def show(
    ref: str = typer.Argument(..., metavar="RUN|VARIANT", help="r3 / latest, or v12.",
                              autocompletion=complete_run_or_variant),
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
    versions = data.pop("spec_versions", None)
    _print_record(_readable_cost(data))
    if versions:
        _print_versions(versions)


def _print_versions(versions: list[dict]) -> None:
    """Each spec version of a run with who made it, what it changed and its diff, indented."""
    say("spec versions:")
    for v in versions:
        say(f"  - {v['version']} {v['at']} by {v['by'] or 'the run'} (hash {(v['hash'] or '-')[:12]})")
        for line in v["changes"]:
            say(f"      {line}")
        for line in v["diff"].splitlines():
            say(f"      {line}")


def _readable_cost(data: dict) -> dict:
    """For the text form of `show`: the cost as CPU-hours and GPU-hours lines."""
    from xxp_tui.kb.cost import Cost, CostSummary
    from xxp_tui.kb.queries import cost_label

    def summary(c: dict) -> CostSummary:
        keep = ("tasks", "wall_seconds", "cpu_seconds", "gpu_seconds", "peak_rss_bytes")
        return CostSummary(Cost(**{k: c["spent"][k] for k in keep}), Cost(**{k: c["saved"][k] for k in keep}))

    if "cost" in data:
        cost = data["cost"]
        data = {**data, "cost": {"run": cost_label(summary(cost["run"])),
                                 **{f"space {k}": cost_label(summary(v)) for k, v in cost["spaces"].items()}}}
    return data


def _run_record(kb, run_id: int) -> dict:
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import cost as kbcost
    from xxp_tui.kb import notes as kbn
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import spec_versions as kbsv
    from xxp_tui.kb.queries import run_summary

    s = run_summary(kb, run_id)
    provenance = kbr.provenance(kb, run_id)
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
        **_fronts(kb, run_id),
        "commands": [{"id": c.id, "verb": c.verb, "args": c.args, "by": c.issuer, "status": c.status,
                      "outcome": c.outcome, "at": _when(c.created)} for c in kbc.for_run(kb, run_id)],
        "events": [f"{_when(e.time)} {e.actor}: {e.kind} {e.detail.get('text') or e.detail.get('outcome') or ''}"
                   for e in kbc.events(kb, run_id)[-20:]],
        "notes": [_note_line(n) for n in kbn.for_run(kb, run_id)],
        "cost": {"run": s.cost.to_json(), "spaces": {k: c.to_json() for k, c in kbcost.by_space(kb, run_id).items()}},
        "gpus": [f"v{vid} {task} (attempt {attempt}): GPU {gpus}" for vid, task, attempt, gpus
                 in reversed(kbcost.task_gpus(kb, run_id))],
        **({"merged_from": provenance} if provenance else {}),
        "spec_versions": [{"version": v.label, "at": _when(v.created), "by": v.issuer, "hash": v.hash,
                           "changes": v.summary, "diff": v.diff} for v in kbsv.for_run(kb, run_id)],
    }


def _fronts(kb, run_id: int) -> dict:
    """`pareto`: per multi-objective space, its objectives and the variants on its front (none: {})."""
    from xxp_tui.kb import objectives as kbo
    from xxp_tui.kb import variants as kbv

    out = {}
    for space, declared in kbo.for_run(kb, run_id).items():
        if len(declared) < 2:
            continue
        done = kbv.for_run(kb, run_id, status="completed", space=space)
        scored = kbo.score(kb, run_id, done, kbv.final_metrics(kb, [v.id for v in done]))
        out[space] = {"objectives": [f"{o.direction} {o.label}" for o in declared],
                      "front": {v.label: scored[v.id].objective for v in done if scored[v.id].pareto}}
    return {"pareto": out} if out else {}


def _note_line(n) -> str:
    tags = f" [{', '.join(n.tags)}]" if n.tags else ""
    return f"{_when(n.time)} {n.author} on {n.target}{tags}: {n.text}"


def _variant_record(kb, vid: int, lineage: bool) -> dict:
    from xxp_tui.kb import commands as kbc
    from xxp_tui.kb import notes as kbn
    from xxp_tui.kb import objectives as kbo
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv
    from xxp_tui.kb.queries import metric_dict

    v = kbv.get(kb, vid)
    raw = kbv.final_metrics(kb, [vid])
    finals = metric_dict(raw[vid])
    scored = kbo.score(kb, v.run_id, [v], raw)[vid]
    declared = kbo.for_run(kb, v.run_id).get(v.space, [])
    series: dict[str, int] = {}
    for m in kbv.metrics(kb, vid):
        if m.step is not None:
            series[m.name] = series.get(m.name, 0) + 1
    record = {
        "variant": {"id": v.label, "run": f"r{v.run_id}", "space": v.space, "round": v.iteration,
                    "status": v.status, "reason": v.reason, "origin": v.origin, "priority": v.priority,
                    "spec_version": f"s{v.spec_version}",
                    "seed": v.seed, "trial": v.trial, "objectives": [f"{o.direction} {o.label}" for o in declared],
                    "objective": scored.objective, "pareto": scored.pareto, "created": _when(v.created),
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
                   "inputs_hash": t.inputs_hash, "cache_key": t.cache_key, "cache_source": t.cache_source,
                   "env_hash": t.env_hash, "gpus": t.gpus, "wall_seconds": t.wall_seconds,
                   "cpu_seconds": t.cpu_seconds, "gpu_seconds": t.gpu_seconds, "peak_rss_bytes": t.peak_rss_bytes,
                   "stalled": t.stalled is not None}
                  for t in kbv.task_runs(kb, vid)],
        "artifacts": [{"task": a["task"], "port": a["port"], "path": a["path"], "sha256": a["sha256"],
                       "size": a["size"]} for a in kbv.artifacts(kb, vid)],
        "events": [f"{_when(e.time)} {e.actor}: {e.kind} {e.detail.get('outcome') or e.detail.get('text') or ''}"
                   for e in kbc.events(kb, v.run_id, target=v.label) if e.kind != "note"],
        "notes": [_note_line(n) for n in kbn.for_target(kb, v.run_id, vid)],
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
                say(f"{pad}{key}: -")
                continue
            say(f"{pad}{key}:")
            _print_record(value, indent + 1)
        elif isinstance(value, list):
            say(f"{pad}{key}:" + (" -" if not value else ""))
            for item in value:
                if isinstance(item, dict):
                    first = True
                    for k, v in item.items():
                        lead = "- " if first else "  "
                        say(f"{pad}  {lead}{k}: {_fmt(v) if not isinstance(v, list) else ' '.join(map(str, v))}")
                        first = False
                else:
                    say(f"{pad}  - {item}")
        else:
            say(f"{pad}{key}: {_fmt(value)}")


EXPORT_FORMATS = ("csv", "json", "optuna", "parquet", "mlflow")


def export(
    run_ref: str = run_argument(),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv, json, optuna, parquet or mlflow.",
                            autocompletion=choices(*EXPORT_FORMATS)),
    out: Path = typer.Option(None, "--out", "-o", help="Write here instead of standard output."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", metavar="URI", envvar="MLFLOW_TRACKING_URI",
                                     help="With --format mlflow: the MLflow store (sqlite:///mlflow.db, "
                                          "http://host:5000…)."),
    experiment: str = typer.Option(None, "--experiment", metavar="NAME",
                                   help="With --format mlflow: the MLflow experiment (default: the run's experiment)."),
    as_json: bool = typer.Option(False, "--json", help="With optuna, parquet or mlflow: print what was written as "
                                                       "one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Export a run's variants (params and final metrics) as CSV or JSON, as a Parquet table (with
    pyarrow), as an Optuna study, or to MLflow (one nested MLflow run per variant, with its series and
    logs; exporting again updates, never duplicates)."""
    from xxp_tui.kb.queries import variant_rows

    if fmt not in EXPORT_FORMATS:
        fail_usage(f"--format must be {', '.join(EXPORT_FORMATS[:-1])} or {EXPORT_FORMATS[-1]}.")
    if fmt in ("optuna", "parquet") and out is None:
        fail_usage(f"--format {fmt} writes a file; give --out {'study.db' if fmt == 'optuna' else 'variants.parquet'}.")
    if fmt == "mlflow" and not tracking_uri:
        fail_usage("--format mlflow needs --tracking-uri URI (e.g. sqlite:///mlflow.db) or $MLFLOW_TRACKING_URI.")
    from_command_line = tracking_uri is not None and tracking_uri != os.environ.get("MLFLOW_TRACKING_URI")
    if fmt != "mlflow" and (from_command_line or experiment):
        fail_usage("--tracking-uri and --experiment go with --format mlflow.")
    if fmt == "parquet":
        _require("pandas", "pyarrow", purpose="--format parquet", extra="parquet")
    if fmt == "mlflow":
        _require("mlflow", purpose="--format mlflow", extra="mlflow")
    with kb_session(db, readonly=True) as kb:
        run_id = run_id_of(kb, run_ref)
        if fmt == "mlflow":
            from xxp_tui.mlflow_export import ExportError, export_mlflow

            try:
                report = export_mlflow(kb, run_id, tracking_uri, experiment)
            except ExportError as exc:
                fail(str(exc))
            summary = {"run": f"r{run_id}", "tracking_uri": tracking_uri, "experiment": report.experiment,
                       "parent_run": report.parent, "created": report.created, "updated": report.updated,
                       "unchanged": report.unchanged, "artifacts_skipped": report.artifacts_skipped}
            if as_json:
                print(json.dumps(summary, indent=2))
                return
            print(f"r{run_id} -> MLflow experiment {report.experiment!r} at {tracking_uri} (parent run "
                  f"{report.parent}): {report.created} variant run(s) created, {report.updated} updated, "
                  f"{report.unchanged} unchanged")
            for note in report.artifacts_skipped:
                print(f"log not stored: {note}", file=sys.stderr)
            return
        if fmt == "parquet":
            from xxp_tui.results import variant_records, variants_frame

            rows, params, metrics = variant_records(kb, run_id)
        else:
            rows = variant_rows(kb, run_id)
        if fmt == "optuna":
            from xxp_tui.engine.studies import StudyError, export_optuna

            try:
                studies = export_optuna(kb, run_id, out)
            except StudyError as exc:
                fail(str(exc))
            if as_json:
                print(json.dumps({"run": f"r{run_id}", "out": str(out), "studies": studies}, indent=2))
                return
            print(f"wrote {len(studies)} study(ies) to {out}: {', '.join(studies)}")
            print(f"open it with: optuna-dashboard sqlite:///{out}")
            return
    if fmt == "parquet":
        frame = variants_frame(rows, params, metrics)
        for col in frame.columns:  # a column of mixed values (numbers and text) is stored as text
            if frame[col].dtype == object:
                frame[col] = frame[col].map(lambda x: None if x is None else str(x)).astype("string")
        try:
            frame.to_parquet(out, index=False)
        except OSError as exc:
            fail(f"cannot write {out}: {exc.strerror or exc}")
        if as_json:
            print(json.dumps({"run": f"r{run_id}", "out": str(out), "variants": len(rows)}, indent=2))
        else:
            print(f"wrote {len(rows)} variant(s) to {out}")
        return
    if fmt == "json":
        text = json.dumps(rows, indent=2, default=str)
    else:
        params = list(dict.fromkeys(k for r in rows for k in r["params"]))
        metrics = list(dict.fromkeys(k for r in rows for k in r["metrics"]))
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "space", "status", "origin", "priority", "seed", "duration", "reason", "objective",
                         "pareto", *params, *metrics])
        for r in rows:
            # One cell for the list (JSON, declared order, null where not reported), as `variants --json`.
            pareto = "" if r["pareto"] is None else str(r["pareto"]).lower()
            writer.writerow([r["id"], r["space"], r["status"], r["origin"], r["priority"], r["seed"],
                             r["duration"], r["reason"], json.dumps(r["objective"]), pareto,
                             *[r["params"].get(p) for p in params], *[r["metrics"].get(m) for m in metrics]])
        text = buf.getvalue()
    if out is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        out.write_text(text)
        print(f"wrote {len(rows)} variant(s) to {out}")


def _require(*modules: str, purpose: str, extra: str) -> None:
    """Refuse up front, in one sentence naming the extra, when an optional package is missing."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        fail_usage(f"{purpose} needs {' and '.join(missing)}: pip install 'xxp-tui[{extra}]'.")
