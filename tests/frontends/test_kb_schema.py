"""The knowledge base's schema is plain SQL (kb/schema.py): a new KB's schema text is exactly the
one sqlite-utils made before (kb_schema.sql, dumped from a KB created with it), and a KB of the
first schema migrates to the same text, its rows kept."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from xxp_tui.kb import open_kb
from xxp_tui.kb.schema import SCHEMA_VERSION, V1

GOLDEN = Path(__file__).with_name("kb_schema.sql")


def schema_text(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid").fetchall()
    finally:
        conn.close()
    return "".join(f"{sql};\n" for (sql,) in rows)


def test_a_new_kb_has_the_schema_text_of_every_earlier_one(tmp_path: Path):
    with open_kb(tmp_path / "kb.sqlite") as kb:
        assert kb.scalar("PRAGMA user_version") == SCHEMA_VERSION
    assert schema_text(tmp_path / "kb.sqlite") == GOLDEN.read_text()


def test_a_first_schema_kb_migrates_to_the_same_text_and_keeps_its_rows(tmp_path: Path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in V1.split(";\n"):
        code = "\n".join(line for line in statement.splitlines() if not line.startswith("--")).strip()
        if code:
            conn.execute(code)
    conn.execute("INSERT INTO runs (id, experiment, status, spec_path, created, spec_text) "
                 "VALUES (1, 'E', 'completed', 'e.xxp', 1.0, 'experiment E {}')")
    conn.execute("PRAGMA user_version = 1")
    conn.close()
    with open_kb(path) as kb:
        assert kb.scalar("PRAGMA user_version") == SCHEMA_VERSION
        assert kb.scalar("SELECT text FROM spec_versions WHERE run_id = 1") == "experiment E {}"
        assert len(kb.scalar("SELECT uid FROM runs WHERE id = 1")) == 32
    assert schema_text(path) == GOLDEN.read_text()
