"""Knowledge that compounds across people and runs: `note` (what a human learned), `card` (a run's
experiment card), `kb merge` (a colleague's or another project's runs) and `kb search`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_id_of
from xxp_tui.cli.knowledge_commands import kb_app
from xxp_tui.cli.output import fail_usage, print_table


def register(app: typer.Typer) -> None:
    app.command("note")(note)
    app.command("card")(card)
    kb_app.command("merge")(kb_merge)
    kb_app.command("search")(kb_search)


def resolve_target(kb, ref: str) -> tuple[int, int | None]:
    """(run id, variant id or None) of a reference as `show` takes it: v12, or r3 / 3 / latest."""
    from xxp_tui.kb import variants as kbv

    if ref.lower().startswith("v"):
        vid = kbv.parse_variant_ref(ref)
        v = kbv.find(kb, vid) if vid is not None else None
        if v is None:
            fail_usage(f"{ref!r} is not a variant of {kb.path} (write v12, or a run: r3, latest).")
        return v.run_id, v.id
    return run_id_of(kb, ref), None


def note(
    ref: str = typer.Argument(..., metavar="VARIANT|RUN", help="v12, or r3 / latest."),
    text: str = typer.Argument(..., help="What you learned, in your words."),
    tags: list[str] = typer.Option([], "--tag", "-t", help="A tag (repeatable), e.g. --tag divergence."),
    db: Path = DB_OPTION,
) -> None:
    """Attach a note to a variant or a run (any time: live, finished, with or without an engine).
    It is kept with your user name and the time, in the audit log, and shown by `show` and `card`."""
    from xxp_tui.kb import notes as kbn

    with kb_session(db) as kb:
        run_id, vid = resolve_target(kb, ref)
        try:
            added = kbn.add(kb, run_id, text, variant_id=vid, tags=tags)
        except ValueError as exc:
            fail_usage(f"{exc}.")
    print(f"noted on {added.target} by {added.author}" + (f" [{', '.join(added.tags)}]" if added.tags else ""))


def card(
    run_ref: str = typer.Argument("latest", metavar="RUN", help="r3, 3 or latest."),
    fmt: str = typer.Option("md", "--format", "-f", help="md (Markdown) or json."),
    db: Path = DB_OPTION,
) -> None:
    """The run's experiment card: intent, spec, what was searched, best results (the Pareto front
    for several objectives), human actions and notes, cost, environment, what was reused from
    earlier knowledge and what this run adds."""
    from xxp_tui.engine.card import build_card, markdown

    if fmt not in ("md", "json"):
        fail_usage(f"--format must be md or json, not {fmt!r}.")
    with kb_session(db, readonly=True) as kb:
        data = build_card(kb, run_id_of(kb, run_ref))
    print(json.dumps(data, indent=2, default=str) if fmt == "json" else markdown(data))


def kb_merge(
    other: Path = typer.Argument(..., metavar="OTHER.sqlite", help="Another knowledge base file."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON object."),
    db: Path = DB_OPTION,
) -> None:
    """Bring another knowledge base's finished runs into this one (a colleague's, another project's):
    the cache and warm start then use them. Merging again adds nothing; each merged run keeps where
    it came from (`show RUN`). With no knowledge base here yet, .xxp/kb.sqlite is created."""
    from xxp_tui.kb.connection import KBError, default_db_path, open_kb
    from xxp_tui.kb.merge import merge

    target = db or _existing_kb() or default_db_path()  # a new project can start from a colleague's KB
    try:
        with open_kb(target) as kb:
            report = merge(kb, other)
    except KBError as exc:
        fail_usage(f"{exc}.")
    if as_json:
        print(json.dumps(report.to_json(), indent=2))
        return
    for there, here in report.added:
        print(f"r{there} -> r{here}")
    extra = []
    if report.already:
        extra.append(f"{len(report.already)} already here")
    if report.unfinished:
        extra.append(f"{len(report.unfinished)} not finished, not merged ("
                     + ", ".join(f"r{r} {s}" for r, s in report.unfinished) + ")")
    rows = ", ".join(f"{n} {t}" for t, n in report.rows.items() if t in ("variants", "task_runs", "notes") and n)
    print(f"merged {len(report.added)} run(s) from {report.source}" + (f" ({rows})" if rows else "")
          + (f"; {'; '.join(extra)}" if extra else ""))


def _existing_kb() -> Path | None:
    """$XXP_DB or the nearest .xxp/kb.sqlite from here upwards, if there is one."""
    import os

    if os.environ.get("XXP_DB"):
        return Path(os.environ["XXP_DB"]).expanduser()
    here = Path.cwd()
    return next((f / ".xxp" / "kb.sqlite" for f in (here, *here.parents) if (f / ".xxp" / "kb.sqlite").exists()), None)


def kb_search(
    text: str = typer.Argument(..., help="A word or phrase (case-insensitive)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON rows."),
    db: Path = DB_OPTION,
) -> None:
    """Find TEXT in notes, experiment intents, experiment, space and task names across the KB."""
    from xxp_tui.kb.search import search

    if not text.strip():
        fail_usage("give some text to search for.")
    with kb_session(db, readonly=True) as kb:
        hits = search(kb, text)
    if as_json:
        print(json.dumps([h.to_json() for h in hits], indent=2))
        return
    if not hits:
        print(f"Nothing in the knowledge base mentions {text!r}.")
        return
    print_table(["kind", "where", "text"], [[h.kind, h.where, h.text] for h in hits])
