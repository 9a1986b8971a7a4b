"""Starting points: a library task (`xxp-tui new task`) and a project (`xxp-tui new project`).

Each generated file is the smallest thing that works: the task's signature declares one output,
one param and one metric, and its script uses them (through `xxp_tui.sdk`, or ExtremeXP's
`variables`/`resultMap` globals with `--extremexp`), so a new project's experiment runs as created.
Files are private (0600, folders 0700), like everything the tool writes; nothing is overwritten.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ScaffoldError(Exception):
    """One sentence saying why nothing was created."""


def task_signature(name: str, script: str) -> str:
    return f"""\
// {name}: describe what it does. Ports, params and metrics below are what the designer offers.
task {name} {{
    define output data result;

    define param size {{ type Integer; default 10; range (1, 1000); }}

    define metric score {{ kind single-value; type Float; }}

    implementation "{script}";
}}
"""


def sdk_script(name: str) -> str:
    return f'''\
"""{name}: reads its param, writes its output port and reports its metric."""

from xxp_tui import sdk

size = int(sdk.param("size", 10))
with open(sdk.output_path("result"), "w", encoding="utf-8") as fh:
    fh.write(f"{{size}}\\n")
sdk.log_metric("score", size / (size + 1))
print(f"{name}: size={{size}}")
'''


def extremexp_script(name: str) -> str:
    return f'''\
"""{name}, written for ExtremeXP: `variables` and `resultMap` are given to the script."""

size = int(variables.get("size"))  # noqa: F821 - injected by the runner
with open(variables.get("result"), "w", encoding="utf-8") as fh:  # noqa: F821
    fh.write(f"{{size}}\\n")
resultMap.put("score", size / (size + 1))  # noqa: F821
'''


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise ScaffoldError(f"{name!r} is not a task name: use letters, digits and _, starting with a letter.")


def _write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _mkdir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)


def new_task(name: str, lib: Path, *, extremexp: bool = False) -> Path:
    """Create `lib/NAME/task.xxp` and its script; returns the task folder."""
    _check_name(name)
    folder = lib / name
    if folder.exists():
        raise ScaffoldError(f"{folder} already exists; nothing was created.")
    if lib.exists() and not lib.is_dir():
        raise ScaffoldError(f"{lib} is not a folder.")
    script = f"{name.lower()}.py"
    _mkdir(lib)
    _mkdir(folder)
    _write(folder / "task.xxp", task_signature(name, script))
    _write(folder / script, extremexp_script(name) if extremexp else sdk_script(name))
    return folder


PROJECT_SPEC = """\
// A first experiment: Make writes a result, Check scores it; a grid over Make's size.
// Edit it with `xxp-tui design experiment.xxp`, run it with `xxp-tui run experiment.xxp`.

workflow Main {
    START -> Make -> Check -> END;

    task Make { implementation "Make"; }
    task Check { implementation "Check"; }

    Make.result --> Check.result_in;
}

experiment First {
    space Sizes of Main {
        strategy gridsearch;
        param_values size_vp = enum(5, 50);
        task Make { param size = size_vp; }
        objective maximize Check.score;
    }
}
"""

CHECK_SIGNATURE = """\
// Check: reads Make's result and scores it.
task Check {
    define input data result_in;

    define metric score { kind single-value; type Float; }

    implementation "check.py";
}
"""

CHECK_SCRIPT = '''\
"""Check: reads the number Make wrote and scores it."""

from xxp_tui import sdk

size = int(sdk.input_path("result_in").read_text(encoding="utf-8"))
sdk.log_metric("score", size / (size + 1))
'''

PROJECT_TOML = """\
# xxp-tui project settings (see the README, "Task libraries and configuration").
task_libraries = ["tasks"]
workflow_libraries = ["workflows"]
"""


def new_project(folder: Path) -> Path:
    """Create a project in `folder` (new or empty); returns the experiment file."""
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ScaffoldError(f"{folder} exists and is not an empty folder; nothing was created.")
    _mkdir(folder)
    _write(folder / "xxp.toml", PROJECT_TOML)
    _mkdir(folder / "workflows")
    new_task("Make", folder / "tasks")
    check = folder / "tasks" / "Check"
    _mkdir(check)
    _write(check / "task.xxp", CHECK_SIGNATURE)
    _write(check / "check.py", CHECK_SCRIPT)
    spec = folder / "experiment.xxp"
    _write(spec, PROJECT_SPEC)
    return spec
