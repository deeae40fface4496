"""Finding components by name.

A graph names a component in one of three ways:

- a **collection path**, ``core/Repeat``: the collection ``core`` is a module found
  through the ``fbp.components`` entry point group (the standard library registers
  ``core``, ``io``, ``flow`` and ``math`` there; any installed package can add its own),
  or else a module of that name on the search path (``shop/Discount`` is the class
  ``Discount`` of ``shop.py``; ``shop/pricing/Discount`` that of ``shop/pricing.py``), and
  ``Repeat`` is a Component class in it, or a graph file ``Repeat.fbp`` /
  ``Repeat.json`` / ``Repeat.yaml`` beside it (a subnet);
- an **import path**, ``package.module:ClassName``;
- a **graph file**, ``./sub.fbp`` (relative to the graph that names it), used as a subnet.

The **search path**, where modules that are not installed are found: the directory of
the graph file, then the directories given with :func:`add_search_path` (the command
line's ``--path DIR``), then those of the ``FBP_PATH`` environment variable (separated
by ``os.pathsep``), then those of the project file: the nearest ``pyproject.toml`` above
the graph's directory (or the working directory), in its ``[tool.fbp]`` table, ``path =
["components", ...]``, relative to that file. They are appended to ``sys.path``, so an
installed module of the same name comes first, and a module is imported once per process.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from .._core._component import Component
from .._core._exceptions import ComponentNotFoundError
from .._core._suggest import MAX_NAME, close_matches

__all__ = (
    "GRAPH_SUFFIXES",
    "PATH_ENV",
    "Registry",
    "add_search_path",
    "search_path",
    "suggest",
)

PATH_ENV = "FBP_PATH"

GRAPH_SUFFIXES = (".fbp", ".json", ".yaml", ".yml")

# The standard library's collections, also reachable when the package metadata (and so
# the entry points) is missing, e.g. when running from a source tree.
_BUILTIN = {
    "core": "fbp_components.core",
    "io": "fbp_components.io",
    "flow": "fbp_components.flow",
    "math": "fbp_components.math",
    "examples": "fbp_components.examples",
    "scenarios": "fbp_components.scenarios",
}


# Directories added for the whole process (the command line's --path).
_added: list[Path] = []


def add_search_path(dirs: Iterable[str | Path]) -> None:
    """Add directories to the search path of every later lookup in this process."""
    for d in dirs:
        p = Path(d).expanduser().resolve()
        if p not in _added:
            _added.append(p)


def search_path(base_dir: Path | None = None) -> list[Path]:
    """Where modules that are not installed are looked for, in order.

    ``base_dir`` is the directory of the graph being loaded; then come the directories
    of :func:`add_search_path`, of the ``FBP_PATH`` environment variable, and of the
    project file (``[tool.fbp] path`` in the nearest ``pyproject.toml`` at or above
    ``base_dir``, or the working directory).
    """
    found: list[Path] = []
    env = [Path(d).expanduser() for d in os.environ.get(PATH_ENV, "").split(os.pathsep) if d]
    project = _project_path(base_dir if base_dir is not None else Path.cwd())
    for d in [*([base_dir] if base_dir is not None else []), *_added, *env, *project]:
        p = d.resolve()
        if p not in found:
            found.append(p)
    return found


def _project_path(start: Path) -> list[Path]:
    """The ``[tool.fbp] path`` of the nearest ``pyproject.toml`` at or above ``start``."""
    import tomllib

    for folder in (start.resolve(), *start.resolve().parents):
        file = folder / "pyproject.toml"
        if not file.is_file():
            continue
        try:
            table = tomllib.loads(file.read_text(encoding="utf-8")).get("tool", {}).get("fbp")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            return []  # a broken project file is for its own tools to report
        paths = table.get("path", []) if isinstance(table, dict) else []
        if isinstance(paths, str):
            paths = [paths]
        return [folder / str(d) for d in paths if isinstance(d, str)]
    return []


def _import(module: str, base_dir: Path | None) -> ModuleType:
    """Import ``module``, looking on the search path too.

    Raises:
        ModuleNotFoundError: ``module`` itself is nowhere to be found.
        Exception: whatever importing the module raised (an error in its code).
    """
    dirs = [str(d) for d in search_path(base_dir) if d.is_dir()]
    added = [d for d in dirs if d not in sys.path]
    if added:
        sys.path.extend(added)
        importlib.invalidate_caches()
    return importlib.import_module(module)


def _where(base_dir: Path | None) -> str:
    dirs = search_path(base_dir)
    return ", ".join(str(d) for d in dirs) if dirs else "empty"


def _import_hint(module: str, base_dir: Path | None) -> str:
    top = module.split(".")[0]
    return (
        f"searched the installed packages and the search path ({_where(base_dir)}); put"
        f" {top}.py (or a package {top}/) beside the graph, name its directory with"
        f" --path DIR, {PATH_ENV} or [tool.fbp] path in pyproject.toml, or install it"
        " (see docs/python.md)"
    )


def suggest(word: str, candidates: list[str], n: int = 3) -> list[str]:
    """The candidates closest to ``word``: the best match and any nearly as good."""
    if len(word) > MAX_NAME:  # no sensible name is this long; comparing would be slow
        return []
    scored = sorted(
        ((difflib.SequenceMatcher(None, word.lower(), c.lower()).ratio(), c) for c in candidates),
        reverse=True,
    )
    if not scored or scored[0][0] < 0.6:
        return []
    best = scored[0][0]
    return [c for score, c in scored[:n] if score >= best - 0.05]


class Registry:
    """Resolves component names to classes or subnet graph files.

    Args:
        allow_imports: resolve ``package.module:Class`` import paths and graph file
            paths. A server that takes graphs from clients turns this off so that a
            client can only use the collections the operator installed.
        extra: more components by name (``{"my/Thing": ThingClass}``), checked first.
    """

    def __init__(
        self,
        *,
        allow_imports: bool = True,
        extra: Mapping[str, type[Component] | Path] | None = None,
    ) -> None:
        self.allow_imports = allow_imports
        self.extra: dict[str, type[Component] | Path] = dict(extra or {})
        self._collections: dict[str, str] | None = None
        self._modules: dict[str, ModuleType] = {}

    # -- collections --------------------------------------------------------------------

    def collections(self) -> dict[str, str]:
        """Collection name -> module name, from entry points and the standard library."""
        if self._collections is None:
            found = dict(_BUILTIN)
            for ep in importlib.metadata.entry_points(group="fbp.components"):
                found[ep.name] = ep.value.split(":")[0]
            self._collections = found
        return self._collections

    def _module(self, collection: str) -> ModuleType | None:
        mod = self._modules.get(collection)
        if mod is None:
            name = self.collections().get(collection)
            if name is None:
                return None
            try:
                mod = importlib.import_module(name)
            except ModuleNotFoundError:
                return None
            self._modules[collection] = mod
        return mod

    def collection_members(
        self, collection: str, module: ModuleType | None = None
    ) -> dict[str, type[Component] | Path]:
        """The components of one collection: classes and subnet graph files."""
        mod = module if module is not None else self._module(collection)
        if mod is None:
            return {}
        out: dict[str, type[Component] | Path] = {}
        names = getattr(mod, "__all__", None) or dir(mod)
        for attr in names:
            obj = getattr(mod, attr, None)
            if inspect.isclass(obj) and issubclass(obj, Component) and obj is not Component:
                out[attr] = obj
        mod_file = getattr(mod, "__file__", None)
        if mod_file:
            folder = Path(mod_file).parent
            if Path(mod_file).name == "__init__.py":
                for f in sorted(folder.iterdir()):
                    if f.suffix in GRAPH_SUFFIXES and f.stem not in out:
                        out[f.stem] = f
        return out

    def all_components(self) -> dict[str, type[Component] | Path]:
        """Every component known by collection path, sorted by name."""
        found: dict[str, type[Component] | Path] = {}
        for coll in sorted(self.collections()):
            for name, obj in self.collection_members(coll).items():
                found[f"{coll}/{name}"] = obj
        found.update(self.extra)
        return dict(sorted(found.items()))

    def path_components(self) -> dict[str, type[Component] | Path]:
        """The components of the modules in the declared search path directories.

        Those are the directories of :func:`add_search_path` (``--path``), of
        ``FBP_PATH`` and of the working directory's project file, not a graph's own
        directory. Every module there is imported (except
        ``setup``, ``conftest``, ``test_*`` and private ones): only directories that hold
        components belong on that path. A module that fails to import is left out.
        """
        found: dict[str, type[Component] | Path] = {}
        if not self.allow_imports:
            return found
        for d in search_path(None):
            if not d.is_dir():
                continue
            for f in sorted(d.iterdir()):
                if f.suffix == ".py":
                    name = f.stem
                elif (f / "__init__.py").is_file():
                    name = f.name
                else:
                    continue
                if (
                    not name.isidentifier()
                    or name.startswith(("_", "test"))
                    or name in ("setup", "conftest")
                    or name in self.collections()
                ):
                    continue
                try:
                    mod = _import(name, None)
                except Exception:  # a broken module is not listed; resolving it says why
                    continue
                for comp, obj in self.collection_members(name, mod).items():
                    found[f"{name}/{comp}"] = obj
        return dict(sorted(found.items()))

    # -- resolving ----------------------------------------------------------------------

    def resolve(self, name: str, *, base_dir: Path | None = None) -> type[Component] | Path:
        """Find the component called ``name``.

        ``base_dir`` is the directory of the graph that names it: subnet files are
        relative to it, and it is the first place of the search path.

        Returns:
            A Component subclass, or the path of a graph file to use as a subnet.

        Raises:
            ComponentNotFoundError: nothing has that name; the error lists close names
                and says where it looked.
        """
        if name in self.extra:
            return self.extra[name]
        if name.endswith(GRAPH_SUFFIXES):
            return self._graph_file(name, base_dir)
        if ":" in name:
            return self._import(name, base_dir)
        if "/" in name:
            return self._collection_path(name, base_dir)
        raise ComponentNotFoundError(
            name,
            suggest(name, list(self.all_components())),
            "write a collection path such as core/Repeat or mymodule/MyComponent, or an"
            " import path package.module:Class (in JSON or YAML graphs; the .fbp syntax has"
            " no room for ':' in a component name)",
        )

    def _collection_path(self, name: str, base_dir: Path | None) -> type[Component] | Path:
        coll, _, comp = name.rpartition("/")
        if coll in self.collections():
            members = self.collection_members(coll)
            if comp in members:
                return members[comp]
            raise ComponentNotFoundError(
                name, [f"{coll}/{m}" for m in suggest(comp, list(members))]
            )
        module_name = coll.replace("/", ".")
        if not self.allow_imports or not module_name.replace(".", "").isidentifier():
            raise ComponentNotFoundError(
                name,
                suggest(name, list(self.all_components())),
                detail=f"no collection {coll!r}; collections: "
                + ", ".join(sorted(self.collections())),
            )
        mod = self._import_module(name, module_name, base_dir)
        if mod is None:
            raise ComponentNotFoundError(
                name,
                suggest(name, list(self.all_components())),
                detail=f"no collection {coll!r}: no installed package registers it and"
                f" there is no module {module_name!r}; {_import_hint(module_name, base_dir)}",
            )
        members = self.collection_members(coll, mod)
        if comp in members:
            return members[comp]
        raise ComponentNotFoundError(
            name,
            [f"{coll}/{m}" for m in suggest(comp, list(members))],
            detail=f"module {module_name!r} ({getattr(mod, '__file__', '?')}) has no component"
            f" {comp!r}; its components: " + (", ".join(sorted(members)) or "none"),
        )

    @staticmethod
    def _broken(name: str, module: str, e: BaseException) -> ComponentNotFoundError:
        return ComponentNotFoundError(
            name, detail=f"importing {module!r} failed: {type(e).__name__}: {e}"
        )

    @classmethod
    def _import_module(
        cls, name: str, module_name: str, base_dir: Path | None
    ) -> ModuleType | None:
        """Import ``module_name``, where the component ``name`` is looked for: None when
        there is no such module (the caller says why it looked there), an error saying
        what failed when importing it raised."""
        try:
            return _import(module_name, base_dir)
        except ModuleNotFoundError as e:
            if e.name is not None and module_name.startswith(e.name):
                return None
            raise cls._broken(name, module_name, e) from e
        except Exception as e:
            raise cls._broken(name, module_name, e) from e

    def _graph_file(self, name: str, base_dir: Path | None) -> Path:
        if not self.allow_imports:
            raise ComponentNotFoundError(name, detail="graph file paths are not allowed here")
        path = Path(name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ComponentNotFoundError(name, detail=f"no graph file at {path}")
        return path

    def _import(self, name: str, base_dir: Path | None = None) -> type[Component]:
        if not self.allow_imports:
            raise ComponentNotFoundError(
                name, detail="import paths are not allowed here; use an installed collection"
            )
        module_name, _, attr = name.partition(":")
        mod = self._import_module(name, module_name, base_dir)
        if mod is None:
            hint = _import_hint(module_name, base_dir)
            raise ComponentNotFoundError(name, detail=f"cannot import {module_name!r}; {hint}")
        obj: Any = mod
        for part in attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                members = [
                    n
                    for n, v in vars(mod).items()
                    if inspect.isclass(v) and issubclass(v, Component)
                ]
                raise ComponentNotFoundError(
                    name,
                    [f"{module_name}:{m}" for m in close_matches(attr, members, n=3)],
                    detail=f"module {module_name!r} has no {attr!r}",
                )
        if not (inspect.isclass(obj) and issubclass(obj, Component)):
            raise ComponentNotFoundError(name, detail=f"{name} is not a Component subclass")
        return obj
