"""Finding components by name.

A graph names a component in one of three ways:

- a **collection path**, ``core/Repeat``: the collection ``core`` is a module found
  through the ``fbp.components`` entry point group (the standard library registers
  ``core``, ``io``, ``flow`` and ``math`` there; any installed package can add its own),
  and ``Repeat`` is a Component class in it, or a graph file ``Repeat.fbp`` /
  ``Repeat.json`` / ``Repeat.yaml`` beside it (a subnet);
- an **import path**, ``package.module:ClassName``;
- a **graph file**, ``./sub.fbp`` (relative to the graph that names it), used as a subnet.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import inspect
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from .._core._component import Component
from .._core._exceptions import ComponentNotFoundError

__all__ = ("GRAPH_SUFFIXES", "Registry", "suggest")

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


def suggest(word: str, candidates: list[str], n: int = 3) -> list[str]:
    """The candidates closest to ``word``: the best match and any nearly as good."""
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

    def collection_members(self, collection: str) -> dict[str, type[Component] | Path]:
        """The components of one collection: classes and subnet graph files."""
        mod = self._module(collection)
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

    # -- resolving ----------------------------------------------------------------------

    def resolve(self, name: str, *, base_dir: Path | None = None) -> type[Component] | Path:
        """Find the component called ``name``.

        Returns:
            A Component subclass, or the path of a graph file to use as a subnet.

        Raises:
            ComponentNotFoundError: nothing has that name; the error lists close names.
        """
        if name in self.extra:
            return self.extra[name]
        if name.endswith(GRAPH_SUFFIXES):
            return self._graph_file(name, base_dir)
        if ":" in name:
            return self._import(name)
        if "/" in name:
            coll, _, comp = name.partition("/")
            members = self.collection_members(coll)
            if comp in members:
                return members[comp]
            if not members and coll not in self.collections():
                raise ComponentNotFoundError(
                    name,
                    suggest(name, list(self.all_components())),
                    detail=f"no collection {coll!r}; collections: "
                    + ", ".join(sorted(self.collections())),
                )
        hint = ""
        if "/" not in name and ":" not in name:
            hint = (
                "write a collection path such as core/Repeat, or an import path"
                " package.module:Class (in JSON or YAML graphs; the .fbp syntax has no"
                " room for ':' in a component name)"
            )
        raise ComponentNotFoundError(name, suggest(name, list(self.all_components())), hint)

    def _graph_file(self, name: str, base_dir: Path | None) -> Path:
        if not self.allow_imports:
            raise ComponentNotFoundError(name, detail="graph file paths are not allowed here")
        path = Path(name)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not path.is_file():
            raise ComponentNotFoundError(name, detail=f"no graph file at {path}")
        return path

    def _import(self, name: str) -> type[Component]:
        if not self.allow_imports:
            raise ComponentNotFoundError(
                name, detail="import paths are not allowed here; use an installed collection"
            )
        module_name, _, attr = name.partition(":")
        try:
            mod = importlib.import_module(module_name)
        except ImportError as e:
            raise ComponentNotFoundError(name, detail=f"cannot import {module_name!r}: {e}") from e
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
                    [f"{module_name}:{m}" for m in difflib.get_close_matches(attr, members)],
                    detail=f"module {module_name!r} has no {attr!r}",
                )
        if not (inspect.isclass(obj) and issubclass(obj, Component)):
            raise ComponentNotFoundError(name, detail=f"{name} is not a Component subclass")
        return obj
