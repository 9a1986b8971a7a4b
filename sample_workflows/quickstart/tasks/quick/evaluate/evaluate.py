"""R^2 and RMSE of the model on the test rows."""

import csv
import json
import math

from xxp_tui import sdk

with open(sdk.input_path("model")) as fh:
    coef = json.load(fh)["coef"]
with open(sdk.input_path("dataset")) as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh) if r["split"] == "test"]

preds = [sum(c * x**k for k, c in enumerate(coef)) for x, _ in rows]
ys = [y for _, y in rows]
mean = sum(ys) / len(ys)
ss_res = sum((y - p) ** 2 for y, p in zip(ys, preds, strict=False))
ss_tot = sum((y - mean) ** 2 for y in ys) or 1.0
r2 = 1 - ss_res / ss_tot
sdk.log_metric("accuracy", max(0.0, min(1.0, r2)))
sdk.log_metric("rmse", math.sqrt(ss_res / len(ys)))
print(f"R2 {r2:.4f}")
