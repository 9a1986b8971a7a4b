# An ExtremeXP project configuration, as the ExtremeXP engine reads it. xxp-tui reads the literal
# assignments below (it never runs this file) and lists the settings it has no use for in
# `xxp-tui validate`.

TASK_LIBRARY_PATH = "library-tasks"
EXPERIMENT_LIBRARY_PATH = "library-experiments"
WORKFLOW_LIBRARY_PATH = "library-experiments"
DATASET_LIBRARY_RELATIVE_PATH = "library-datasets"
PYTHON_DEPENDENCIES_RELATIVE_PATH = "dependencies"
PYTHON_CONDITIONS = "conditions.curve_conditions"

MAX_WORKFLOWS_IN_PARALLEL_PER_NODE = 2
EXECUTIONWARE = "LOCAL"
DATASET_MANAGEMENT = "LOCAL"
DATA_ABSTRACTION_BASE_URL = "http://localhost:8445/api"
DATA_ABSTRACTION_ACCESS_TOKEN = ""
