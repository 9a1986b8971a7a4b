"""Shell completion: what Tab offers, and click's completion protocol beside Typer's.

Typer's `--install-completion` scripts call `_XXP_TUI_COMPLETE=complete_bash` (its own order of
words); click's protocol is `_XXP_TUI_COMPLETE=bash_complete` with `COMP_WORDS` and `COMP_CWORD`,
answering lines of `type,value` (bash), `type/value/help` triples (zsh) or `type,value<TAB>help`
(fish), and `bash_source` etc. print a script that speaks it. Both end in the same completers, which
read the knowledge base the command would use (`--db`, $XXP_DB, or the nearest one) through
`kb.peek`: plain sqlite3, read-only, no heavy import, so Tab answers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from typer._click.shell_completion import CompletionItem, ShellComplete, split_arg_string

COMPLETE_VAR = "_XXP_TUI_COMPLETE"
CLICK_SHELLS = ("bash", "zsh", "fish")


# ----------------------------------------------------------------------------- completers


def _db(ctx) -> Path | None:
    from xxp_tui.cli.common import locate_kb
    from xxp_tui.kb.connection import KBError

    db = ctx.params.get("db") if ctx is not None else None
    try:
        return locate_kb(Path(db) if db is not None else None)
    except (KBError, OSError):
        return None


def complete_run(ctx, incomplete: str) -> list[tuple[str, str]]:
    """`latest` and the KB's runs, newest first."""
    db = _db(ctx)
    from xxp_tui.kb import peek

    return [("latest", "the newest run"), *(peek.run_labels(db) if db else [])]


def complete_variant(ctx, incomplete: str) -> list[tuple[str, str]]:
    """The KB's variants, newest first (`v1` narrows to ids starting with 1)."""
    db = _db(ctx)
    if db is None:
        return []
    from xxp_tui.kb import peek

    digits = incomplete.lower().removeprefix("v")
    return peek.variant_labels(db, digits if digits.isdigit() else "")


def complete_run_or_variant(ctx, incomplete: str) -> list[tuple[str, str]]:
    if incomplete.lower().startswith("v"):
        return complete_variant(ctx, incomplete)
    return complete_run(ctx, incomplete)


def complete_space(ctx, incomplete: str) -> list[str]:
    db = _db(ctx)
    from xxp_tui.kb import peek

    return peek.space_names(db) if db else []


def complete_task_param(ctx, incomplete: str) -> list[str]:
    """`Task.param=` for `inject --set`: the task names and params the KB's variants have."""
    db = _db(ctx)
    if db is None:
        return []
    from xxp_tui.kb import peek

    return [f"{key}=" for key in peek.param_keys(db)] or [f"{t}." for t in peek.task_names(db)]


def complete_waiting(ctx, incomplete: str) -> list[tuple[str, str]]:
    """What `answer` can answer: waiting interactions and variants in an interactive task."""
    db = _db(ctx)
    from xxp_tui.kb import peek

    return peek.waiting_nodes(db) if db else []


def complete_workflow(ctx, incomplete: str) -> list[str]:
    db = _db(ctx)
    from xxp_tui.kb import peek

    return peek.workflow_names(db) if db else []


def complete_importance_target(ctx, incomplete: str) -> list[tuple[str, str]]:
    """A run, or a space of the latest run."""
    return [*complete_run(ctx, incomplete), *((s, "space") for s in complete_space(ctx, incomplete))]


def choices(*values: str):
    """A completer offering fixed words (for options whose values are checked by the command)."""
    return lambda: list(values)


# ----------------------------------------------------------------------------- click's protocol


class _ClickProtocol(ShellComplete):
    """Click 8's completion instructions: COMP_WORDS and COMP_CWORD in, one item per line out."""

    def source_vars(self) -> dict:
        return {"func": self.func_name, "var": self.complete_var, "prog": self.prog_name}

    def get_completion_args(self) -> tuple[list[str], str]:
        words = split_arg_string(os.environ.get("COMP_WORDS", ""))
        cword = int(os.environ.get("COMP_CWORD", len(words)) or 0)
        args = words[1:cword]
        incomplete = words[cword] if cword < len(words) else ""
        return args, incomplete


class BashProtocol(_ClickProtocol):
    name = "bash"
    source_template = """\
%(func)s() {
    local IFS=$'\\n' line
    COMPREPLY=()
    while read -r line; do
        case "${line%%%%,*}" in
            dir) COMPREPLY=(); compopt -o dirnames; return ;;
            file) COMPREPLY=(); compopt -o default; return ;;
            *) COMPREPLY+=("${line#*,}") ;;
        esac
    done < <(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD=$COMP_CWORD %(var)s=bash_complete %(prog)s)
}
complete -o nosort -F %(func)s %(prog)s
"""

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}"


class ZshProtocol(_ClickProtocol):
    name = "zsh"
    source_template = """\
#compdef %(prog)s
%(func)s() {
    local -a described plain
    local kind value help
    (( ! $+commands[%(prog)s] )) && return 1
    env COMP_WORDS="${words[*]}" COMP_CWORD=$((CURRENT-1)) %(var)s=zsh_complete %(prog)s | \\
    while IFS= read -r kind && IFS= read -r value && IFS= read -r help; do
        if [[ "$kind" == file || "$kind" == dir ]]; then _path_files; return; fi
        if [[ "$help" == _ ]]; then plain+=("$value"); else described+=("$value:$help"); fi
    done
    (( ${#described} )) && _describe -V values described
    (( ${#plain} )) && compadd -U -V plain -a plain
}
compdef %(func)s %(prog)s
"""

    def format_completion(self, item: CompletionItem) -> str:
        help_text = (item.help or "_").replace("\n", " ")
        value = item.value.replace(":", r"\:")
        return f"{item.type}\n{value}\n{help_text}"


class FishProtocol(_ClickProtocol):
    name = "fish"
    source_template = """\
function %(func)s
    set -l response (env COMP_WORDS=(commandline -cp) COMP_CWORD=(commandline -t) \\
        %(var)s=fish_complete %(prog)s)
    for line in $response
        set -l parts (string split -m 1 "," -- $line)
        switch $parts[1]
            case dir
                __fish_complete_directories (commandline -ct)
            case file
                __fish_complete_path (commandline -ct)
            case '*'
                echo $parts[2]
        end
    end
end
complete --no-files --command %(prog)s --arguments "(%(func)s)"
"""

    def get_completion_args(self) -> tuple[list[str], str]:
        """Fish gives the line and the word under the cursor (COMP_CWORD is that word, not an index)."""
        args = split_arg_string(os.environ.get("COMP_WORDS", ""))[1:]
        incomplete = os.environ.get("COMP_CWORD", "")
        if incomplete and args and args[-1] == incomplete:
            args.pop()
        return args, incomplete

    def format_completion(self, item: CompletionItem) -> str:
        return f"{item.type},{item.value}\t{item.help}" if item.help else f"{item.type},{item.value}"


PROTOCOLS = {cls.name: cls for cls in (BashProtocol, ZshProtocol, FishProtocol)}


def click_instruction() -> tuple[str, str] | None:
    """(shell, "complete"|"source") when $_XXP_TUI_COMPLETE is in click's order (`bash_complete`);
    None for Typer's order (`complete_bash`, its install scripts) or no completion at all."""
    shell, _, action = os.environ.get(COMPLETE_VAR, "").partition("_")
    if shell in CLICK_SHELLS and action in ("complete", "source"):
        return shell, action
    return None


def answer_click_protocol(app, shell: str, action: str) -> int:
    """Print the script or the completions for click's protocol; the exit status for the shell."""
    import typer.main

    command = typer.main.get_command(app)
    comp = PROTOCOLS[shell](command, {}, "xxp-tui", COMPLETE_VAR)
    try:
        text = comp.source() if action == "source" else comp.complete()
    except Exception:  # completing must never print a traceback into the user's prompt
        return 1
    sys.stdout.write(text + ("\n" if text else ""))
    return 0
