"""Test accuracy and macro F1 of a pickled classifier; the confusion matrix goes to the report.

ExtremeXP style: `variables` and `resultMap` are injected by the runner (xxp-tui runs this file
with `python -m xxp_tui.shim`); nothing of xxp_tui is imported.
"""

import json
import pickle

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

with open(variables.get("model"), "rb") as fh:
    model = pickle.load(fh)
with np.load(variables.get("dataset")) as data:
    X_test, y_test = data["X_test"], data["y_test"]

predicted = model.predict(X_test)
accuracy = float(accuracy_score(y_test, predicted))
macro_f1 = float(f1_score(y_test, predicted, average="macro"))

with open(variables.get("report"), "w") as fh:
    json.dump({
        "model": repr(model),
        "accuracy": accuracy,
        "macro_f1": macro_f1,
        "n_test": len(y_test),
        "confusion_matrix": confusion_matrix(y_test, predicted).tolist(),
    }, fh, indent=2)

resultMap.put("accuracy", accuracy)
resultMap.put("macro_f1", macro_f1)
print(f"test accuracy {accuracy:.4f}, macro F1 {macro_f1:.4f}")
