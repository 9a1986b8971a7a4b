"""The steering vocabulary is defined once (kb/commands.py) and every front end and the engine use it.

These tests need no change when a verb is added: they enumerate the registry, so a new command class
without an engine handler, a `:` line syntax or a CLI command fails here, and its stored form must
round-trip whatever its fields are.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from xxp_tui.cli.main import app as cli_app
from xxp_tui.engine.steering import HANDLERS
from xxp_tui.kb import commands as kbc
from xxp_tui.tui import commandline
from xxp_tui.tui.app import STEERING_ACTIONS

COMMANDS = list(kbc.REGISTRY.values())


NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_.]{0,8}", fullmatch=True)
SCALARS = st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8) | st.booleans()
# Values for the field types the vocabulary uses, near and over their bounds; any other type: Hypothesis's own.
BY_TYPE: dict[object, st.SearchStrategy] = {
    int: st.integers(-2000, 2000) | st.sampled_from([kbc.PRIORITY_LIMIT, -kbc.PRIORITY_LIMIT, 10**12]),
    str: NAMES,
    str | None: st.none() | NAMES,
    tuple[str, ...]: st.lists(NAMES, min_size=1, max_size=4).map(tuple),
    dict[str, kbc.Value]: st.dictionaries(NAMES, SCALARS, max_size=3),
}


def _arguments(cls: type[kbc.SteerCommand]) -> st.SearchStrategy[dict]:
    """Arguments of every type `cls`'s fields declare (its own checks then accept most of them)."""
    hints = typing.get_type_hints(cls)
    return st.fixed_dictionaries({f.name: BY_TYPE[hints[f.name]] if hints[f.name] in BY_TYPE
                                  else st.from_type(hints[f.name]) for f in dataclasses.fields(cls)})


@pytest.mark.parametrize("cls", COMMANDS, ids=lambda c: c.verb)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_command_round_trips_through_its_stored_form(cls, data):
    kwargs = data.draw(_arguments(cls))
    try:
        command = cls(**kwargs)
    except kbc.CommandError as exc:
        assert str(exc), "a refusal says why"
        assume(False)
    stored = json.loads(json.dumps(command.encode()))  # what the commands table holds
    assert kbc.decode(cls.verb, stored) == command
    assert kbc.decode(cls.verb, stored).encode() == stored


def test_every_command_has_an_engine_handler():
    assert set(HANDLERS) == set(COMMANDS)


def test_the_command_line_offers_exactly_the_registered_steering_verbs():
    assert set(commandline.STEERING) | set(commandline.FLOWS) == set(COMMANDS)
    assert set(commandline.FLOWS.values()) <= set(commandline.VIEWER)
    names = [syntax.name for syntax in commandline.STEERING.values()]
    assert not set(names) & set(commandline.VIEWER), "a viewer verb hides a steering verb"
    # every verb the line offers is a registered command's syntax or a verb of the viewer itself
    assert set(commandline.VERBS) == set(names) | set(commandline.VIEWER)
    for alias, verb in commandline.ALIASES.items():
        assert verb in commandline.VERBS, alias


def test_every_command_has_a_cli_command():
    cli = {c.name or c.callback.__name__ for c in cli_app.registered_commands}
    assert {cls.cli or cls.verb for cls in COMMANDS} <= cli


def test_the_viewer_keys_send_registered_commands():
    sent = {cls for classes in STEERING_ACTIONS.values() for cls in classes}
    assert sent <= set(COMMANDS)


@pytest.mark.parametrize(("line", "command"), [
    ("prune v3 4", kbc.Prune(("v3", "v4"))),
    ("kill v3", kbc.Prune(("v3",))),
    ("prio v7 5", kbc.Prioritize("v7", 5)),
    ("inject Grid G.x=1 lr=0.1", kbc.Inject("Grid", {"G.x": 1, "lr": 0.1})),
    ("pause", kbc.Pause()),
    ("resume", kbc.Resume()),
    ("parallel 4", kbc.Parallel(4)),
    ("answer Review ok=true", kbc.Answer({"ok": True}, "Review")),
    ("answer ok=true", kbc.Answer({"ok": True})),
    ("stop", kbc.Stop()),
])
def test_the_command_line_makes_the_commands(line, command):
    parsed = commandline.parse(line)
    assert parsed.error is None and parsed.command == command
    assert parsed.args == command.encode()


@pytest.mark.parametrize(("line", "error"), [
    ("prio v7 99999999999", "priority must be between -1,000,000,000 and 1,000,000,000, not 99999999999"),
    ("parallel 2000", "parallelism must be a whole number between 1 and 1024, not 2000"),
    ("prune v3 x", "not variants: x"),
    ("pause now", "usage: pause"),
    ("rerun v1", "unknown command 'rerun'"),
])
def test_the_command_line_refuses_with_the_vocabularys_sentences(line, error):
    parsed = commandline.parse(line)
    assert parsed.command is None and parsed.error and parsed.error.startswith(error), parsed.error


@pytest.mark.parametrize(("verb", "args", "command"), [
    # forms front ends stored before the vocabulary existed: a KB holds them, the engine must still read them
    ("prune", {"variants": ["v12", "13"]}, kbc.Prune(("v12", "13"))),
    ("prioritize", {"variant": 7, "priority": 3}, kbc.Prioritize("v7", 3)),  # the viewer sent ids as numbers
    ("inject", {"space": "Grid", "values": {"G.x": 1}}, kbc.Inject("Grid", {"G.x": 1}, priority=1)),
    ("inject", {"space": "Grid", "values": {}, "priority": 0}, kbc.Inject("Grid", {}, priority=0)),
    ("pause", {}, kbc.Pause()),
    ("resume", {}, kbc.Resume()),
    ("parallel", {"workers": 3}, kbc.Parallel(3)),
    ("answer", {"values": {"more": True}}, kbc.Answer({"more": True})),
    ("answer", {"node": "Ask", "values": {}}, kbc.Answer({}, "Ask")),
    ("stop", {}, kbc.Stop()),
])
def test_todays_stored_forms_decode(verb, args, command):
    assert kbc.decode(verb, args) == command


@pytest.mark.parametrize(("verb", "args", "sentence"), [
    ("rerun", {"variant": "v1"}, "unknown command rerun"),
    ("stop", "{oops", "malformed stop command: its arguments are not a JSON object"),
    ("prune", {"variant": ["v1"]}, "malformed prune command: unknown argument variant (it takes variants)"),
    ("prioritize", {"variant": "v1"}, "malformed prioritize command: priority missing (it takes variant, priority)"),
    ("prioritize", {"variant": "v1", "priority": "high"}, "priority must be an integer, not 'high'"),
    ("prioritize", {"variant": "v1", "priority": True}, "priority must be an integer, not True"),
    ("prune", {"variants": []}, "variants must be a non-empty list of variants, not []"),
    ("prune", {"variants": "v1"}, "variants must be a non-empty list of variants, not 'v1'"),
    ("parallel", {"workers": 0}, "parallelism must be a whole number between 1 and 1024, not 0"),
    ("parallel", {"workers": "4"}, "parallelism must be a whole number between 1 and 1024, not '4'"),
    ("inject", {"space": "", "values": {}}, "space must be a name, not ''"),
    ("inject", {"space": "S", "values": {"x": [1]}}, "x must be a number, text or true/false, not [1]"),
    ("inject", {"space": "S", "values": {"x": float("nan")}}, "x must be a number, text or true/false, not nan"),
    ("answer", {"values": [], "node": "Ask"}, "values must be an object of name=value pairs, not []"),
    ("answer", {"values": {}, "node": 3}, "node must be a name, not 3"),
])
def test_a_malformed_stored_command_decodes_into_a_sentence(verb, args, sentence):
    with pytest.raises(kbc.CommandError) as refused:
        kbc.decode(verb, args)
    assert str(refused.value) == sentence
