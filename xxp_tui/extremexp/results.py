"""Results the ExtremeXP way, for conditions and for `get_experiment_results`.

`results[node][i]` (i from 1) is `{"configuration": {...}, "result": {...}}`. ExtremeXP scripts
index variants both ways: `results["S1"][1]` in conditions, `results["S1"]["1"]` after a JSON round
trip (the file ProActive ships has string keys). `Rounds` answers both without holding each entry
twice, so `len()` and iteration still count variants once.

A result holds each metric flat (`result["score"]`, the last task reporting it wins), as
`"Task.score"`, and nested per task (`result["Fit"]["score"]`), as newer ExtremeXP reads it. A
nested entry never hides a flat metric that happens to share a task's name.
"""

import json


def _other_key(key):
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return str(key)
    if isinstance(key, str) and key.strip().lstrip("+-").isdigit():
        return int(key)
    return None


class Rounds(dict):
    """The variants of one node by index; `r[1]` and `r["1"]` are the same entry."""

    def __missing__(self, key):
        other = _other_key(key)
        if other is not None and dict.__contains__(self, other):
            return dict.__getitem__(self, other)
        raise KeyError(key)

    def __contains__(self, key) -> bool:
        if dict.__contains__(self, key):
            return True
        other = _other_key(key)
        return other is not None and dict.__contains__(self, other)

    def get(self, key, default=None):
        return self[key] if key in self else default  # noqa: SIM401 - self.get would recurse


def variant_result(finals: dict) -> dict:
    """`{(task, metric): value}` of one variant to its ExtremeXP result: flat, dotted and nested."""
    flat: dict = {}
    nested: dict = {}
    for (task, metric), value in finals.items():
        flat[metric] = value
        if task:
            flat[f"{task}.{metric}"] = value
            nested.setdefault(task, {})[metric] = value
    for task, values in nested.items():
        if task not in flat:
            flat[task] = values
    return flat


def dumps(results: dict) -> str:
    """Canonical JSON (sorted keys): also what a shim task's cache key hashes."""
    return json.dumps(results, sort_keys=True, default=str)


def loads(text: str) -> dict:
    """Read results written by `dumps`, the index of each node answering as int and as string."""
    data = json.loads(text)
    if not isinstance(data, dict):
        return {}
    out = {}
    for node, rounds in data.items():
        if isinstance(rounds, dict):
            out[node] = Rounds({(int(k) if str(k).isdigit() else k): v for k, v in rounds.items()})
        else:
            out[node] = rounds
    return out
