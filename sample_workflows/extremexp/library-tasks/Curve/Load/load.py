# An older-generation ExtremeXP task: proactive_helper with (variables, key) signatures.
[sys.path.append(os.path.join(os.getcwd(), folder)) for folder in variables.get("dependent_modules_folders").split(",")]
import proactive_helper as ph

raw = ph.load_dataset(variables, "raw")  # the CSV's bytes
rows = [line.split(",") for line in raw.decode("utf-8").splitlines()[1:] if line.strip()]
points = [(float(x), float(y)) for x, y in rows]
print(f"read {len(points)} points")

ph.save_datasets(variables, ("points", points))  # pickled, as the old helper did
variables.put("n_points", str(len(points)))
resultMap.put("n_points", len(points))
