"""Where reusable things are found: task libraries, workflow libraries, conditions modules.

ExtremeXP-compatible by default: with no configuration, the folders `library-tasks/` and `tasks/`
(task libraries) and `library-experiments/` and `workflows/` (workflow libraries) are looked for in
the spec's folder and each parent folder up to the project root, so an ExtremeXP checkout resolves
as it is. `xxp.toml` (top-level keys) or `[tool.xxp]` in pyproject.toml, found the same way,
overrides the defaults; its paths are relative to the file that sets them.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TASK_DIRS = ("library-tasks", "tasks")
DEFAULT_WORKFLOW_DIRS = ("library-experiments", "workflows")
DEFAULT_CONDITIONS = ("experiment_conditions.py", "conditions.py")
DEFAULT_CONFIGURATIONS = ("experiment_configurations.py", "configurations.py")
ROOT_MARKERS = ("xxp.toml", "pyproject.toml", ".git")

SIGNATURE_FILE = "task.xxp"


class ConfigError(Exception):
    """A configuration file that cannot be read; carries the file for the diagnostic."""

    def __init__(self, path: Path, message: str) -> None:
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
    """The nearest folder at or above `start` holding xxp.toml, pyproject.toml or .git.

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


def _paths(value: object, base: Path, key: str, config: Path) -> tuple[Path, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(config, f"'{key}' must be a path or a list of paths")
    return tuple((base / v).resolve() for v in value)


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
    if "task_libraries" in settings:
        task_dirs = _paths(settings["task_libraries"], base, "task_libraries", config_file) + task_dirs
    if "workflow_libraries" in settings:
        workflow_dirs = (
            _paths(settings["workflow_libraries"], base, "workflow_libraries", config_file) + workflow_dirs
        )

    def modules(key: str, names: tuple[str, ...]) -> tuple[Path, ...]:
        if key in settings:
            return _paths(settings[key], base, key, config_file)
        places = [spec_dir, *task_dirs]
        return tuple(p / n for p in places for n in names)

    return Libraries(
        spec_dir=spec_dir,
        project_root=root,
        config_file=config_file,
        task_dirs=task_dirs,
        workflow_dirs=workflow_dirs,
        conditions=modules("conditions", DEFAULT_CONDITIONS),
        configurations=modules("configurations", DEFAULT_CONFIGURATIONS),
        settings=settings,
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
