"""Bulk inserts for tools that write many rows at once (the 1,000-run benchmark KB, imports).

One `executemany` per table inside the caller's write transaction: the engine's one-row writes
would take minutes for millions of rows. Table and column names are checked against the schema,
so no name from outside reaches the SQL text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from xxp_tui.kb.connection import KB, KBError, row_id


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


def _value(value):
    """What sqlite-utils stored for a value: JSON for lists and dicts, the value itself otherwise."""
    return json.dumps(value) if isinstance(value, dict | list | tuple) else value


def insert_row(kb: KB, table: str, row: dict, upsert_key: str | None = None) -> int:
    """One row (JSON for list and dict values), or, with `upsert_key`, replace the row with that key's
    value: what the engine's writers used sqlite-utils for, without importing it (it imports pandas:
    seconds on the start of every run)."""
    names = ", ".join(f'"{c}"' for c in row)
    marks = ", ".join("?" for _ in row)
    sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
    if upsert_key is not None:
        sets = ", ".join(f'"{c}" = excluded."{c}"' for c in row if c != upsert_key)
        sql += f' ON CONFLICT("{upsert_key}") DO UPDATE SET {sets}'
    with kb.write():
        return row_id(kb.conn.execute(sql, [_value(v) for v in row.values()]))
