"""The two small files a task's supervisor writes beside the task's own files (standard library only).

- `proc.json`, when the task has started: its pid, process group and the supervisor's pid. An engine
  that died before recording the pid in the KB still lets the next one find the task.
- `exit.json`, when the task has ended: exit code or signal, the reason it was stopped (log limit,
  cancel), when it ended, the tail of its stderr and its resource usage (CPU seconds, peak RSS).
  The task's end is known without the engine that started it: a resumed engine collects it.

Both are written whole (a temporary file renamed over), private (0600), so a reader never sees half
a record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PROC_RECORD = "proc.json"
EXIT_RECORD = "exit.json"


def write_record(path: Path | str, data: dict) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, path)


def read_record(path: Path | str) -> dict | None:
    """The record, or None when it is not there (yet) or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def exit_record(cwd: Path | str) -> dict | None:
    return read_record(Path(cwd) / EXIT_RECORD)


def proc_record(cwd: Path | str) -> dict | None:
    return read_record(Path(cwd) / PROC_RECORD)
