"""Knowledge that compounds, through the real CLI on real KB files: `kb merge` (idempotent, with
provenance; the cache and warm start then use merged runs), notes, the experiment card and
`kb search`."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from xxp_tui.engine.card import pareto_front
from xxp_tui.kb import open_kb
from xxp_tui.kb import variants as kbv

from .conftest import xxp
from .test_knowledge import KProject

pytestmark = pytest.mark.slow

PAIR_XXP = """
task Pair {
    define param x { type Float; default 0.0; }
    define metric a { kind single-value; type Float; }
    define metric b { kind single-value; type Float; }
    implementation "pair.py";
}
"""
PAIR_PY = """
from xxp_tui import sdk
x = float(sdk.param("x"))
sdk.log_metric("a", x)
sdk.log_metric("b", (x - 0.2) ** 2)
"""
PAIR_SPEC = """
workflow P { START -> T -> END; task T { implementation "k.pair"; } }
experiment Two {
    intent TradeOff;
    control { START -> Front -> END; }
    space Front of P {
        strategy gridsearch;
        param_values x_vp = enum(0.1, 0.2, 0.3, 0.4);
        task T { param x = x_vp; }
        objective maximize a, minimize b;
    }
}
"""


@pytest.fixture
def kp(tmp_path: Path) -> KProject:
    return KProject(tmp_path)


def ok(done):
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_merge_twice_adds_nothing_keeps_provenance_and_feeds_cache_and_warm_start(kp):
    theirs = kp.root / "colleague.sqlite"
    kp.write()
    kp.run("--db", theirs)  # a colleague's KB (the last --db wins)
    ok(xxp("note", "r1", "x near 0.3 is best", "--tag", "lesson", "--db", theirs))
    mine = kp.db
    kp.write(domain="enum(0.7)")
    kp.run()  # this KB has a run of its own: ids shift on merge
    first = ok(xxp("kb", "merge", theirs, "--json", "--db", mine))
    report = json.loads(first.stdout)
    assert report["added"] == [{"there": "r1", "here": "r2"}] and report["rows"]["variants"] == 4
    assert report["rows"]["notes"] == 1
    again = json.loads(ok(xxp("kb", "merge", theirs, "--json", "--db", mine)).stdout)
    assert again["added"] == [] and again["already_here"] == ["r1"] and again["rows"] == {}
    ok(xxp("note", "v3", "learnt after the merge", "--db", theirs))  # the colleague keeps learning
    later = json.loads(ok(xxp("kb", "merge", theirs, "--json", "--db", mine)).stdout)
    assert later["added"] == [] and later["rows"] == {"notes": 1}
    with open_kb(mine, create=False) as kb:
        assert kb.scalar("SELECT count(*) FROM runs") == 2
        assert kb.scalar("SELECT count(*) FROM variants WHERE run_id = 2") == 4
        # every reference remapped: metrics, task runs and notes point at the merged variants
        assert kb.scalar("SELECT count(*) FROM metrics m JOIN variants v ON v.id = m.variant_id"
                         " WHERE v.run_id = 2") == 4 * 4
        assert kb.scalar("SELECT count(*) FROM task_runs t JOIN variants v ON v.id = t.variant_id"
                         " WHERE v.run_id = 2") == 4
        assert kb.scalar("SELECT count(*) FROM notes WHERE run_id = 2") == 2
        assert kb.scalar("SELECT variant_id FROM notes WHERE text = 'learnt after the merge'") == \
            kb.scalar("SELECT min(id) FROM variants WHERE run_id = 2") + 2  # v3 there
    assert json.loads(ok(xxp("show", "latest", "--json", "--db", mine)).stdout)["run"]["id"] == "r1"  # not merged
    shown = json.loads(ok(xxp("show", "r2", "--json", "--db", mine)).stdout)
    assert shown["merged_from"]["kb"] == str(theirs.resolve()) and shown["merged_from"]["run"] == "r1"
    assert any("x near 0.3 is best" in n for n in shown["notes"])
    # The task cache reuses the merged run's executions: the same grid costs no task process.
    kp.write()
    kp.run()
    latest = kp.variants()
    with kp.kb() as kb:
        tasks = [t for v in latest for t in kbv.task_runs(kb, v.id)]
        sources = {kbv.get_task_run(kb, t.cache_source).variant_id for t in tasks if t.cache_source}
        merged_ids = {v.id for v in kbv.for_run(kb, 2)}
    assert tasks and all(t.status == "cached" for t in tasks)
    assert sources <= merged_ids and sources
    # Warm start `auto` picks the merged trials too.
    kp.write(strategy="bayesian", domain="uniform(0.0, 1.0)", runs=2, warm="warmstart auto;")
    kp.run()
    warm = [v for v in kp.variants() if v.origin == "warm_start"]
    assert {v.source_variant for v in warm} & merged_ids


def test_merge_refuses_itself_a_missing_file_and_not_a_kb(kp):
    kp.write(domain="enum(0.1)")
    kp.run()
    other = kp.root / "other.sqlite"
    with sqlite3.connect(other) as conn:  # a SQLite file, but not a knowledge base
        conn.execute("CREATE TABLE t (x)")
    for target, words in ((kp.db, "is this knowledge base"), (kp.root / "nope.sqlite", "no knowledge base"),
                          (kp.root / "e.xxp", "not an xxp-tui knowledge base"),
                          (other, "not an xxp-tui knowledge base (it has no runs)")):
        done = xxp("kb", "merge", target, "--db", kp.db)
        assert done.returncode == 2 and words in done.stderr and "Traceback" not in done.stderr, done.stderr


def test_a_merged_kb_file_is_read_not_changed_and_running_runs_stay_out(kp):
    theirs = kp.root / "theirs.sqlite"
    kp.write(domain="enum(0.1)")
    kp.run("--db", theirs)
    with sqlite3.connect(theirs) as conn:  # a run that is still going there
        conn.execute("UPDATE runs SET status = 'running' WHERE id = 1")
    before = theirs.read_bytes()
    kp.write(domain="enum(0.2)")
    kp.run()
    report = json.loads(ok(xxp("kb", "merge", theirs, "--json", "--db", kp.db)).stdout)
    assert report["added"] == [] and report["unfinished"] == [{"run": "r1", "status": "running"}]
    assert theirs.read_bytes() == before
    fresh = kp.root / "newcomer"  # a new project starts from a colleague's KB: .xxp/kb.sqlite is created
    fresh.mkdir()
    with sqlite3.connect(theirs) as conn:
        conn.execute("UPDATE runs SET status = 'completed' WHERE id = 1")
    done = ok(xxp("kb", "merge", theirs, cwd=fresh))
    assert "merged 1 run(s)" in done.stdout and (fresh / ".xxp" / "kb.sqlite").stat().st_mode & 0o077 == 0


def test_notes_through_the_cli_show_variants_card_and_search(kp):
    kp.write()
    kp.run()
    v = kp.variants()[1]
    done = ok(xxp("note", v.label, "label noise in this split", "--tag", "data", "--tag", "noise", "--db", kp.db))
    assert f"noted on {v.label}" in done.stdout
    ok(xxp("note", "latest", "lr above 0.3 diverges", "--db", kp.db))
    for bad, words in ((["note", "v999", "x"], "is not a variant"), (["note", "r1", "   "], "needs some text")):
        done = xxp(*bad, "--db", kp.db)
        assert done.returncode == 2 and words in done.stderr, done.stderr
    shown = json.loads(ok(xxp("show", v.label, "--json", "--db", kp.db)).stdout)
    assert len(shown["notes"]) == 1 and "label noise in this split" in shown["notes"][0]
    assert "[data, noise]" in shown["notes"][0] and os.environ.get("USER", "") in shown["notes"][0]
    rows = json.loads(ok(xxp("variants", "--json", "--db", kp.db)).stdout)
    by_id = {r["id"]: r for r in rows}
    assert [n["text"] for n in by_id[v.label]["notes"]] == ["label noise in this split"]
    assert by_id[v.label]["notes"][0]["tags"] == ["data", "noise"]
    assert all(r["notes"] == [] for r in rows if r["id"] != v.label)
    with kp.kb() as kb:  # kept in the audit log
        events = kb.query("SELECT actor, kind, target, detail FROM events WHERE kind = 'note' ORDER BY id")
    assert [e["target"] for e in events] == [v.label, "r1"]
    assert json.loads(events[0]["detail"])["tags"] == ["data", "noise"]
    hits = json.loads(ok(xxp("kb", "search", "NOISE", "--json", "--db", kp.db)).stdout)
    assert [(h["kind"], h["where"]) for h in hits] == [("note", v.label)]
    hits = json.loads(ok(xxp("kb", "search", "q", "--json", "--db", kp.db)).stdout)
    assert ("task", "r1") in {(h["kind"], h["where"]) for h in hits}  # the task Q
    assert ok(xxp("kb", "search", "zebra", "--db", kp.db)).stdout.startswith("Nothing in the knowledge base")
    card = ok(xxp("card", "r1", "--db", kp.db)).stdout
    for section in ("# Experiment card: r1 E", "## Intent", "## Spec versions", "## What was searched",
                    "## Best results", "## Human actions and notes", "## Cost", "## Environment",
                    "## Reused from earlier knowledge", "## What this run adds"):
        assert section in card, section
    assert "label noise in this split" in card and "lr above 0.3 diverges" in card
    assert "S of W: gridsearch" in card and "first results for W on y" in card


def test_card_json_pareto_front_intent_reuse_and_search_by_intent(kp):
    kp.task("k.pair", PAIR_XXP, "pair.py", PAIR_PY)
    kp.spec(PAIR_SPEC, "pair.xxp")
    ok(xxp("run", kp.root / "pair.xxp", "--headless", "--db", kp.db, cwd=kp.root))
    ok(xxp("run", kp.root / "pair.xxp", "--headless", "--db", kp.db, cwd=kp.root))  # all from the cache
    card = json.loads(ok(xxp("card", "r2", "--format", "json", "--db", kp.db)).stdout)
    assert card["intent"] == "TradeOff"
    front = card["best"]["Front"]
    assert front["objectives"] == ["maximize a", "minimize b"]
    assert sorted(r["params"]["T.x"] for r in front["pareto_front"]) == [0.2, 0.3, 0.4]  # 0.1 is dominated
    assert card["reused"]["cache_hits"] == 4 and card["reused"]["cache_from_runs"] == ["r1"]
    assert card["cost"]["per_task"][0]["cached"] == 4 and card["cost"]["per_task"][0]["ran"] == 0
    assert card["environment"]["python"] and card["spec_versions"][0]["version"] == 1
    assert card["adds"]["trials_run"] == 4
    hits = json.loads(ok(xxp("kb", "search", "tradeoff", "--json", "--db", kp.db)).stdout)
    assert {(h["kind"], h["where"]) for h in hits} == {("intent", "r1"), ("intent", "r2")}
    assert xxp("card", "r1", "--format", "html", "--db", kp.db).returncode == 2


def test_pareto_front_keeps_exactly_the_non_dominated_points():
    points = [(1, [0.1, 0.01]), (2, [0.2, 0.0]), (3, [0.3, 0.01]), (4, [0.3, 0.02]), (5, [0.2, 0.0])]
    assert pareto_front(points, ["maximize", "minimize"]) == [2, 3, 5]
