"""The key footer, without rebuilding its key widgets on every focus change.

Textual's Footer throws away and mounts again its thirty-odd key widgets whenever the bindings may
have changed, which is on every focus change: opening the `/` line and closing it cost two rebuilds,
tens of milliseconds each on a loaded machine, inside the key press that waits for its frame. What
the footer shows is a function of the screen's shown bindings, so this one does nothing when they
are the same, and when they are some of those it was built with (a focused input line hides the
keys that type a letter), it hides the other keys' widgets instead of building new ones: the
same keys, in the same order and the same places, as a rebuild would show.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


def shown_keys(screen: Screen) -> tuple:
    """What the footer draws from: the shown bindings (each with whether it is enabled and its
    tooltip), and the command palette's."""
    active = screen.active_bindings
    keys = tuple((binding, enabled, tooltip) for _, binding, enabled, tooltip in active.values() if binding.show)
    palette = active.get(screen.app.COMMAND_PALETTE_BINDING)
    return keys, palette[1:] if palette else None


def _one_per_action(keys: tuple) -> list[tuple]:
    """The binding the footer shows for each action (the first), in order, as Footer.compose does."""
    first: dict[str, tuple] = {}
    for key in keys:
        first.setdefault(key[0].action, key)
    return list(first.values())


class SteadyFooter(Footer):
    _built_for: tuple | None = None  # the keys the key widgets were made for
    _showing: tuple | None = None  # the keys shown now (some of those, the others hidden)

    def compose(self) -> ComposeResult:
        self._built_for = self._showing = shown_keys(self.screen) if self._bindings_ready else None
        yield from super().compose()

    def bindings_changed(self, screen: Screen) -> None:
        if self._bindings_ready and screen.app.app_focus and self.is_attached and screen is self.screen:
            keys = shown_keys(screen)
            if keys == self._showing or self._show_only(keys):
                self._showing = keys
                return
        super().bindings_changed(screen)

    def _show_only(self, keys: tuple) -> bool:
        """Show `keys` with the key widgets built, when their actions are some of those built, in the
        same order: a widget whose action is not wanted is hidden, the others take their binding's
        key, text and state (`?` becomes `f1` while an input has the focus). False when only a
        rebuild can show them."""
        if self._built_for is None:
            return False
        built_keys, built_palette = self._built_for
        wanted_keys, palette = keys
        if palette != built_palette or any(key[0].group is not None for key in built_keys + wanted_keys):
            return False  # groups of keys are drawn in their own containers: leave them to a rebuild
        widgets = [w for w in self.query_children(FooterKey) if not w.has_class("-command-palette")]
        built = [key[0].action for key in _one_per_action(built_keys)]
        if [w.action for w in widgets] != built:
            return False
        wanted = {key[0].action: key for key in _one_per_action(wanted_keys)}
        if [action for action in built if action in wanted] != list(wanted):
            return False  # a key that was not built, or out of order
        for widget in widgets:
            key = wanted.get(widget.action)
            widget.display = key is not None
            if key is None:
                continue
            binding, enabled, tooltip = key
            shown = (binding.key, self.app.get_key_display(binding), binding.description, not enabled, tooltip or None)
            if shown != (widget.key, widget.key_display, widget.description, widget._disabled, widget.tooltip):
                widget.key, widget.key_display, widget.description, widget._disabled = shown[:4]
                widget.set_class(not enabled, "-disabled")
                widget.tooltip = tooltip or None
                widget.refresh(layout=True)
        return True
