"""Content hashes: of output artifacts (traceability) and, later, of task inputs (caching)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

CHUNK = 1 << 20


Progress = Callable[[], None] | None  # called every CHUNK read: hashing a large dataset takes
# seconds, and the engine that hashes must keep beating its heartbeat meanwhile


def file_sha256(path: Path, progress: Progress = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            if progress is not None:
                progress()
    return h.hexdigest()


def tree_sha256(folder: Path, progress: Progress = None) -> tuple[str, int]:
    """Hash of a folder: relative paths and contents of its files, in sorted order; and its size."""
    h = hashlib.sha256()
    size = 0
    for p in sorted(folder.rglob("*")):
        if p.is_file():  # a symlinked file counts by its target's content (DVC caches, shared datasets)
            rel = p.relative_to(folder).as_posix()
            h.update(rel.encode() + b"\0" + file_sha256(p, progress).encode() + b"\0")
            size += p.stat().st_size
    return h.hexdigest(), size


def describe_path(path: Path, progress: Progress = None) -> dict:
    """sha256, size and kind of an output file or folder, for the artifacts table."""
    if path.is_dir():
        digest, size = tree_sha256(path, progress)
        return {"sha256": digest, "size": size, "is_dir": 1}
    return {"sha256": file_sha256(path, progress), "size": path.stat().st_size, "is_dir": 0}
