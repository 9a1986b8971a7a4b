"""Opening the knowledge base: one SQLite file, WAL, private to the user, short write transactions.

Every write goes through `KB.write()`, which starts `BEGIN IMMEDIATE`: in WAL mode a deferred
transaction that later wants to write can fail at once with SQLITE_BUSY instead of waiting, so
taking the write lock up front is what lets the engine and several CLI processes share the file
without "database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_DIR = ".xxp"
DEFAULT_NAME = "kb.sqlite"
BUSY_TIMEOUT_MS = 30_000


class KBError(Exception):
    """A knowledge-base problem worth a sentence to the user (missing file, newer schema…)."""


# Statement parameters: positional or named.
Params = Sequence[Any] | Mapping[str, Any]


def row_id(cursor: sqlite3.Cursor) -> int:
    """The id of the row an INSERT just made (sqlite3 types it optional: it is None before any INSERT)."""
    rid = cursor.lastrowid
    assert rid is not None
    return rid


# What the database raises when a statement or its storage fails. Code above kb catches this name, so
# that only kb imports the sqlite modules (tests/test_layers.py).
DatabaseError = sqlite3.Error


# SQLite result codes (low byte of the extended code) that mean the file or its disk failed, not
# the statement: full, I/O error, corrupt, read-only, cannot open, not a database.
_STORAGE_CODES = {13: "full", 10: "ioerr", 11: "corrupt", 8: "readonly", 14: "cantopen", 26: "notadb"}


def storage_failure(exc: BaseException) -> str | None:
    """"full", "ioerr", "corrupt"… when `exc` is SQLite saying its storage failed; else None."""
    if not isinstance(exc, sqlite3.Error):
        return None
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        text = str(exc).lower()
        return "full" if "disk is full" in text else "ioerr" if "disk i/o" in text else None
    return _STORAGE_CODES.get(code & 0xFF)


def storage_sentence(path: Path, exc: BaseException) -> str | None:
    """What to tell a user whose KB's storage failed, or None when `exc` is not that. Said
    plainly, because "not a knowledge base (disk I/O error)" invites deleting a healthy file."""
    kind = storage_failure(exc)
    if kind in ("cantopen", "ioerr", "readonly") and _read_only(path):
        kind = "readonly"
    elif kind == "ioerr" and _disk_nearly_full(path):  # e.g. no room to create the -shm file: SQLite says I/O error
        kind = "full"
    if kind == "full":
        return f"disk full: the disk holding {path} has no space left; free some and try again (the KB is intact)"
    if kind == "readonly":
        return f"{path} is read-only: use --read-only viewers, or copy it somewhere writable"
    if kind == "ioerr":
        return f"disk I/O error on {path} ({exc}); check the disk, the KB itself may be intact"
    if kind == "cantopen":
        return f"cannot open {path} ({exc}): is its folder writable?"
    return None


def _read_only(path: Path) -> bool:
    """The KB (or its folder, where SQLite keeps -wal and -shm) cannot be written."""
    path = Path(path)
    try:
        if os.statvfs(path.parent).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        return False
    return not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK))


def _disk_nearly_full(path: Path) -> bool:
    try:
        st = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1024 * 1024


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
        if self.path.exists() and not self.path.is_file():
            # SQLite would open a device and create its journal beside it (/dev/null-journal).
            raise KBError(f"{self.path} is not a regular file; a knowledge base is one (e.g. .xxp/kb.sqlite)")
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
            raise KBError(storage_sentence(self.path, exc)
                          or f"{self.path} is not an xxp-tui knowledge base ({exc})") from exc
        from xxp_tui.kb.schema import migrate

        try:
            migrate(self)
        except sqlite3.Error as exc:
            sentence = storage_sentence(self.path, exc)
            if sentence is None:
                raise
            conn.close()
            raise KBError(sentence) from exc
        if readonly:
            conn.execute("PRAGMA query_only=1")

    def abandon_transaction(self) -> None:
        """Roll back a write that failed half-way (a full disk), so the next, smaller write can be tried."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

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

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def row(self, sql: str, params: Params = ()) -> sqlite3.Row:
        """The one row a query is sure to return (an aggregate, or a row known to exist)."""
        row = self.conn.execute(sql, params).fetchone()
        assert row is not None, sql
        return row

    def scalar(self, sql: str, params: Params = ()):
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    def data_version(self) -> int:
        """Changes when another connection commits: a cheap "anything new?" for pollers."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]


def open_kb(path: Path | str, *, create: bool = True, readonly: bool = False) -> KB:
    return KB(Path(path), create=create, readonly=readonly)
