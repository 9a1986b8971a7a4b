"""Bulk inserts for tools that write many rows at once (the 1,000-run benchmark KB, imports).

One `executemany` per table inside the caller's write transaction: the engine's one-row writes
would take minutes for millions of rows. Table and column names are checked against the schema,
so no name from outside reaches the SQL text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from xxp_tui.kb.connection import KB, KBError


def insert_many(kb: KB, table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    tables = {r[0] for r in kb.query("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if table not in tables:
        raise KBError(f"no table {table} in {kb.path}")
    known = {r["name"] for r in kb.query(f"PRAGMA table_info({table})")}
    unknown = [c for c in columns if c not in known]
    if unknown:
        raise KBError(f"table {table} has no column {', '.join(unknown)}")
    marks = ", ".join("?" for _ in columns)
    with kb.write():
        kb.conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
