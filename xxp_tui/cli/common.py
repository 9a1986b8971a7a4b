"""Options and helpers the CLI commands share: finding the knowledge base, naming runs."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from xxp_tui.cli.output import fail_usage

DB_OPTION = typer.Option(None, "--db", help="Knowledge base file (default: $XXP_DB, else the project's "
                                           ".xxp/kb.sqlite, found from any folder inside the project).")


def find_db(db: Path | None) -> Path:
    """The KB to read: --db, $XXP_DB, else the project's KB (xxp_tui.project.find_kb)."""
    if db is not None:
        if not db.exists():
            fail_usage(f"No knowledge base at {db}.")
        return db
    env = os.environ.get("XXP_DB")
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            fail_usage(f"No knowledge base at {path} (from XXP_DB).")
        return path
    from xxp_tui.project import find_kb, two_kbs_hint

    found = find_kb()
    if found.path is None:
        fail_usage("No knowledge base here (.xxp/kb.sqlite at this project's root, in this folder or a parent). "
                   "Run an experiment first, or pass --db PATH.")
    if found.other is not None:
        print(two_kbs_hint(found.path, found.other), file=sys.stderr)
    return found.path


@contextmanager
def kb_session(db: Path | None, readonly: bool = False):
    from xxp_tui.kb import KBError, open_kb

    path = find_db(db)
    try:
        kb = open_kb(path, create=False, readonly=readonly)
    except KBError as exc:
        fail_usage(str(exc))
    try:
        yield kb
    finally:
        kb.close()


def run_id_of(kb, ref: str) -> int:
    from xxp_tui.kb import KBError
    from xxp_tui.kb import runs as kbr

    try:
        return kbr.resolve_run(kb, ref)
    except KBError as exc:
        fail_usage(str(exc))
