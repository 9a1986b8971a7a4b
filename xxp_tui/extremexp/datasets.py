"""The task-side data API of ExtremeXP, our implementation, in LOCAL data management.

ExtremeXP's helpers changed signatures over time and real task libraries use every generation:

    old     load_dataset(variables, key)            save_dataset(variables, key, value[, resultMap])
            load_datasets(variables, *keys)         save_datasets(variables, (key, value), ...)
    new     load_dataset(variables, resultMap, key) save_dataset(variables, resultMap, key, value)
            load_datasets(variables, resultMap, key)  save_datasets(variables, resultMap, key, values[, names])

A key is always a string and a resultMap never is, so one function serves both: the type of the
argument after `variables` tells the generation. Data moves through the task's ports: a key that
names an output port is written at the port's path (the engine hands that path to the tasks linked
to it), any other key under the task's output folder. The old generation pickled every value;
the new one writes bytes (and we also take text) and pickles the rest.

Calls that only exist for ExtremeXP's remote dataset manager (DDM) fail the task with one sentence
naming the call. Standard library only; pandas and numpy load only when a file needs them.
"""

import os
import sys

PICKLE_MAGIC = b"\x80"
DDM_HINT = ("xxp-tui has no DDM (ExtremeXP's remote dataset management): give the data a path "
            "(configure data D { path \"…\"; }) and use load_dataset/save_dataset")


class _NoShim(Exception):
    """Raised instead of the shim's ContractError when the module is used outside the shim."""


def _shim():
    return sys.modules.get("xxp_tui.shim")


def fail(message: str):
    """End the task with `message` as its one-sentence reason (the shim prints it, no traceback)."""
    shim = _shim()
    raise (shim.ContractError if shim is not None else _NoShim)(message)


def _context() -> dict:
    shim = _shim()
    return shim.context if shim is not None and shim.context else {}


def _output_dir() -> str:
    return os.environ.get("XXP_OUTPUT_DIR") or os.getcwd()


def _is_key(value) -> bool:
    return isinstance(value, str)


def _new_generation(args: tuple) -> bool:
    """`(resultMap, key, …)` is the new generation, `(key, …)` the old one."""
    return bool(args) and not _is_key(args[0])


def _read_path(variables, key: str, call: str) -> str:
    value = variables.get(key) if variables is not None else None
    if value is None:
        inputs = ", ".join(sorted(_context().get("inputs", {}))) or "none"
        fail(f"{call}({key!r}): the task has no input {key!r} (its inputs: {inputs}); "
             f"link one to it in the workflow")
    path = str(value)
    if not os.path.exists(path):
        if "|" in path:
            fail(f"{call}({key!r}) names a DDM dataset ({path}); {DDM_HINT}")
        fail(f"{call}({key!r}): {path} is not there (the task that produces {key} did not write it)")
    return path


def _write_path(key: str, folder: bool = False) -> str:
    declared = _context().get("outputs", {}).get(key)
    path = str(declared) if declared else os.path.join(_output_dir(), key)
    os.makedirs(path if folder else (os.path.dirname(path) or "."), exist_ok=True)
    return path


def _write(path: str, value, pickled: bool) -> None:
    if pickled or not isinstance(value, bytes | bytearray | memoryview | str):
        import pickle

        with open(path, "wb") as fh:
            pickle.dump(value, fh)
    elif isinstance(value, str):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(value)
    else:
        with open(path, "wb") as fh:
            fh.write(bytes(value))


def _record(result_map, key: str, path: str) -> None:
    if result_map is not None and hasattr(result_map, "put"):
        result_map.put(key, path)


def load_dataset_by_path(file_path):
    """The file's bytes."""
    with open(file_path, "rb") as fh:
        return fh.read()


def load_pickled_dataset_by_path(file_path):
    import pickle

    with open(file_path, "rb") as fh:
        return pickle.load(fh)


def _load_object(path: str):
    """Old generation: the value a task pickled (or the raw bytes of a file that is no pickle)."""
    data = load_dataset_by_path(path)
    if data[:1] == PICKLE_MAGIC:
        import pickle

        try:
            return pickle.loads(data)
        except Exception:
            return data
    return data


def _folder_contents(path: str) -> list:
    if os.path.isdir(path):
        return [load_dataset_by_path(os.path.join(path, n)) for n in sorted(os.listdir(path))
                if os.path.isfile(os.path.join(path, n)) and not n.startswith(".")]
    return [load_dataset_by_path(path)]


# ----------------------------------------------------------------------------- proactive_helper / utils


def load_dataset(variables, *args):
    if _new_generation(args):
        if len(args) < 2:
            fail("load_dataset(variables, resultMap, key) needs the key of the input to load")
        return load_dataset_by_path(_read_path(variables, args[1], "load_dataset"))
    if not args:
        fail("load_dataset(variables, key) needs the key of the input to load")
    return _load_object(_read_path(variables, args[0], "load_dataset"))


def save_dataset(variables, *args):
    if _new_generation(args):
        if len(args) < 3:
            fail("save_dataset(variables, resultMap, key, value) needs a key and a value")
        result_map, key, value = args[0], args[1], args[2]
        path = _write_path(key)
        _write(path, value, pickled=False)
        _record(result_map, key, path)
        return None
    if len(args) < 2:
        fail("save_dataset(variables, key, value) needs a key and a value")
    key, value = args[0], args[1]
    path = _write_path(key)
    _write(path, value, pickled=True)
    _record(args[2] if len(args) > 2 else None, key, path)
    return None


def load_datasets(variables, *args):
    """New generation: every file of the folder at `key` (bytes, by name). Old: one value per key."""
    if _new_generation(args):
        if len(args) < 2:
            fail("load_datasets(variables, resultMap, key) needs the key of the input to load")
        return _folder_contents(_read_path(variables, args[1], "load_datasets"))
    return [_load_object(_read_path(variables, key, "load_datasets")) for key in args]


def save_datasets(variables, *args, **kwargs):
    """New generation: `values` as files of the folder at `key`. Old: `(key, value)` pairs."""
    if args and not isinstance(args[0], str | tuple | list):
        result_map = args[0]
        if len(args) < 3:
            fail("save_datasets(variables, resultMap, key, values) needs a key and a list of values")
        key, values = args[1], args[2]
        names = args[3] if len(args) > 3 else kwargs.get("file_names")
        if not isinstance(values, list | tuple):
            fail(f"save_datasets({key!r}): values must be a list, not {type(values).__name__}")
        if names is not None and len(names) != len(values):
            fail(f"save_datasets({key!r}): {len(names)} file names for {len(values)} values")
        folder = _write_path(key, folder=True)
        for i, value in enumerate(values):
            _write(os.path.join(folder, str(names[i]) if names else f"output_{i}"), value, pickled=False)
        _record(result_map, key, folder)
        return None
    for pair in args:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and _is_key(pair[0])):
            fail("save_datasets(variables, (key, value), ...) takes (key, value) pairs")
        save_dataset(variables, pair[0], pair[1])
    return None


def get_experiment_results(variables=None):
    """Results of the experiment's nodes that finished before this task's node started."""
    path = _context().get("results_file")
    if not path or not os.path.exists(path):
        return {}
    from xxp_tui.extremexp import results

    with open(path, encoding="utf-8") as fh:
        return results.loads(fh.read())


def create_dir(variables, key):
    folder = os.path.join(_output_dir(), str(key))
    os.makedirs(folder, exist_ok=True)
    return folder


def get_file_path(variables, data_set_folder_path, file_name):
    folder = variables.get(data_set_folder_path) if variables is not None else None
    if folder is None:
        fail(f"get_file_path: the task has no port {data_set_folder_path!r}")
    os.makedirs(str(folder), exist_ok=True)
    return os.path.join(str(folder), file_name)


def save_dataset_local(variables, resultMap, key, value):
    return save_dataset(variables, resultMap, key, value)


def load_dataset_local(variables, key):
    return load_dataset_by_path(_read_path(variables, key, "load_dataset_local"))


def _ddm_only(name: str):
    def call(*args, **kwargs):
        fail(f"{name} needs ExtremeXP's DDM; {DDM_HINT}")

    call.__name__ = name
    return call


load_datasets_ddm = _ddm_only("load_datasets_ddm")
save_datasets_ddm = _ddm_only("save_datasets_ddm")


def _numpy_encoder():
    import json

    class NumpyEncoder(json.JSONEncoder):
        """json.dumps(..., cls=NumpyEncoder): arrays (anything with .tolist()) as lists."""

        def default(self, o):
            if hasattr(o, "tolist"):
                return o.tolist()
            return super().default(o)

    return NumpyEncoder


# ----------------------------------------------------------------------------- local_helper


def file_loader(file_path):
    """A file by its extension (json, csv, parquet, xlsx/xls, pkl, npy/npz, txt); a file without one
    (an output port written by an earlier task) is unpickled if it is a pickle, else its bytes."""
    ext = os.path.splitext(str(file_path))[1].lower()
    if ext == ".json":
        import json

        with open(file_path, encoding="utf-8") as fh:
            return json.load(fh)
    if ext in (".csv", ".parquet", ".xlsx", ".xls"):
        pandas = _optional("pandas", file_path)
        reader = {".csv": pandas.read_csv, ".parquet": pandas.read_parquet}.get(ext, pandas.read_excel)
        return reader(file_path)
    if ext in (".pkl", ".pickle"):
        return load_pickled_dataset_by_path(file_path)
    if ext in (".npy", ".npz"):
        return _optional("numpy", file_path).load(file_path)
    if ext == ".txt":
        with open(file_path, encoding="utf-8") as fh:
            return fh.read()
    if ext == "":
        return _load_object(str(file_path))
    fail(f"cannot load {file_path}: {ext} is not one of .json, .csv, .parquet, .xlsx, .xls, .pkl, .npy, .npz, .txt")
    return None


def _optional(module: str, file_path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        fail(f"loading {file_path} needs {module}, which this task's Python environment does not have")
    return None


def local_load_dataset(variables, *args):
    key = args[1] if _new_generation(args) and len(args) > 1 else (args[0] if args else None)
    if key is None:
        fail("load_dataset(variables, resultMap, key) needs the key of the input to load")
    return file_loader(_read_path(variables, key, "load_dataset"))


def local_load_datasets(variables, *keys):
    if _new_generation(keys):
        keys = keys[1:]
    found = [file_loader(_read_path(variables, key, "load_datasets")) for key in keys]
    return found[0] if len(found) == 1 else found


def local_save_datasets(variables, *pairs):
    for pair in pairs:
        if not (isinstance(pair, tuple | list) and len(pair) == 2 and _is_key(pair[0])):
            fail("save_datasets(variables, (key, value), ...) takes (key, value) pairs")
        path = _write_path(pair[0])
        _write(path, pair[1], pickled=not isinstance(pair[1], str | bytes))


def save_result(result):
    """local_helper's way to report a result dict: each entry goes to the resultMap."""
    shim = _shim()
    if shim is not None and shim.resultMap is not None and isinstance(result, dict):
        for key, value in result.items():
            shim.resultMap.put(key, value)
