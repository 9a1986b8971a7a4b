# A newer-generation ExtremeXP experiment task: results of earlier nodes, nested per task.
from eexp_engine_utils import utils

results = utils.get_experiment_results(variables)
best = None
for node, variants in results.items():
    for i, variant in variants.items():
        r2 = variant["result"]["Score"]["r2"]
        print(f"{node} #{i} {variant['configuration']}: r2 = {r2:.4f}")
        if best is None or r2 > best[0]:
            best = (r2, node, variant["configuration"])

first = results["Straight"]["1"]["result"]  # the index as the string key of ExtremeXP's JSON file
print(f"Straight #1 fitted with train_mse = {first['Fit']['train_mse']:.4f}")
resultMap.put("best_r2", best[0])
resultMap.put("best_node", best[1])
resultMap.put("best_configuration", str(best[2]))
