"""ExtremeXP's `proactive_helper`, as xxp-tui provides it to the scripts it runs through its shim.

Our implementation (xxp_tui.extremexp.datasets), both generations of signatures. A project that
ships its own proactive_helper.py (in its dependencies) keeps it: the shim finds this one last.
"""

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


def __getattr__(name):
    if name == "NumpyEncoder":
        from xxp_tui.extremexp.datasets import _numpy_encoder

        return _numpy_encoder()
    raise AttributeError(f"module 'proactive_helper' (xxp-tui's) has no attribute {name!r}")
