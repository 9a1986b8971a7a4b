"""Versions of a run's spec: the first one it started with, then one per amendment.

A run executes its latest version; every variant records the version it was sampled under
(`variants.spec_version`), so a result can always be traced to the exact text that produced it.
The engine adds a version in the same transaction as the amendment's effects, so a version exists
exactly when its effects do.
"""

from __future__ import annotations

import difflib
import json
import time
from dataclasses import dataclass

from xxp_tui.kb.connection import KB, KBError


@dataclass(frozen=True)
class SpecVersion:
    run_id: int
    version: int
    path: str | None
    text: str
    hash: str | None
    diff: str  # unified diff from the previous version ("" for the first)
    issuer: str | None
    created: float
    summary: list[str]  # what the amendment did, one line each

    @property
    def label(self) -> str:
        return f"s{self.version}"


def _version(row) -> SpecVersion:
    try:
        summary = json.loads(row["summary"] or "[]")
    except ValueError:
        summary = []
    return SpecVersion(row["run_id"], row["version"], row["path"], row["text"] or "", row["hash"], row["diff"] or "",
                       row["issuer"], row["created"], summary if isinstance(summary, list) else [])


def unified_diff(old: str, new: str, old_name: str = "before", new_name: str = "after") -> str:
    """The unified diff of two spec texts ("" when they are the same)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))


def for_run(kb: KB, run_id: int) -> list[SpecVersion]:
    """Every version of a run, oldest first. A run recorded without versions (merged from an older
    KB) has its recorded spec as its only version."""
    rows = kb.query("SELECT * FROM spec_versions WHERE run_id = ? ORDER BY version", (run_id,))
    if rows:
        return [_version(r) for r in rows]
    run = kb.one("SELECT id, spec_path, spec_text, spec_hash, created FROM runs WHERE id = ?", (run_id,))
    if run is None:
        return []
    return [SpecVersion(run_id, 1, run["spec_path"], run["spec_text"] or "", run["spec_hash"], "", None,
                        run["created"], [])]


def current_number(kb: KB, run_id: int) -> int:
    """The number of the version a run executes (cheap: for a viewer's every poll)."""
    return kb.scalar("SELECT MAX(version) FROM spec_versions WHERE run_id = ?", (run_id,)) or 1


def latest(kb: KB, run_id: int) -> SpecVersion:
    """The version a run executes. Every run has one (its first is written with the run, and the
    migration gave older runs theirs), so none means a damaged knowledge base: said in a sentence."""
    versions = for_run(kb, run_id)
    if not versions:
        raise KBError(f"r{run_id} has no spec version in {kb.path}; the knowledge base is damaged")
    return versions[-1]


def get(kb: KB, run_id: int, version: int) -> SpecVersion | None:
    return next((v for v in for_run(kb, run_id) if v.version == version), None)


def add(kb: KB, run_id: int, *, path: str | None, text: str, hash: str | None, issuer: str | None,
        summary: list[str] | None = None) -> SpecVersion:
    """Record a new version (the next number) with its diff from the latest one."""
    with kb.write():
        previous = latest(kb, run_id)
        number = (previous.version + 1) if previous else 1
        diff = unified_diff(previous.text, text, f"s{previous.version}", f"s{number}") if previous else ""
        kb.conn.execute(
            "INSERT INTO spec_versions (run_id, version, path, text, hash, diff, issuer, created, summary)"
            " VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, number, path, text, hash, diff, issuer, time.time(), json.dumps(summary or [])))
    return SpecVersion(run_id, number, path, text, hash, diff, issuer, time.time(), summary or [])
