"""`xxp-tui amend [RUN] [SPEC]`: change a running experiment without losing what it learned.

The proposed spec is validated (errors as file:line:col with a caret), compared with the version
the run executes, and the amendment is shown before anything is applied; it then goes to the
engine as a steering command, which applies it once (or refuses it with a sentence)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import typer

from xxp_tui.cli.common import DB_OPTION, kb_session, run_id_of
from xxp_tui.cli.completion import complete_run
from xxp_tui.cli.output import fail, fail_usage, say

RUN_REF = re.compile(r"^(r?\d+|latest)$", re.IGNORECASE)


def register(app: typer.Typer) -> None:
    app.command("amend")(amend)


def split_words(words: list[str]) -> tuple[str, str | None]:
    """`[RUN] [SPEC]`: a first word `rN`, `N` or `latest` is the run, anything else the spec."""
    if len(words) > 2:
        fail_usage("amend takes [RUN] [SPEC]: a run (default: latest) and a spec file (default: the run's own).")
    if words and RUN_REF.match(words[0]):
        return words[0], (words[1] if len(words) > 1 else None)
    if len(words) > 1:
        fail_usage(f"{words[0]!r} is not a run (write r3, 3 or latest); amend takes [RUN] [SPEC].")
    return "latest", (words[0] if words else None)


def amend(words: list[str] = typer.Argument(None, metavar="[RUN] [SPEC]", autocompletion=complete_run,
                                            help="The run (default: latest), then the spec (default: the "
                                                 "run's spec file as it is now)."),
          yes: bool = typer.Option(False, "--yes", "-y", help="Apply without asking."),
          db: Path = DB_OPTION) -> None:
    """Change a running experiment: value lists and ranges, budgets, parallelism, nodes not reached yet."""
    from xxp_tui.cli.steer_commands import send
    from xxp_tui.engine.amend_preview import preview
    from xxp_tui.kb import runs as kbr
    from xxp_tui.kb.commands import Amend

    run_ref, spec = split_words(list(words or []))
    with kb_session(db) as kb:
        run_id = run_id_of(kb, run_ref)
        run = kbr.get_run(kb, run_id)
        if run.finished:
            fail(f"r{run_id} is {run.status}; a finished run takes no amendment (start a new run).")
        path = Path(spec).resolve() if spec else Path(run.spec_path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail_usage(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}.")
        seen = preview(kb, run_id, path, text)
        if seen.amendment is None:
            for d in seen.result.errors:
                source = seen.result.sources.get(d.pos.file, "")
                lines = source.splitlines()
                print(d.render(lines[d.pos.line - 1] if 0 < d.pos.line <= len(lines) else None), file=sys.stderr)
            fail_usage(f"the spec {path} is not valid; nothing was changed.")
        if seen.unchanged:
            say(f"r{run_id} already runs this spec (s{seen.version.version}); nothing to change.")
            return
        if not seen.amendment.ok:
            fail(f"amend refused: {seen.amendment.refusal()}.")
        say(f"Amendment of r{run_id} (s{seen.version.version} -> s{seen.version.version + 1}):")
        for line in seen.amendment.lines() or ["no change to what runs (only the text)"]:
            say(f"  {line}")
        live = kbr.liveness(kb, run_id)
        if not live.alive:
            fail(f"the engine of r{run_id} is not running ({live.label}); apply the changed spec file with "
                 f"xxp-tui resume r{run_id} --allow-changed-spec.")
        if not yes:
            if not sys.stdin.isatty():
                fail_usage("amend asks before it applies, and there is no terminal to ask on; pass --yes.")
            if not typer.confirm("Apply it?", default=False):
                say("Not applied.")
                raise typer.Exit(1)
        send(kb, run_id, Amend(text=text, path=str(path)))
