# An older-generation ExtremeXP task: proactive_helper, save_dataset(variables, key, value, resultMap).
[sys.path.append(os.path.join(os.getcwd(), folder)) for folder in variables.get("dependent_modules_folders").split(",")]
import proactive_helper as ph
from polyfit import fit, predict

points = ph.load_datasets(variables, "points")[0]
degree = int(variables.get("degree"))  # ExtremeXP hands params over as text
coefficients = fit(points, degree)
mse = sum((predict(coefficients, x) - y) ** 2 for x, y in points) / len(points)
print(f"degree {degree}: {coefficients}")

ph.save_dataset(variables, "model", coefficients, resultMap)
resultMap.put("train_mse", mse)
