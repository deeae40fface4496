"""The component sub-protocol: what the runtime can instantiate, and its source.

Components are looked up in a :class:`~fbp.graph.Registry`, which for a server refuses
import paths and graph file paths unless the operator allowed them, and may be limited
further to a few collections. Each port is described with a NoFlo datatype (``int``,
``string``, ``object``, ``all``...) and, when its Python type is more precise than
``Any``, the JSON Schema pydantic derives from it, carried as a ``data:`` URI in the
port's ``schema`` field (the protocol gives that field the ``uri`` format).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import TypeAdapter

from .._core._component import Component
from .._core._exceptions import ComponentNotFoundError, GraphError
from .._core._ports import PortSpec
from ..graph import Graph, Registry, load_graph
from ._messages import jsonable

__all__ = ("SCHEMA_URI_PREFIX", "ComponentLibrary", "port_definition")

#: Port schemas are sent as ``data:`` URIs with this prefix, then the JSON, URL-quoted.
SCHEMA_URI_PREFIX = "data:application/schema+json,"

_DATATYPES = {
    "string": "string",
    "integer": "int",
    "number": "number",
    "boolean": "boolean",
    "array": "array",
    "object": "object",
}


def _schema_of(spec: PortSpec) -> dict[str, Any]:
    try:
        mode: Literal["validation", "serialization"] = (
            "validation" if spec.direction == "in" else "serialization"
        )
        schema: dict[str, Any] = TypeAdapter(spec.tp).json_schema(mode=mode)
    except Exception:  # a type pydantic cannot describe: no schema, datatype "all"
        return {}
    return schema


def _datatype(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, str):
        return _DATATYPES.get(kind, "all")
    if "$ref" in schema or "properties" in schema:
        return "object"
    return "all"


def port_definition(spec: PortSpec) -> dict[str, Any]:
    """A port as the protocol describes it (``port_definition`` in its schema)."""
    schema = _schema_of(spec)
    d: dict[str, Any] = {
        "id": spec.name,
        "type": _datatype(schema),
        "required": not spec.optional,
        "addressable": spec.array,
    }
    if spec.description:
        d["description"] = spec.description
    if schema:
        text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
        d["schema"] = SCHEMA_URI_PREFIX + quote(text, safe="")
    values = schema.get("enum")
    if isinstance(values, list):
        d["values"] = values
    if spec.has_default:
        d["default"] = jsonable(spec.default)
    return d


class ComponentLibrary:
    """The components a server offers, by collection path.

    Args:
        registry: where components are found; a server passes
            ``Registry(allow_imports=False)`` unless its operator allowed imports.
        collections: if given, only these collections are offered (``core``, ...).
    """

    def __init__(self, registry: Registry, collections: Sequence[str] | None = None) -> None:
        self.registry = registry
        self.collections = tuple(collections) if collections else None
        self._described: dict[str, dict[str, Any]] = {}

    def _allowed(self, name: str) -> bool:
        if self.collections is None or name in self.registry.extra:
            return True
        coll, sep, _ = name.partition("/")
        return bool(sep) and coll in self.collections and ":" not in name

    def names(self) -> list[str]:
        """Every component offered, sorted."""
        return [n for n in self.registry.all_components() if self._allowed(n)]

    def resolve(self, name: str, *, base_dir: Path | None = None) -> type[Component] | Path:
        """Find a component (a class, or a graph file used as a subnet).

        Raises:
            ComponentNotFoundError: unknown, or outside the offered collections.
        """
        if not self._allowed(name):
            offered = ", ".join(self.collections or ())
            raise ComponentNotFoundError(
                name, detail=f"this runtime offers only the collections {offered}"
            )
        return self.registry.resolve(name, base_dir=base_dir)

    def add(self, name: str, cls: type[Component]) -> None:
        """Offer a component under ``name`` (code a client sent; see ``component:source``)."""
        self.registry.extra[name] = cls
        self._described.pop(name, None)

    def network_registry(self) -> Registry:
        """The registry networks are wired with: the library's, limited to what it offers."""
        if self.collections is None:
            return self.registry
        return _ScopedRegistry(self)

    def ports(self, name: str) -> tuple[list[PortSpec], list[PortSpec]] | None:
        """The input and output ports of a component class; None for a subnet."""
        found = self.resolve(name)
        if isinstance(found, Path):
            return None
        spec = found.spec()
        return list(spec.inports), list(spec.outports)

    def describe(self, name: str) -> dict[str, Any]:
        """The payload of a ``component:component`` message."""
        cached = self._described.get(name)
        if cached is not None:
            return cached
        found = self.resolve(name)
        if isinstance(found, Path):
            d = self._describe_graph(name, found)
        else:
            spec = found.spec()
            d = {
                "name": name,
                "description": spec.description,
                "subgraph": False,
                "inPorts": [port_definition(p) for p in spec.inports],
                "outPorts": [port_definition(p) for p in spec.outports],
            }
            icon = getattr(found, "icon", None)
            if isinstance(icon, str) and icon:
                d["icon"] = icon
        self._described[name] = d
        return d

    def _describe_graph(self, name: str, path: Path) -> dict[str, Any]:
        try:
            g = load_graph(path)
        except (GraphError, OSError, ValueError):
            g = Graph(name)
        d: dict[str, Any] = {
            "name": name,
            "subgraph": True,
            "inPorts": [_export(p) for p in g.inports],
            "outPorts": [_export(p) for p in g.outports],
        }
        description = g.properties.get("description")
        if isinstance(description, str) and description:
            d["description"] = description
        return d

    def describe_all(self) -> Iterable[dict[str, Any]]:
        """Describe every component offered (skipping any that fails to load)."""
        for name in self.names():
            try:
                yield self.describe(name)
            except (ComponentNotFoundError, TypeError, ImportError):
                continue

    def source(self, name: str) -> dict[str, Any]:
        """The payload of a ``component:source`` message: the component's code.

        Raises:
            ComponentNotFoundError: unknown component.
            OSError: the source is not available (a class defined interactively).
        """
        found = self.resolve(name)
        library, _, short = name.rpartition("/")
        if isinstance(found, Path):
            code = found.read_text(encoding="utf-8")
            language = "fbp" if found.suffix == ".fbp" else found.suffix.lstrip(".")
        else:
            code = inspect.getsource(found)
            language = "python"
        d: dict[str, Any] = {"name": short or name, "language": language, "code": code}
        if library:
            d["library"] = library
        return d


class _ScopedRegistry(Registry):
    """A registry that resolves only the components a library offers."""

    def __init__(self, library: ComponentLibrary) -> None:
        base = library.registry
        super().__init__(allow_imports=base.allow_imports, extra=base.extra)
        self._library = library

    def resolve(self, name: str, *, base_dir: Path | None = None) -> type[Component] | Path:
        return self._library.resolve(name, base_dir=base_dir)

    def all_components(self) -> dict[str, type[Component] | Path]:
        return {n: self._library.resolve(n) for n in self._library.names()}


def _export(public: str) -> dict[str, Any]:
    return {"id": public, "type": "all", "required": False, "addressable": False}
