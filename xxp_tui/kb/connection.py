"""Opening the knowledge base: one SQLite file, WAL, private to the user, short write transactions.

Every write goes through `KB.write()`, which starts `BEGIN IMMEDIATE`: in WAL mode a deferred
transaction that later wants to write can fail at once with SQLITE_BUSY instead of waiting, so
taking the write lock up front is what lets the engine and several CLI processes share the file
without "database is locked". sqlite-utils writes inside it become savepoints.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

DEFAULT_DIR = ".xxp"
DEFAULT_NAME = "kb.sqlite"
BUSY_TIMEOUT_MS = 30_000


class KBError(Exception):
    """A knowledge-base problem worth a sentence to the user (missing file, newer schema…)."""


def default_db_path(spec: Path | None = None, cwd: Path | None = None) -> Path:
    """`$XXP_DB`, else `.xxp/kb.sqlite` at the spec's project root (xxp_tui.project), else in the working dir."""
    from xxp_tui.project import kb_for_spec

    if spec is not None:
        return kb_for_spec(spec)
    env = os.environ.get("XXP_DB")
    if env:
        return Path(env).expanduser()
    return (cwd or Path.cwd()) / DEFAULT_DIR / DEFAULT_NAME


def _create_private(path: Path) -> None:
    """Make the folder (0700) and an empty file (0600) before SQLite opens it, so the database,
    its -wal and -shm files (which SQLite creates with the file's mode) are private."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.name == DEFAULT_DIR:
        os.chmod(path.parent, 0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


class KB:
    """One connection to the knowledge base. Not shared between threads: open one per thread."""

    def __init__(self, path: Path, *, create: bool = True, readonly: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise KBError(f"no knowledge base at {self.path}")
            _create_private(self.path)
        try:
            conn = sqlite3.connect(
                str(self.path), isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise KBError(f"cannot open {self.path}: {exc}") from exc
        conn.row_factory = sqlite3.Row
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self.readonly = readonly
        self._owner = threading.get_ident()
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise KBError(f"{self.path} is not an xxp-tui knowledge base ({exc})") from exc
        from xxp_tui.kb.schema import migrate

        migrate(self)
        if readonly:
            conn.execute("PRAGMA query_only=1")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> KB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def write(self) -> Iterator[KB]:
        """A short write transaction (nested calls join the outer one)."""
        if self.conn.in_transaction:
            yield self
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: tuple | dict = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def scalar(self, sql: str, params: tuple | dict = ()):
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def data_version(self) -> int:
        """Changes when another connection commits: a cheap "anything new?" for pollers."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]


def open_kb(path: Path | str, *, create: bool = True, readonly: bool = False) -> KB:
    return KB(Path(path), create=create, readonly=readonly)
