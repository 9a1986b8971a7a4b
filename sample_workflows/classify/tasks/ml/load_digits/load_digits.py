"""Load the digits dataset, keep the first n_classes digits, save X and y as .npz.

ExtremeXP style: `variables` and `resultMap` are injected by the runner (xxp-tui runs this file
with `python -m xxp_tui.shim`); nothing of xxp_tui is imported.
"""

import numpy as np
from sklearn.datasets import load_digits

n_classes = int(variables.get("n_classes"))

X, y = load_digits(n_class=n_classes, return_X_y=True)
# A file object, not a path: given a path, numpy would append ".npz" to the port's file name.
with open(variables.get("digits"), "wb") as fh:
    np.savez_compressed(fh, X=X.astype(np.float32), y=y.astype(np.int64))

resultMap.put("n_samples", int(X.shape[0]))
resultMap.put("n_features", int(X.shape[1]))
print(f"digits: {X.shape[0]} images of {X.shape[1]} pixels, {n_classes} classes")
