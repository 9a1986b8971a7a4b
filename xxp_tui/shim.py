"""Runs an ExtremeXP-style task script unchanged: `python -m xxp_tui.shim script.py`.

ExtremeXP scripts are plain scripts that find injected globals, as ProActive's Python tasks do:

- `variables`: a dict with `.get`, `[]` and `.put`. It holds the task's params as ExtremeXP gives
  them (strings: its scripts cast with `int(...)`/`float(...)`), its port names mapped to paths,
  `task_name`, `wf_id`, `exp_id`, `params`, `dependent_modules_folders` (comma-separated folders,
  absolute, so `os.path.join(os.getcwd(), f)` resolves them), the `PA_*` keys scripts read, and
  what earlier tasks of the variant `put` (a task's own params and ports win a clash).
  `variables.put(k, v)` hands `k` to the later tasks of the variant.
- `resultMap`: a dict with `.put`; numeric values become metrics (at once, as they are put), every
  other value (text, a path…) is kept as a result in `XXP_OUTPUT_DIR/result_map.json`.
- `os` and `sys`, without an import.

The helper modules ExtremeXP scripts import (`proactive_helper`, `local_helper`,
`eexp_engine_utils`) are ours (xxp_tui/extremexp/compat/), found only by scripts this shim runs and
only when the project does not ship its own module of that name.

Cheap on purpose (issue 10): a task of milliseconds pays for the shim on every run, so this module
imports only `json` (the context file is JSON) at start; everything else loads when a script asks
for it. The engine starts it as `python -c "…; raise SystemExit(s.main())" script.py`,
skipping the `runpy` machinery `-m` imports (see taskspec.SHIM_BOOT).
"""

import json
import os
import sys

RESULT_FILE = "result_map.json"
PUT_FILE = "variables_put.json"
RESULTS_FILE = "experiment_results.json"
COMPAT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "extremexp", "compat")
COMPAT_MODULES = frozenset({"proactive_helper", "local_helper", "eexp_engine_utils", "eexp_engine"})

# Set by main(): what the helper modules read (they reach this module through sys.modules).
context: dict = {}
variables = None
resultMap = None


class ContractError(Exception):
    """A call the task-side API cannot serve here; the shim prints its message as one sentence."""


class ResultMap(dict):
    """`resultMap.put(key, value)`; also a dict, as some scripts index it directly."""

    def __init__(self) -> None:
        super().__init__()
        self.reported: dict = {}

    def put(self, key, value) -> None:
        self[key] = value
        if _is_number(value):
            _log_metrics({key: value})
            self.reported[key] = value

    def flush(self) -> None:
        """Numbers set by `resultMap[k] = v` (not reported by put) become metrics too; every value is saved."""
        late = {k: v for k, v in self.items() if _is_number(v) and (k not in self.reported or self.reported[k] != v)}
        if late:
            _log_metrics(late)
            self.reported.update(late)
        if any(not _is_number(v) for v in self.values()):  # numbers arrived as metrics already
            out = os.environ.get("XXP_OUTPUT_DIR") or "."
            os.makedirs(out, exist_ok=True)
            _write_json(os.path.join(out, RESULT_FILE), {str(k): v for k, v in self.items()})


class Variables(dict):
    """ExtremeXP's `variables`: a dict with `.put`, whose puts reach the later tasks of the variant."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.puts: dict = {}

    def put(self, key, value) -> None:
        self[key] = value
        self.puts[key] = value


def _is_number(value) -> bool:
    return isinstance(value, int | float)


_INFINITIES = (float("inf"), float("-inf"))


def _log_metrics(values: dict) -> None:
    import time  # built in: costs nothing, unlike math (a shared library)

    now = time.time()
    lines = []
    for key, value in values.items():
        number = int(value) if isinstance(value, bool) else value
        if isinstance(number, float) and (number != number or number in _INFINITIES):
            number = str(number)  # JSON has no NaN or infinity
        lines.append(json.dumps({"name": str(key), "value": number, "step": None, "time": now}) + "\n")
    target = os.environ.get("XXP_METRICS")
    if not target:
        for line in lines:
            print(f"[metric] {line}", end="")
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write("".join(lines))


def _write_json(path: str, data) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, default=str)
    os.replace(tmp, path)


def _as_extremexp(value) -> str:
    """A param as ProActive hands it to a script: its text (ints and floats become `str(v)`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def build_variables(ctx: dict) -> Variables:
    """puts of earlier tasks < task context < port paths < own params (a name clash goes to the task)."""
    out_dir = os.environ.get("XXP_OUTPUT_DIR", ".")
    task = ctx.get("task") or ""
    variant = ctx.get("variant") or ""
    params = ctx.get("params", {})
    job = ctx.get("job", {})
    v = Variables(ctx.get("variables", {}))
    v.update({
        "task_name": task,
        "wf_id": variant,
        "workflow_id": variant,
        "exp_id": ctx.get("run"),
        "seed": str(ctx.get("seed", 0)),
        "output_folder": out_dir,
        "params": f"{task}[" + " | ".join(f"{k} --> {_as_extremexp(p)}" for k, p in params.items()) + "]",
        "dependent_modules_folders": ctx.get("dependent_modules_folders") or os.getcwd(),
        "PA_TASK_NAME": task,
        "PA_TASK_ID": str(job.get("task_id", 0)),
        "PA_JOB_ID": str(job.get("job_id", variant)),
        "PA_JOB_NAME": str(job.get("job_name", variant)),
        "PA_TASK_ITERATION": "0",
        "PA_TASK_REPLICATION": "0",
        "PA_USER": os.environ.get("USER", ""),
        "PA_NODESOURCE": "xxp-tui",
    })
    v.update({k: str(p) for k, p in ctx.get("outputs", {}).items()})
    v.update({k: str(p) for k, p in ctx.get("inputs", {}).items()})
    v.update({k: _as_extremexp(p) for k, p in params.items() if p is not None})
    return v


class _CompatFinder:
    """Last on sys.meta_path: finds our helper modules only when nothing on sys.path (the task's
    folder, its dependencies, whatever the script appended) has a module of that name."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if path is None and name in COMPAT_MODULES:
            from importlib.machinery import PathFinder

            return PathFinder.find_spec(name, [COMPAT_DIR])
        return None


def _read_context() -> dict:
    path = os.environ.get("XXP_PARAMS")
    if not path:
        return {"params": {}, "inputs": {}, "outputs": {}}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _save_puts(ctx_path: str | None, puts: dict) -> None:
    if not puts:
        return
    folder = os.path.dirname(ctx_path) if ctx_path else "."
    _write_json(os.path.join(folder, PUT_FILE), {str(k): v for k, v in puts.items()})


def main(argv: list[str] | None = None) -> int:
    global context, variables, resultMap
    if argv is None:
        argv = sys.argv[1:]
        if argv[:1] == ["--"]:
            argv = argv[1:]
    if not argv:
        print("usage: python -m xxp_tui.shim SCRIPT [ARGS...]", file=sys.stderr)
        return 2
    script = argv[0]
    sys.modules.setdefault("xxp_tui.shim", sys.modules[__name__])
    context = _read_context()
    variables = build_variables(context)
    resultMap = ResultMap()
    sys.argv = list(argv)
    script_dir = os.path.dirname(os.path.abspath(script))
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if sys.path and sys.path[0] in ("", os.getcwd(), package_parent):
        sys.path[0] = script_dir
    else:
        sys.path.insert(0, script_dir)
    sys.meta_path.append(_CompatFinder)
    try:
        with open(script, "rb") as fh:
            code = compile(fh.read(), script, "exec")
    except OSError as exc:
        print(f"cannot read {script}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    scope = {"__name__": "__main__", "__file__": script, "__builtins__": __builtins__,
             "variables": variables, "resultMap": resultMap, "os": os, "sys": sys}
    status = 0
    try:
        exec(code, scope)
    except ContractError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
    finally:
        resultMap.flush()
        _save_puts(os.environ.get("XXP_PARAMS"), variables.puts)
    return status


if __name__ == "__main__":
    sys.exit(main())
