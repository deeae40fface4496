"""Export a traced run as Flowtrace JSON, the trace format of the FBP ecosystem.

The file has the shape the ``flowtrace`` tools read (``flowtrace-show``,
``flowtrace-replay``)::

    {"header": {"metadata": {...}, "graphs": {name: <FBP JSON graph>}, "main": name},
     "events": [{"protocol": "network", "command": "data", "graph": name, "time": ISO,
                 "payload": {"id", "graph", "src": {"node", "port", "index"?},
                             "tgt": {...}, "data", "ip_id", "parents", "activation"}}]}

Every IP gives one event per edge it crossed (an output port broadcasts to all its
targets): ``data`` for data IPs and IIPs (IIPs have no ``src``), ``begingroup`` and
``endgroup`` (with ``group``, the bracket's tag) for brackets. An IP sent on an
unconnected port gives one event without ``tgt``. Drop and dead-letter markers have
no Flowtrace event. The payload fields ``ip_id``, ``parents`` and ``activation``
extend the format with lineage; the Flowtrace tools ignore them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TextIO

from ._address import parse_address
from ._records import TracedPort
from ._run import TracedRun

__all__ = ("export_flowtrace",)

_COMMANDS = {"data": "data", "iip": "data", "open": "begingroup", "close": "endgroup"}

End = dict[str, Any]


def _iso(ns: int) -> str:
    text = datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _end(port: TracedPort | None, address: str) -> End:
    """A packet end ``{node, port, index?}`` for a port, or an address if unknown."""
    if port is not None:
        node, name, index = port.process, port.port, port.index
    else:
        node, name, index = parse_address(address) or (address, "", None)
    end: End = {"node": node, "port": name}
    if index is not None:
        end["index"] = index
    return end


def _label(end: End | None, *, src: bool) -> str:
    """One side of a connection id, as NoFlo writes it: ``A() OUT`` / ``IN B()``."""
    if end is None:
        return "DATA"
    port = end["port"].upper() + (f"[{end['index']}]" if "index" in end else "")
    return f"{end['node']}() {port}" if src else f"{port} {end['node']}()"


def _graph(run: TracedRun) -> dict[str, Any]:
    """The run's graph, with every key the Flowtrace tools rely on."""
    graph = dict(run.graph)
    graph.setdefault("caseSensitive", True)
    graph.setdefault("properties", {"name": run.summary.graph_name})
    for key in ("inports", "outports", "processes"):
        graph.setdefault(key, {})
    for key in ("groups", "connections"):
        graph.setdefault(key, [])
    return graph


def _routes(run: TracedRun) -> dict[int, list[tuple[End | None, End | None]]]:
    """For every port id, the (src, tgt) pairs one of its records becomes."""
    ports = run.ports()
    by_address = {p.address: p for p in ports}
    routes: dict[int, list[tuple[End | None, End | None]]] = {}
    for p in ports:
        if p.direction == "out":
            src = _end(p, p.address)
            tgts = [_end(by_address.get(t), t) for t in p.targets]
            routes[p.port_id] = [(src, t) for t in tgts] if tgts else [(src, None)]
        else:
            routes[p.port_id] = [(None, _end(p, p.address))]  # IIPs given to it
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
    header = {"metadata": metadata, "graphs": {name: _graph(run)}, "main": name}
    fp.write('{"header": ' + json.dumps(header, ensure_ascii=False) + ',\n"events": [')
    routes = _routes(run)
    count = 0
    for ip in run.records():
        command = _COMMANDS.get(ip.kind)
        if command is None:
            continue
        time = _iso(s.started_ns + round(ip.t * 1e9))
        for src, tgt in routes.get(ip.port_id, [(None, None)]):
            if limit is not None and count >= limit:
                break
            payload: dict[str, Any] = {
                "id": f"{_label(src, src=True)} -> {_label(tgt, src=False)}",
                "graph": name,
            }
            if src is not None:
                payload["src"] = src
            if tgt is not None:
                payload["tgt"] = tgt
            payload["group" if command != "data" else "data"] = ip.payload
            payload["ip_id"] = ip.ip_id
            payload["parents"] = list(ip.parents)
            payload["activation"] = ip.activation
            event = {
                "protocol": "network",
                "command": command,
                "payload": payload,
                "graph": name,
                "time": time,
            }
            fp.write(("\n" if count == 0 else ",\n") + json.dumps(event, ensure_ascii=False))
            count += 1
        if limit is not None and count >= limit:
            break
    fp.write("\n]}\n")
    return count
