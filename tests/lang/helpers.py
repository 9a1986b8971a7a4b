"""Build small spec projects on disk for the language tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from xxp_tui.lang import load_project
from xxp_tui.lang.loader import LoadResult

TRAIN_SIG = """
task Train {
    define input data data;
    define output data model;
    define param lr { type Float; default 0.1; range (0.0001, 1.0); }
    define param depth { type Integer; default 3; range (1, 10); }
    define param kernel { type String; default "rbf"; enum ("rbf", "linear"); }
    define metric accuracy { kind single-value; type Float; }
    define metric loss { kind series; type Float; }
    implementation "train.py";
}
"""

LOAD_SIG = """
task Load {
    define output data data;
    implementation "load.py";
}
"""


def make_project(tmp_path: Path, spec: str, files: dict[str, str] | None = None, name: str = "spec.xxp") -> Path:
    """Write `spec` plus a task library (lib.Train, lib.Load) and extra files; return the spec path."""
    (tmp_path / "xxp.toml").write_text('task_libraries = ["tasks"]\n')
    defaults = {
        "tasks/lib/Train/task.xxp": TRAIN_SIG,
        "tasks/lib/Train/train.py": "print('train')\n",
        "tasks/lib/Load/task.xxp": LOAD_SIG,
        "tasks/lib/Load/load.py": "print('load')\n",
    }
    for rel, text in {**defaults, **(files or {})}.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text).lstrip("\n"))
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(spec).lstrip("\n"))
    return path


def load(tmp_path: Path, spec: str, files: dict[str, str] | None = None) -> LoadResult:
    return load_project(make_project(tmp_path, spec, files))


def diags(result: LoadResult, severity: str | None = None) -> list[tuple[int, int, str, str]]:
    """(line, col, severity, message) for diagnostics of the entry file."""
    return [
        (d.pos.line, d.pos.col, d.severity.value, d.message)
        for d in result.diagnostics
        if (severity is None or d.severity.value == severity)
    ]


def find(result: LoadResult, text: str) -> tuple[int, int, str, str]:
    """The one diagnostic whose message contains `text`."""
    hits = [d for d in diags(result) if text in d[3]]
    assert len(hits) == 1, f"expected one diagnostic with {text!r}, got {diags(result)}"
    return hits[0]


BASE_WORKFLOW = """
workflow W {
    START -> Load -> Train -> END;
    task Load { implementation "lib.Load"; }
    task Train { implementation "lib.Train"; }
    Load.data --> Train.data;
}
"""


def at(src: str, line: int | str, token: str, nth: int = 1) -> tuple[int, int]:
    """(line, col) of the `nth` occurrence of `token` on a line of the dedented `src`: the 1-based
    line number, or the first line that contains the string `line`."""
    lines = textwrap.dedent(src).lstrip("\n").splitlines()
    if isinstance(line, str):
        line = next(i for i, text in enumerate(lines, 1) if line in text)
    text = lines[line - 1]
    col = -1
    for _ in range(nth):
        col = text.index(token, col + 1)
    return line, col + 1
