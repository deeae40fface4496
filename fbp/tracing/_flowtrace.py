"""Export a traced run as Flowtrace JSON, the trace format of the FBP ecosystem.

The file has the shape the ``flowtrace`` tools read (``flowtrace-show``,
``flowtrace-replay``), and every event's message validates against the FBP network
protocol's schema for it (``network/output/data`` ...)::

    {"header": {"metadata": {...}, "graphs": {name: <FBP JSON graph>, ...}, "main": name},
     "events": [{"protocol": "network", "command": "data", "graph": name, "time": ISO,
                 "payload": {"id", "graph", "src": {"node", "port", "index"?},
                             "tgt": {...}, "data", "subgraph"?},
                 "lineage": {"ip_id", "parents", "activation"}}]}

Every IP gives one event per edge it crossed (an output port broadcasts to all its
targets): ``data`` for data IPs and IIPs (IIPs have no ``src``), ``begingroup`` and
``endgroup`` (with ``group``, the bracket's tag as text) for brackets. The protocol's
schema allows nothing else in a payload, so the lineage of the IP (its ``ip_id``, its
``parents`` and its ``activation``) sits beside the payload, in the event's
``lineage``; the Flowtrace tools ignore it, and a replay does not send it.

Processes inside subnets are shown as NoFlo shows them: an edge inside the subnet
process ``S`` names its inner nodes, with ``subgraph: ["S"]`` in the payload, and the
subnet's own graph is in the header's ``graphs`` under its component name; an edge
that crosses the subnet's boundary names ``S`` and the port ``S`` exports. IPs sent on
an unconnected port (no edge, so no event in the protocol's terms), drop and
dead-letter markers have no Flowtrace event; they stay in the trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from .._core._record import PROTOCOL_COMMANDS, Kind
from ._address import parse_address
from ._records import TracedPort
from ._run import TracedRun

__all__ = ("export_flowtrace",)

_COMMANDS = {Kind(k).label: command for k, command in PROTOCOL_COMMANDS.items()}

End = dict[str, Any]
#: An edge as events show it: src (None for an IIP), tgt, subgraph path.
Route = tuple[End | None, End, list[str]]


def _iso(ns: int) -> str:
    text = datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _label(end: End | None, *, src: bool) -> str:
    """One side of a connection id, as NoFlo writes it: ``A() OUT`` / ``IN B()``."""
    if end is None:
        return "DATA"
    port = end["port"].upper() + (f"[{end['index']}]" if "index" in end else "")
    return f"{end['node']}() {port}" if src else f"{port} {end['node']}()"


def _complete(graph: dict[str, Any], name: str) -> dict[str, Any]:
    """A graph with every key the Flowtrace tools rely on."""
    graph = dict(graph)
    graph.setdefault("caseSensitive", True)
    graph.setdefault("properties", {"name": name})
    for key in ("inports", "outports", "processes"):
        graph.setdefault(key, {})
    for key in ("groups", "connections"):
        graph.setdefault(key, [])
    return graph


@dataclass
class _Subnets:
    """The graphs of the run's subnets, found by their component names."""

    top: dict[str, Any]
    #: Subnet graphs by component name, as FBP JSON.
    graphs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def graph_of(self, path: list[str]) -> dict[str, Any] | None:
        """The graph of the subnet process at ``path`` (``["S"]``, ``["S", "T"]``...)."""
        graph: dict[str, Any] | None = self.top
        for node in path:
            if graph is None:
                return None
            proc = graph.get("processes", {}).get(node, {})
            component = proc.get("component") if isinstance(proc, dict) else None
            graph = self._load(component) if isinstance(component, str) else None
        return graph

    def _load(self, component: str) -> dict[str, Any] | None:
        if component in self.graphs:
            return self.graphs[component]
        try:
            from ..graph import Registry, load_graph

            found = Registry(allow_imports=False).resolve(component)
            if isinstance(found, type):
                return None
            data = load_graph(found).to_dict()
        except Exception:  # not findable here: events still name the subgraph path
            return None
        self.graphs[component] = data
        return data

    def end(self, process: str, port: str, index: int | None, level: int, out: bool) -> End:
        """A port's end as seen from the graph at ``level`` subnets deep on its path."""
        parts = process.split("/")
        node, name, idx = parts[-1], port, index
        # Climb from the process itself to the level, through the subnets' exports.
        for depth in range(len(parts) - 1, level, -1):
            sub = self.graph_of(parts[:depth])
            exports = (sub or {}).get("outports" if out else "inports", {})
            public = next(
                (
                    p
                    for p, e in exports.items()
                    if isinstance(e, dict)
                    and e.get("process") == node
                    and str(e.get("port", "")).lower() == name.lower()
                ),
                name,
            )
            node, name = parts[depth - 1], public
        end: End = {"node": node, "port": name}
        if idx is not None:
            end["index"] = idx
        return end


def _path(process: str) -> list[str]:
    return process.split("/")[:-1]


def _common(a: list[str], b: list[str]) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def _routes(run: TracedRun, subnets: _Subnets) -> dict[int, list[Route]]:
    """For every port id, the edges one of its records becomes an event on."""
    ports = run.ports()
    by_address = {p.address: p for p in ports}
    routes: dict[int, list[Route]] = {}
    for p in ports:
        if p.direction == "in":  # the IIPs given to it, inside its own graph
            level = len(_path(p.process))
            tgt = subnets.end(p.process, p.port, p.index, level, out=False)
            routes[p.port_id] = [(None, tgt, _path(p.process))]
            continue
        routes[p.port_id] = []
        for t in p.targets:
            tp: TracedPort | None = by_address.get(t)
            if tp is not None:
                t_proc, t_port, t_index = tp.process, tp.port, tp.index
            else:
                parsed = parse_address(t)
                if parsed is None:
                    continue
                t_proc, t_port, t_index = parsed
            level = _common(_path(p.process), _path(t_proc))
            src = subnets.end(p.process, p.port, p.index, level, out=True)
            tgt = subnets.end(t_proc, t_port, t_index, level, out=False)
            routes[p.port_id].append((src, tgt, _path(p.process)[:level]))
    return routes


def export_flowtrace(run: TracedRun, fp: TextIO, *, limit: int | None = None) -> int:
    """Write a run as Flowtrace JSON to a text file, streaming its events.

    Args:
        run: the run to export.
        fp: where to write (a file opened for text writing, or ``sys.stdout``).
        limit: stop after this many events (a long run makes a large file; the
            Flowtrace recorder itself keeps the last 400).

    Returns:
        The number of events written.
    """
    s = run.summary
    name = s.graph_name
    end_ns = s.ended_ns if s.ended_ns is not None else s.started_ns + round(run.last_t() * 1e9)
    metadata = {
        "label": f"{name} ({s.run_id})",
        "type": "fbp-causal",
        "start": _iso(s.started_ns),
        "end": _iso(end_ns),
        "run_id": s.run_id,
        "status": s.status,
        "error": s.error,
    }
    subnets = _Subnets(dict(run.graph))
    routes = _routes(run, subnets)
    graphs = {name: _complete(run.graph, name)}
    graphs.update({c: _complete(g, c) for c, g in subnets.graphs.items()})
    header = {"metadata": metadata, "graphs": graphs, "main": name}
    fp.write('{"header": ' + json.dumps(header, ensure_ascii=False) + ',\n"events": [')
    count = 0
    for ip in run.records():
        command = _COMMANDS.get(ip.kind)
        if command is None:
            continue
        time = _iso(s.started_ns + round(ip.t * 1e9))
        for src, tgt, subgraph in routes.get(ip.port_id, ()):
            if limit is not None and count >= limit:
                break
            payload: dict[str, Any] = {
                "id": f"{_label(src, src=True)} -> {_label(tgt, src=False)}",
                "graph": name,
            }
            if src is not None:
                payload["src"] = src
            payload["tgt"] = tgt
            if subgraph:
                payload["subgraph"] = subgraph
            if command == "data":
                payload["data"] = ip.payload
            else:
                payload["group"] = "" if ip.payload is None else str(ip.payload)
            event = {
                "protocol": "network",
                "command": command,
                "payload": payload,
                "graph": name,
                "time": time,
                "lineage": {
                    "ip_id": ip.ip_id,
                    "parents": list(ip.parents),
                    "activation": ip.activation,
                },
            }
            fp.write(("\n" if count == 0 else ",\n") + json.dumps(event, ensure_ascii=False))
            count += 1
        if limit is not None and count >= limit:
            break
    fp.write("\n]}\n")
    return count
