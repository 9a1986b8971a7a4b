"""Modules the fork server imports once, handed to a task only when the task imports them (issue 19).

Why: a forked task skips the interpreter's start (fork_server.py), but most tasks then import
`json`, `pathlib`, `dataclasses` or our `sdk`, and importing `json` alone costs about as much CPU as
the rest of a forked task's life (unmarshalling and running `re`, `enum`, the json modules). The
server imports `WARM` once, takes every module that brought out of `sys.modules` again (a task
starts with exactly the modules a fresh interpreter has, nothing of ours), and keeps them here.

When a task imports one of them, the first finder of `sys.meta_path` (a `WarmImports`) asks the
other finders where a fresh interpreter would find it, with the task's own `sys.path`: only if
every module the import would load resolves to the file the server loaded (a task's own `json.py`
or `re.py` beside it wins, as it would) does it hand the module over, with the modules its import
brings (in the order a fresh import adds them to `sys.modules`), and each only once: importing
again after `del sys.modules[...]`, or reloading, runs the module's code from its file. The modules
are the standard library's that hold nothing of a process when imported: no clock, random state,
threads, locks, environment or working directory read while importing (the ones that do, such as
`random`, `tempfile`, `logging`, `threading`, `subprocess`, are never imported here).

What a task could still notice: `sys.meta_path` starts with this finder.

Run inside the fork server, whose only imports are built in: this module imports nothing either.
"""

import sys

# Imported by the server at start; each brings the modules it imports (`json` brings `re`, `enum`…).
WARM = (
    "json", "pathlib", "typing", "dataclasses", "datetime", "collections", "argparse", "csv", "copy", "string",
    "textwrap", "glob", "base64", "pickle", "struct", "math", "numbers", "decimal", "fractions",
    "xxp_tui.sdk", "xxp_tui.shim",
)
# Never handed over, whoever imports them: they read the clock, seed a generator, start threads or
# hold locks when imported. A test checks that nothing in WARM brings one of them.
STATEFUL = frozenset({
    "random", "tempfile", "uuid", "logging", "threading", "subprocess", "multiprocessing", "asyncio",
    "concurrent", "socket", "ssl", "locale", "signal", "secrets", "hashlib", "statistics", "selectors",
})


class WarmImports:
    """A meta path finder and loader that hands the server's modules to a task importing them."""

    def __init__(self, modules: dict, needs: dict, links: list) -> None:
        self.modules = modules  # name -> module, in the order the server imported them
        self.needs = needs  # name -> the other modules a fresh import of it adds, in that order
        self.specs = {name: getattr(module, "__spec__", None) for name, module in modules.items()}
        self.links = links  # (package, attribute, submodule): bound on the package once the submodule is imported
        self.cycle = self  # only the collector frees a cycle, and the server freezes it: never freed in a task

    def __repr__(self) -> str:
        return "<xxp-tui warm imports>"

    def find_spec(self, name, path=None, target=None):
        if target is not None or self.specs.get(name) is None or name not in self.modules:
            return None  # a reload, or not one of ours: the other finders
        for member in (*self.needs.get(name, ()), name):
            present = sys.modules.get(member)
            if present is not None:
                if present is not self.modules.get(member, present):
                    return None  # the task has its own module of that name: a fresh import meets it
            elif member in self.modules and not self._same_file(member):
                return None
        return type(self.specs[name])(name, self, origin=None)

    def _same_file(self, name: str) -> bool:
        """Whether the task's finders would load `name` from where the server did. A name its
        package puts in sys.modules itself (an alias, typing.io) comes with the package."""
        spec = self.specs.get(name)
        if spec is None or getattr(spec, "name", None) != name:
            return True
        parent_name = name.rpartition(".")[0]
        search = None
        if parent_name:
            parent = sys.modules.get(parent_name) or self.modules.get(parent_name)
            search = getattr(parent, "__path__", None)
            if search is None:
                return False
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                found = finder.find_spec(name, search)
            except Exception:  # a finder that fails here fails the same way in a fresh import: let it
                return False
            if found is not None:
                return found.origin == spec.origin
        return False

    def create_module(self, spec):
        return self.modules[spec.name]

    def exec_module(self, module) -> None:
        """Already run in the server: give back its own spec, add what its import brings, bind
        each imported submodule on its package."""
        name = module.__name__
        self.modules.pop(name, None)
        module.__spec__ = self.specs[name]  # the import system set ours
        for member in self.needs.get(name, ()):
            taken = self.modules.pop(member, None)
            if taken is not None and member not in sys.modules:
                sys.modules[member] = taken
        waiting = []
        for package, attribute, submodule in self.links:
            child = sys.modules.get(submodule)
            parent = sys.modules.get(package)
            if child is not None and parent is not None and submodule not in self.modules:  # handed over
                setattr(parent, attribute, child)
            else:
                waiting.append((package, attribute, submodule))
        self.links = waiting


def preload(names, keep_out) -> WarmImports:
    """Import `names` here, record what each module's import brings (the modules loaded while it
    ran, and the ones it imported that were loaded already), then take every module loaded since
    `keep_out` (the names a fresh interpreter has, and this server's own) out of `sys.modules`."""
    import builtins

    brought: dict = {}
    original_import = builtins.__import__

    def recording_import(name, globals=None, locals=None, fromlist=(), level=0):
        before = set(sys.modules)
        module = original_import(name, globals, locals, fromlist, level)
        new = {m for m in sys.modules if m not in before}
        target = _absolute(name, globals or {}, level)
        if target in new:  # its first import: everything loaded meanwhile is what it brings
            brought.setdefault(target, set()).update(new - {target})
        importer = (globals or {}).get("__name__")
        if _initializing(importer):  # an import statement run by a module being imported (not a later call)
            found = brought.setdefault(importer, set())
            found.update(new, [target])
            found.update(f"{target}.{item}" for item in fromlist or () if f"{target}.{item}" in sys.modules)
        return module

    builtins.__import__ = recording_import
    own_folder = sys.path.pop(0)  # the server's folder (engine/executors): no task sees it
    try:
        for name in names:
            before = set(sys.modules)
            try:
                original_import(name)
            except Exception:  # not installed here (or broken): tasks import it themselves
                continue
            brought.setdefault(name, set()).update(m for m in sys.modules if m not in before)
    finally:
        builtins.__import__ = original_import
        sys.path.insert(0, own_folder)
    modules = {m: sys.modules[m] for m in list(sys.modules) if m not in keep_out}
    for m in modules:
        del sys.modules[m]
    links = []
    for m, module in modules.items():
        package, _, attribute = m.rpartition(".")
        parent = modules.get(package) or sys.modules.get(package)
        if package and getattr(parent, attribute, None) is module:
            delattr(parent, attribute)  # as after a fresh import of the package alone
            links.append((package, attribute, m))
    order = {m: i for i, m in enumerate(modules)}
    needs = {m: tuple(sorted(_closure(m, brought, modules), key=order.__getitem__)) for m in modules}
    return WarmImports(modules, needs, links)


def _initializing(name) -> bool:
    spec = getattr(sys.modules.get(name) if isinstance(name, str) else None, "__spec__", None)
    return bool(getattr(spec, "_initializing", False))


def _absolute(name: str, globals, level: int) -> str:
    if level == 0:
        return name
    package = globals.get("__package__") or (
        globals["__name__"] if "__path__" in globals else globals["__name__"].rpartition(".")[0])
    base = package.rsplit(".", level - 1)[0]
    return f"{base}.{name}" if name else base


def _closure(name: str, brought: dict, modules: dict) -> set:
    """Every module of `modules` a fresh import of `name` loads (what its import brought, what
    those brought, and the packages above each), `name` itself left out."""
    seen: set = set()
    todo = [name]
    while todo:
        current = todo.pop()
        parts = current.split(".")
        linked = [".".join(parts[:i]) for i in range(1, len(parts))]
        for other in (*linked, *brought.get(current, ())):
            if other in modules and other not in seen and other != name:
                seen.add(other)
                todo.append(other)
    return seen
