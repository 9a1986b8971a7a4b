"""`eexp_engine_utils.utils`: the new-generation helper API (xxp_tui.extremexp.datasets)."""

from xxp_tui.extremexp.datasets import (  # noqa: F401 - the module's API
    create_dir,
    get_experiment_results,
    get_file_path,
    load_dataset,
    load_dataset_by_path,
    load_dataset_local,
    load_datasets,
    load_datasets_ddm,
    load_pickled_dataset_by_path,
    save_dataset,
    save_dataset_local,
    save_datasets,
    save_datasets_ddm,
)
