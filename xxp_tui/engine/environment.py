"""What a run ran on: Python, platform, host, installed packages, and the project's git state.

Recorded once per run so a result can be traced and repeated. git is called with argv lists and a
short timeout; a project outside git simply has no commit.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
from pathlib import Path

from xxp_tui import __version__


def installed_packages() -> dict[str, str | None]:
    """Name -> version of every installed distribution, read again only when a folder of sys.path
    changed (installing, removing or upgrading a package adds or removes a dist-info folder there,
    which changes its mtime); otherwise from a private file in the user cache folder. Scanning
    costs ~25 ms (importlib.metadata's import and the files) at every engine start: a tenth of a
    cached run's whole command."""
    key = _path_state()
    cached = _read_cache(key)
    if cached is not None:
        return cached
    packages = scan_packages()
    _write_cache(key, packages)
    return packages


def _path_state() -> list:
    """The key: each folder of sys.path with its mtime, but the working directory (`python -m`
    puts it first): a KB or a task folder written there changes it, and packages are not installed there."""
    here = os.getcwd()
    state = []
    for entry in sys.path:
        if entry in ("", ".") or entry == here:
            continue
        try:
            state.append([entry, os.stat(entry).st_mtime_ns])
        except OSError:
            state.append([entry, None])
    return [sys.executable, sys.version, state]


def _cache_file() -> Path:
    from xxp_tui.paths import cache_dir

    return cache_dir() / "packages.json"


def _read_cache(key: list) -> dict[str, str | None] | None:
    from xxp_tui.files import read_private

    data = read_private(_cache_file())
    try:
        found = json.loads(data) if data is not None else None
    except ValueError:
        return None
    if not isinstance(found, dict) or found.get("key") != key or not isinstance(found.get("packages"), dict):
        return None
    return found["packages"]


def _write_cache(key: list, packages: dict[str, str | None]) -> None:
    from xxp_tui.files import write_private

    with contextlib.suppress(OSError):  # a cache: the next start scans again
        write_private(_cache_file(), json.dumps({"key": key, "packages": packages}))


def scan_packages() -> dict[str, str | None]:
    """Name -> version of every installed distribution. Only the Name and Version headers are read:
    `dist.metadata` runs the email parser over the whole file (~0.7 ms a package, ~50 ms for a
    typical venv, paid at every engine start), while scanning the header lines costs ~0.04 ms."""
    from importlib import metadata

    found: dict[str, str | None] = {}
    for dist in metadata.distributions():
        name, version = _name_version(dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "")
        if name:
            found[name.lower()] = version
    return dict(sorted(found.items(), key=lambda item: item[0]))  # names are unique


def _name_version(text: str) -> tuple[str | None, str | None]:
    """The Name and Version headers of a core-metadata file (headers end at the first empty line)."""
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() in ("name", "version"):
            headers.setdefault(key.strip().lower(), value.strip())
    return headers.get("name") or None, headers.get("version")


def packages_hash(packages: dict[str, str | None]) -> str:
    return hashlib.sha256(json.dumps(packages, sort_keys=True).encode()).hexdigest()


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(folder: Path) -> dict:
    root = _git(["rev-parse", "--show-toplevel"], folder)
    if root is None:
        return {"git_commit": None, "git_dirty": None, "git_root": None}
    commit = _git(["rev-parse", "HEAD"], folder)
    status = _git(["status", "--porcelain", "--untracked-files=no"], folder)
    return {"git_commit": commit, "git_dirty": int(bool(status)), "git_root": root}


def capture(project_dir: Path, packages: dict[str, str | None] | None = None) -> dict:
    """The run's environment record; `packages`: installed_packages() when the caller has it already
    (the engine reads them once at start: the scan is a tenth of a cached run's whole command)."""
    packages = installed_packages() if packages is None else packages
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = None
    return {
        "python": sys.version.split()[0],
        "implementation": f"{platform.python_implementation()} {sys.executable}",
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "user": user,
        "xxp_version": __version__,
        "packages": json.dumps(packages),
        "packages_hash": packages_hash(packages),
        **git_state(project_dir),
    }
