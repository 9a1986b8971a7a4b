"""Modal screens: confirm a destructive action, the inject and answer forms, the help screen.

Forms are checked with the same functions the engine uses (xxp_tui.lang.assign) while typing;
OK stays disabled until the form is valid, so what is sent is what the engine will accept.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from xxp_tui.lang.assign import check_answer, check_injection, parse_assignments, parse_value, space_parameters
from xxp_tui.lang.domains import describe
from xxp_tui.lang.model import ParamSpec, Space, Workflow

MODAL_CSS = """
ModalScreen { align: center middle; }
.dialog { width: 72; max-width: 96%; height: auto; max-height: 90%; border: thick $accent; background: $surface;
          padding: 0 1; }
.dialog .title { text-style: bold; margin-bottom: 1; }
.dialog .hint { color: $text-muted; }
.dialog .error { color: $error; height: auto; }
.dialog Input { margin-bottom: 0; }
.dialog .buttons { height: 3; align-horizontal: right; margin-top: 1; }
.dialog Button { margin-left: 1; }
"""


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no for a destructive action; Cancel has the focus, so Enter alone never destroys."""

    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [
        Binding("escape,n", "answer(False)", "Cancel", id="xxp.confirm.no"),
        Binding("y", "answer(True)", "Yes", id="xxp.confirm.yes"),
    ]

    def __init__(self, question: str, detail: str | Text = "") -> None:
        super().__init__()
        self.question = question
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="title")
            if self.detail:
                yield Static(self.detail, classes="hint")
            with Horizontal(classes="buttons"):
                yield Button("Cancel (n)", id="no")
                yield Button("Yes (y)", id="yes", variant="error")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class _Form(ModalScreen[dict | None]):
    DEFAULT_CSS = MODAL_CSS
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="xxp.form.cancel"),
                Binding("ctrl+s", "submit", "Send", id="xxp.form.send")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input) if event.input in inputs else -1
        if 0 <= index < len(inputs) - 1:
            inputs[index + 1].focus()
        else:
            self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ok":
            self.action_submit()
        else:
            self.dismiss(None)

    def action_submit(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class InjectForm(_Form):
    """A variant for a running space: one input per parameter the space varies."""

    def __init__(self, space: Space, workflow: Workflow | None) -> None:
        super().__init__()
        self.space = space
        self.workflow = workflow
        self.params = space_parameters(space, workflow)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Inject a variant into {self.space.name}", classes="title")
            yield Static("Empty fields take their default. Enter moves on; ctrl+s sends.", classes="hint")
            with VerticalScroll():
                for key, (vp, spec) in self.params.items():
                    domains = self.space.param_values.get(vp, ())
                    typ = spec.type if spec and spec.type else "?"
                    declared = f"  (declared {spec.domain.describe()})" if spec and spec.domain else ""
                    yield Label(Text.assemble((key, "bold"), f"  {typ}  {describe(list(domains))}",
                                              (declared, "dim")))
                    default = spec.default if spec and spec.default is not None else ""
                    yield Input(placeholder=f"default {default}" if default != "" else "value",
                                id=f"p-{_safe(key)}", name=key)
            yield Static("", id="errors", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Inject", id="ok", variant="primary")

    def on_mount(self) -> None:
        inputs = list(self.query(Input))
        if inputs:
            inputs[0].focus()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def values(self) -> dict:
        out = {}
        for inp in self.query(Input):
            if inp.value.strip():
                out[inp.name] = parse_value(inp.value)
        return out

    def _validate(self) -> list[str]:
        check = check_injection(self.space, self.workflow, self.values())
        errors = check.errors
        by_key = {key: any(e.startswith(key) for e in errors) for key in self.params}
        for inp in self.query(Input):
            inp.set_class(inp.name is not None and by_key.get(inp.name, False), "-invalid")
        note = [f"{key}: off the grid (inside its declared range)" for key in check.off_grid]
        self.query_one("#errors", Static).update("\n".join(errors or note))
        self.query_one("#ok", Button).disabled = bool(errors)
        return errors

    def action_submit(self) -> None:
        if not self._validate():
            self.dismiss({"space": self.space.name, "values": self.values()})


class AnswerForm(_Form):
    """The answer to a waiting interaction: its declared fields, or free key=value pairs."""

    def __init__(self, target: str, prompt: str | None, fields: Mapping[str, ParamSpec]) -> None:
        super().__init__()
        self.target = target
        self.prompt = prompt
        self.fields = dict(fields)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Answer {self.target}", classes="title")
            if self.prompt:
                yield Static(self.prompt)
            if self.fields:
                for key, spec in self.fields.items():
                    hint = f"  {spec.type or ''}"
                    if spec.domain is not None:
                        hint += f"  {spec.domain.describe()}"
                    yield Label(Text.assemble((key, "bold"), hint))
                    default = "" if spec.default is None else str(spec.default).lower() if isinstance(
                        spec.default, bool) else str(spec.default)
                    yield Input(value=default, id=f"f-{_safe(key)}", name=key)
            else:
                yield Label("key=value pairs, separated by spaces")
                yield Input(placeholder="decision=continue note=ok", id="free", name="")
            yield Static("", id="errors", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Answer", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query(Input).first().focus()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def values(self) -> tuple[dict, list[str]]:
        if not self.fields:
            text = self.query_one("#free", Input).value
            return parse_assignments(text.split())
        return {inp.name: parse_value(inp.value) for inp in self.query(Input) if inp.value.strip()}, []

    def _validate(self) -> list[str]:
        values, errors = self.values()
        if not errors:
            _, errors = check_answer(self.fields, values)
        self.query_one("#errors", Static).update("\n".join(errors))
        self.query_one("#ok", Button).disabled = bool(errors)
        return errors

    def action_submit(self) -> None:
        if not self._validate():
            self.dismiss({"values": self.values()[0]})


class HelpScreen(ModalScreen[None]):
    """Every key, with its binding id (for keymap files), and the `:` commands."""

    DEFAULT_CSS = MODAL_CSS + """
    HelpScreen .dialog { width: 90; }
    HelpScreen VerticalScroll { height: auto; max-height: 80vh; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_help", "Close", id="xxp.help.close")]

    def __init__(self, rows: list[tuple[str, str, str]], commands: Mapping[str, str]) -> None:
        super().__init__()
        self.rows = rows
        self.commands = commands

    def compose(self) -> ComposeResult:
        from rich.table import Table

        keys = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
        keys.add_column("key")
        keys.add_column("action")
        keys.add_column("binding id", style="dim")
        for key, description, binding_id in self.rows:
            keys.add_row(key, description, binding_id)
        cmds = Table(box=None, padding=(0, 1), show_header=True, header_style="bold")
        cmds.add_column(": command")
        for usage in self.commands.values():
            cmds.add_row(usage)
        with Vertical(classes="dialog"):
            yield Label("Keys (remap them in ~/.config/xxp-tui/keymap.toml by binding id)", classes="title")
            with VerticalScroll():
                yield Static(keys)
                yield Static(cmds)
            yield Static("Escape closes. The run never stops when you quit the viewer.", classes="hint")

    def action_dismiss_help(self) -> None:
        self.dismiss(None)


def _safe(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key)


class NoteForm(_Form):
    """A note on a variant or the run: free text and optional comma-separated tags."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Note on {self.target}", classes="title")
            yield Static("What did you learn? Kept with your name and the time. Enter moves on; ctrl+s saves.",
                         classes="hint")
            yield Input(placeholder="e.g. lr above 0.3 diverges", id="note-text", name="text")
            yield Input(placeholder="tags, comma separated (optional)", id="note-tags", name="tags")
            yield Static("", id="errors", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="ok", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#note-text", Input).focus()
        self._validate()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._validate()

    def _validate(self) -> bool:
        empty = not self.query_one("#note-text", Input).value.strip()
        self.query_one("#errors", Static).update("a note needs some text" if empty else "")
        self.query_one("#ok", Button).disabled = empty
        return not empty

    def action_submit(self) -> None:
        if self._validate():
            tags = [t.strip() for t in self.query_one("#note-tags", Input).value.split(",") if t.strip()]
            self.dismiss({"text": self.query_one("#note-text", Input).value.strip(), "tags": tags})


class SortScreen(ModalScreen[str | None]):
    """Sort by any column at once: the columns in a list, the current one selected; Enter sorts."""

    DEFAULT_CSS = MODAL_CSS + """
    SortScreen .dialog { width: 40; }
    SortScreen OptionList { height: auto; max-height: 16; }
    """
    BINDINGS = [Binding("escape,q,s", "cancel", "Close", id="xxp.sort.close"),
                Binding("j", "down", "Down", show=False, id="xxp.sort.down"),
                Binding("k", "up", "Up", show=False, id="xxp.sort.up")]

    def __init__(self, columns: list[tuple[str, str]], current: str) -> None:
        super().__init__()
        self.columns = columns
        self.current = current

    def compose(self) -> ComposeResult:
        from textual.widgets import OptionList
        from textual.widgets.option_list import Option

        with Vertical(classes="dialog"):
            yield Label("Sort by: a letter or Enter (I inverts)", classes="title")
            yield OptionList(*[Option(label, id=key) for key, label in self.columns])

    def on_mount(self) -> None:
        from textual.widgets import OptionList

        options = self.query_one(OptionList)
        keys = [key for key, _ in self.columns]
        options.highlighted = keys.index(self.current) if self.current in keys else 0
        options.focus()

    def on_option_list_option_selected(self, event) -> None:
        self.dismiss(event.option.id)

    def on_key(self, event) -> None:
        """A letter picks the column whose name starts with it (`s o` sorts by the objective); when
        several do, it moves to the next of them and Enter picks."""
        from textual.widgets import OptionList

        char = event.character or ""
        if len(char) != 1 or not char.isalpha() or char in "jkqs":
            return
        labels = [label.lower() for _, label in self.columns]
        hits = [i for i, label in enumerate(labels) if label.startswith(char.lower())]
        if not hits:
            return
        event.stop()
        if len(hits) == 1:
            self.dismiss(self.columns[hits[0]][0])
            return
        options = self.query_one(OptionList)
        current = options.highlighted if options.highlighted is not None else -1
        options.highlighted = next((i for i in hits if i > current), hits[0])

    def action_down(self) -> None:
        from textual.widgets import OptionList

        self.query_one(OptionList).action_cursor_down()

    def action_up(self) -> None:
        from textual.widgets import OptionList

        self.query_one(OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)
