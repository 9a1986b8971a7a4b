"""Fit y ~ sum(c_k x^k) by batch gradient descent; writes the coefficients as JSON."""

import csv
import json
import time

from xxp_tui import sdk

lr = float(sdk.param("lr", 0.05))
epochs = int(sdk.param("epochs", 40))
degree = int(sdk.param("degree", 1))

with open(sdk.input_path("dataset")) as fh:
    rows = [(float(r["x"]), float(r["y"])) for r in csv.DictReader(fh) if r["split"] == "train"]

coef = [0.0] * (degree + 1)
loss = float("nan")
mean_y = sum(y for _, y in rows) / len(rows)
variance = sum((y - mean_y) ** 2 for _, y in rows) / len(rows) or 1.0
for epoch in range(epochs):
    grads = [0.0] * len(coef)
    total = 0.0
    for x, y in rows:
        powers = [x**k for k in range(len(coef))]
        err = sum(c * p for c, p in zip(coef, powers, strict=False)) - y
        total += err * err
        for k, p in enumerate(powers):
            grads[k] += 2 * err * p / len(rows)
    loss = total / len(rows)
    # Keep the step stable for high-degree terms (x in [-2, 2] makes x^k large).
    coef = [c - lr * g / (1 + k) ** 2 for k, (c, g) in enumerate(zip(coef, grads, strict=False))]
    if epoch % 5 == 0 or epoch == epochs - 1:
        sdk.log_metric("loss", loss, step=epoch)
        sdk.log_metric("train_r2", 1 - loss / variance, step=epoch)  # rises as the fit improves
    time.sleep(0.01)

with open(sdk.output_path("model"), "w") as fh:
    json.dump({"degree": degree, "coef": coef}, fh)
sdk.log_metric("train_loss", loss)
print(f"degree {degree}, lr {lr}, epochs {epochs}: loss {loss:.4f}")
