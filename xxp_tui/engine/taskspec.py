"""From a variant's task to what an executor runs: argv, working folder, environment, files.

Layout of one task execution (`attempt` > 1 gets `Task.2/`, `Task.3/`…):

    .xxp/runs/r<run>/v<variant>/<Task>/       beside the KB (r<run>-kb<hash>/ for a KB not named .xxp/kb.sqlite)
        params.json     XXP_PARAMS: typed params, input and output paths, seed, ids
        metrics.jsonl   XXP_METRICS: the task appends {"name", "value", "step"} lines
        stdout.log  stderr.log
        out/            XXP_OUTPUT_DIR: one file or folder per output port

The command is always an argv list, never a shell string: parameter values reach the task only
through params.json, so shell metacharacters in them are inert.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xxp_tui.project import make_private, run_folder_name, runs_root
from xxp_tui.spec.model import Task, TaskSignature, Workflow

EXTREMEXP_STYLE = re.compile(r"\bresultMap\b|\bvariables\s*\.\s*get\s*\(")


class PrepareError(Exception):
    """The task cannot start; the message is the variant's failure reason."""


@dataclass
class TaskSpec:
    key: str
    run_id: int
    variant_id: int
    task: str
    attempt: int
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout: float | None
    stdout_path: Path
    stderr_path: Path
    metrics_path: Path
    output_dir: Path
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    seed: int = 0


def private_state_dir(db: Path) -> Path:
    """The `.xxp/` beside the KB `db` (task folders, logs, engine logs), made private to the user:
    0700, so everything below it is unreadable to others whatever the umask."""
    return make_private(runs_root(db).parent)


def run_folder(project_dir: Path, run_id: int, db: Path) -> Path:
    """A run's folder: `.xxp/runs/r3` beside the KB (`r3-kb1a2b…` for a KB not named `.xxp/kb.sqlite`).
    A run started by an earlier version, which put run folders under the project's `.xxp/` whatever
    the KB, keeps its folder, so resuming it across the upgrade redoes nothing."""
    name = run_folder_name(db, run_id)
    current = runs_root(db) / name
    legacy = project_dir / ".xxp" / "runs" / name
    return legacy if legacy.is_dir() and not current.exists() else current


def workdir(run_dir: Path, variant_id: int, task: str, attempt: int) -> Path:
    name = task if attempt == 1 else f"{task}.{attempt}"
    return run_dir / f"v{variant_id}" / name


def coerce(value: Any, declared: str | None) -> Any:
    """Give a value the declared parameter type (an Integer 3.0 becomes 3, "true" a Boolean)."""
    try:
        if declared == "Integer" and not isinstance(value, bool):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
                return int(value)
        elif declared == "Float" and not isinstance(value, bool) and isinstance(value, int | str):
            return float(value)
        elif declared == "Boolean" and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
        elif declared == "String" and not isinstance(value, str):
            return str(value)
    except ValueError:
        return value
    return value


def task_params(task: Task, variant_params: dict[str, Any]) -> dict[str, Any]:
    """Declared defaults, then values fixed in the workflow, then the variant's (`Task.param`)."""
    sig = task.signature
    params: dict[str, Any] = {}
    if sig is not None:
        params.update({p.name: p.default for p in sig.params.values() if p.default is not None})
    params.update(task.params)
    prefix = task.name + "."
    params.update({k[len(prefix):]: v for k, v in variant_params.items() if k.startswith(prefix)})
    if sig is not None:
        params = {k: coerce(v, sig.params[k].type if k in sig.params else None) for k, v in params.items()}
    return params


def command(sig: TaskSignature | None, task: Task) -> list[str]:
    if task.implementation is None:
        raise PrepareError(f"task {task.name} has no implementation (bind one in a workflow variant)")
    if sig is None:
        raise PrepareError(f"task {task.name}: implementation {task.implementation!r} could not be resolved")
    script = sig.script
    if script is None:
        raise PrepareError(f"task {task.name}: script not found ({sig.script_ref or 'no implementation file'})")
    if not script.is_file():
        raise PrepareError(f"task {task.name}: script not found: {script}")
    if script.suffix == ".py":
        try:
            text = script.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            raise PrepareError(f"task {task.name}: cannot read {script}: {exc.strerror}") from exc
        if EXTREMEXP_STYLE.search(text):
            return [sys.executable, "-m", "xxp_tui.shim", str(script)]
        return [sys.executable, str(script)]
    if script.suffix == ".sh":
        return ["/bin/sh", str(script)]
    if os.access(script, os.X_OK):
        return [str(script)]
    raise PrepareError(f"task {task.name}: {script.name} is neither a .py or .sh script nor executable")


def data_path(spec_dir: Path, raw: str) -> Path:
    """A `configure data` path, relative to the spec's folder; a trailing `/**` names a folder."""
    cleaned = raw[:-3] if raw.endswith("/**") else raw
    path = Path(cleaned).expanduser()
    return path if path.is_absolute() else spec_dir / path


def prepare(
    *, run_dir: Path, spec_dir: Path, run_id: int, variant_id: int, variant_params: dict, seed: int,
    workflow: Workflow, task: Task, attempt: int, upstream: dict[str, dict[str, str]],
    extra_inputs: dict[str, str] | None = None,
) -> TaskSpec:
    """Build the TaskSpec and write params.json; raises PrepareError with the reason to record."""
    sig = task.signature
    argv = command(sig, task)
    cwd = workdir(run_dir, variant_id, task.name, attempt)
    out_dir = cwd / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs: dict[str, str] = dict(extra_inputs or {})
    for link in workflow.inputs_of(task.name):
        if link.src.task is None:
            spec = workflow.data.get(link.src.port)
            raw = spec.path if spec else None
            if raw is None:
                raise PrepareError(f"input {link.dst.port} of {task.name}: data {link.src.port} has no path "
                                   f"(add configure data {link.src.port} {{ path \"…\"; }})")
            path = data_path(spec_dir, raw)
            if not path.exists():
                raise PrepareError(f"input {link.dst.port} of {task.name}: {path} does not exist")
            inputs[link.dst.port] = str(path)
        else:
            produced = upstream.get(link.src.task, {}).get(link.src.port)
            if produced is None or not Path(produced).exists():
                raise PrepareError(
                    f"input {link.dst.port} of {task.name}: {link.src.task} did not produce output "
                    f"{link.src.port}" + (f" (expected {produced})" if produced else "")
                )
            inputs[link.dst.port] = produced
    ports = list(sig.outputs) if sig else []
    ports += [link.src.port for link in workflow.links if link.src.task == task.name and link.src.port not in ports]
    outputs = {port: str(out_dir / port) for port in ports}
    params = task_params(task, variant_params)
    context = {
        "params": params, "inputs": inputs, "outputs": outputs, "seed": seed,
        "task": task.name, "variant": f"v{variant_id}", "run": f"r{run_id}",
    }
    params_file = cwd / "params.json"
    params_file.write_text(json.dumps(context, indent=1, default=str), encoding="utf-8")
    metrics_file = cwd / "metrics.jsonl"
    metrics_file.write_text("")
    env = dict(os.environ)
    path_parts = []
    if sig is not None and sig.folder is not None:
        path_parts.append(str(sig.folder))
        for dep in sig.dependencies:
            dep_dir = sig.folder / dep.removesuffix("/**").removesuffix("**")
            if dep_dir.is_dir():
                path_parts.append(str(dep_dir))
    if sig is not None and sig.script is not None:
        path_parts.append(str(sig.script.parent))
    if env.get("PYTHONPATH"):
        path_parts.append(env["PYTHONPATH"])
    env.update({
        "XXP_PARAMS": str(params_file),
        "XXP_OUTPUT_DIR": str(out_dir),
        "XXP_METRICS": str(metrics_file),
        "XXP_SEED": str(seed),
        "XXP_RUN": f"r{run_id}",
        "XXP_VARIANT": f"v{variant_id}",
        "XXP_TASK": task.name,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join(dict.fromkeys(path_parts)),
    })
    return TaskSpec(
        key=f"v{variant_id}:{task.name}:{attempt}", run_id=run_id, variant_id=variant_id, task=task.name,
        attempt=attempt, argv=argv, cwd=cwd, env=env, timeout=task.timeout,
        stdout_path=cwd / "stdout.log", stderr_path=cwd / "stderr.log", metrics_path=metrics_file,
        output_dir=out_dir, inputs=inputs, outputs=outputs, params=params, resources=dict(task.resources),
        seed=seed,
    )
