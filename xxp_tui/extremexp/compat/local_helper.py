"""ExtremeXP's `local_helper` (its LOCAL executionware), as xxp-tui provides it to shim-run scripts.

Loads by file extension (json, csv, parquet, xlsx/xls, pkl, npy/npz, txt); pandas and numpy are
imported only when a file needs them.
"""

from xxp_tui.extremexp.datasets import (  # noqa: F401 - the module's API
    create_dir,
    file_loader,
    get_experiment_results,
    get_file_path,
    load_dataset_by_path,
    load_pickled_dataset_by_path,
    save_dataset,
    save_result,
)
from xxp_tui.extremexp.datasets import local_load_dataset as load_dataset  # noqa: F401
from xxp_tui.extremexp.datasets import local_load_datasets as load_datasets  # noqa: F401
from xxp_tui.extremexp.datasets import local_save_datasets as save_datasets  # noqa: F401


def __getattr__(name):
    if name == "NumpyEncoder":
        from xxp_tui.extremexp.datasets import _numpy_encoder

        return _numpy_encoder()
    raise AttributeError(f"module 'local_helper' (xxp-tui's) has no attribute {name!r}")
