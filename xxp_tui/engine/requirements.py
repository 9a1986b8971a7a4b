"""Before a run: do the task scripts' imports exist in the Python that will run them?

A task that imports a package nobody installed fails in every variant, minutes into a run, with a
traceback in a log. Reading each Python task script's top-level imports (with `ast`, never running
it) and asking `importlib` whether they resolve turns that into one sentence before anything is
recorded — naming the xxp-tui extra that provides the package when there is one (the bundled
scikit-learn example needs `examples`). `make run` asks the same question to install that extra
first: `python -m xxp_tui.engine.requirements SPEC` prints the extras a spec needs.

Only imports that always run are counted: those at the top of the module, not inside `try`, `if` or a
function (a script may fall back when an optional package is missing). Modules beside the script, in
its `dependency` folders, in the project's dependencies folder (eexp_config.py) and, for ExtremeXP-style
scripts, the shim's helper modules count as found. A task with its own `venv` runs another interpreter
and is not checked.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

from xxp_tui.engine.taskspec import EXTREMEXP_STYLE, dependency_folders
from xxp_tui.lang.model import Project

COMPAT_DIR = Path(__file__).resolve().parents[1] / "extremexp" / "compat"

# The extras of xxp-tui's pyproject.toml, by the top-level module a task script imports.
EXTRA_OF_MODULE = {"sklearn": "examples", "numpy": "examples", "dask": "dask", "distributed": "dask"}
PACKAGE_OF_MODULE = {"sklearn": "scikit-learn", "yaml": "pyyaml", "PIL": "pillow", "cv2": "opencv-python"}


@dataclass(frozen=True)
class Missing:
    task: str
    script: Path
    module: str

    @property
    def extra(self) -> str | None:
        return EXTRA_OF_MODULE.get(self.module)


def unconditional_imports(script: Path) -> set[str]:
    """Top-level module names a script imports whenever it runs (absolute imports only)."""
    try:
        tree = ast.parse(script.read_text(encoding="utf-8", errors="replace"), filename=str(script))
    except (OSError, SyntaxError, ValueError):
        return set()  # the task's own run reports it
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _extremexp_style(script: Path) -> bool:
    try:
        return bool(EXTREMEXP_STYLE.search(script.read_text(encoding="utf-8", errors="replace")))
    except OSError:
        return False


def _local(module: str, folders: list[Path]) -> bool:
    return any((f / f"{module}.py").is_file() or (f / module).is_dir() for f in folders)


def missing_modules(project: Project) -> list[Missing]:
    """Imports of the project's Python task scripts that this interpreter cannot resolve."""
    missing: list[Missing] = []
    seen: set[tuple[Path, str]] = set()
    for workflow in project.workflows.values():
        for task in workflow.tasks.values():
            sig = task.signature
            if sig is None or sig.script is None or sig.script.suffix != ".py" or sig.venv:
                continue
            folders = [sig.script.parent, *([sig.folder] if sig.folder else []), *dependency_folders(sig)]
            if project.dependencies_dir is not None:
                folders.append(project.dependencies_dir)
            if _extremexp_style(sig.script):  # the shim's helper modules (proactive_helper…) are ours
                folders.append(COMPAT_DIR)
            for module in sorted(unconditional_imports(sig.script)):
                if (sig.script, module) in seen or module in sys.stdlib_module_names or _local(module, folders):
                    continue
                seen.add((sig.script, module))
                if importlib.util.find_spec(module) is None:
                    missing.append(Missing(task.name, sig.script, module))
    return missing


def needed_extras(missing: list[Missing]) -> list[str]:
    return sorted({m.extra for m in missing if m.extra})


def refusal(spec: Path, missing: list[Missing]) -> str:
    """One sentence: what is missing, for which task, and how to install it."""
    first = missing[0]
    modules = sorted({m.module for m in missing})
    extras = needed_extras(missing)
    if extras and all(m.extra for m in missing):
        how = f"pip install 'xxp-tui[{','.join(extras)}]' (or `make run SPEC={spec}`, which installs it)"
    else:
        how = "pip install " + " ".join(PACKAGE_OF_MODULE.get(m, m) for m in modules)
    return (f"{spec} needs {', '.join(modules)}, which this Python cannot import (task {first.task}: "
            f"{first.script.name}); install it first: {how}")


def main(argv: list[str]) -> int:
    """`python -m xxp_tui.engine.requirements SPEC`: print the extras SPEC's tasks need, comma-separated."""
    from xxp_tui.lang import load_project

    if len(argv) != 1:
        print("usage: python -m xxp_tui.engine.requirements SPEC", file=sys.stderr)
        return 2
    result = load_project(Path(argv[0]))
    if result.project is not None:
        print(",".join(needed_extras(missing_modules(result.project))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
