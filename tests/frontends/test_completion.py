"""Shell completion through click's protocol (`_XXP_TUI_COMPLETE=bash_complete`, COMP_WORDS,
COMP_CWORD) and Typer's (`complete_bash`, what `--install-completion` scripts send): subcommands,
options, and run ids, variant ids and space names read from a real KB, quickly and without loading
the heavy modules."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.engine.conftest import clean_env, xxp

HEAVY = ("textual", "optuna", "networkx", "dask", "sqlite_utils", "lark", "pandas", "mlflow")


def complete(finished, words: str, cword: int, instruction: str = "bash_complete", **env: str):
    extra = {"XXP_DB": str(finished.db), "_XXP_TUI_COMPLETE": instruction, "COMP_WORDS": words,
             "COMP_CWORD": str(cword), **env}
    done = xxp(cwd=finished.root, env=clean_env(**extra))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_bash_protocol_completes_subcommands_and_options(finished):
    assert complete(finished, "xxp-tui pa", 1) == ["plain,pause", "plain,parallel"]
    assert "plain,--max-failures" in complete(finished, "xxp-tui run --max", 2)
    assert complete(finished, "xxp-tui export --format pa", 3) == ["plain,parquet"]


def test_bash_protocol_completes_ids_and_names_from_the_kb(finished):
    variants = complete(finished, "xxp-tui show v", 2)
    assert variants == ["plain,v4", "plain,v3", "plain,v2", "plain,v1"]  # newest first
    assert complete(finished, "xxp-tui prune v3", 2) == ["plain,v3"]
    assert complete(finished, "xxp-tui variants ", 2) == ["plain,latest", "plain,r1"]
    assert complete(finished, "xxp-tui inject --space ", 3) == ["plain,Front"]
    assert complete(finished, "xxp-tui inject --set Fit.", 3) == ["plain,Fit.k=", "plain,Fit.kind=", "plain,Fit.x="]
    assert complete(finished, "xxp-tui kb best ", 3) == ["plain,W"]
    # --db on the line is the KB read, as the command would
    other = ["plain,latest"]
    assert complete(finished, f"xxp-tui variants --db {finished.root / 'none.sqlite'} ", 4, XXP_DB="") == other


def test_zsh_and_fish_protocols_carry_help_text(finished):
    zsh = complete(finished, "xxp-tui attach ", 2, "zsh_complete")
    assert zsh[:6] == ["plain", "latest", "the newest run", "plain", "r1", "Multi completed"]
    env = clean_env(XXP_DB=str(finished.db), _XXP_TUI_COMPLETE="fish_complete", COMP_WORDS="xxp-tui show v1",
                    COMP_CWORD="v1")
    fish = xxp(cwd=finished.root, env=env).stdout.splitlines()
    assert fish == ["plain,v1\tr1 Front completed"]


def test_typer_instructions_and_source_scripts(finished):
    assert "v2" in complete(finished, "xxp-tui show v", 2, "complete_bash")
    for shell in ("bash", "zsh", "fish"):
        script = xxp(env=clean_env(_XXP_TUI_COMPLETE=f"{shell}_source")).stdout
        assert f"{shell}_complete" in script and "xxp-tui" in script
    assert "--install-completion" in xxp("--help").stdout


def test_completion_is_fast_and_light(finished):
    code = ("import os, sys\n"
            "os.environ.update(_XXP_TUI_COMPLETE='bash_complete', COMP_WORDS='xxp-tui show v', COMP_CWORD='2')\n"
            "from xxp_tui.cli.main import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])\n")
    env = clean_env(XXP_DB=str(finished.db))
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    elapsed = time.monotonic() - started
    assert "plain,v1" in out.stdout and "HEAVY []" in out.stdout, out.stdout + out.stderr
    assert elapsed < 15, elapsed  # about 0.5 s here, 1 s at a load of 10 on 2 cores; generous for worse


def test_the_scripts_complete_in_a_real_bash(finished):
    """Both scripts sourced into bash, the completion function called as bash calls it on Tab."""
    import os
    import shutil

    from tests.engine.conftest import xxp_executable

    bash = shutil.which("bash")
    assert bash
    script = ('eval "$(_XXP_TUI_COMPLETE=bash_source xxp-tui)"\n'
              'COMP_WORDS=(xxp-tui show v1); COMP_CWORD=2; _xxp_tui_completion\n'
              'printf "click:%s\\n" "${COMPREPLY[@]}"\n'
              'eval "$(xxp-tui --show-completion bash)"\n'
              'COMP_WORDS=(xxp-tui inject --space ""); COMP_CWORD=3; _xxp_tui_completion xxp-tui\n'
              'printf "typer:%s\\n" "${COMPREPLY[@]}"\n')
    env = clean_env(XXP_DB=str(finished.db))
    env["PATH"] = os.path.dirname(xxp_executable()) + os.pathsep + env.get("PATH", "")
    out = subprocess.run([bash, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.splitlines() == ["click:v1", "typer:Front"], out.stdout + out.stderr
