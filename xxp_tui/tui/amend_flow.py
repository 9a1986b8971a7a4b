"""Amending the run from the viewer: the run's current spec opens in $EDITOR (the app suspends and
comes back), is validated on save (errors as file:line:col with the caret, and the file can be
edited again), the amendment is shown, and it is sent to the engine on confirmation.

The text is edited in a private copy; once the engine applied it, the run's spec file gets the new
text when it still held the previous version (so the file on disk stays the run's spec).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text

from xxp_tui.tui.screens.modals import ConfirmScreen

if TYPE_CHECKING:
    from xxp_tui.tui.app import XxpApp


def editor_argv(path: Path) -> list[str]:
    """$VISUAL or $EDITOR (with its own arguments), else vi; as an argv list, never a shell."""
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return [*shlex.split(command), str(path)]


class AmendFlow:
    def __init__(self, app: XxpApp) -> None:
        self.app = app
        self.folder = Path(tempfile.mkdtemp(prefix="xxp-amend-"))  # 0700: the copy is private
        self.copy: Path | None = None
        self.spec_path: Path | None = None
        self.before = ""

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self) -> None:
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr
        from xxp_tui.kb import spec_versions as kbsv

        with open_kb(self.app.db, create=False, readonly=True) as kb:
            run = kbr.get_run(kb, self.app.run_id)
            current = kbsv.latest(kb, self.app.run_id)
        assert current is not None  # every run stores the spec it was created with
        self.spec_path = Path(current.path or run.spec_path)
        self.before = current.text
        self.copy = self.folder / self.spec_path.name
        self.copy.write_text(current.text, encoding="utf-8")
        self.copy.chmod(0o600)
        self.edit()

    def edit(self) -> None:
        from textual.app import SuspendNotSupported

        assert self.copy is not None  # start() made it
        argv = editor_argv(self.copy)
        try:
            with self.app.suspend():
                code = subprocess.run(argv, check=False).returncode
        except SuspendNotSupported:  # no terminal to hand over (a headless app): run it without one
            code = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, capture_output=True).returncode
        except OSError as exc:
            self.app.notify(f"cannot start the editor {argv[0]}: {exc.strerror or exc}", severity="error")
            self.close()
            return
        if code != 0:
            self.app.notify(f"the editor exited with code {code}; nothing was changed", severity="warning")
            self.close()
            return
        self.check()

    def check(self) -> None:
        from xxp_tui.engine.amend_preview import preview
        from xxp_tui.kb import open_kb

        assert self.copy is not None and self.spec_path is not None  # start() set them
        text = self.copy.read_text(encoding="utf-8", errors="replace")
        with open_kb(self.app.db, create=False, readonly=True) as kb:
            seen = preview(kb, self.app.run_id, self.spec_path, text)
        if seen.amendment is None:
            lines = text.splitlines()
            shown = "\n".join(d.render(lines[d.pos.line - 1] if 0 < d.pos.line <= len(lines) else None)
                              for d in seen.result.errors[:5])
            self.ask_again("The spec has errors. Edit it again?", shown)
            return
        if seen.unchanged:
            self.app.notify("the spec is unchanged: nothing to amend")
            self.close()
            return
        if not seen.amendment.ok:
            self.ask_again("The amendment is refused. Edit it again?", seen.amendment.refusal())
            return
        summary = "\n".join(seen.amendment.lines() or ["no change to what runs (only the text)"])

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.send(text)
            else:
                self.close()

        self.app.push_screen(ConfirmScreen(f"Amend r{self.app.run_id} (s{seen.version.version} -> "
                                           f"s{seen.version.version + 1})?", Text(summary)), callback=confirmed)

    def ask_again(self, question: str, detail: str) -> None:
        def again(ok: bool | None) -> None:
            if ok:
                self.edit()
            else:
                self.close()

        self.app.push_screen(ConfirmScreen(question, Text(detail)), callback=again)

    def send(self, text: str) -> None:
        if self.app.read_only:
            self.app.notify("read-only viewer: steering is disabled", severity="warning")
            self.close()
            return
        self._send(text)

    def _send(self, text: str) -> None:
        self.app.run_worker(lambda: self._apply(text), thread=True, group="commands", exit_on_error=False)

    def _apply(self, text: str) -> None:
        from xxp_tui.files import atomic_write
        from xxp_tui.kb import commands as kbc
        from xxp_tui.kb import open_kb
        from xxp_tui.kb import runs as kbr
        from xxp_tui.tui.app import CommandDone

        with open_kb(self.app.db, create=False) as kb:
            if not kbr.liveness(kb, self.app.run_id).alive:
                self.app.post_message(CommandDone("amend", "refused", f"the engine of r{self.app.run_id} is not "
                                                  "running; save the spec and resume with --allow-changed-spec"))
                self.close()
                return
            amend = kbc.Amend(text=text, path=str(self.spec_path))
            cmd = kbc.wait(kb, kbc.submit(kb, self.app.run_id, amend), timeout=15)
        if cmd.status == "done":
            assert self.spec_path is not None  # start() set it
            try:
                if self.spec_path.read_text(encoding="utf-8") == self.before:
                    atomic_write(self.spec_path, text)
            except OSError:
                pass  # the run has its version in the KB; the file is the user's to keep in step
        self.close()
        outcome = cmd.outcome or "amend sent; the engine has not answered yet"
        self.app.post_message(CommandDone("amend", cmd.status, outcome))
