"""Writing a user's file safely (`xxp-tui fmt --write`, `new`, the designer's save), and the
private cache files kept under the user cache folder (the spec cache, the installed packages).

Standard library only (the CLI imports it; Textual must not come with it).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: Path, text: str | bytes, mode: int | None = None) -> None:
    """Write beside and rename over, so a crash never leaves half a file. `mode`: the file's; by
    default a new file is private and an existing one keeps its mode."""
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o600
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8") if isinstance(text, str) else text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_private(path: Path, data: str | bytes) -> None:
    """Keep a cache file: 0600 in a 0700 folder, written whole or not at all."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    atomic_write(path, data, mode=0o600)


def read_private(path: Path) -> bytes | None:
    """A cache file's bytes, only when it is a plain file of this user that nobody else may read or
    change (anything else could have been planted: it is no cache hit); None otherwise."""
    try:
        info = os.lstat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        return path.read_bytes()
    except OSError:
        return None
