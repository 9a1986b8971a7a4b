"""Task-level cache keys: what a task execution's result depends on, as one hash.

key = sha256(task code + declared dependency files, params, seed, content of every input,
environment signature). Two executions with the same key compute the same thing, so a later one
(in the same run or a later run) can reuse the first one's outputs and metrics instead of running
(DVC's run-cache idea, keyed on content rather than on file existence as Kedro does). The engine
records `code_hash` and `inputs_hash` on every task run too, for traceability and for warm start's
workflow signature.

A task run through the ExtremeXP shim also depends on what it can read besides its inputs: the
values earlier tasks of its variant `put` and the results of the nodes that finished before its
node started. Its key covers both (`shim_extra`), so a reuse never hands it stale values; a native
task's key stays as it was, and so does its reuse across nodes. An input its producer did not write
hashes as `absent`, never as an empty file.

Hashing inputs costs a read of each input; `FileHashes` memoises by (path, size, mtime) so the
outputs of a shared prefix are hashed once per engine, not once per downstream task.
"""

from __future__ import annotations

import glob
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xxp_tui.engine.hashing import Progress, file_sha256
from xxp_tui.lang.model import TaskSignature

ABSENT = "absent"  # the digest of an input that is not there (declared by its producer, never written)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", errors="surrogatepass") + b"\0")
    return h.hexdigest()


@dataclass
class FileHashes:
    """sha256 of files and folders, memoised by (path, size, mtime_ns). `progress` is called as
    large files are read (the engine beats its heartbeat there)."""

    progress: Progress = None
    _seen: dict[tuple[str, int, int], str] = field(default_factory=dict)

    def of(self, path: Path) -> str:
        try:
            st = path.stat()
        except OSError:
            return ABSENT
        if path.is_dir():  # as tree_sha256, with each file's digest memoised (a shared input folder
            # is hashed once per engine, not once per task that reads it)
            h = hashlib.sha256()
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    h.update(p.relative_to(path).as_posix().encode() + b"\0" + self.of(p).encode() + b"\0")
            return h.hexdigest()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if key not in self._seen:
            self._seen[key] = file_sha256(path, self.progress)
        return self._seen[key]


def dependency_files(sig: TaskSignature) -> list[Path]:
    """Files named by `dependency "glob";` lines, in the project's dependencies folder (eexp_config.py)
    when the glob matches there, else relative to the task folder (sorted)."""
    if sig.folder is None:
        return []
    found: set[Path] = set()
    for pattern in sig.dependencies:
        matches: list[str] = []
        for base in (sig.dependency_root, sig.folder):
            if base is not None and not matches:
                matches = glob.glob(str(base / pattern), recursive=True)
        for match in matches:
            p = Path(match)
            if p.is_file():
                found.add(p.resolve())
            elif p.is_dir():
                found.update(q.resolve() for q in p.rglob("*") if q.is_file())
    return sorted(found)


def sibling_modules(sig: TaskSignature) -> list[Path]:
    """Python modules beside the script and in the task folder: both folders are on the task's
    PYTHONPATH, so a helper module there is part of the code even if no `dependency` names it."""
    if sig.script is None:  # a task without a script of its own (an ExtremeXP one resolved elsewhere)
        return []
    folders = {sig.script.parent.resolve()} | ({sig.folder.resolve()} if sig.folder else set())
    return sorted({p.resolve() for folder in folders for p in folder.glob("*.py")} - {sig.script.resolve()})


def code_hash(sig: TaskSignature | None, hashes: FileHashes) -> str | None:
    """Hash of what a task runs: its script, the modules beside it and its dependency files."""
    if sig is None or sig.script is None or not sig.script.is_file():
        return None
    parts = [f"script:{hashes.of(sig.script)}"]
    for path in sorted(set(dependency_files(sig)) | set(sibling_modules(sig))):
        rel = path.name if sig.folder is None or not path.is_relative_to(sig.folder.resolve()) else \
            path.relative_to(sig.folder.resolve())
        parts.append(f"dep:{rel}:{hashes.of(path)}")
    return _digest(*parts)


def inputs_hash(inputs: dict[str, str], hashes: FileHashes) -> str:
    """Hash of the content of every input port (by port name), not of where the files are."""
    return _digest(*(f"{port}:{hashes.of(Path(path))}" for port, path in sorted(inputs.items())))


def environment_signature(packages_hash: str) -> str:
    """The interpreter and installed packages a task runs with: either may change a result."""
    return _digest(sys.version, sys.executable, packages_hash)


def cache_key(code: str, params: dict[str, Any], seed: int, inputs: str, env: str, outputs: list[str],
              extra: str = "") -> str:
    """`outputs`: the output ports the execution must produce (a workflow can link more than the
    task declares); a result with fewer ports cannot stand in for it. `extra`: see shim_extra."""
    parts = ["xxp-cache-2", code, json.dumps(params, sort_keys=True, default=str), str(seed), inputs, env,
             ",".join(sorted(outputs))]
    return _digest(*parts, extra) if extra else _digest(*parts)


def shim_extra(received: dict[str, Any], results_text: str | None) -> str:
    """What a shim task reads besides its inputs: the variables earlier tasks put, the results file."""
    return _digest("xxp-shim-1", json.dumps(received, sort_keys=True, default=str), results_text or "{}")


def outputs_intact(outputs: dict[str, str], recorded: dict[str, str], hashes: FileHashes) -> bool:
    """Every output the execution wrote (its sha256 was recorded) is still there with that digest.
    A port it declared but did not write has no digest: a reuse hands it on unwritten, as it was."""
    for port, path in outputs.items():
        digest = recorded.get(port)
        if digest is not None and hashes.of(Path(path)) != digest:
            return False
    return True
