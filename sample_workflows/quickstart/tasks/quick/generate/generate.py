"""Generate a toy regression dataset (CSV: x, y, split) with the variant's seed."""

import csv
import random

from xxp_tui import sdk

rng = random.Random(sdk.seed())
n_rows = int(sdk.param("n_rows", 200))
with open(sdk.output_path("dataset"), "w", newline="") as fh:
    out = csv.writer(fh)
    out.writerow(["x", "y", "split"])
    for i in range(n_rows):
        x = rng.uniform(-2.0, 2.0)
        y = 0.5 * x * x + x + rng.gauss(0.0, 0.1)
        out.writerow([f"{x:.6f}", f"{y:.6f}", "test" if i % 5 == 0 else "train"])
print(f"wrote {n_rows} rows")
