"""Export a run to MLflow, the tracking store most teams already read: one parent MLflow run per xxp
run, one nested MLflow run per variant (params, final metrics, series with their steps, tags, task
logs as artifacts).

Idempotent, so it can be re-run as a run progresses: every MLflow run carries the tag `xxp.uid`
(the xxp run's creation time and spec hash, so a KB copied elsewhere still matches) and is found
again by it; a variant already exported at its current revision is skipped, and metric points
already in the store are not logged twice. MLflow is imported only here (extra `mlflow`).
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from xxp_tui.kb import KB
from xxp_tui.kb import runs as kbr
from xxp_tui.kb import variants as kbv

UID_TAG = "xxp.uid"
REV_TAG = "xxp.rev"
STATUS = {"completed": "FINISHED", "failed": "FAILED", "pruned": "KILLED", "cancelled": "KILLED"}


class ExportError(Exception):
    """The export cannot go on (MLflow missing, store unreachable); one sentence."""


@dataclass
class ExportReport:
    experiment: str
    parent: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    artifacts_skipped: list[str] = field(default_factory=list)


def _client(tracking_uri: str):
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ExportError("--format mlflow needs MLflow: pip install 'xxp-tui[mlflow]'") from None
    for name in ("mlflow", "alembic"):  # their INFO lines (creating tables…) are not ours to print
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return MlflowClient(tracking_uri=tracking_uri)
    except Exception as exc:  # an unknown scheme, a malformed URI: MLflow's own exception types
        raise ExportError(f"cannot use the MLflow store at {tracking_uri}: {_first_line(exc)}") from None


def _artifact_root(tracking_uri: str, experiment: str) -> str | None:
    """For a local `sqlite:///file.db` store, artifacts beside the file (MLflow's default is a
    folder of the current directory); a server decides for itself."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///").split("?")[0])
    if not db.is_absolute():
        db = Path.cwd() / db
    return (db.parent / "mlartifacts" / experiment).as_uri()


def run_uid(run: kbr.Run) -> str:
    return f"{run.created:.6f}-{run.spec_hash[:16]}-r{run.id}"


def export_mlflow(kb: KB, run_id: int, tracking_uri: str, experiment: str | None = None) -> ExportReport:
    client = _client(tracking_uri)
    from mlflow.entities import Metric, Param, RunTag

    run = kbr.get_run(kb, run_id)
    name = experiment or run.experiment
    try:
        exp = client.get_experiment_by_name(name)
        exp_id = exp.experiment_id if exp else client.create_experiment(
            name, artifact_location=_artifact_root(tracking_uri, name))
        uid = run_uid(run)
        existing = {r.data.tags[UID_TAG]: r for r in _search(client, exp_id, uid)}
    except Exception as exc:  # MLflow raises its own and the drivers' errors; all mean "store unusable"
        raise ExportError(f"cannot use the MLflow store at {tracking_uri}: {_first_line(exc)}") from None

    parent = existing.get(uid)
    parent_tags = {UID_TAG: uid, "xxp.run": run.label, "xxp.experiment": run.experiment,
                   "xxp.status": run.status, "xxp.spec_hash": run.spec_hash, "xxp.spec": run.spec_path,
                   "mlflow.runName": f"{run.label} {run.experiment}"}
    if parent is None:
        parent = client.create_run(exp_id, start_time=_ms(run.started or run.created),
                                   tags={k: str(v) for k, v in parent_tags.items()})
        spec_text = kbr.spec_record(kb, run_id)[0]
        if spec_text:
            client.log_text(parent.info.run_id, spec_text, "spec.xxp")
    else:
        client.log_batch(parent.info.run_id, tags=[RunTag(k, str(v)) for k, v in parent_tags.items()])
    report = ExportReport(experiment=name, parent=parent.info.run_id)

    variants = kbv.for_run(kb, run_id)
    finals = kbv.final_metrics(kb, [v.id for v in variants])
    for v in variants:
        vuid = f"{uid}/{v.label}"
        child = existing.get(vuid)
        if child is not None and child.data.tags.get(REV_TAG) == str(v.rev):
            report.unchanged += 1
            continue
        tags = {UID_TAG: vuid, REV_TAG: v.rev, "mlflow.parentRunId": parent.info.run_id, "mlflow.runName": v.label,
                "xxp.run": run.label, "xxp.variant": v.label, "xxp.space": v.space, "xxp.origin": v.origin,
                "xxp.status": v.status, "xxp.seed": v.seed, "xxp.spec_hash": run.spec_hash,
                "xxp.priority": v.priority, "xxp.reason": v.reason or ""}
        if child is None:
            child = client.create_run(exp_id, start_time=_ms(v.started or v.created),
                                      tags={k: str(x) for k, x in tags.items()})
            report.created += 1
            logged_params: dict[str, str] = {}
        else:
            report.updated += 1
            logged_params = dict(child.data.params)
        cid = child.info.run_id
        params = [Param(_key(k), _param_text(x)) for k, x in v.params.items() if _key(k) not in logged_params]
        points = _metric_points(kb, v, finals[v.id], Metric)
        if child.data.metrics:  # a re-export: leave out what the store already holds
            seen = {(m.key, m.step, m.timestamp, m.value) for key in child.data.metrics
                    for m in client.get_metric_history(cid, key)}
            points = [m for m in points if (m.key, m.step, m.timestamp, m.value) not in seen]
        try:
            for start in range(0, max(len(points), 1), 1000):  # MLflow's batch limit
                client.log_batch(cid, metrics=points[start:start + 1000], params=params if start == 0 else [],
                                 tags=[RunTag(k, str(x)) for k, x in tags.items()] if start == 0 else [])
        except Exception as exc:  # the store refused the data (a limit, a server error): say which variant
            raise ExportError(f"the MLflow store refused {v.label}'s data: {_first_line(exc)}") from None
        _log_task_logs(client, kb, v, cid, report)
        if v.status in STATUS:
            client.set_terminated(cid, STATUS[v.status], end_time=_ms(v.ended) if v.ended else None)
    if run.finished:
        client.set_terminated(parent.info.run_id, "FINISHED" if run.status != "failed" else "FAILED",
                              end_time=_ms(run.ended) if run.ended else None)
    return report


def _search(client, exp_id: str, uid: str) -> list:
    """The MLflow runs a previous export of this xxp run left (the parent and its variants)."""
    found, token = [], None
    while True:
        page = client.search_runs([exp_id], filter_string=f"tags.`{UID_TAG}` LIKE '{uid}%'", max_results=1000,
                                  page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def _metric_points(kb: KB, v: kbv.Variant, finals: dict, metric_cls) -> list:
    """Series points with their steps and times; a single value at step 0. Names as in the
    variants table: `Task.name` only where two tasks report the same name."""
    points = kbv.metrics(kb, v.id)
    by_name: dict[str, set] = {}
    for m in points:
        by_name.setdefault(m.name, set()).add(m.task)
    out = []
    for m in points:
        if m.value is None or not math.isfinite(m.value):
            continue  # text metrics and NaN have no place in MLflow's numeric history
        key = _key(f"{m.task}.{m.name}" if len(by_name[m.name]) > 1 and m.task else m.name)
        out.append(metric_cls(key, float(m.value), _ms(m.time), m.step if m.step is not None else 0))
    return out


def _log_task_logs(client, kb: KB, v: kbv.Variant, run_id: str, report: ExportReport) -> None:
    """stdout/stderr of each task execution under logs/<task>/ (overwritten on re-export)."""
    for t in kbv.task_runs(kb, v.id):
        for path in (t.stdout_path, t.stderr_path):
            if not path or not Path(path).is_file():
                continue
            try:
                client.log_artifact(run_id, path, artifact_path=f"logs/{t.task}/attempt{t.attempt}")
            except Exception as exc:  # a store that takes no files: the rest of the export stands
                report.artifacts_skipped.append(f"{v.label} {Path(path).name}: {_first_line(exc)}")


def _key(name: str) -> str:
    """A name MLflow accepts (letters, digits, `_ - . / space`, at most 250 characters)."""
    return re.sub(r"[^\w.\- /]", "_", name)[:250]


def _param_text(value) -> str:
    text = str(value)
    return text if len(text) <= 6000 else text[:5997] + "..."


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
