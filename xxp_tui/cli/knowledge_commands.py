"""Knowledge that outlives a run: `rerun` (does a result repeat?), `cache ls|gc`, and `kb best|compare|
importance` (what earlier experiments teach the next one)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_argument, run_id_of, variant_argument
from xxp_tui.cli.completion import complete_importance_target, complete_workflow
from xxp_tui.cli.output import fail, fail_usage, print_table

cache_app = typer.Typer(help="The task cache: list its entries, evict broken or all ones.", no_args_is_help=True)
kb_app = typer.Typer(help="Query the knowledge base across runs: best configurations, comparisons, "
                          "parameter importance, search; merge another knowledge base.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("rerun")(rerun)
    app.add_typer(cache_app, name="cache")
    app.add_typer(kb_app, name="kb")


def _variant_id(kb, ref: str) -> int:
    from xxp_tui.kb import variants as kbv

    vid = kbv.parse_variant_ref(ref)
    if vid is None or kbv.find(kb, vid) is None:
        fail_usage(f"{ref!r} is not a variant of {kb.path} (write v12).")
    return vid


# ----------------------------------------------------------------------------- rerun


def compare_metrics(before: dict[str, object], after: dict[str, object], tolerance: float) -> list[dict]:
    """Per metric: `exact`, `within tolerance` (relative), `different`, or only on one side."""
    out = []
    for name in sorted(set(before) | set(after)):
        a, b = before.get(name), after.get(name)
        if name not in after:
            verdict = "missing in the rerun"
        elif name not in before:
            verdict = "new in the rerun"
        elif a == b:
            verdict = "exact"
        elif (isinstance(a, int | float) and isinstance(b, int | float) and math.isfinite(a) and math.isfinite(b)
              and abs(a - b) <= tolerance * max(1.0, abs(a))):
            verdict = "within tolerance"
        else:
            verdict = "different"
        out.append({"metric": name, "original": a, "rerun": b, "verdict": verdict})
    return out


def what_changed(kb, source_id: int, rerun_id: int) -> list[str]:
    """Sentences for each difference of code, spec or environment between two variants' runs."""
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import spec_versions as kbsv
    from xxp_tui.kb import variants as kbv

    notes = []
    src, new = kbv.get(kb, source_id), kbv.get(kb, rerun_id)

    def code(vid: int) -> dict[str, str | None]:
        return {t.task: t.code_hash for t in kbv.task_runs(kb, vid) if t.status in ("completed", "cached")}

    old_code, new_code = code(src.id), code(new.id)
    for task in sorted(set(old_code) & set(new_code)):
        if old_code[task] and new_code[task] and old_code[task] != new_code[task]:
            notes.append(f"the code of task {task} changed (script or dependency files)")
    old_run = kbr.get_run(kb, src.run_id)
    old_spec = kbsv.get(kb, src.run_id, src.spec_version) or kbsv.latest(kb, src.run_id)
    new_spec = kbsv.get(kb, new.run_id, new.spec_version) or kbsv.latest(kb, new.run_id)
    assert old_spec is not None and new_spec is not None  # every run stores the spec it was created with
    if old_spec.hash != new_spec.hash:
        notes.append(f"the spec changed since r{old_run.id} ({old_run.spec_path})")
    old_env, new_env = kbr.get_environment(kb, src.run_id) or {}, kbr.get_environment(kb, new.run_id) or {}
    labels = {"python": "Python", "platform": "platform", "host": "host", "packages_hash": "installed packages",
              "git_commit": "git commit", "git_dirty": "uncommitted changes in git"}
    for key, label in labels.items():
        if old_env.get(key) != new_env.get(key):
            if key == "packages_hash":
                old_p, new_p = json.loads(old_env.get("packages") or "{}"), json.loads(new_env.get("packages") or "{}")
                diff = [f"{n} {old_p.get(n, '-')} -> {new_p.get(n, '-')}" for n in sorted(set(old_p) | set(new_p))
                        if old_p.get(n) != new_p.get(n)]
                notes.append(f"installed packages changed: {', '.join(diff[:8])}" + (" …" if len(diff) > 8 else ""))
            else:
                notes.append(f"{label} changed: {old_env.get(key)} -> {new_env.get(key)}")
    return notes


def rerun(
    variant_ref: str = variant_argument(),
    tolerance: float = typer.Option(1e-6, "--tolerance", help="Relative difference still counted as repeated."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Run a variant again with its recorded params, seed and the current code, in a new run, and
    report per metric whether the result repeats. Exit 0 when every metric repeats, 1 otherwise."""
    from xxp_tui.cli.run_commands import _drive
    from xxp_tui.engine.launch import create_run
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import spec_versions as kbsv
    from xxp_tui.kb import variants as kbv
    from xxp_tui.kb.queries import metric_dict
    from xxp_tui.lang import load_project

    if tolerance < 0:
        fail_usage("--tolerance must be 0 or more.")
    with kb_session(db) as kb:
        vid = _variant_id(kb, variant_ref)
        source = kbv.get(kb, vid)
        run = kbr.get_run(kb, source.run_id)
        version = kbsv.get(kb, run.id, source.spec_version) or kbsv.latest(kb, run.id)
        assert version is not None  # every run stores the spec it was created with
        db_path = kb.path
    if source.origin == "warm_start":
        fail(f"v{vid} was not run here (it came from the knowledge base as a warm start); "
             f"rerun v{source.source_variant} instead.", 2)
    if source.status != "completed":
        fail(f"v{vid} is {source.status}; only a completed variant has results to repeat.", 2)
    # The spec version the variant was sampled under (an amended run has several), read where it was.
    result = load_project(Path(version.path or run.spec_path), text=version.text)
    if not result.ok or result.project is None:
        fail(f"{run.spec_path} (s{version.version}) is not valid any more; fix it (xxp-tui validate) "
             f"to rerun v{vid}.", 2)
    if run.experiment not in result.project.experiments:
        fail(f"{run.spec_path} no longer defines the experiment {run.experiment}.", 2)
    new = create_run(result, run.experiment, db_path, workers=1, seed=run.seed or 0, spec_text=version.text,
                     settings={"rerun_of": vid, "no_cache": True, "max_log_mb": run.settings.get("max_log_mb", 50)})
    if not as_json:
        print(f"rerun of v{vid} as run r{new.run_id}", flush=True)
    code = _drive(db_path, new.run_id, quiet=as_json)
    with kb_session(db_path, readonly=True) as kb:
        (again,) = kbv.for_run(kb, new.run_id)
        finals = kbv.final_metrics(kb, [vid, again.id])
        report = compare_metrics(metric_dict(finals[vid]), metric_dict(finals[again.id]), tolerance)
        changes = what_changed(kb, vid, again.id)
    repeats = again.status == "completed" and all(r["verdict"] in ("exact", "within tolerance") for r in report)
    if as_json:
        print(json.dumps({"variant": f"v{vid}", "rerun": f"v{again.id}", "run": f"r{new.run_id}",
                          "status": again.status, "reason": again.reason, "changed": changes,
                          "metrics": report, "repeats": repeats}, indent=2, default=str))
    else:
        for note in changes:
            print(f"warning: {note}")
        if again.status != "completed":
            print(f"v{again.id} {again.status}: {again.reason}")
        print_table(["metric", f"v{vid}", f"v{again.id}", "verdict"],
                    [[r["metric"], _fmt(r["original"]), _fmt(r["rerun"]), r["verdict"]] for r in report])
        print(f"v{vid} {'repeats' if repeats else 'does not repeat'}"
              + (f" (tolerance {tolerance:g})" if any(r['verdict'] == 'within tolerance' for r in report) else ""))
    raise typer.Exit(0 if repeats and code == 0 else 1)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return "-" if value is None else str(value)


# ----------------------------------------------------------------------------- cache


@cache_app.command("ls")
def cache_ls(as_json: bool = typer.Option(False, "--json", help="Print JSON rows."), db: Path = DB_OPTION) -> None:
    """Cache entries: the task runs whose outputs later executions can reuse."""
    from xxp_tui.kb import cache as kbcache

    with kb_session(db, readonly=True) as kb:
        rows: list[dict[str, Any]] = [
            {"entry": e.task_run, "task": e.task, "run": f"r{e.run_id}", "variant": f"v{e.variant_id}",
             "hits": e.hits, "size": e.size, "key": e.key, "intact": _intact(kb, e)}
            for e in kbcache.entries(kb)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        print("The cache is empty.")
        return
    print_table(["entry", "task", "run", "variant", "hits", "size", "key", "outputs"],
                [[str(r["entry"]), r["task"], r["run"], r["variant"], str(r["hits"]), _size(r["size"]),
                  r["key"][:12], "ok" if r["intact"] else "missing"] for r in rows])
    print(f"{len(rows)} entries, {_size(sum(r['size'] for r in rows))}")


@cache_app.command("gc")
def cache_gc(
    evict_all: bool = typer.Option(False, "--all", help="Evict every entry, not only those whose outputs are gone."),
    delete_outputs: bool = typer.Option(False, "--delete-outputs",
                                        help="Also delete the output files of evicted entries (frees disk)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be evicted; change nothing."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object: evicted entries, bytes freed."),
    db: Path = DB_OPTION,
) -> None:
    """Evict cache entries whose outputs are missing (or every entry with --all). Their history stays
    in the knowledge base; evicted entries are simply never reused."""
    from xxp_tui.kb import cache as kbcache

    with kb_session(db) as kb:
        entries = kbcache.entries(kb)
        chosen = [e for e in entries if evict_all or not _intact(kb, e)]
        freed = 0
        if not dry_run:
            kbcache.evict(kb, [e.task_run for e in chosen])
            if delete_outputs:
                for e in chosen:
                    for path in e.outputs.values():
                        p = Path(path)
                        if p.is_dir():
                            shutil.rmtree(p, ignore_errors=True)
                        elif p.exists():
                            p.unlink()
                    freed += e.size
    if as_json:
        print(json.dumps({"dry_run": dry_run, "entries": len(entries), "evicted": [
            {"entry": e.task_run, "task": e.task, "run": f"r{e.run_id}", "variant": f"v{e.variant_id}",
             "size": e.size} for e in chosen], "deleted_bytes": freed}, indent=2))
        return
    verb = "would evict" if dry_run else "evicted"
    print(f"{verb} {len(chosen)} of {len(entries)} entries" + (f", deleted {_size(freed)}" if freed else ""))


def _intact(kb, entry) -> bool:
    """The engine's own test: every output there, with the sha256 recorded when it was made."""
    from xxp_tui.engine.cache import FileHashes, outputs_intact
    from xxp_tui.kb import cache as kbcache
    from xxp_tui.kb import variants as kbv

    source = kbv.get_task_run(kb, entry.task_run)
    return outputs_intact(entry.outputs, kbcache.output_digests(kb, source), FileHashes())


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ----------------------------------------------------------------------------- kb


@kb_app.command("best")
def kb_best(
    workflow: str = typer.Argument(..., help="A workflow (or workflow variant) name, as spaces name it.",
                                   autocompletion=complete_workflow),
    metric: str = typer.Option(None, "--metric", "-m", help="Rank by this final metric instead of the objective."),
    minimize: bool = typer.Option(None, "--minimize/--maximize", help="Direction (default: the objective's)."),
    top: int = typer.Option(None, "--top", "-n", help="How many to show (default 5; a Pareto front: all of it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    db: Path = DB_OPTION,
) -> None:
    """The best configurations a workflow has reached, across every run in the knowledge base; with
    several objectives (and no --metric), the Pareto front."""
    from xxp_tui.engine.studies import best, pareto_front, workflows_in

    if top is not None and top < 1:
        fail_usage("--top must be 1 or more.")
    with kb_session(db, readonly=True) as kb:
        known = workflows_in(kb)
        if workflow not in known:
            from xxp_tui.lang.diagnostics import did_you_mean

            fail_usage(f"no space ran workflow {workflow}{did_you_mean(workflow, known)} "
                       f"(workflows: {', '.join(known) or 'none yet'}).")
        found = pareto_front(kb, workflow) if metric is None else None
        if found is not None:
            _print_front(workflow, *found, top, as_json)
            return
        rows = best(kb, workflow, metric, minimize, top or 5)
    data: list[dict[str, Any]] = [
        {"variant": b.variant.label, "run": b.run.label, "experiment": b.run.experiment, "space": b.space,
         "metric": b.metric, "value": b.value, "params": b.variant.params, "seed": b.variant.seed}
        for b in rows]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if not data:
        print(f"No completed variant of {workflow} reported {metric or 'an objective'}.")
        return
    print_table(["variant", "run", "space", "metric", "value", "params"],
                [[d["variant"], d["run"], d["space"], d["metric"], _fmt(d["value"]),
                  " ".join(f"{k}={_fmt(v)}" for k, v in d["params"].items())] for d in data])


def _print_front(workflow: str, objectives, members, top: int | None, as_json: bool) -> None:
    labels = [f"{o.direction} {o.label}" for o in objectives]
    members = members[:top] if top else members
    data = [{"variant": m.variant.label, "run": m.run.label, "experiment": m.run.experiment, "space": m.space,
             "metric": [o.label for o in objectives], "value": m.values, "objectives": labels, "pareto": True,
             "params": m.variant.params, "seed": m.variant.seed} for m in members]
    if as_json:
        print(json.dumps(data, indent=2))
        return
    if not data:
        print(f"No completed variant of {workflow} reported every objective ({', '.join(labels)}).")
        return
    print(f"Pareto front of {workflow} ({', '.join(labels)}): {len(data)} variant(s)")
    print_table(["variant", "run", "space", *[o.label for o in objectives], "params"],
                [[d["variant"], d["run"], d["space"], *[_fmt(x) for x in d["value"]],
                  " ".join(f"{k}={_fmt(v)}" for k, v in d["params"].items())] for d in data])


@kb_app.command("compare")
def kb_compare(
    run_a: str = run_argument(default=None),
    run_b: str = run_argument(default=None),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Two runs side by side: per space, variants per state and the best objective; and what
    differs in spec and environment."""
    from xxp_tui.engine.studies import space_info
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb import variants as kbv

    with kb_session(db, readonly=True) as kb:
        ids = [run_id_of(kb, run_a), run_id_of(kb, run_b)]
        runs = [kbr.get_run(kb, i) for i in ids]
        infos = [space_info(kbr.spec_record(kb, r.id)[2], r.experiment) for r in runs]
        spaces = list(dict.fromkeys([*infos[0], *infos[1]]))
        table = []
        for space in spaces:
            row: dict = {"space": space}
            for run, info in zip(runs, infos, strict=True):
                variants = kbv.for_run(kb, run.id, space=space)
                values = [v.objective for v in variants
                          if v.status == "completed" and v.objective is not None and v.origin != "warm_start"]
                direction = info.get(space, {}).get("direction", "maximize")
                best_value = (min(values) if direction == "minimize" else max(values)) if values else None
                counts: dict[str, int] = {}
                for v in variants:
                    counts[v.status] = counts.get(v.status, 0) + 1
                row[run.label] = {"counts": counts, "best": best_value,
                                  "objective": info.get(space, {}).get("objective")}
            table.append(row)
        envs = [kbr.get_environment(kb, r.id) or {} for r in runs]
        from xxp_tui.kb import spec_versions as kbsv

        texts = [kbsv.latest(kb, r.id) for r in runs]  # the version each run ended with
    assert texts[0] is not None and texts[1] is not None  # every run stores the spec it was created with
    spec_diff = kbsv.unified_diff(texts[0].text, texts[1].text, f"{runs[0].label}/s{texts[0].version}",
                                  f"{runs[1].label}/s{texts[1].version}")
    differences = []
    if spec_diff:
        differences.append("spec text differs")
    elif texts[0].hash != texts[1].hash:
        differences.append("spec files imported by the experiment differ (the entry file is the same)")
    for key in ("python", "packages_hash", "git_commit", "git_dirty", "host"):
        if envs[0].get(key) != envs[1].get(key):
            differences.append(f"{key}: {envs[0].get(key)} -> {envs[1].get(key)}")
    if as_json:
        print(json.dumps({"runs": [r.label for r in runs], "spaces": table, "differences": differences,
                          "spec_diff": spec_diff}, indent=2, default=str))
        return
    a, b = runs[0].label, runs[1].label
    print_table(["space", f"{a} variants", f"{a} best", f"{b} variants", f"{b} best"],
                [[row["space"], _counts(row[a]["counts"]), _fmt(row[a]["best"]), _counts(row[b]["counts"]),
                  _fmt(row[b]["best"])] for row in table])
    for d in differences or ["same spec and environment"]:
        print(f"- {d}")
        if d == "spec text differs":
            for line in spec_diff.splitlines():
                print(f"    {line}")


def _counts(counts: dict[str, int]) -> str:
    return " ".join(f"{n} {s}" for s, n in counts.items()) or "-"


@kb_app.command("importance")
def kb_importance(
    target: str = typer.Argument(..., metavar="RUN|SPACE", autocompletion=complete_importance_target,
                                 help="r3 (every space of it), or a space of the latest run, or RUN:SPACE (r3:Tune)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Which parameters mattered for the objective (Optuna's fANOVA importance), per space and, with
    several objectives, per objective (`importance` in JSON holds the first one's)."""
    from xxp_tui.engine.studies import StudyError, importance_by_objective, space_info
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb.connection import KBError

    with kb_session(db, readonly=True) as kb:
        run_ref, _, space = target.partition(":")
        if not space and kbr.parse_run_ref(run_ref) is None and run_ref != "latest":
            run_ref, space = "latest", run_ref
        try:
            run_id = kbr.resolve_run(kb, run_ref)
        except KBError as exc:
            fail_usage(str(exc))
        run = kbr.get_run(kb, run_id)
        spaces = [space] if space else list(space_info(kbr.spec_record(kb, run_id)[2], run.experiment))
        by_objective, problems = {}, []
        for name in spaces:
            try:
                by_objective[name] = importance_by_objective(kb, run_id, name)
            except StudyError as exc:
                problems.append(str(exc))
    result = {name: next(iter(scores.values())) for name, scores in by_objective.items()}
    if as_json:
        print(json.dumps({"run": f"r{run_id}", "importance": result, "by_objective": by_objective,
                          "skipped": problems}, indent=2))
        return
    for name, per_objective in by_objective.items():
        for objective, scores in per_objective.items():
            print(f"r{run_id} {name}" + (f" ({objective})" if len(per_objective) > 1 else "") + ":")
            for param, score in scores.items():
                print(f"  {param:<30} {score:6.3f}  {'#' * round(score * 40)}")
    for p in problems:
        print(f"skipped: {p}")
    if not result:
        raise typer.Exit(1)
