"""An implementation that leaves the project and its libraries validates with a warning (issue 12,
smaller list): `implementation "../../../../etc/passwd"` or an absolute path used to pass silently."""

from __future__ import annotations

from pathlib import Path

from tests.lang.helpers import diags, find, load


def spec_with(impl: str) -> str:
    return f"""
workflow W {{ task A {{ implementation "{impl}"; }} }}
experiment E {{ control {{ START -> S -> END; }} space S of W {{ strategy singlerun; }} }}
"""


def test_an_implementation_outside_the_project_is_warned_about(tmp_path: Path):
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.py"
    outside.write_text("print('hi')\n")
    project = tmp_path / "p"
    project.mkdir()
    for impl in ("../" * (len(project.parts) + 2) + str(outside).lstrip("/"), str(outside)):
        result = load(project, spec_with(impl))
        _, _, severity, message = find(result, "outside the project and its libraries")
        assert severity == "warning" and str(outside.resolve()) in message, message
        assert result.ok


def test_an_implementation_inside_the_project_is_not(tmp_path: Path):
    (tmp_path / "steps").mkdir()
    (tmp_path / "steps" / "a.py").write_text("print('hi')\n")
    result = load(tmp_path, spec_with("steps/a.py"))
    assert not [d for d in diags(result) if "outside the project" in d[3]]
