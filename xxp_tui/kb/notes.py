"""Notes: what humans learned ("lr above 0.3 diverges", "this dataset has label noise"), attached
to a run or one of its variants.

Notes are annotations, not run state: any front end writes them here directly (no engine command),
with or without a live engine, also on finished runs. Each note is also an audit event of its run,
written in the same transaction, so the audit log tells who noted what and when.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from xxp_tui.kb.commands import issuer, log_event
from xxp_tui.kb.connection import KB, row_id

MAX_NOTE_CHARS = 10_000


@dataclass(frozen=True)
class Note:
    id: int
    run_id: int
    variant_id: int | None
    author: str
    time: float
    text: str
    tags: list[str] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"v{self.variant_id}" if self.variant_id is not None else f"r{self.run_id}"

    def to_json(self) -> dict:
        return {"id": self.id, "target": self.target, "author": self.author, "time": self.time,
                "text": self.text, "tags": self.tags}


def _note(r) -> Note:
    return Note(r["id"], r["run_id"], r["variant_id"], r["author"], r["time"], r["text"],
                json.loads(r["tags"] or "[]"))


def clean_tags(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t.strip() for t in tags if t and t.strip()))


def add(kb: KB, run_id: int, text: str, variant_id: int | None = None, tags: Iterable[str] = (),
        author: str | None = None) -> Note:
    """Attach a note (and its audit event) to a run, or to one variant of it."""
    text = text.strip()
    if not text:
        raise ValueError("a note needs some text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"a note holds at most {MAX_NOTE_CHARS} characters, not {len(text)}")
    who, now, tag_list = author or issuer(), time.time(), clean_tags(tags)
    with kb.write():
        nid = row_id(kb.conn.execute(
            "INSERT INTO notes (run_id, variant_id, author, time, text, tags) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, variant_id, who, now, text, json.dumps(tag_list))))
        target = f"v{variant_id}" if variant_id is not None else f"r{run_id}"
        log_event(kb, run_id, who, "note", target, {"note": nid, "text": text, "tags": tag_list})
    return Note(nid, run_id, variant_id, who, now, text, tag_list)


def for_run(kb: KB, run_id: int) -> list[Note]:
    """Every note of a run: on the run itself and on its variants, oldest first."""
    return [_note(r) for r in kb.query("SELECT * FROM notes WHERE run_id = ? ORDER BY id", (run_id,))]


def for_variants(kb: KB, variant_ids: Iterable[int]) -> dict[int, list[Note]]:
    ids = list(variant_ids)
    out: dict[int, list[Note]] = {vid: [] for vid in ids}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" for _ in chunk)
        for r in kb.query(f"SELECT * FROM notes WHERE variant_id IN ({marks}) ORDER BY id", tuple(chunk)):
            out[r["variant_id"]].append(_note(r))
    return out


def for_target(kb: KB, run_id: int, variant_id: int | None) -> list[Note]:
    if variant_id is None:
        rows = kb.query("SELECT * FROM notes WHERE run_id = ? AND variant_id IS NULL ORDER BY id", (run_id,))
        return [_note(r) for r in rows]
    return for_variants(kb, [variant_id])[variant_id]


def search(kb: KB, text: str, limit: int = 200) -> list[Note]:
    like = f"%{text}%"
    rows = kb.query("SELECT * FROM notes WHERE text LIKE ? OR tags LIKE ? ORDER BY id LIMIT ?", (like, like, limit))
    return [_note(r) for r in rows]
