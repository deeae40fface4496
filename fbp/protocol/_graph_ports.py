"""The graph sub-protocol, continued: a graph's exported ports and its groups.

Mixed into :class:`~fbp.protocol._graphs.GraphStore`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from ..graph import Export, Node
from ._messages import Endpoint, ProtocolError, Request, endpoint, opt_dict, req_dict, req_str

if TYPE_CHECKING:
    from ._graphs import LiveGraph

__all__ = ("ExportsAndGroups", "Reply", "merge")

#: An outgoing message: (protocol, command, payload).
Reply = tuple[str, str, dict[str, Any]]


def merge(meta: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """Merge metadata: a key set to null is removed."""
    for k, v in changes.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = copy.deepcopy(v)
    return meta


class ExportsAndGroups:
    """Handlers of the commands on exported ports and groups."""

    if TYPE_CHECKING:  # provided by GraphStore

        def _node(self, lg: LiveGraph, node: str, req: Request) -> Node: ...

        def _port(self, lg: LiveGraph, end: Endpoint, direction: str, req: Request) -> None: ...

    # -- exported ports ------------------------------------------------------------------

    @staticmethod
    def _exports(lg: LiveGraph, command: str) -> tuple[dict[str, Export], str]:
        if "inport" in command:
            return lg.graph.inports, "in"
        return lg.graph.outports, "out"

    def _addport(self, req: Request, lg: LiveGraph) -> list[Reply]:
        p = req.payload
        public = req_str(p, "public", req)
        end = endpoint({"node": p.get("node"), "port": p.get("port")}, "node/port", req)
        metadata = opt_dict(p, "metadata", req)
        exports, direction = self._exports(lg, req.command)
        self._port(lg, end, direction, req)
        exports[public] = Export(public, end.node, end.port, end.index, copy.deepcopy(metadata))
        payload: dict[str, Any] = {
            "public": public,
            "node": end.node,
            "port": p["port"],
            "graph": lg.id,
        }
        if metadata:
            payload["metadata"] = metadata
        return [("graph", req.command, payload)]

    def _exported(
        self, lg: LiveGraph, command: str, public: str
    ) -> tuple[dict[str, Export], str]:
        """The exports ``command`` is about, and their direction, when ``public`` is one
        of them: an error naming the ones there are otherwise."""
        exports, direction = self._exports(lg, command)
        if public not in exports:
            names = ", ".join(sorted(exports)) or "none"
            msg = f"graph {lg.id!r} exports no {direction}port {public!r} (it exports: {names})"
            raise ProtocolError(msg, "graph")
        return exports, direction

    def _removeport(self, req: Request, lg: LiveGraph) -> list[Reply]:
        public = req_str(req.payload, "public", req)
        exports, _direction = self._exported(lg, req.command, public)
        del exports[public]
        return [("graph", req.command, {"public": public, "graph": lg.id})]

    def _renameport(self, req: Request, lg: LiveGraph) -> list[Reply]:
        old = req_str(req.payload, "from", req)
        new = req_str(req.payload, "to", req)
        exports, direction = self._exported(lg, req.command, old)
        if new != old and new in exports:
            msg = f"graph {lg.id!r} already exports a {direction}port {new!r}"
            raise ProtocolError(msg, "graph")
        e = exports.pop(old)
        e.public = new
        exports[new] = e
        return [("graph", req.command, {"from": old, "to": new, "graph": lg.id})]

    # -- groups --------------------------------------------------------------------------

    def _group(self, lg: LiveGraph, name: str) -> dict[str, Any]:
        for group in lg.graph.groups:
            if group.get("name") == name:
                return group
        names = ", ".join(str(g.get("name")) for g in lg.graph.groups) or "none"
        msg = f"graph {lg.id!r} has no group {name!r} (its groups: {names})"
        raise ProtocolError(msg, "graph")

    def _addgroup(self, req: Request, lg: LiveGraph) -> list[Reply]:
        p = req.payload
        name = req_str(p, "name", req)
        nodes = p.get("nodes")
        if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
            msg = "graph:addgroup: 'nodes' must be a list of node ids"
            raise ProtocolError(msg, "graph")
        metadata = opt_dict(p, "metadata", req)
        if any(g.get("name") == name for g in lg.graph.groups):
            msg = f"graph {lg.id!r} already has a group {name!r}"
            raise ProtocolError(msg, "graph")
        for n in nodes:
            self._node(lg, n, req)
        lg.graph.groups.append(
            {"name": name, "nodes": list(nodes), "metadata": copy.deepcopy(metadata)}
        )
        payload = {"name": name, "nodes": nodes, "metadata": metadata, "graph": lg.id}
        return [("graph", "addgroup", payload)]

    def _removegroup(self, req: Request, lg: LiveGraph) -> list[Reply]:
        name = req_str(req.payload, "name", req)
        lg.graph.groups.remove(self._group(lg, name))
        return [("graph", "removegroup", {"name": name, "graph": lg.id})]

    def _renamegroup(self, req: Request, lg: LiveGraph) -> list[Reply]:
        old = req_str(req.payload, "from", req)
        new = req_str(req.payload, "to", req)
        group = self._group(lg, old)
        if new != old and any(g.get("name") == new for g in lg.graph.groups):
            msg = f"graph {lg.id!r} already has a group {new!r}"
            raise ProtocolError(msg, "graph")
        group["name"] = new
        return [("graph", "renamegroup", {"from": old, "to": new, "graph": lg.id})]

    def _changegroup(self, req: Request, lg: LiveGraph) -> list[Reply]:
        name = req_str(req.payload, "name", req)
        changes = req_dict(req.payload, "metadata", req)
        group = self._group(lg, name)
        meta = group.setdefault("metadata", {})
        merge(meta, changes)
        payload = {"name": name, "metadata": copy.deepcopy(meta), "graph": lg.id}
        return [("graph", "changegroup", payload)]
