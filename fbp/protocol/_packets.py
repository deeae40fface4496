"""The runtime sub-protocol's packets: a graph's exported ports, driven by clients.

A graph's exported ports (``graph:addinport``/``addoutport``) are the ports of the
runtime itself, as the protocol sees it (``protocol:runtime``): clients such as
``fbp-spec`` send packets into the exported input ports of a running network and
receive what its exported output ports send.

- ``runtime:ports`` describes a graph's exported ports (``{graph, inPorts, outPorts}``,
  each port described as its node's port is, under its public name). It follows the
  ``runtime`` reply when a main graph exists, and goes to every client whenever a
  graph's exports change.
- ``runtime:packet`` from a client sends ``data`` into an exported input port of the
  running network (validated against the port's type; waiting while the port's
  channel is full); it is acknowledged with ``runtime:packetsent``. ``connect`` and
  ``disconnect`` are acknowledged and change nothing; brackets are refused.
- ``runtime:packet`` from the runtime carries what an exported output port sends
  (``data``, ``begingroup``, ``endgroup``), to every client.

An exported input port stays open for the whole run, so a network with exported
input ports runs until ``network:stop`` (as in NoFlo), and is not reported as a
deadlock while it waits for packets.
"""

from __future__ import annotations

from typing import Any

from ..graph import Export
from ._components import ComponentLibrary, _export
from ._graphs import LiveGraph

__all__ = ("EXPORT_COMMANDS", "ports_payload")

#: Graph changes after which the graph's ``runtime:ports`` are announced again.
EXPORT_COMMANDS = frozenset(
    {
        "addinport",
        "removeinport",
        "renameinport",
        "addoutport",
        "removeoutport",
        "renameoutport",
    }
)


def _describe(
    lg: LiveGraph, library: ComponentLibrary, exp: Export, direction: str
) -> dict[str, Any]:
    node = lg.graph.processes.get(exp.process)
    if node is not None and isinstance(node.component, str):
        try:
            desc = library.describe(node.component)
        except Exception:  # an unknown component is reported when the node is added
            desc = {}
        ports = desc.get("inPorts" if direction == "in" else "outPorts", [])
        for p in ports:
            if p.get("id") == exp.port.lower():
                return {**p, "id": exp.public}
    return _export(exp.public)


def ports_payload(lg: LiveGraph, library: ComponentLibrary) -> dict[str, Any]:
    """The payload of ``runtime:ports`` for a graph."""
    g = lg.graph
    return {
        "graph": lg.id,
        "inPorts": [_describe(lg, library, e, "in") for e in g.inports.values()],
        "outPorts": [_describe(lg, library, e, "out") for e in g.outports.values()],
    }
