"""Where reusable things are found: task libraries, workflow libraries, conditions modules.

ExtremeXP-compatible by default: with no configuration, the folders `library-tasks/` and `tasks/`
(task libraries) and `library-experiments/` and `workflows/` (workflow libraries) are looked for in
the spec's folder and each parent folder up to the project root, so an ExtremeXP checkout resolves
as it is. `xxp.toml` (top-level keys) or `[tool.xxp]` in pyproject.toml, found the same way,
overrides the defaults; its paths are relative to the file that sets them.

An ExtremeXP project's `eexp_config.py` (the nearest at or above the spec; it also marks the
project root) is honoured too, read safely: its literal assignments are parsed, the file is never
executed (it holds credentials and could hold anything). It gives the task, experiment and workflow
libraries, the dataset library (`configure data` paths resolve there first), the Python
dependencies folder (`dependency "d/**"` names its `d`) and the conditions and configurations
modules (`PYTHON_CONDITIONS = "pkg.experiment_conditions"`). `xxp.toml` wins where both say
something. Settings we have no use for (DAL, ProActive, Kubeflow, DDM…) are listed by name only
(`unused_settings`), never with their values.
"""

from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TASK_DIRS = ("library-tasks", "tasks")
DEFAULT_WORKFLOW_DIRS = ("library-experiments", "workflows")
DEFAULT_CONDITIONS = ("experiment_conditions.py", "conditions.py")
DEFAULT_CONFIGURATIONS = ("experiment_configurations.py", "configurations.py")
EEXP_CONFIG = "eexp_config.py"
ROOT_MARKERS = ("xxp.toml", EEXP_CONFIG, "pyproject.toml", ".git")
# eexp_config.py keys we honour; any other upper-case setting is reported as unused.
EEXP_USED = frozenset({
    "TASK_LIBRARY_PATH", "EXPERIMENT_LIBRARY_PATH", "WORKFLOW_LIBRARY_PATH", "DATASET_LIBRARY_RELATIVE_PATH",
    "PYTHON_DEPENDENCIES_RELATIVE_PATH", "PYTHON_CONDITIONS", "PYTHON_CONFIGURATIONS",
})

SIGNATURE_FILE = "task.xxp"


class ConfigError(Exception):
    """A configuration file that cannot be read; carries the file for the diagnostic."""

    def __init__(self, path: Path | None, message: str) -> None:
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class Libraries:
    """Search paths for one spec, in priority order."""

    spec_dir: Path
    project_root: Path
    config_file: Path | None = None
    task_dirs: tuple[Path, ...] = ()
    workflow_dirs: tuple[Path, ...] = ()
    conditions: tuple[Path, ...] = ()
    configurations: tuple[Path, ...] = ()
    settings: dict = field(default_factory=dict)
    eexp_config: Path | None = None
    dataset_dir: Path | None = None  # DATASET_LIBRARY_RELATIVE_PATH: where `configure data` paths are looked for
    dependencies_dir: Path | None = None  # PYTHON_DEPENDENCIES_RELATIVE_PATH: where `dependency "d/**"` looks
    unused_settings: tuple[str, ...] = ()  # eexp_config.py settings xxp-tui does not use (names only)

    def contains(self, path: Path) -> bool:
        """`path` lies inside the project or one of its libraries (a path that leaves them, such
        as "../../../../etc/passwd" or an absolute one, is allowed but worth a warning)."""
        real = path.resolve()
        places = (self.project_root, self.spec_dir, *self.task_dirs, *self.workflow_dirs)
        return any(real.is_relative_to(place.resolve()) for place in places)

    # -- lookups

    def find_task_folder(self, ref: str) -> tuple[Path | None, Path | None, list[Path]]:
        """Resolve `implementation "Pkg.Task"` (or "Pkg/Task") to (library root, task folder).

        Returns the folder holding `task.xxp`, the library it was found in, and the places tried.
        """
        rel = ref.replace("\\", "/").strip("/")
        candidates = [rel]
        if "/" not in rel and "." in rel:
            candidates.insert(0, rel.replace(".", "/"))
        tried: list[Path] = []
        for root in self.task_dirs:
            for c in candidates:
                folder = root / c
                tried.append(folder)
                if (folder / SIGNATURE_FILE).is_file():
                    return root, folder, tried
        return None, None, tried

    def find_task_by_folder_name(self, ref: str) -> tuple[Path, Path] | None:
        """The one library task folder whose own name is `ref` (ExtremeXP specs often omit the
        package folder); None when there is no such folder or more than one."""
        name = ref.replace("\\", "/").strip("/").split("/")[-1]
        hits = [
            (root, sig.parent)
            for root in self.task_dirs
            for sig in root.rglob(f"{name}/{SIGNATURE_FILE}")
        ]
        unique = {folder.resolve(): (root, folder) for root, folder in hits}
        return next(iter(unique.values())) if len(unique) == 1 else None

    def find_workflow_file(self, name: str, near: Path) -> tuple[Path | None, list[Path]]:
        """Resolve `subworkflow "X"` to a file `X.xxp` (the spec's folder first, then the libraries)."""
        rel = name if name.endswith(".xxp") else f"{name.replace('.', '/')}.xxp"
        tried = []
        for root in (near, *self.workflow_dirs):
            path = root / rel
            tried.append(path)
            if path.is_file():
                return path, tried
        return None, tried

    def find_import(self, ref: str, importer_dir: Path) -> tuple[Path | None, list[Path]]:
        """Resolve `import "p";` against the importing file's folder, then the workflow libraries."""
        tried = []
        for root in (importer_dir, *self.workflow_dirs):
            path = root / ref
            tried.append(path)
            if path.is_file():
                return path, tried
        return None, tried

    def conditions_module(self) -> Path | None:
        return next((p for p in self.conditions if p.is_file()), None)

    def configurations_module(self) -> Path | None:
        return next((p for p in self.configurations if p.is_file()), None)


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding xxp.toml, eexp_config.py, pyproject.toml or .git.

    With none (a bare folder of specs), the filesystem root: library folders are then searched in
    every ancestor, which is what a copied ExtremeXP tree needs.
    """
    for folder in (start, *start.parents):
        if any((folder / m).exists() for m in ROOT_MARKERS):
            return folder
    return Path(start.anchor)


def _read_settings(root: Path, start: Path) -> tuple[Path | None, dict]:
    """The nearest xxp.toml or pyproject.toml [tool.xxp] between `start` and `root`."""
    for folder in (start, *start.parents):
        xxp = folder / "xxp.toml"
        if xxp.is_file():
            return xxp, _load_toml(xxp)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            tool = _load_toml(pyproject).get("tool", {}).get("xxp")
            if isinstance(tool, dict):
                return pyproject, tool
        if folder == root:
            break
    return None, {}


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, f"cannot read {path.name}: {exc}") from exc


def _paths(value: object, base: Path, key: str, config: Path | None) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(config, f"'{key}' must be a path or a list of paths")
    return tuple((base / v).resolve() for v in value)


def read_eexp_config(path: Path) -> dict:
    """The literal top-level assignments of an eexp_config.py (`NAME = "…"`, numbers, lists, dicts,
    None); anything else (a call, an expression) is skipped. Never executed."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, UnicodeDecodeError, SyntaxError, ValueError) as exc:
        raise ConfigError(path, f"cannot read {path.name}: {exc}") from exc
    found: dict = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(value)
                except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                    found[target.id] = ...  # set, but not to a literal: named as unused if we do not use it
    return found


def _find_eexp_config(root: Path, start: Path) -> Path | None:
    for folder in (start, *start.parents):
        if (folder / EEXP_CONFIG).is_file():
            return folder / EEXP_CONFIG
        if folder == root:
            break
    return None


def _eexp_path(value: object) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _eexp_module(value: object, base: Path) -> tuple[Path, ...]:
    """`PYTHON_CONDITIONS`: a dotted module (`playground.tasks.experiment_conditions`) or a path."""
    text = _eexp_path(value)
    if text is None:
        return ()
    if text.endswith(".py") or "/" in text:
        return ((base / text).resolve(),)
    return ((base / (text.replace(".", "/") + ".py")).resolve(),)


def _unique(folders: tuple[Path, ...]) -> tuple[Path, ...]:
    """The same folder named twice (eexp_config.py and the default search) is searched once."""
    seen: set[Path] = set()
    out = []
    for folder in folders:
        if folder.resolve() not in seen:
            seen.add(folder.resolve())
            out.append(folder)
    return tuple(out)


def _ancestors(spec_dir: Path, root: Path) -> list[Path]:
    out = []
    for folder in (spec_dir, *spec_dir.parents):
        out.append(folder)
        if folder == root:
            break
    return out


def libraries_for(spec_path: Path) -> Libraries:
    """Search paths for the spec at `spec_path` (raises ConfigError for a broken config file)."""
    spec_dir = spec_path.resolve().parent
    root = find_project_root(spec_dir)
    config_file, settings = _read_settings(root, spec_dir)
    folders = _ancestors(spec_dir, root)

    def defaults(names: tuple[str, ...]) -> tuple[Path, ...]:
        found = []
        for folder in folders:
            for n in names:
                if (folder / n).is_dir():
                    found.append(folder / n)
        return tuple(found)

    base = config_file.parent if config_file else spec_dir
    task_dirs = defaults(DEFAULT_TASK_DIRS)
    workflow_dirs = defaults(DEFAULT_WORKFLOW_DIRS)
    eexp_file = _find_eexp_config(root, spec_dir)
    eexp = read_eexp_config(eexp_file) if eexp_file else {}
    eexp_base = eexp_file.parent if eexp_file else spec_dir

    def eexp_dir(*keys: str) -> tuple[Path, ...]:
        out = []
        for key in keys:
            rel = _eexp_path(eexp.get(key))
            if rel is not None:
                out.append((eexp_base / rel).resolve())
        return tuple(dict.fromkeys(out))

    task_dirs = eexp_dir("TASK_LIBRARY_PATH") + task_dirs
    workflow_dirs = eexp_dir("WORKFLOW_LIBRARY_PATH", "EXPERIMENT_LIBRARY_PATH") + workflow_dirs
    if "task_libraries" in settings:
        task_dirs = _paths(settings["task_libraries"], base, "task_libraries", config_file) + task_dirs
    if "workflow_libraries" in settings:
        workflow_dirs = (
            _paths(settings["workflow_libraries"], base, "workflow_libraries", config_file) + workflow_dirs
        )

    task_dirs, workflow_dirs = _unique(task_dirs), _unique(workflow_dirs)

    def modules(key: str, names: tuple[str, ...], eexp_key: str) -> tuple[Path, ...]:
        if key in settings:
            return _paths(settings[key], base, key, config_file)
        places = [spec_dir, *task_dirs]
        return _eexp_module(eexp.get(eexp_key), eexp_base) + tuple(p / n for p in places for n in names)

    dataset = eexp_dir("DATASET_LIBRARY_RELATIVE_PATH")
    dependencies = eexp_dir("PYTHON_DEPENDENCIES_RELATIVE_PATH")

    return Libraries(
        spec_dir=spec_dir,
        project_root=root,
        config_file=config_file,
        task_dirs=task_dirs,
        workflow_dirs=workflow_dirs,
        conditions=modules("conditions", DEFAULT_CONDITIONS, "PYTHON_CONDITIONS"),
        configurations=modules("configurations", DEFAULT_CONFIGURATIONS, "PYTHON_CONFIGURATIONS"),
        settings=settings,
        eexp_config=eexp_file,
        dataset_dir=dataset[0] if dataset else None,
        dependencies_dir=dependencies[0] if dependencies else None,
        unused_settings=tuple(k for k in eexp if k.isupper() and k not in EEXP_USED),
    )


def library_task_folders(libs: Libraries) -> list[tuple[Path, Path]]:
    """Every (library root, task folder) holding a task.xxp, for `xxp-tui tasks`."""
    seen: set[Path] = set()
    out = []
    for root in libs.task_dirs:
        for sig in sorted(root.rglob(SIGNATURE_FILE)):
            folder = sig.parent.resolve()
            if folder not in seen:
                seen.add(folder)
                out.append((root, sig.parent))
    return out
