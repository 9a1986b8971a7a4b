"""What a run ran on: Python, platform, host, installed packages, and the project's git state.

Recorded once per run so a result can be traced and repeated. git is called with argv lists and a
short timeout; a project outside git simply has no commit.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from xxp_tui import __version__


def installed_packages() -> dict[str, str]:
    found = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name:
            found[name.lower()] = dist.version
    return dict(sorted(found.items()))


def packages_hash(packages: dict[str, str]) -> str:
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


def capture(project_dir: Path) -> dict:
    packages = installed_packages()
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
