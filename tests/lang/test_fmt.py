"""`fmt`: the canonical text keeps the model, the comments and the author's spelling, over the whole
conformance corpus and the samples; a second pass changes nothing."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from xxp_tui.lang import load_project
from xxp_tui.lang.diagnostics import Diagnostics, Pos
from xxp_tui.lang.fmt import FormatError, find_comments, format_text
from xxp_tui.lang.parser import parse_text
from xxp_tui.lang.summary import result_json

REPO = Path(__file__).resolve().parents[2]
ROOTS = [REPO / "tests" / "conformance" / "extremexp", REPO / "sample_workflows"]
SHARED = Path("/work/shared/conformance/extremexp")
FILES = [(root, p.relative_to(root).as_posix()) for root in ROOTS for p in sorted(root.rglob("*.xxp"))]


def shape(obj):
    """A syntax tree as plain data without positions or source text: what was written, not where."""
    if isinstance(obj, Pos):
        return None
    if dataclasses.is_dataclass(obj):
        return {f.name: shape(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                if f.name not in ("text", "path", "file", "pos")}
    if isinstance(obj, (list, tuple)):
        return [shape(x) for x in obj]
    if isinstance(obj, dict):
        return {k: shape(v) for k, v in obj.items()}
    return obj


def summary(path: Path, root: Path) -> str:
    data = result_json(load_project(path))
    data["diagnostics"] = [(d.get("severity"), d["message"]) for d in data["diagnostics"]]
    text = json.dumps(data, sort_keys=True)
    for form in (str(root), os.path.relpath(root)):
        text = text.replace(form, "<root>")
    return text


@pytest.fixture(scope="module")
def formatted_copy(tmp_path_factory):
    """Each corpus copied whole, with every file that parses replaced by its formatted text (imports
    and libraries resolve as in the original)."""
    base = tmp_path_factory.mktemp("fmt")
    copies = {}
    for root in ROOTS:
        dst = base / root.name
        shutil.copytree(root, dst)
        for p in sorted(root.rglob("*.xxp")):
            with contextlib.suppress(FormatError):  # a file with a syntax error stays as it is
                (dst / p.relative_to(root)).write_text(format_text(p.read_text(), str(p)))
        copies[root] = dst
    return copies


def test_the_corpus_is_all_there():
    assert len(FILES) > 113
    if SHARED.is_dir():  # the shared copy of the corpus is the one in the repo
        assert sorted(p.relative_to(SHARED).as_posix() for p in SHARED.rglob("*.xxp")) == \
            sorted(rel for root, rel in FILES if root == ROOTS[0])


@pytest.mark.parametrize(("root", "rel"), FILES, ids=[f"{r.name}/{rel}" for r, rel in FILES])
def test_formatting_keeps_model_comments_and_is_stable(root, rel, formatted_copy):
    original = (root / rel).read_text()
    try:
        out = format_text(original, rel)
    except FormatError as exc:
        diags = Diagnostics()
        parse_text(original, rel, diags)
        assert diags.items, "only a file with a syntax error is refused"
        assert f"{rel}:" in str(exc)
        return
    assert format_text(out, rel) == out, "formatting twice changes the text again"
    copy = formatted_copy[root] / rel
    assert summary(copy, formatted_copy[root]) == summary(root / rel, root)
    a, b = Diagnostics(), Diagnostics()
    assert shape(parse_text(out, rel, b)) == shape(parse_text(original, rel, a))
    assert [c.text for c in find_comments(out)] == [c.text for c in find_comments(original)]
    assert bare(out) == bare(original), "only layout may change: the same characters in the same order"


def bare(text: str) -> str:
    """The text without comments, whitespace and semicolons (optional after a conditional edge's
    properties, so the formatter may place them)."""
    out, at = [], 0
    for c in find_comments(text):
        out.append(text[at : c.start])
        at = c.end
    out.append(text[at:])
    return "".join("".join(out).split()).replace(";", "")


MESSY = """\
// header comment

package  demo ;
workflow W{START->A->B->END;   // the chain
  /* A makes */ task A{implementation "a.make";}
  define task B ;
  task C {
     implementation "c.x";   // trailing
     param k = 3;
     // closing comment of C
  }
  A.out-->B.inp;

  A.out --> C.inp;
}
experiment E { control { START -> S1; S1 ?-> S1 {condition "again"; max_iterations 3}; }
space S1 of W { strategy gridsearch; runs=2; param x_vp = enum( 1,2 ,3 ); task A { param x = x_vp; }
objective maximize   A.acc , minimize loss; pruner median on A.curve; } }
"""

CANONICAL = """\
// header comment

package demo;

workflow W {
    START -> A -> B -> END;  // the chain
    /* A makes */
    task A { implementation "a.make"; }
    define task B;
    task C {
        implementation "c.x";  // trailing
        param k = 3;
        // closing comment of C
    }
    A.out --> B.inp;

    A.out --> C.inp;
}

experiment E {
    control {
        START -> S1;
        S1 ?-> S1 { condition "again"; max_iterations 3 };
    }
    space S1 of W {
        strategy gridsearch;
        runs = 2;
        param x_vp = enum(1, 2, 3);
        task A { param x = x_vp; }
        objective maximize A.acc, minimize loss;
        pruner median on A.curve;
    }
}
"""


def test_the_canonical_layout():
    assert format_text(MESSY) == CANONICAL
    assert format_text(CANONICAL) == CANONICAL


def test_a_syntax_error_is_a_sentence_with_its_position():
    expected = r"^cannot format f.xxp: it has a syntax error \(f.xxp:2:11: missing .;. at the end of this statement\)\."
    with pytest.raises(FormatError, match=expected):
        format_text("workflow W {\n    task A\n}\n", "f.xxp")


def test_comment_markers_inside_strings_are_not_comments():
    text = 'workflow W {\n    task A { implementation "a//b"; }  // real\n}\n'
    assert format_text(text) == text
    assert [c.text for c in find_comments(text)] == ["// real"]
