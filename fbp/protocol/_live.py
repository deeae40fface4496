"""Graph edits that reach a running network (NoFlo's live editing).

When a graph's network runs, the graph commands that change its structure are also
applied to the running network, through :meth:`fbp.Network.edits` (whose docstring,
in :mod:`fbp._core._live`, gives the exact semantics):

- ``addnode`` adds a process, started once every required input port it has is fed;
- ``removenode`` removes the node's edges (each applied as ``removeedge``), then
  cancels the process;
- ``addedge`` / ``removeedge`` connect and disconnect ports;
- ``addinitial`` delivers the IIP at once;
- ``removeinitial`` changes the graph only (a delivered IIP cannot be taken back);
- metadata, exported ports and groups change the graph only (exported ports reach
  the next run);
- ``renamenode`` is refused while the network runs.

An edit that cannot be applied safely (its port's stream has ended, its process has
ended, a subnet node, a run being recorded by ``trace:start``) is refused with a
``graph:error`` naming the reason, and the graph is left as it was.
"""

from __future__ import annotations

from typing import Any

from .._core._exceptions import PacketTypeError
from .._core._live import LiveEditError, LiveEdits
from ._components import ComponentLibrary
from ._graph_ports import Reply
from ._messages import Endpoint, ProtocolError
from ._network import NetworkSession

__all__ = ("LIVE_COMMANDS", "REFUSED_WHILE_RUNNING", "apply_live")

#: Graph commands that change a running network.
LIVE_COMMANDS = frozenset(
    {"addnode", "removenode", "addedge", "removeedge", "addinitial", "renamenode"}
)

#: Graph commands refused while the graph's network runs.
REFUSED_WHILE_RUNNING = frozenset({"renamenode"})


def _ref(end: dict[str, Any]) -> tuple[str, str, int | None]:
    index = end.get("index")
    return (str(end["node"]), str(end["port"]), None if index is None else int(index))


def _endpoint(end: dict[str, Any]) -> Endpoint:
    node, port, index = _ref(end)
    return Endpoint(node, port.lower(), index)


def apply_live(session: NetworkSession, library: ComponentLibrary, replies: list[Reply]) -> None:
    """Apply the graph changes ``replies`` announce to the session's running network.

    Raises:
        ProtocolError: an edit that cannot be applied (nothing of it was).
    """
    net = session.network
    if net is None:
        return
    edits = net.edits()
    for _, command, payload in replies:
        try:
            _apply(session, edits, library, command, payload)
        except (LiveEditError, PacketTypeError, ValueError, TypeError) as e:
            msg = (
                f"graph:{command} cannot be applied to the running network of graph"
                f" {session.graph_id!r}: {e}"
            )
            raise ProtocolError(msg, "graph") from None
        session.edited = True


def _process(edits: LiveEdits, node: str) -> None:
    if node not in edits.net.processes:
        msg = (
            f"{node!r} is not a process of the running network (a subnet node's edges"
            " cannot change while the network runs; stop it first)"
        )
        raise LiveEditError(msg)


def _apply(
    session: NetworkSession,
    edits: LiveEdits,
    library: ComponentLibrary,
    command: str,
    payload: dict[str, Any],
) -> None:
    net = edits.net
    sink = session.sink
    if command == "addnode":
        found = library.resolve(payload["component"])
        if not isinstance(found, type):
            msg = f"{payload['component']} is a subnet; a subnet cannot join a running network"
            raise LiveEditError(msg)
        edits.add_process(payload["id"], found, component_name=payload["component"])
        session.watch_icon(net.processes[payload["id"]].component)
    elif command == "removenode":
        if payload["id"] in net.processes:
            edits.remove_process(payload["id"])
    elif command in ("addedge", "removeedge"):
        src, tgt = _ref(payload["src"]), _ref(payload["tgt"])
        _process(edits, src[0])
        _process(edits, tgt[0])
        pid = net._out(*src).port_id
        if command == "addedge":
            cap = payload.get("metadata", {}).get("capacity")
            capacity = cap if isinstance(cap, int) and not isinstance(cap, bool) else None
            edits.connect(src, tgt, capacity=capacity)
            if sink is not None:
                sink.add_route(pid, _endpoint(payload["src"]), _endpoint(payload["tgt"]))
        else:
            edits.disconnect(src, tgt)
            if sink is not None:
                sink.remove_route(pid, _endpoint(payload["src"]), _endpoint(payload["tgt"]))
    elif command == "addinitial":
        tgt = _ref(payload["tgt"])
        _process(edits, tgt[0])
        if sink is not None:
            sink.add_iip_route(net._in(*tgt).port_id, _endpoint(payload["tgt"]))
        edits.add_initial(tgt, payload["src"]["data"])
