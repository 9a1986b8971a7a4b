"""The notebook example in docs/ runs, cell by cell, against a real knowledge base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "docs" / "results.ipynb"


def test_the_docs_notebook_runs(finished, monkeypatch):
    pd = pytest.importorskip("pandas")
    monkeypatch.setenv("XXP_DB", str(finished.db))
    monkeypatch.chdir(finished.root)
    cells = [c for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    assert cells
    namespace: dict = {}
    for cell in cells:
        exec(compile("".join(cell["source"]), f"{NOTEBOOK.name} cell", "exec"), namespace)
    assert set(namespace["front"]["variant"]) == {"v2", "v3", "v4"}  # x = 0.25, 0.5, 1.0
    assert namespace["curves"]["curve"].tolist() == [1.0, 2.0, 3.0, 4.0]  # the best variant: x = 1.0
    assert isinstance(namespace["tasks"], pd.DataFrame)
