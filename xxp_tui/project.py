"""Where a project keeps its knowledge: one knowledge base per project root, found from anywhere inside it.

A user types `make run` (or `xxp-tui run sub/dir/exp.xxp`) in one folder and, later, `xxp-tui attach`
or `xxp-tui runs` in the same folder or another one of the same project. Both must meet the same
file. So the KB does not live beside the spec but at the *project root*: the nearest folder at or
above the spec holding `xxp.toml`, `eexp_config.py`, `pyproject.toml` or `.git` (else the spec's own
folder). That root holds `.xxp/kb.sqlite` and `.xxp/runs/`.

`--db` / `$XXP_DB` still win; the run folders then go beside that KB, never into the spec's folder.
Earlier versions kept the KB beside the spec; when such an older file is also there, the lookup
names both in one line, so nobody's runs seem to vanish.

Standard library only: the CLI imports this for `--help`-light commands.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

MARKERS = ("xxp.toml", "eexp_config.py", "pyproject.toml", ".git")
STATE_DIR = ".xxp"
KB_NAME = "kb.sqlite"


def project_root(start: Path) -> Path | None:
    """The nearest folder at or above `start` (a folder) holding a project marker, or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in MARKERS):
            return folder
    return None


def root_for_spec(spec: Path) -> Path:
    """The project root a spec belongs to: the nearest marked folder above it, else its own folder."""
    folder = spec.resolve().parent
    return project_root(folder) or folder


def project_kb(root: Path) -> Path:
    return root / STATE_DIR / KB_NAME


def kb_for_spec(spec: Path) -> Path:
    """The KB a new run of `spec` is recorded in: `$XXP_DB`, else the project root's `.xxp/kb.sqlite`."""
    env = os.environ.get("XXP_DB")
    if env:
        return Path(env).expanduser()
    return project_kb(root_for_spec(spec))


def older_spec_kb(spec: Path, chosen: Path) -> Path | None:
    """A KB an earlier version left beside `spec`, if it exists and is not `chosen`."""
    old = spec.resolve().parent / STATE_DIR / KB_NAME
    return old if old.is_file() and old.resolve() != chosen.resolve() else None


@dataclass(frozen=True)
class Found:
    """The KB a command reads, and another one it passed over (an older spec-folder KB), if any."""

    path: Path | None
    other: Path | None = None


def find_kb(cwd: Path | None = None) -> Found:
    """The KB of the project `cwd` is in: the project root's `.xxp/kb.sqlite` when it exists, else the
    nearest `.xxp/kb.sqlite` from `cwd` upwards (a bare folder of specs, or a KB an earlier version
    left beside a spec). A spec-folder KB between `cwd` and the root is reported as `other`."""
    here = (cwd or Path.cwd()).resolve()
    root = project_root(here)
    nearest = next((project_kb(f) for f in (here, *here.parents) if project_kb(f).is_file()), None)
    if root is not None and project_kb(root).is_file():
        chosen = project_kb(root)
        other = nearest if nearest is not None and nearest != chosen and root in nearest.parents else None
        return Found(chosen, other)
    return Found(nearest)


def two_kbs_hint(chosen: Path, other: Path) -> str:
    """One line naming both files and how to open the one not chosen."""
    return (f"xxp-tui: using the project's knowledge base {chosen}; an older one is at {other} "
            f"(open it with --db {other})")


def runs_root(db: Path) -> Path:
    """Where the run folders of the KB `db` go: `.xxp/runs/` beside it (its own `.xxp/` when the KB is
    itself in one, else a `.xxp/` made in the KB's folder)."""
    folder = Path(db).resolve().parent
    return (folder if folder.name == STATE_DIR else folder / STATE_DIR) / "runs"


def run_folder_name(db: Path, run_id: int) -> str:
    """`r3` for a `.xxp/kb.sqlite`; any other KB file tags it (`r3-kb1a2b…`), so two KBs that share a
    folder never share run folders."""
    db = Path(db).resolve()
    if db.name == KB_NAME and db.parent.name == STATE_DIR:
        return f"r{run_id}"
    return f"r{run_id}-kb{hashlib.sha256(str(db).encode()).hexdigest()[:10]}"


def make_private(folder: Path) -> Path:
    """Create `folder` (and parents) and make it 0700: everything below it is out of others' reach."""
    folder.mkdir(parents=True, exist_ok=True)
    if folder.stat().st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder
