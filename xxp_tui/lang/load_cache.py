"""Reuse the parse and resolution of an unchanged spec across commands (issue 19: start-up).

Every command that reads a spec (validate, run, resume, the viewer, the engine) used to parse the
entry file and every library file with lark, resolve names and order the DAGs with networkx:
most of a quick command's time. The result of a clean load (no error) is kept in a private file
under the user cache folder (xxp_tui/paths.py) and reused while nothing it could depend on has
changed:

- the key: the entry spec's absolute path, the working directory (diagnostics print paths
  relative to it), the XXP_* environment, the Python and xxp-tui versions and the loader's own
  source files (so a changed model class never meets an old pickle);
- checked on reuse: the content hash of every file the load read (spec, imports, task
  signatures, config), a listing (name, mtime, size) of every folder the load searched (the spec's,
  the task and workflow libraries, the folders of files read outside them) and the mtimes of the
  folders up to the project root. A new, removed or edited file there (a task that would now
  shadow another, a script, a new xxp.toml) means a full load.
  A listing too large to be cheap (more than MAX_ENTRIES entries) is not cached at all.

The file is a pickle, read only when this user wrote it (owner, mode 0600 in a 0700 folder) and
its first line is the key asked for; anything unexpected is a miss, never an error.
"""

from __future__ import annotations

import copyreg
import hashlib
import io
import json
import os
import pickle
import sys
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xxp_tui.lang.library import Libraries
    from xxp_tui.lang.loader import LoadResult

FORMAT = 1
MAX_ENTRIES = 5000
SKIPPED_DIRS = ("__pycache__", "node_modules")
# Files whose appearance or change can alter a load: specs, configs, scripts a task names,
# requirements files. A KB, its -wal file, logs or data written beside the spec are not among them,
# so running an experiment does not throw its own spec out of the cache.
RELEVANT = (".xxp", ".toml", ".py", ".txt", ".cfg", ".sh", ".R", ".jl", ".js", ".pl", ".rb")


def _proxy(items: dict) -> MappingProxyType:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType):
    return _proxy, (dict(proxy),)


def cache_file(entry: Path) -> Path:
    from xxp_tui.paths import cache_dir

    return cache_dir() / "specs" / f"{_key(entry)}.pickle"


def _key(entry: Path) -> str:
    from xxp_tui import __version__

    spec_pkg = Path(__file__).parent
    code = sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in spec_pkg.iterdir() if p.suffix in
                  (".py", ".lark"))
    parts = [FORMAT, __version__, sys.version, str(entry.resolve()), os.getcwd(),
             sorted((k, v) for k, v in os.environ.items() if k.startswith("XXP_")), code]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _listing(roots: list[Path]) -> list | None:
    """(path, mtime, size) of every entry under `roots` (hidden folders and caches skipped), or None
    when there are more than MAX_ENTRIES."""
    out: list = []
    stack = list(roots)
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            out.append((str(folder), None))
            continue
        out.append((str(folder), "dir"))
        for e in entries:
            if e.name.startswith(".") or e.name in SKIPPED_DIRS:
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                    continue
                if not e.name.endswith(RELEVANT):
                    continue
                st = e.stat()
            except OSError:
                continue
            out.append((e.path, st.st_mtime_ns, st.st_size))
        if len(out) > MAX_ENTRIES:
            return None
    return sorted(out, key=lambda item: item[0])


def _ancestors(libs: Libraries) -> list[Path]:
    """The folders above the spec's up to the project root, where a new xxp.toml, pyproject.toml or
    .git would change the root or the libraries."""
    spec_dir, root = libs.spec_dir.resolve(), libs.project_root.resolve()
    return [d for d in spec_dir.parents if d.is_relative_to(root)] if spec_dir.is_relative_to(root) else []


def _flat(folders: list[Path]) -> list:
    from xxp_tui.lang.library import ROOT_MARKERS

    return [(str(folder), [(m, (folder / m).exists()) for m in ROOT_MARKERS]) for folder in folders]


def _roots(libs: Libraries, files: list[Path]) -> list[Path]:
    """The folders a load searched (their whole trees), none inside another."""
    places = {p.resolve() for p in (libs.spec_dir, *libs.task_dirs, *libs.workflow_dirs)}
    places |= {f.resolve().parent for f in files}
    kept: list[Path] = []
    for place in sorted(places, key=lambda p: len(p.parts)):
        if not any(place.is_relative_to(k) for k in kept):
            kept.append(place)
    return kept


def _files_read(result: LoadResult, libs: Libraries) -> list[Path]:
    files = list(result.project.files) if result.project else []
    files += [p for p in (libs.config_file, libs.eexp_config, *libs.conditions, *libs.configurations) if p]
    return files


def enabled() -> bool:
    """XXP_SPEC_CACHE=0 turns the cache off (to measure what it saves, or to rule it out)."""
    return os.environ.get("XXP_SPEC_CACHE", "1") != "0"


def lookup(entry: Path) -> LoadResult | None:
    """The kept result of loading `entry`, if nothing it depends on changed; else None."""
    if not enabled():
        return None
    try:
        from xxp_tui.files import read_private

        path = cache_file(entry)
        data = read_private(path)
        if data is None:
            return None
        head, _, payload = data.partition(b"\n")
        if head != path.stem.encode():
            return None
        files, roots, listing, ancestors, result = pickle.loads(payload)
        if any(_digest(Path(f)) != digest for f, digest in files):
            return None
        if _flat([Path(a) for a, _ in ancestors]) != ancestors or _listing([Path(r) for r in roots]) != listing:
            return None
        return result
    except Exception:
        return None


def store(entry: Path, result: LoadResult, libs: Libraries | None) -> None:
    """Keep a clean load's result (one with errors is never kept: a fix may be a new file anywhere)."""
    if not result.ok or libs is None or not enabled():
        return
    try:
        files = _files_read(result, libs)
        roots = _roots(libs, files)
        listing = _listing(roots)
        if listing is None:
            return
        buffer = io.BytesIO()
        pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = {**copyreg.dispatch_table, MappingProxyType: _reduce_proxy}
        ancestors = _flat(_ancestors(libs))
        pickler.dump(([(str(f), _digest(f)) for f in files], [str(r) for r in roots], listing, ancestors, result))
        from xxp_tui.files import write_private

        path = cache_file(entry)
        write_private(path, path.stem.encode() + b"\n" + buffer.getvalue())
    except Exception:
        return
