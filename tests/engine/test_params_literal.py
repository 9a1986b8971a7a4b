"""Parameter values full of shell metacharacters reach the task literally and run nothing.

The values come from the spec (`enum("…")`, with escapes for quotes and newlines) and from a human
(`xxp-tui inject … --set Echo.text=…`). Two tasks receive them: one through `xxp_tui.sdk`, one an
unchanged ExtremeXP-style script through `variables.get`. HOME points at a sandbox for the run, so
even a broken engine could not reach the real home with `rm -rf ~`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xxp_tui.kb import variants as kbv

from .conftest import Project, clean_env, wait_until, xxp, xxp_popen

VALUES = [
    "; rm -rf ~",
    "$(touch PWNED)",
    "`touch PWNED`",
    "it's \"quoted\" 'twice'",
    "line one\nline two && touch PWNED",
    "| tee PWNED > /dev/null; echo $HOME \\ * ? [a-z] {} %s %(x)s ~ ${IFS} >PWNED 2>&1 &",
    "  leading and trailing spaces\t ",
]
INJECTED = ["line one\nline two && touch PWNED", "; rm -rf ~"]

ECHO_TASK = """
task Echo {
    define param text { type String; default "plain"; }
    define metric received { kind single-value; }
    define metric score { kind single-value; type Float; }
    implementation "echo.py";
}
"""
ECHO_PY = r'''
import json
import os
import sys
import time
from pathlib import Path

from xxp_tui import sdk

project = Path.cwd().parents[4]  # .xxp/runs/r<run>/v<variant>/<Task>
deadline = time.monotonic() + 120
while not (project / "release").exists() and time.monotonic() < deadline:
    time.sleep(0.02)  # the test injects variants while the first one holds the space open
text = sdk.param("text")
Path(os.environ["XXP_OUTPUT_DIR"], "received.json").write_text(json.dumps({"text": text, "argv": sys.argv}))
sdk.log_metric("received", text)
sdk.log_metric("score", 1.0)
'''
LEGACY_TASK = """
task Legacy {
    define param text { type String; default "plain"; }
    implementation "legacy.py";
}
"""
LEGACY_PY = r'''
import json
import os

text = variables.get("text")
with open(os.path.join(variables.get("output_folder"), "received.json"), "w") as fh:
    json.dump({"text": text}, fh)
resultMap.put("received_legacy", text)
'''


def dsl_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def build(project: Project) -> Path:
    project.task("t.echo", ECHO_TASK, "echo.py", ECHO_PY)
    project.task("t.legacy", LEGACY_TASK, "legacy.py", LEGACY_PY)
    listed = ", ".join(dsl_string(v) for v in VALUES)
    return project.spec(f"""
        workflow W {{
            START -> Echo -> Legacy -> END;
            task Echo {{ implementation "t.echo"; }}
            task Legacy {{ implementation "t.legacy"; }}
        }}
        experiment Literal {{
            control {{ START -> Texts -> END; }}
            space Texts of W {{
                strategy gridsearch;
                param_values text_vp = enum({listed});
                task Echo {{ param text = text_vp; }}
                task Legacy {{ param text = text_vp; }}
                objective maximize Echo.score;
            }}
        }}
    """)


@pytest.mark.slow
def test_shell_metacharacters_in_params_reach_the_task_literally(project):
    spec = build(project)
    home = project.root / "home"
    home.mkdir()
    (home / "canary").write_text("still here")
    env = clean_env(HOME=str(home))
    log = project.root / "run.out"
    with open(log, "w") as out:
        proc = xxp_popen("run", spec, "--headless", "--workers", "1", "--no-cache", "--db", project.db,
                         cwd=project.root, env=env, stdout=out, stderr=out)
    try:
        wait_until(lambda: project.db.exists() and any(v.status == "running" for v in _variants(project)),
                   timeout=60, what="the first variant to start")
        for value in INJECTED:  # a human types them; argv, no shell, carries them to the CLI
            sent = xxp("inject", "latest", "--space", "Texts", "--set", f"Echo.text={value}", "--db", project.db,
                       env=env)
            assert sent.returncode == 0, sent.stdout + sent.stderr
            assert sent.stdout.startswith("injected v")
        (project.root / "release").touch()
        assert proc.wait(timeout=120) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    variants = _variants(project)
    assert len(variants) == len(VALUES) + len(INJECTED)
    assert sorted(v.params["Echo.text"] for v in variants if v.origin == "strategy") == sorted(VALUES)
    assert sorted(v.params["Echo.text"] for v in variants if v.origin == "injected") == sorted(INJECTED)
    with project.kb() as kb:
        for v in variants:
            expected = v.params["Echo.text"]
            assert v.params["Legacy.text"] == expected and v.status == "completed", v
            assert v.config == {"text_vp": expected}  # one point of the space, whoever chose it
            metrics = {m.name: m.text for m in kbv.metrics(kb, v.id)}
            assert metrics["received"] == expected
            assert metrics["received_legacy"] == expected
            for tr in kbv.task_runs(kb, v.id):
                assert tr.status == "completed" and expected not in " ".join(tr.argv)
                got = json.loads((Path(tr.cwd) / "out" / "received.json").read_text())
                assert got["text"] == expected, (tr.task, got, expected)
                if tr.task == "Echo":
                    assert got["argv"] == [tr.argv[-1]]  # the script path only: no value on a command line
    # The front end shows the same values back.
    listed = xxp("variants", "latest", "--json", "--db", project.db)
    assert sorted(r["params"]["Echo.text"] for r in json.loads(listed.stdout)) == sorted(VALUES + INJECTED)
    # Nothing was executed by a shell anywhere.
    assert list(project.root.rglob("PWNED")) == []
    assert not (Path.cwd() / "PWNED").exists()
    assert (home / "canary").read_text() == "still here"


def test_an_injected_value_binds_every_parameter_of_its_value_list(project):
    """`Echo.text` and `Legacy.text` share `text_vp`: setting one (or the list by name) sets both;
    two different values for them are refused."""
    from xxp_tui.lang import load_project
    from xxp_tui.lang.assign import check_injection

    result = load_project(build(project))
    assert result.ok, [d.render() for d in result.errors]
    space = result.project.experiments["Literal"].spaces["Texts"]
    workflow = result.project.workflows["W"]
    for values in ({"Echo.text": VALUES[1]}, {"Legacy.text": VALUES[1]}, {"text_vp": VALUES[1]},
                   {"Echo.text": VALUES[1], "Legacy.text": VALUES[1]}):
        got = check_injection(space, workflow, values)
        assert got.ok, got.errors
        assert got.params == {"Echo.text": VALUES[1], "Legacy.text": VALUES[1]} and got.filled == []
        assert got.config == {"text_vp": VALUES[1]}
    both = check_injection(space, workflow, {})
    assert both.params == {"Echo.text": VALUES[0], "Legacy.text": VALUES[0]}
    assert both.config == {"text_vp": VALUES[0]}
    clash = check_injection(space, workflow, {"Echo.text": VALUES[1], "Legacy.text": VALUES[2]})
    assert clash.errors == [f"Legacy.text={VALUES[2]!r}: it shares the value list text_vp with a parameter "
                            f"set to {VALUES[1]!r}; give them one value"]


def _variants(project: Project) -> list[kbv.Variant]:
    try:
        return project.variants()
    except Exception:  # the engine is still creating the KB
        return []
