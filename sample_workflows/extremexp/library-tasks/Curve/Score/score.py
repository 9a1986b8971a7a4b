# A newer-generation ExtremeXP task: eexp_engine_utils with (variables, resultMap, key) signatures.
import json

from eexp_engine_utils import utils

[sys.path.append(os.path.join(os.getcwd(), folder)) for folder in variables.get("dependent_modules_folders").split(",")]
from polyfit import predict

points = utils.load_pickled_dataset_by_path(variables.get("points"))
coefficients = utils.load_pickled_dataset_by_path(variables.get("model"))
n_points = int(variables.get("n_points"))  # put by Load, two tasks earlier
assert n_points == len(points), (n_points, len(points))

mean = sum(y for _, y in points) / n_points
total = sum((y - mean) ** 2 for _, y in points)
residual = sum((predict(coefficients, x) - y) ** 2 for x, y in points)
r2 = 1 - residual / total

report = {"degree": len(coefficients) - 1, "r2": r2, "coefficients": coefficients}
utils.save_dataset(variables, resultMap, "report", json.dumps(report).encode("utf-8"))
resultMap.put("r2", r2)
