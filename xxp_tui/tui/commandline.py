"""The `:` command line: the CLI's steering verbs, typed inside the TUI.

    :prune v12 v13        :prio v7 5           :inject Tune lr=0.01 degree=3
    :pause  :resume       :parallel 4          :answer Review refine=true
    :stop                 :sort objective desc :filter status:running
    :suspend v3 [--release-slot]               :resume v3 (a suspended variant)
    :tag v3 v4            :goto v12            :q

Parsing is pure (tested on its own); the app executes the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xxp_tui.kb.commands import priority_problem
from xxp_tui.spec.assign import parse_assignments

VERBS = {
    "prune": "prune VARIANT…", "prio": "prio VARIANT N", "inject": "inject SPACE key=value…",
    "pause": "pause", "resume": "resume [VARIANT…]", "suspend": "suspend VARIANT… [--release-slot]",
    "parallel": "parallel N", "answer": "answer [NODE] key=value…",
    "stop": "stop", "sort": "sort COLUMN [asc|desc]", "filter": "filter TEXT", "tag": "tag VARIANT…",
    "goto": "goto VARIANT", "q": "q (quit the viewer; the run goes on)", "help": "help",
}
ALIASES = {"prioritize": "prio", "priority": "prio", "par": "parallel", "quit": "q", "exit": "q", "kill": "prune",
           "f": "filter", "s": "sort", "hold": "suspend"}


@dataclass
class Parsed:
    verb: str
    args: dict = field(default_factory=dict)
    error: str | None = None


def _variants(words: list[str]) -> tuple[list[str], list[str]]:
    ok, bad = [], []
    for w in words:
        text = w.lower().lstrip("v")
        (ok if text.isdigit() else bad).append(f"v{text}" if text.isdigit() else w)
    return ok, bad


def parse(line: str) -> Parsed:
    words = line.strip().lstrip(":").split()
    if not words:
        return Parsed("", error="type a command, e.g. prune v12")
    verb = ALIASES.get(words[0].lower(), words[0].lower())
    rest = words[1:]
    if verb not in VERBS:
        return Parsed(verb, error=f"unknown command {words[0]!r}; commands: {', '.join(VERBS)}")
    usage = f"usage: {VERBS[verb]}"
    if verb in ("prune", "tag"):
        ok, bad = _variants(rest)
        if bad or not ok:
            return Parsed(verb, error=f"{'not variants: ' + ' '.join(bad) if bad else usage}")
        return Parsed(verb, {"variants": ok})
    if verb == "suspend":
        release = "--release-slot" in rest
        ok, bad = _variants([w for w in rest if w != "--release-slot"])
        if bad or not ok:
            return Parsed(verb, error=f"{'not variants: ' + ' '.join(bad) if bad else usage}")
        return Parsed(verb, {"variants": ok, "release_slot": release})
    if verb == "resume" and rest:  # variants: continue suspended ones; none: the run
        ok, bad = _variants(rest)
        if bad:
            return Parsed(verb, error=f"not variants: {' '.join(bad)} ({usage})")
        return Parsed("resume_variant", {"variants": ok})
    if verb == "goto":
        ok, bad = _variants(rest)
        if len(ok) != 1 or bad:
            return Parsed(verb, error=usage)
        return Parsed(verb, {"variant": ok[0]})
    if verb == "prio":
        if len(rest) != 2:
            return Parsed(verb, error=usage)
        ok, bad = _variants(rest[:1])
        try:
            priority = int(rest[1])
        except ValueError:
            return Parsed(verb, error=f"priority must be an integer, not {rest[1]!r}")
        if bad:
            return Parsed(verb, error=f"not a variant: {rest[0]}")
        if problem := priority_problem(priority):
            return Parsed(verb, error=problem)
        return Parsed(verb, {"variant": ok[0], "priority": priority})
    if verb == "inject":
        if not rest:
            return Parsed(verb, error=usage)
        values, errors = parse_assignments(rest[1:])
        if errors:
            return Parsed(verb, error="; ".join(errors))
        return Parsed(verb, {"space": rest[0], "values": values})
    if verb == "answer":
        node = None
        if rest and "=" not in rest[0]:
            node, rest = rest[0], rest[1:]
        values, errors = parse_assignments(rest)
        if errors:
            return Parsed(verb, error="; ".join(errors))
        args = {"values": values}
        if node:
            args["node"] = node
        return Parsed(verb, args)
    if verb == "parallel":
        if len(rest) != 1 or not rest[0].isdigit() or int(rest[0]) < 1:
            return Parsed(verb, error=usage)
        return Parsed(verb, {"workers": int(rest[0])})
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
    current = words[-1]
    pool: list[str] = []
    if verb in ("prune", "prio", "tag", "goto", "suspend", "resume"):
        pool = variants
    elif verb == "inject" and len(words) == 2:
        pool = spaces
    elif verb == "answer" and len(words) == 2:
        pool = nodes
    elif verb == "sort" and len(words) == 2:
        pool = columns
    return [f"{p} " for p in pool if p.startswith(current)][:50]  # the space: ready for the next word
