"""Fit a sklearn RandomForestClassifier in rounds of 10 trees and pickle it.

Native xxp task: the validation accuracy after each round is a series metric (step = number of
trees so far), which a pruner can compare across variants at equal steps.
"""

import pickle
import time

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from xxp_tui import sdk

TREES_PER_ROUND = 10

n_estimators = int(sdk.param("n_estimators", 100))
max_depth = int(sdk.param("max_depth", 12))
max_features = float(sdk.param("max_features", 0.125))

with np.load(sdk.input_path("dataset")) as data:
    X_train, y_train = data["X_train"], data["y_train"]
    X_val, y_val = data["X_val"], data["y_val"]

model = RandomForestClassifier(
    n_estimators=0, max_depth=max_depth, max_features=max_features,
    warm_start=True, random_state=sdk.seed(), n_jobs=1,
)
started = time.perf_counter()
trees = 0
while trees < n_estimators:
    trees = min(trees + TREES_PER_ROUND, n_estimators)
    model.set_params(n_estimators=trees)
    model.fit(X_train, y_train)
    sdk.log_metric("val_accuracy", float(model.score(X_val, y_val)), step=trees)
fit_seconds = time.perf_counter() - started

with open(sdk.output_path("model"), "wb") as fh:
    pickle.dump(model, fh)
sdk.log_metric("fit_seconds", fit_seconds)
print(f"forest of {trees} trees (depth {max_depth}, features {max_features}): "
      f"val accuracy {model.score(X_val, y_val):.4f}")
