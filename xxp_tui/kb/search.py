"""`kb search TEXT`: where a word occurs across the knowledge base — notes, experiment intents,
experiment, space and task names — so what one run taught can be found from the next."""

from __future__ import annotations

import json
from dataclasses import dataclass

from xxp_tui.kb import notes as kbn
from xxp_tui.kb.connection import KB


@dataclass(frozen=True)
class Hit:
    kind: str  # note | intent | experiment | space | task
    where: str  # r3, v12
    text: str

    def to_json(self) -> dict:
        return {"kind": self.kind, "where": self.where, "text": self.text}


def search(kb: KB, text: str, limit: int = 200) -> list[Hit]:
    needle = text.strip().lower()
    hits: list[Hit] = []
    for n in kbn.search(kb, needle, limit):
        tags = f" [{', '.join(n.tags)}]" if n.tags else ""
        hits.append(Hit("note", n.target, f"{n.author}: {n.text}{tags}"))
    for r in kb.query("SELECT id, experiment, model FROM runs ORDER BY id"):
        where = f"r{r['id']}"
        exp = json.loads(r["model"] or "{}").get("experiments", {}).get(r["experiment"], {})
        intent = exp.get("intent")
        if intent and needle in intent.lower():
            hits.append(Hit("intent", where, f"experiment {r['experiment']}: intent {intent}"))
        if needle in r["experiment"].lower():
            hits.append(Hit("experiment", where, r["experiment"]))
        for name, space in exp.get("spaces", {}).items():
            if needle in name.lower():
                hits.append(Hit("space", where, f"{name} of {space.get('workflow')}"))
    for r in kb.query("SELECT DISTINCT v.run_id, t.task FROM task_runs t JOIN variants v ON v.id = t.variant_id"
                      " WHERE lower(t.task) LIKE ? ORDER BY v.run_id, t.task", (f"%{needle}%",)):
        hits.append(Hit("task", f"r{r['run_id']}", r["task"]))
    return hits[:limit]
