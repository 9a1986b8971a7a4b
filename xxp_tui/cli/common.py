"""Options and helpers the CLI commands share: finding the knowledge base, naming runs."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

from xxp_tui.cli.output import fail_usage

DB_OPTION = typer.Option(None, "--db", envvar="XXP_DB",
                         help="Knowledge base file (default: the project's .xxp/kb.sqlite, found from any folder "
                              "inside the project).")


def run_argument(help_text: str = "r3, 3 or latest.", default: str | None = "latest"):
    """A RUN argument whose Tab offers `latest` and the KB's runs."""
    from xxp_tui.cli.completion import complete_run

    return typer.Argument(default if default is not None else ..., metavar="RUN", help=help_text,
                          autocompletion=complete_run)


def variant_argument(help_text: str = "v12 (or 12)."):
    from xxp_tui.cli.completion import complete_variant

    return typer.Argument(..., metavar="VARIANT", help=help_text, autocompletion=complete_variant)


def locate_kb(db: Path | None, hint: bool = False) -> Path:
    """The KB to read: `db`, $XXP_DB, or the nearest .xxp/kb.sqlite from here upwards; KBError
    with a sentence when there is none. The one place that decides it: the commands, shell
    completion and `xxp_tui.results` all call it. `hint`: say on stderr when an older KB beside a
    spec also exists (xxp_tui.project)."""
    from xxp_tui.kb.connection import KBError

    if db is not None:
        db = db.expanduser()  # a quoted "~/…" from XXP_DB reaches here unexpanded
        if not db.exists():
            from_env = Path(os.environ.get("XXP_DB") or "\0").expanduser() == db
            source = " (from XXP_DB)" if from_env else ""
            raise KBError(f"No knowledge base at {db}{source}.")
        return db
    env = os.environ.get("XXP_DB")
    if env:
        path = Path(env).expanduser()
        if not path.exists():
            raise KBError(f"No knowledge base at {path} (from XXP_DB).")
        return path
    from xxp_tui.project import find_kb, two_kbs_hint

    found = find_kb()
    if found.path is None:
        raise KBError("No knowledge base here (.xxp/kb.sqlite at this project's root, in this folder or a parent). "
                      "Run an experiment first, or pass --db PATH.")
    if hint and found.other is not None:
        print(two_kbs_hint(found.path, found.other), file=sys.stderr)
    return found.path


def find_db(db: Path | None) -> Path:
    """`locate_kb` for a command: no KB is a usage error (exit 2)."""
    from xxp_tui.kb.connection import KBError

    try:
        return locate_kb(db, hint=True)
    except KBError as exc:
        fail_usage(str(exc))


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
