"""Conditions of the CurveFit experiment (eexp_config.py names this module: PYTHON_CONDITIONS).

`results[node][i]["result"]` holds each variant's results nested per task, as newer ExtremeXP
gives them: `["Score"]["r2"]`.
"""


def fit_not_good_enough(threshold, results):
    best = max(v["result"]["Score"]["r2"] for v in results["Straight"].values())
    return best < float(threshold)
