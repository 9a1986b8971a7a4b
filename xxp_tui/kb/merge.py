"""`kb merge`: bring another knowledge base's finished runs into this one.

A colleague's KB, or another project's, becomes part of this one: its runs, variants, task
executions, metrics, artifacts, commands, events and notes are copied with new ids (every
reference between them remapped), so the task cache and warm start find them like local ones.

- Idempotent: a run is known by its `uid` (given when it is created); a run already here is not
  copied again, whether it came directly or through a third KB.
- Provenance: a merged run keeps where it came from (`merged_from`: the file it was first merged
  from, `merged_run`: its id there) and when it was merged.
- Safe for the other file: it is read through a private snapshot (SQLite's backup API), so a live
  engine writing it is not disturbed and an older schema is migrated in the copy, not in place.
- Only finished runs are merged: a run still going would be copied half-way. Notes are not run
  state: those written there after a run was merged come with the next merge.
"""

from __future__ import annotations

import os
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from xxp_tui.kb.connection import KB, KBError, open_kb, row_id
from xxp_tui.kb.runs import FINISHED_RUN_STATES

LABEL = re.compile(r"^([rv])(\d+)$")  # an event's target: a run or a variant, remapped on merge


@dataclass
class MergeReport:
    source: str
    added: list[tuple[int, int]] = field(default_factory=list)  # (id there, id here)
    already: list[int] = field(default_factory=list)
    unfinished: list[tuple[int, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n

    def to_json(self) -> dict:
        return {"source": self.source, "added": [{"there": f"r{a}", "here": f"r{b}"} for a, b in self.added],
                "already_here": [f"r{a}" for a in self.already],
                "unfinished": [{"run": f"r{a}", "status": s} for a, s in self.unfinished], "rows": self.rows}


def snapshot(path: Path, folder: Path) -> Path:
    """A consistent private copy of a SQLite file (readable while another process writes it)."""
    copy = folder / "snapshot.sqlite"
    fd = os.open(copy, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(str(copy))
            try:
                src.backup(dst)
                is_kb = dst.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.DatabaseError as exc:
        raise KBError(f"{path} is not an xxp-tui knowledge base ({exc})") from None
    if not is_kb:
        raise KBError(f"{path} is not an xxp-tui knowledge base (it has no runs)")
    return copy


def merge(kb: KB, other: Path) -> MergeReport:
    """Copy the finished runs of the KB file `other` that this KB does not hold yet."""
    other = Path(other).expanduser()
    if not other.is_file():
        raise KBError(f"no knowledge base at {other}")
    if other.resolve() == kb.path.resolve():
        raise KBError(f"{other} is this knowledge base; merge another one")
    with tempfile.TemporaryDirectory(prefix="xxp-merge-") as folder:
        source = open_kb(snapshot(other, Path(folder)), create=False)
        try:
            source.scalar("SELECT count(*) FROM runs")
        except sqlite3.DatabaseError as exc:
            source.close()
            raise KBError(f"{other} is not an xxp-tui knowledge base ({exc})") from None
        try:
            return _merge(kb, source, str(other.resolve()))
        finally:
            source.close()


def _columns(kb: KB, table: str) -> list[str]:
    return [r["name"] for r in kb.query(f"PRAGMA table_info({table})")]


class _Copier:
    """Copies rows of one table to the target with new ids, remapping references."""

    def __init__(self, target: KB, source: KB, report: MergeReport) -> None:
        self.target, self.source, self.report = target, source, report
        self.shared: dict[str, list[str]] = {}

    def columns(self, table: str) -> list[str]:
        if table not in self.shared:
            here = set(_columns(self.target, table))
            self.shared[table] = [c for c in _columns(self.source, table) if c in here and c != "id"]
        return self.shared[table]

    def copy(self, table: str, rows: list[sqlite3.Row], fix: Callable[[dict], dict]) -> dict[int, int]:
        """Insert `rows` (fixed by `fix`); returns old id -> new id (tables with an `id`)."""
        cols = self.columns(table)
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        ids: dict[int, int] = {}
        for r in rows:
            values = fix(dict(r))
            cur = self.target.conn.execute(sql, [values.get(c) for c in cols])
            if "id" in values:
                ids[values["id"]] = row_id(cur)
        self.report.count(table, len(rows))
        return ids


def _merge(kb: KB, source: KB, origin: str) -> MergeReport:
    report = MergeReport(origin)
    copier = _Copier(kb, source, report)
    variant_map: dict[int, int] = {}
    task_run_map: dict[int, int] = {}
    run_map: dict[int, int] = {}
    now = time.time()
    with kb.write():
        for run in source.query("SELECT * FROM runs ORDER BY id"):
            here = kb.one("SELECT id FROM runs WHERE uid = ?", (run["uid"],)) if run["uid"] else None
            if here is not None:
                report.already.append(run["id"])
                run_map[run["id"]] = here["id"]
                _pair_up(kb, source, run["id"], here["id"], variant_map, task_run_map)
                _new_notes(copier, run["id"], here["id"], variant_map)
                continue
            if run["status"] not in FINISHED_RUN_STATES:
                report.unfinished.append((run["id"], run["status"]))
                continue
            new_run = _copy_run(copier, run, origin, now, variant_map, task_run_map)
            run_map[run["id"]] = new_run
            report.added.append((run["id"], new_run))
    return report


def _pair_up(kb: KB, source: KB, there: int, here: int, variant_map: dict[int, int],
             task_run_map: dict[int, int]) -> None:
    """Ids of a run merged before, matched in order (a finished run's rows do not change), so later
    runs' references to it (a warm start's source, a cache hit's source) still resolve."""
    def ids(db: KB, sql: str, run_id: int) -> list[int]:
        return [r[0] for r in db.query(sql, (run_id,))]

    for sql, mapping in (
        ("SELECT id FROM variants WHERE run_id = ? ORDER BY id", variant_map),
        ("SELECT t.id FROM task_runs t JOIN variants v ON v.id = t.variant_id WHERE v.run_id = ? ORDER BY t.id",
         task_run_map),
    ):
        old, new = ids(source, sql, there), ids(kb, sql, here)
        if len(old) == len(new):
            mapping.update(zip(old, new, strict=True))


def _new_notes(c: _Copier, there: int, here: int, variant_map: dict[int, int]) -> None:
    """Notes written there on a run merged before (a colleague keeps learning): the ones not here yet
    (same author, time and text) are added, so merging again still adds nothing twice."""
    have = {(r["author"], r["time"], r["text"])
            for r in c.target.query("SELECT author, time, text FROM notes WHERE run_id = ?", (here,))}
    fresh = [r for r in c.source.query("SELECT * FROM notes WHERE run_id = ? ORDER BY id", (there,))
             if (r["author"], r["time"], r["text"]) not in have]
    if fresh:
        c.copy("notes", fresh, lambda r: {**r, "run_id": here, "variant_id": variant_map.get(r["variant_id"])
                                          if r["variant_id"] is not None else None})


def _copy_run(c: _Copier, run: sqlite3.Row, origin: str, now: float, variant_map: dict[int, int],
              task_run_map: dict[int, int]) -> int:
    rid = run["id"]
    (new_run,) = c.copy("runs", [run], lambda r: {
        **r, "merged_from": r.get("merged_from") or origin, "merged_run": r.get("merged_run") or rid,
        "merged_at": now}).values()

    def of_run(table: str) -> list[sqlite3.Row]:
        return c.source.query(f"SELECT * FROM {table} WHERE run_id = ? ORDER BY rowid", (rid,))

    def of_variants(table: str) -> list[sqlite3.Row]:
        return c.source.query(f"SELECT x.* FROM {table} x JOIN variants v ON v.id = x.variant_id"
                              f" WHERE v.run_id = ? ORDER BY x.id", (rid,))

    def mapped(mapping: dict[int, int], old: int | None) -> int | None:
        return mapping.get(old) if old is not None else None

    c.copy("environment", of_run("environment"), lambda r: {**r, "run_id": new_run})
    c.copy("spec_versions", of_run("spec_versions"), lambda r: {**r, "run_id": new_run})
    c.copy("nodes", of_run("nodes"), lambda r: {**r, "run_id": new_run})
    variant_map.update(c.copy("variants", of_run("variants"), lambda r: {
        **r, "run_id": new_run, "source_variant": mapped(variant_map, r["source_variant"])}))
    task_runs = of_variants("task_runs")
    # A cache hit's source is an earlier task run: of an earlier run (mapped already) or of this one.
    for r in task_runs:
        (task_run_map[r["id"]],) = c.copy("task_runs", [r], lambda x: {
            **x, "variant_id": variant_map[x["variant_id"]],
            "cache_source": mapped(task_run_map, x["cache_source"])}).values()
    for table in ("metrics", "artifacts"):
        c.copy(table, of_variants(table), lambda r: {**r, "variant_id": variant_map[r["variant_id"]]})
    commands = c.copy("commands", of_run("commands"), lambda r: {**r, "run_id": new_run})

    def relabel(target: str | None) -> str | None:
        m = LABEL.match(target or "")
        if not m:
            return target
        new = (variant_map if m.group(1) == "v" else {rid: new_run}).get(int(m.group(2)))
        return f"{m.group(1)}{new}" if new is not None else target

    c.copy("events", of_run("events"), lambda r: {
        **r, "run_id": new_run, "command_id": mapped(commands, r["command_id"]), "target": relabel(r["target"])})
    c.copy("notes", of_run("notes"), lambda r: {
        **r, "run_id": new_run, "variant_id": mapped(variant_map, r["variant_id"])})
    return new_run
