"""Stratified train/val/test split plus feature scaling, fitted on the training rows only.

Native xxp task: reads its context through `xxp_tui.sdk`.
"""

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from xxp_tui import sdk

test_size = float(sdk.param("test_size", 0.25))
val_size = float(sdk.param("val_size", 0.2))
scaling = str(sdk.param("scaling", "standard"))
split_seed = int(sdk.param("split_seed", 0))

with np.load(sdk.input_path("digits")) as data:
    X, y = data["X"], data["y"]

X_rest, X_test, y_rest, y_test = train_test_split(
    X, y, test_size=test_size, random_state=split_seed, stratify=y
)
X_train, X_val, y_train, y_val = train_test_split(
    X_rest, y_rest, test_size=val_size, random_state=split_seed, stratify=y_rest
)

scalers = {"standard": StandardScaler, "minmax": MinMaxScaler}
if scaling in scalers:
    scaler = scalers[scaling]().fit(X_train)
    X_train, X_val, X_test = (scaler.transform(a) for a in (X_train, X_val, X_test))
elif scaling != "none":
    raise SystemExit(f"unknown scaling {scaling!r} (standard, minmax or none)")

# A file object, not a path: given a path, numpy would append ".npz" to the port's file name.
with open(sdk.output_path("dataset"), "wb") as fh:
    np.savez_compressed(
        fh, X_train=X_train, y_train=y_train, X_val=X_val, y_val=y_val, X_test=X_test, y_test=y_test
    )
sdk.log_metric("n_train", len(y_train))
sdk.log_metric("n_val", len(y_val))
sdk.log_metric("n_test", len(y_test))
print(f"split {len(y_train)}/{len(y_val)}/{len(y_test)} rows, scaling {scaling}")
