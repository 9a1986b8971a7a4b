"""The layers, as a checked contract (DESIGN.md's words; README's layout).

`lang` is the language, pure: it imports no other layer of xxp_tui (only leaf helpers such as
`xxp_tui.paths`, which import nothing of xxp_tui). `kb` is the only code that speaks SQL, so the only
one that imports the sqlite modules, and it serves every front end without knowing them. `engine` never
imports a front end. Only `tui` imports Textual. Every import counts, at the top of a module or inside a
function (where the light CLI defers them), read from the source with `ast`.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from pathlib import Path

import pytest

import xxp_tui

PACKAGE = Path(xxp_tui.__file__).parent
LAYERS = ("lang", "kb", "engine", "cli", "tui")
SQLITE = ("sqlite3", "sqlite_utils", "apsw")
TEXTUAL = ("textual", "textual_plotext")
# Top-level modules any layer may use: they import nothing of xxp_tui (checked below).
LEAVES = ("xxp_tui.paths", "xxp_tui.files")
# The package itself is one too (its __init__ holds the version and imports nothing, on purpose).
ROOT = ("xxp_tui", "xxp_tui.__version__")

Rule = Callable[[str | None, str], bool]


def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def _imports(path: Path, root: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones made absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{base}" if base else anchor
            found.append((node.lineno, base))
            # `from xxp_tui import kb` imports the layer kb
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names if base == "xxp_tui"]
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "xxp_tui" and parts[1] in LAYERS else None


def _top(module: str) -> str:
    return module.split(".")[0]


RULES: dict[str, Rule] = {
    "lang imports no other layer of xxp_tui":
        lambda layer, module: (layer == "lang" and _top(module) == "xxp_tui" and _layer(module) != "lang"
                               and module not in LEAVES and module not in ROOT),
    "only kb imports the sqlite modules":
        lambda layer, module: layer != "kb" and _top(module) in SQLITE,
    "only tui imports Textual":
        lambda layer, module: layer != "tui" and _top(module) in TEXTUAL,
    "engine never imports a front end":
        lambda layer, module: layer == "engine" and _layer(module) in ("cli", "tui"),
    "kb imports no engine and no front end":
        lambda layer, module: layer == "kb" and _layer(module) in ("engine", "cli", "tui"),
}


def violations(root: Path, rule: Rule) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        layer = _layer(_module_name(path, root))
        out += [f"{path.relative_to(root.parent)}:{line}: imports {module}"
                for line, module in _imports(path, root) if rule(layer, module)]
    return out


@pytest.mark.parametrize("rule", RULES, ids=list(RULES))
def test_layer_rule(rule):
    assert violations(PACKAGE, RULES[rule]) == []


def test_leaves_are_leaves():
    for leaf in LEAVES:
        path = PACKAGE.parent / (leaf.replace(".", "/") + ".py")
        assert [m for _, m in _imports(path, PACKAGE) if _top(m) == "xxp_tui"] == [], leaf
    assert _imports(PACKAGE / "__init__.py", PACKAGE) == []


def test_the_contract_sees_every_layer_and_its_imports():
    names = [_module_name(p, PACKAGE) for p in PACKAGE.rglob("*.py")]
    assert set(LAYERS) <= {_layer(n) for n in names}
    assert sum(len(_imports(p, PACKAGE)) for p in PACKAGE.rglob("*.py")) > 500


def test_a_violation_is_reported_with_its_line(tmp_path: Path):
    """The rules are not vacuous: a package breaking each of them, imports deferred into functions and
    relative ones included, is reported file:line."""
    root = tmp_path / "xxp_tui"
    files = {
        "lang/__init__.py": "", "lang/model.py": "from . import syntax\nfrom ..kb import commands\n",
        "engine/__init__.py": "", "engine/run.py": "def f():\n    import sqlite3\n    from xxp_tui.tui import app\n",
        "kb/__init__.py": "", "kb/q.py": "import sqlite3\nfrom xxp_tui import engine\n",
        "cli/__init__.py": "", "cli/main.py": "from textual.app import App\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    found = {rule: violations(root, check) for rule, check in RULES.items()}
    assert found == {
        "lang imports no other layer of xxp_tui": ["xxp_tui/lang/model.py:2: imports xxp_tui.kb"],
        "only kb imports the sqlite modules": ["xxp_tui/engine/run.py:2: imports sqlite3"],
        "only tui imports Textual": ["xxp_tui/cli/main.py:1: imports textual.app"],
        "engine never imports a front end": ["xxp_tui/engine/run.py:3: imports xxp_tui.tui"],
        "kb imports no engine and no front end": ["xxp_tui/kb/q.py:2: imports xxp_tui.engine"],
    }
