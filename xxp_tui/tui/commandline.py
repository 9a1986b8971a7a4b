"""The `:` command line: the CLI's steering verbs, typed inside the TUI.

    :prune v12 v13        :prio v7 5           :inject Tune lr=0.01 degree=3
    :pause  :resume       :parallel 4          :answer Review refine=true
    :stop                 :sort objective desc :filter status:running
    :tag v3 v4            :goto v12            :q

A steering verb is the line syntax of a command class of `kb.commands` (`STEERING`: its name, usage,
word parser and what its words complete to); the command checks its own arguments, so the line refuses
what the CLI and the engine refuse, with the same sentences. The other verbs (`VIEWER`) act on the viewer
only. Parsing is pure (tested on its own); the app executes the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from xxp_tui.kb.commands import (
    Amend,
    Answer,
    CommandError,
    Inject,
    Parallel,
    Pause,
    Prioritize,
    Prune,
    Resume,
    ResumeVariants,
    SteerCommand,
    Stop,
    Suspend,
)
from xxp_tui.lang.assign import parse_assignments


def _variants(words: list[str]) -> tuple[list[str], list[str]]:
    ok: list[str] = []
    bad: list[str] = []
    for w in words:
        text = w.lower().lstrip("v")
        (ok if text.isdigit() else bad).append(f"v{text}" if text.isdigit() else w)
    return ok, bad


def _assignments(words: list[str]) -> dict:
    values, errors = parse_assignments(words)
    if errors:
        raise CommandError("; ".join(errors))
    return values


# Each parser takes the words after the verb and returns the command, None for "show the usage", or
# raises CommandError with a sentence.


def _prune(rest: list[str]) -> SteerCommand | None:
    ok, bad = _variants(rest)
    if bad:
        raise CommandError("not variants: " + " ".join(bad))
    return Prune(tuple(ok)) if ok else None


def _prioritize(rest: list[str]) -> SteerCommand | None:
    if len(rest) != 2:
        return None
    ok, bad = _variants(rest[:1])
    try:
        priority = int(rest[1])
    except ValueError:
        raise CommandError(f"priority must be an integer, not {rest[1]!r}") from None
    if bad:
        raise CommandError(f"not a variant: {rest[0]}")
    return Prioritize(ok[0], priority)


def _inject(rest: list[str]) -> SteerCommand | None:
    return Inject(rest[0], _assignments(rest[1:])) if rest else None


def _answer(rest: list[str]) -> SteerCommand | None:
    node = None
    if rest and "=" not in rest[0]:
        node, rest = rest[0], rest[1:]
    return Answer(_assignments(rest), node)


def _parallel(rest: list[str]) -> SteerCommand | None:
    if len(rest) != 1 or not rest[0].isdigit() or int(rest[0]) < 1:
        return None
    return Parallel(int(rest[0]))


def _suspend(rest: list[str]) -> SteerCommand | None:
    release = "--release-slot" in rest
    ok, bad = _variants([w for w in rest if w != "--release-slot"])
    if bad:
        raise CommandError("not variants: " + " ".join(bad))
    return Suspend(tuple(ok), release) if ok else None


def _resume(rest: list[str]) -> SteerCommand | None:
    """`resume`: the run; `resume v3 v4`: those suspended variants."""
    if not rest:
        return Resume()
    ok, bad = _variants(rest)
    if bad:
        raise CommandError("not variants: " + " ".join(bad))
    return ResumeVariants(tuple(ok))


def _continue(rest: list[str]) -> SteerCommand | None:
    ok, bad = _variants(rest)
    if bad:
        raise CommandError("not variants: " + " ".join(bad))
    return ResumeVariants(tuple(ok)) if ok else None


def _bare(cls: type[SteerCommand]) -> Callable[[list[str]], SteerCommand | None]:
    """A command without arguments: any word after the verb shows the usage."""
    return lambda rest: None if rest else cls()


@dataclass(frozen=True)
class LineSyntax:
    name: str  # what is typed after `:`
    usage: str
    parse: Callable[[list[str]], SteerCommand | None]
    completes: str | None = None  # what its words complete to: "variants" (every word), "space" or "node" (the first)


# The `:` line syntax of every steering command (a test checks each registered command has one).
STEERING: dict[type[SteerCommand], LineSyntax] = {
    Prune: LineSyntax("prune", "prune VARIANT…", _prune, "variants"),
    Prioritize: LineSyntax("prio", "prio VARIANT N", _prioritize, "variants"),
    Inject: LineSyntax("inject", "inject SPACE key=value…", _inject, "space"),
    Pause: LineSyntax("pause", "pause", _bare(Pause)),
    Resume: LineSyntax("resume", "resume [VARIANT…]", _resume, "variants"),
    Suspend: LineSyntax("suspend", "suspend VARIANT… [--release-slot]", _suspend, "variants"),
    ResumeVariants: LineSyntax("continue", "continue VARIANT… (as resume VARIANT…)", _continue, "variants"),
    Parallel: LineSyntax("parallel", "parallel N", _parallel),
    Answer: LineSyntax("answer", "answer [NODE] key=value…", _answer, "node"),
    Stop: LineSyntax("stop", "stop", _bare(Stop)),
}
# Commands whose argument is a whole document: on the line, their verb opens the viewer's editing flow
# (`amend`: the run's spec in $EDITOR, checked, summarised, then sent), which makes the command.
FLOWS: dict[type[SteerCommand], str] = {Amend: "amend"}
# Verbs that act on the viewer, not the run (or open a flow that ends in a command).
VIEWER = {
    "sort": "sort COLUMN [asc|desc]", "filter": "filter TEXT", "tag": "tag VARIANT…",
    "goto": "goto VARIANT", "q": "q (quit the viewer; the run goes on)", "help": "help",
    "amend": "amend (edit the run's spec in $EDITOR, check it, then apply it)",
}
VIEWER_COMPLETES = {"tag": "variants", "goto": "variants", "sort": "column"}
BY_NAME = {syntax.name: syntax for syntax in STEERING.values()}
VERBS = {**{syntax.name: syntax.usage for syntax in STEERING.values()}, **VIEWER}
ALIASES = {"prioritize": "prio", "priority": "prio", "par": "parallel", "quit": "q", "exit": "q", "kill": "prune",
           "f": "filter", "s": "sort", "hold": "suspend"}


@dataclass
class Parsed:
    verb: str
    args: dict = field(default_factory=dict)
    error: str | None = None
    command: SteerCommand | None = None  # set for a steering verb: what to send


def parse(line: str) -> Parsed:
    words = line.strip().lstrip(":").split()
    if not words:
        return Parsed("", error="type a command, e.g. prune v12")
    verb = ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1:]
    if verb not in VERBS:
        return Parsed(verb, error=f"unknown command {words[0]!r}; commands: {', '.join(VERBS)}")
    usage = f"usage: {VERBS[verb]}"
    if verb in BY_NAME:
        try:
            command = BY_NAME[verb].parse(rest)
        except CommandError as exc:
            return Parsed(verb, error=str(exc))
        if command is None:
            return Parsed(verb, error=usage)
        return Parsed(verb, command.encode(), command=command)
    if verb == "tag":
        ok, bad = _variants(rest)
        if bad or not ok:
            return Parsed(verb, error=f"{'not variants: ' + ' '.join(bad) if bad else usage}")
        return Parsed(verb, {"variants": ok})
    if verb == "goto":
        ok, bad = _variants(rest)
        if len(ok) != 1 or bad:
            return Parsed(verb, error=usage)
        return Parsed(verb, {"variant": ok[0]})
    if verb == "sort":
        if not rest or len(rest) > 2 or (len(rest) == 2 and rest[1] not in ("asc", "desc")):
            return Parsed(verb, error=usage)
        return Parsed(verb, {"column": rest[0], "reverse": (rest[1] == "desc") if len(rest) == 2 else None})
    if verb == "filter":
        return Parsed(verb, {"text": " ".join(rest)})
    if rest:
        return Parsed(verb, error=usage)
    return Parsed(verb)


def completions(prefix: str, variants: list[str], spaces: list[str], nodes: list[str], columns: list[str]) -> list[str]:
    """Candidates for the word being typed (verbs first, then what the verb takes)."""
    words = prefix.lstrip(":").split(" ")
    if len(words) <= 1:
        return [f"{v} " for v in VERBS if v.startswith(words[0])]
    verb = ALIASES.get(words[0], words[0])
    kind = BY_NAME[verb].completes if verb in BY_NAME else VIEWER_COMPLETES.get(verb)
    current = words[-1]
    pool: list[str] = []
    if kind == "variants":
        pool = variants
    elif len(words) == 2:
        pool = {"space": spaces, "node": nodes, "column": columns}.get(kind or "", [])
    return [f"{p} " for p in pool if p.startswith(current)][:50]  # the space: ready for the next word
