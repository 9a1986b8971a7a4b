"""Fit sklearn.svm.SVC and pickle it.

ExtremeXP style: `variables` and `resultMap` are injected by the runner (xxp-tui runs this file
with `python -m xxp_tui.shim`); nothing of xxp_tui is imported.
"""

import pickle
import time

import numpy as np
from sklearn.svm import SVC

C = float(variables.get("C"))
gamma = float(variables.get("gamma"))
kernel = str(variables.get("kernel"))
seed = int(variables.get("seed") or 0)

with np.load(variables.get("dataset")) as data:
    X_train, y_train = data["X_train"], data["y_train"]
    X_val, y_val = data["X_val"], data["y_val"]

started = time.perf_counter()
model = SVC(C=C, gamma=gamma, kernel=kernel, random_state=seed).fit(X_train, y_train)
fit_seconds = time.perf_counter() - started

with open(variables.get("model"), "wb") as fh:
    pickle.dump(model, fh)

val_accuracy = float(model.score(X_val, y_val))
resultMap.put("val_accuracy", val_accuracy)
resultMap.put("fit_seconds", fit_seconds)
print(f"SVC(C={C}, gamma={gamma}, kernel={kernel}): val accuracy {val_accuracy:.4f}")
