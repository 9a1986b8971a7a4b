"""The experiment card of a run (`xxp-tui card RUN`): what a colleague, or you in six months, needs
to know about it on one page, after ExtremeXP's Experiment Cards. Built from the KB alone, so it
works for any run, finished or not, local or merged from another KB.

Sections: intent; spec versions; what was searched; best results (the Pareto front when a space has
several objectives); human actions and notes; cost (wall time per space and task, and whatever
resource accounting the KB holds); environment; what was reused from earlier knowledge (cache hits,
warm-start and transfer trials) and what this run adds (its own trials; a new best or not).
"""

from __future__ import annotations

import time
from typing import Any

from xxp_tui.kb import KB
from xxp_tui.kb import commands as kbc
from xxp_tui.kb import knowledge as kbknow
from xxp_tui.kb import notes as kbn
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import spec_versions as kbsv
from xxp_tui.kb import variants as kbv
from xxp_tui.kb.queries import metric_dict

COPIED = ("warm_start",)  # variants that are earlier results, not trials of this run


def _when(ts: float | None) -> str | None:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else None


def objective_values(metrics: dict[str, Any], labels: list[str]) -> list[float] | None:
    """The values of objectives labelled `metric` or `Task.metric` among a variant's final metrics."""
    out = []
    for label in labels:
        value = metrics.get(label)
        if value is None and "." in label:
            value = metrics.get(label.split(".", 1)[1])
        if value is None:
            value = next((v for k, v in metrics.items() if k.endswith(f".{label}")), None)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        out.append(float(value))
    return out


def pareto_front(points: list[tuple[int, list[float]]], directions: list[str]) -> list[int]:
    """Ids of the points no other point dominates (at least as good everywhere, better somewhere)."""
    signs = [1.0 if d == "maximize" else -1.0 for d in directions]

    def better_or_equal(a, b):
        return all(s * x >= s * y for s, x, y in zip(signs, a, b, strict=True))

    front = []
    for pid, values in points:
        dominated = any(better_or_equal(other, values) and other != values for _, other in points)
        if not dominated:
            front.append(pid)
    return front


def _objectives(space: dict) -> tuple[list[str], list[str]]:
    labels, directions = [], []
    for text in space.get("objectives") or []:
        direction, _, label = text.partition(" ")
        directions.append("minimize" if direction.startswith("minimi") else "maximize")
        labels.append(label)
    return labels, directions


def _best(space_model: dict, variants: list[kbv.Variant], finals: dict[int, dict]) -> dict:
    labels, directions = _objectives(space_model)
    if not labels:
        return {"objectives": [], "best": []}
    points = []
    for v in variants:
        if v.status == "completed" and v.origin not in COPIED:
            values = objective_values(finals[v.id], labels)
            if values is not None:
                points.append((v, values))
    by_id = {v.id: (v, vals) for v, vals in points}

    def row(vid: int) -> dict:
        v, vals = by_id[vid]
        return {"variant": v.label, "values": dict(zip(labels, vals, strict=True)), "params": v.params,
                "origin": v.origin}

    objectives = [f"{d} {label}" for d, label in zip(directions, labels, strict=True)]
    if len(labels) == 1:
        sign = 1.0 if directions[0] == "maximize" else -1.0
        ranked = sorted(points, key=lambda p: -sign * p[1][0])[:3]
        return {"objectives": objectives, "best": [row(v.id) for v, _ in ranked]}
    front = pareto_front([(v.id, vals) for v, vals in points], directions)
    return {"objectives": objectives, "pareto_front": [row(vid) for vid in front]}


def build_card(kb: KB, run_id: int) -> dict:
    run = kbr.get_run(kb, run_id)
    _, _, model = kbr.spec_record(kb, run_id)
    exp = model.get("experiments", {}).get(run.experiment, {})
    variants = kbv.for_run(kb, run_id)
    finals = {vid: metric_dict(m) for vid, m in kbv.final_metrics(kb, [v.id for v in variants]).items()}
    searched, best = {}, {}
    for name, space in exp.get("spaces", {}).items():
        mine = [v for v in variants if v.space == name]
        by_status: dict[str, int] = {}
        by_origin: dict[str, int] = {}
        for v in mine:
            by_status[v.status] = by_status.get(v.status, 0) + 1
            by_origin[v.origin] = by_origin.get(v.origin, 0) + 1
        searched[name] = {"workflow": space.get("workflow"), "strategy": space.get("strategy"),
                          "param_values": space.get("param_values", {}), "budget": space.get("runs"),
                          "variants": by_status, "origins": by_origin}
        best[name] = _best(space, mine, finals)
    human = [{"at": _when(e.time), "who": e.actor, "what": e.kind, "target": e.target,
              "detail": e.detail.get("outcome") or e.detail.get("text")}
             for e in kbc.events(kb, run_id, limit=100_000) if e.actor != "engine" and e.kind != "note"]
    notes = [n.to_json() | {"time": _when(n.time)} for n in kbn.for_run(kb, run_id)]
    costs = kbknow.task_costs(kb, run_id)
    per_space: dict[str, float] = {}
    for c in costs:
        per_space[c["space"]] = per_space.get(c["space"], 0.0) + (c["wall"] or 0.0)
    env = kbr.get_environment(kb, run_id) or {}
    hits, saved, hit_runs = kbknow.cache_savings(kb, run_id)
    warm = [v.id for v in variants if v.origin == "warm_start"]
    transferred = [v.id for v in variants if v.origin == "transfer"]
    ran_here = [v for v in variants if v.origin not in COPIED and v.finished and v.origin != "node"]
    return {
        "run": {"id": run.label, "experiment": run.experiment, "status": run.status, "reason": run.reason,
                "spec": run.spec_path, "created": _when(run.created), "started": _when(run.started),
                "ended": _when(run.ended), "seed": run.seed, "merged_from": kbr.provenance(kb, run_id)},
        "intent": exp.get("intent"),
        "spec_versions": [{"version": v.version, "hash": v.hash or "", "since": _when(v.created), "by": v.issuer,
                           "changes": v.summary} for v in kbsv.for_run(kb, run_id)],
        "searched": searched,
        "best": best,
        "human_actions": human,
        "notes": notes,
        "cost": {
            "wall_seconds": (run.ended or time.time()) - run.started if run.started else None,
            "per_space_seconds": {k: round(v, 3) for k, v in per_space.items()},
            "per_task": [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in c.items()} for c in costs],
            "resources": [c for c in kbknow.RESOURCE_COLUMNS if any(c in row for row in costs)],
        },
        "environment": {k: env.get(k) for k in ("python", "platform", "host", "user", "xxp_version",
                                                 "packages_hash", "git_commit", "git_dirty")},
        "reused": {
            "cache_hits": hits, "cache_seconds_saved": round(saved, 3),
            "cache_from_runs": [f"r{r}" for r in hit_runs],
            "warm_start_trials": len(warm),
            "warm_start_from_runs": [f"r{r}" for r in kbknow.source_runs(kb, warm)],
            "transfer_trials": len(transferred),
            "transfer_from_runs": [f"r{r}" for r in kbknow.source_runs(kb, transferred)],
            "transfer_log": [e.detail.get("text") for e in kbc.events(kb, run_id, limit=100_000)
                             if e.kind == "transfer"],
        },
        "adds": _adds(kb, run_id, exp, best, ran_here),
    }


def _adds(kb: KB, run_id: int, exp: dict, best: dict, ran_here: list[kbv.Variant]) -> dict:
    """This run's own trials, and per single-objective space whether it beats every earlier run of
    the same workflow and objective in this KB."""
    completed = sum(1 for v in ran_here if v.status == "completed")
    records = []
    for name, space in exp.get("spaces", {}).items():
        top = best.get(name, {}).get("best") or []
        labels, directions = _objectives(space)
        if len(labels) != 1 or not top:
            continue
        pairs = []
        for rid, experiment, model, _ in kbknow.run_models(kb):
            for other, sp in model.get("experiments", {}).get(experiment, {}).get("spaces", {}).items():
                if sp.get("workflow") == space.get("workflow") and (sp.get("objectives") or [None])[0] == \
                        (space.get("objectives") or [None])[0]:
                    pairs.append((rid, other))
        earlier = kbknow.earlier_objectives(kb, run_id, pairs)
        value = top[0]["values"][labels[0]]
        sign = 1.0 if directions[0] == "maximize" else -1.0
        if not earlier:
            verdict = f"first results for {space.get('workflow')} on {labels[0]}"
        else:
            prior_run, prior = max(earlier, key=lambda p: sign * p[1])
            verdict = (f"new best {labels[0]} for {space.get('workflow')}: {value:.6g} (was {prior:.6g}, r{prior_run})"
                       if sign * value > sign * prior else
                       f"no new best: {value:.6g} against {prior:.6g} of r{prior_run}")
            if kbknow.spec_hash_of(kb, prior_run) != kbknow.spec_hash_of(kb, run_id):
                verdict += " (another spec: the data or settings may differ)"
        records.append({"space": name, "verdict": verdict})
    return {"trials_run": len(ran_here), "completed": completed, "spaces": records}


def markdown(card: dict) -> str:
    run = card["run"]
    out = [f"# Experiment card: {run['id']} {run['experiment']}", ""]
    out.append(f"- status: {run['status']}" + (f" ({run['reason']})" if run["reason"] else ""))
    out.append(f"- spec: {run['spec']}; created {run['created']}, ended {run['ended'] or '-'}; seed {run['seed']}")
    if run["merged_from"]:
        m = run["merged_from"]
        out.append(f"- merged from {m['kb']} (there {m['run']})")
    out += ["", "## Intent", "", card["intent"] or "(no `intent` in the experiment)", "", "## Spec versions", ""]
    for s in card["spec_versions"]:
        out.append(f"- s{s['version']}: {s['hash'][:16]} since {s['since']}" + (f" by {s['by']}" if s["by"] else ""))
        out += [f"  - {line}" for line in s["changes"]]
    out += ["", "## What was searched", ""]
    for name, s in card["searched"].items():
        values = "; ".join(f"{k} = {v}" for k, v in s["param_values"].items()) or "no value lists"
        budget = f", budget {s['budget']}" if s["budget"] else ""
        out.append(f"- {name} of {s['workflow']}: {s['strategy']}{budget}; {values}")
        out.append(f"  variants: {_counts(s['variants'])}; origins: {_counts(s['origins'])}")
    out += ["", "## Best results", ""]
    for name, b in card["best"].items():
        if not b["objectives"]:
            out.append(f"- {name}: no objective")
            continue
        rows = b.get("best") or b.get("pareto_front") or []
        title = "Pareto front" if "pareto_front" in b else "best"
        out.append(f"- {name} ({', '.join(b['objectives'])}), {title}:" + ("" if rows else " none completed"))
        for r in rows:
            values = ", ".join(f"{k}={v:.6g}" for k, v in r["values"].items())
            params = " ".join(f"{k}={v}" for k, v in r["params"].items())
            out.append(f"  - {r['variant']}: {values} ({params})" + (f" [{r['origin']}]" if r["origin"] != "strategy"
                                                                    else ""))
    out += ["", "## Human actions and notes", ""]
    for h in card["human_actions"]:
        out.append(f"- {h['at']} {h['who']}: {h['what']} {h['target'] or ''} {h['detail'] or ''}".rstrip())
    for n in card["notes"]:
        tags = f" [{', '.join(n['tags'])}]" if n["tags"] else ""
        out.append(f"- note on {n['target']} by {n['author']} at {n['time']}{tags}: {n['text']}")
    if not card["human_actions"] and not card["notes"]:
        out.append("none")
    cost = card["cost"]
    out += ["", "## Cost", ""]
    wall = cost["wall_seconds"]
    out.append(f"- wall time of the run: {wall:.1f} s" if wall is not None else "- not started")
    for space, secs in cost["per_space_seconds"].items():
        out.append(f"- {space}: {secs:.1f} task-seconds")
    for t in cost["per_task"]:
        extra = "".join(f", {c} {t[c]}" for c in cost["resources"] if t.get(c) is not None)
        out.append(f"  - {t['space']}/{t['task']}: {t['ran']} ran, {t['cached']} cached, "
                   f"{t['wall'] or 0:.1f} s{extra}")
    if not cost["resources"]:
        out.append("- CPU, memory and GPU accounting: not recorded by this knowledge base")
    env = card["environment"]
    out += ["", "## Environment", ""]
    out += [f"- {k}: {v}" for k, v in env.items() if v is not None]
    r = card["reused"]
    out += ["", "## Reused from earlier knowledge", ""]
    out.append(f"- cache hits: {r['cache_hits']} (saved {r['cache_seconds_saved']:.1f} s"
               + (f"; from {', '.join(r['cache_from_runs'])}" if r["cache_from_runs"] else "") + ")")
    out.append(f"- warm-start trials: {r['warm_start_trials']}"
               + (f" from {', '.join(r['warm_start_from_runs'])}" if r["warm_start_from_runs"] else ""))
    out.append(f"- transfer trials: {r['transfer_trials']}"
               + (f" from {', '.join(r['transfer_from_runs'])}" if r["transfer_from_runs"] else ""))
    out += [f"- {line}" for line in r["transfer_log"] if line]
    a = card["adds"]
    out += ["", "## What this run adds", ""]
    out.append(f"- {a['trials_run']} trial(s) run here, {a['completed']} completed")
    out += [f"- {s['space']}: {s['verdict']}" for s in a["spaces"]]
    return "\n".join(out) + "\n"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"
