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

from xxp_tui.lang.model import Task, TaskSignature, Workflow
from xxp_tui.project import make_private, run_folder_name, runs_root

# A script written for ExtremeXP: it uses the injected globals or imports ExtremeXP's helpers.
EXTREMEXP_STYLE = re.compile(
    r"\bresultMap\b|\bvariables\s*(?:\.\s*(?:get|put)\s*\(|\[)|\bdependent_modules_folders\b"
    r"|^\s*(?:import|from)\s+(?:proactive_helper|local_helper|eexp_engine_utils|eexp_engine\.executionware)\b",
    re.MULTILINE,
)
# `-c`, not `-m xxp_tui.shim`: `-m` imports runpy's machinery, a third of a small task's start-up.
# The boot line puts the package's folder first so `import xxp_tui` needs no search of site-packages
# (a worker where that folder is elsewhere finds the package the usual way); the shim then gives
# sys.path[0] to the script's folder, as `python script.py` would.
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])
SHIM_MARK = "import xxp_tui.shim as s; raise SystemExit(s.main())"
SHIM_BOOT = f"import sys; sys.path[0] = {_PACKAGE_PARENT!r}; {SHIM_MARK}"


def shim_boot(python: str) -> str:
    """The shim's `-c` code: the package's own folder first on the path for the engine's interpreter;
    for a task's own environment, a private folder holding only the package (taskenv.sdk_path), so
    nothing else the engine has installed leaks into that environment."""
    if python == sys.executable:
        return SHIM_BOOT
    from xxp_tui.engine.taskenv import sdk_path

    return f"import sys; sys.path[0] = {sdk_path()!r}; {SHIM_MARK}"
_shim_compiled = False


def compile_shim() -> None:
    """Write the bytecode of the shim and of our ExtremeXP helpers once, when missing or stale (an
    environment with PYTHONDONTWRITEBYTECODE would otherwise make every task compile them again);
    a read-only install has it already."""
    global _shim_compiled
    if _shim_compiled:
        return
    _shim_compiled = True
    import importlib.util
    import py_compile

    parent = Path(_PACKAGE_PARENT)
    helpers = sorted((parent / "xxp_tui" / "extremexp").rglob("*.py"))  # imported when a script asks for them
    for source in (parent / "xxp_tui" / "__init__.py", parent / "xxp_tui" / "shim.py", *helpers):
        try:
            compiled = Path(importlib.util.cache_from_source(str(source)))
            if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
                py_compile.compile(str(source), doraise=True)
        except (OSError, py_compile.PyCompileError):
            pass
RESULTS_FILE = "experiment_results.json"


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
    shim: bool = False  # run through xxp_tui.shim (an ExtremeXP-style script)
    received: dict[str, Any] = field(default_factory=dict)  # what earlier tasks of the variant `put`
    absent_inputs: list[str] = field(default_factory=list)  # linked outputs their task did not write
    files: dict[Path, str] = field(default_factory=dict)  # written by materialize() when the task runs


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


def command(sig: TaskSignature | None, task: Task, python: str | None = None) -> list[str]:
    """The argv of a task; `python`: its own environment's interpreter (taskenv.py), else the engine's."""
    python = python or sys.executable
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
            compile_shim()
            return [python, "-c", shim_boot(python), str(script)]
        return [python, str(script)]
    if script.suffix == ".sh":
        return ["/bin/sh", str(script)]
    if os.access(script, os.X_OK):
        return [str(script)]
    raise PrepareError(f"task {task.name}: {script.name} is neither a .py or .sh script nor executable")


def data_path(spec_dir: Path, raw: str, dataset_dir: Path | None = None) -> Path:
    """A `configure data` path: relative to the dataset library of eexp_config.py when it is there,
    else to the spec's folder; a trailing `/**` names a folder."""
    cleaned = raw[:-3] if raw.endswith("/**") else raw
    path = Path(cleaned).expanduser()
    if path.is_absolute():
        return path
    if dataset_dir is not None and (dataset_dir / path).exists():
        return dataset_dir / path
    return spec_dir / path


def dependency_folders(sig: TaskSignature | None) -> list[Path]:
    """Folders named by `dependency "d/**"`: in the project's dependencies folder (eexp_config.py)
    first, else in the task folder."""
    if sig is None:
        return []
    out = []
    for dep in sig.dependencies:
        rel = dep.removesuffix("/**").removesuffix("**").rstrip("/")
        for base in (sig.dependency_root, sig.folder):
            if base is not None and (base / rel).is_dir():
                out.append((base / rel).resolve())
                break
    return list(dict.fromkeys(out))


def is_shim(argv: list[str]) -> bool:
    return len(argv) >= 3 and argv[1] == "-c" and argv[2].endswith(SHIM_MARK)


def prepare(
    *, run_dir: Path, spec_dir: Path, run_id: int, variant_id: int, variant_params: dict, seed: int,
    workflow: Workflow, task: Task, attempt: int, upstream: dict[str, dict[str, str]],
    extra_inputs: dict[str, str] | None = None, python: str | None = None, dataset_dir: Path | None = None,
    dependencies_dir: Path | None = None, received: dict[str, Any] | None = None,
    results_text: str | None = None, experiment: str = "",
) -> TaskSpec:
    """Build the TaskSpec (its files are written by materialize()); raises PrepareError with the reason to record.

    An output its task declared but did not write is still handed to the tasks linked to it (as
    ExtremeXP does: many ports are informational); such a task fails only if it reads it. The
    ExtremeXP-only parts (`received` puts, the results of earlier nodes) matter to shim tasks."""
    sig = task.signature
    argv = command(sig, task, python)
    cwd = workdir(run_dir, variant_id, task.name, attempt)
    out_dir = cwd / "out"
    files: dict[Path, str] = {}
    inputs: dict[str, str] = dict(extra_inputs or {})
    absent: list[str] = []
    for link in workflow.inputs_of(task.name):
        if link.src.task is None:
            spec = workflow.data.get(link.src.port)
            raw = spec.path if spec else None
            if raw is None:
                raise PrepareError(f"input {link.dst.port} of {task.name}: data {link.src.port} has no path "
                                   f"(add configure data {link.src.port} {{ path \"…\"; }})")
            path = data_path(spec_dir, raw, dataset_dir)
            if not path.exists():
                raise PrepareError(f"input {link.dst.port} of {task.name}: {path} does not exist")
            inputs[link.dst.port] = str(path)
        else:
            produced = upstream.get(link.src.task, {}).get(link.src.port)
            if produced is None:
                raise PrepareError(f"input {link.dst.port} of {task.name}: {link.src.task} has no output "
                                   f"{link.src.port}")
            if not Path(produced).exists():
                absent.append(link.dst.port)
            inputs[link.dst.port] = produced
    ports = list(sig.outputs) if sig else []
    ports += [link.src.port for link in workflow.links if link.src.task == task.name and link.src.port not in ports]
    outputs = {port: str(out_dir / port) for port in ports}
    params = task_params(task, variant_params)
    context = {
        "params": params, "inputs": inputs, "outputs": outputs, "seed": seed,
        "task": task.name, "variant": f"v{variant_id}", "run": f"r{run_id}",
    }
    shim = is_shim(argv)
    deps = dependency_folders(sig)
    if shim:
        folders = [*deps, *([dependencies_dir] if dependencies_dir is not None else [])]
        if not folders and sig is not None and sig.folder is not None:
            folders = [sig.folder]
        context["variables"] = dict(received or {})
        context["dependent_modules_folders"] = ",".join(dict.fromkeys(str(f) for f in folders))
        order = list(workflow.tasks)
        context["job"] = {"job_id": str(variant_id), "job_name": f"{experiment}--v{variant_id}" if experiment
                          else f"v{variant_id}", "task_id": str(order.index(task.name) if task.name in order else 0)}
        if results_text and results_text != "{}":
            results_file = cwd / f"experiment_results_v{variant_id}.json"
            files[results_file] = files[cwd / RESULTS_FILE] = results_text
            context["results_file"] = str(results_file)
    params_file = cwd / "params.json"
    files[params_file] = json.dumps(context, indent=1, default=str)
    metrics_file = cwd / "metrics.jsonl"
    files[metrics_file] = ""
    env = dict(os.environ)
    path_parts = []
    if sig is not None and sig.folder is not None:
        path_parts.append(str(sig.folder))
    path_parts.extend(str(d) for d in deps)
    if sig is not None and sig.script is not None:
        path_parts.append(str(sig.script.parent))
    if python is not None and python != sys.executable:
        from xxp_tui.engine.taskenv import sdk_path

        path_parts.append(sdk_path())  # the shim and sdk for an interpreter that has no xxp-tui
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
        seed=seed, shim=shim, received=dict(received or {}) if shim else {}, absent_inputs=absent, files=files,
    )


def materialize(spec: TaskSpec, *, runs: bool = True) -> None:
    """Lay out the task's folder: its output folder and the files prepare() wrote down (params.json,
    an empty metrics.jsonl, ExtremeXP's results). A cache hit (`runs` False) gets only its
    params.json, what `show --lineage` reads its inputs from: the rest was most of a hit's cost.
    Raises OSError."""
    if not runs:
        spec.cwd.mkdir(parents=True, exist_ok=True)
        params = spec.cwd / "params.json"
        params.write_text(spec.files[params], encoding="utf-8")
        return
    spec.output_dir.mkdir(parents=True, exist_ok=True)
    for path, text in spec.files.items():
        path.write_text(text, encoding="utf-8")
