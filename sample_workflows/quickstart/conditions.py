"""Conditions for control edges, ExtremeXP style: `condition "score_below 0.95"` calls
`score_below("0.95", results)`, where results[node][i] = {"configuration": {...}, "result": {...}}."""


def score_below(threshold, results):
    """True when no variant of the grid reached `threshold` accuracy."""
    scores = [r["result"].get("accuracy", 0.0) for r in results.get("Grid", {}).values()]
    return not scores or max(scores) < float(threshold)
