"""What the trace reader returns: runs, ports, processes, edges and IPs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias

from fbp._core._tracehook import PortInfo

__all__ = (
    "EdgeSummary",
    "Lineage",
    "ProcessSummary",
    "RunState",
    "RunSummary",
    "TracedIP",
    "TracedPort",
)

#: A run's status as read back: a killed writer leaves ``crashed``; a run whose
#: writer is still alive on this host reads ``running``; a segment of a rotated trace
#: read on its own, whose run goes on in the next segment, reads ``rotated``.
RunState: TypeAlias = Literal[
    "running", "completed", "failed", "deadlock", "interrupted", "crashed", "rotated"
]


@dataclass(frozen=True, slots=True)
class RunSummary:
    """One run of a trace file."""

    run_id: str
    graph_name: str
    status: RunState
    #: Wall clock at the start, ns since the Unix epoch.
    started_ns: int
    #: Wall clock at the end; None if the run did not finish.
    ended_ns: int | None
    #: Records stored (every record committed before a crash, for a crashed run).
    records: int
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def started(self) -> datetime:
        """The start as an aware UTC datetime."""
        return datetime.fromtimestamp(self.started_ns / 1e9, tz=UTC)

    @property
    def duration(self) -> float | None:
        """Seconds from start to end; None if the run did not finish."""
        if self.ended_ns is None:
            return None
        return (self.ended_ns - self.started_ns) / 1e9

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO 8601 strings)."""
        return {
            "run_id": self.run_id,
            "graph_name": self.graph_name,
            "status": self.status,
            "started": self.started.isoformat(),
            "duration": self.duration,
            "records": self.records,
            "error": self.error,
            "stats": self.stats,
        }


@dataclass(frozen=True, slots=True)
class TracedPort(PortInfo):
    """A port of a traced run: the runtime's description of it (:class:`PortInfo`:
    process, component, port, index, direction, type_name, json_schema, targets), with
    its id in the run and its address."""

    #: Its position in the run's ports, as records refer to it.
    port_id: int = field(kw_only=True)
    #: ``process.PORT`` or ``process.PORT[index]``.
    address: str = field(kw_only=True)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "port_id": self.port_id,
            "address": self.address,
            "process": self.process,
            "component": self.component,
            "port": self.port,
            "index": self.index,
            "direction": self.direction,
            "type": self.type_name,
            "targets": list(self.targets),
        }


@dataclass(frozen=True, slots=True)
class ProcessSummary:
    """A process of a traced run and what it sent."""

    name: str
    component: str
    inports: tuple[str, ...]
    outports: tuple[str, ...]
    #: Data IPs sent on all its output ports.
    ips_sent: int
    #: Activations that sent at least one IP.
    activations: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name,
            "component": self.component,
            "inports": list(self.inports),
            "outports": list(self.outports),
            "ips_sent": self.ips_sent,
            "activations": self.activations,
        }


@dataclass(frozen=True, slots=True)
class EdgeSummary:
    """An edge of a traced run with the IPs that crossed it.

    An output port broadcasts every IP to all its targets, so every edge leaving a
    port carries the same IPs. IIPs appear as edges with ``src`` None.
    """

    #: The sending output port's address; None for IIPs.
    src: str | None
    #: The receiving input port's address.
    tgt: str
    #: Data IPs (or IIPs) sent along the edge.
    ips: int
    #: Open and close brackets sent along the edge.
    brackets: int
    #: IPs the receiving port dropped (drop-oldest channels only).
    dropped: int

    @property
    def name(self) -> str:
        """``src -> tgt``, as ``TracedRun.ips`` accepts it."""
        return f"{self.src or '(IIP)'} -> {self.tgt}"

    def __str__(self) -> str:
        return self.name

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "src": self.src,
            "tgt": self.tgt,
            "ips": self.ips,
            "brackets": self.brackets,
            "dropped": self.dropped,
        }


@dataclass(frozen=True, slots=True)
class TracedIP:
    """One recorded IP."""

    ip_id: int
    #: ``data``, ``open``, ``close``, ``iip``, ``drop`` or ``dead``.
    kind: str
    #: The address of the port of the record (the sender's, or the receiver's for IIPs).
    port: str
    process: str
    #: The port's id in the run (see :meth:`TracedRun.ports`).
    port_id: int
    activation: int
    #: Seconds since the run started.
    t: float
    #: The IPs that caused this one, in the order the runtime gave them.
    parents: tuple[int, ...]
    #: The decoded payload (None when not recorded).
    payload: Any
    #: False when the payload setting of the port kept no payload.
    payload_recorded: bool = True

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ip_id": self.ip_id,
            "kind": self.kind,
            "port": self.port,
            "process": self.process,
            "activation": self.activation,
            "t": self.t,
            "parents": list(self.parents),
            "payload": self.payload,
            "payload_recorded": self.payload_recorded,
        }


@dataclass(frozen=True, slots=True)
class Lineage:
    """An IP with everything it came from and everything that came from it."""

    ip: TracedIP
    #: Every IP this one descends from, in send order.
    ancestors: tuple[TracedIP, ...]
    #: Every IP descending from this one, in send order.
    descendants: tuple[TracedIP, ...]
    #: Ids of ancestors whose records are not in the run: recorded in a segment of a
    #: rotated trace that retention has deleted (or, reading one segment on its own,
    #: in an earlier segment). Their own ancestors are unknown.
    missing: tuple[int, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ip": self.ip.to_json(),
            "ancestors": [a.to_json() for a in self.ancestors],
            "descendants": [d.to_json() for d in self.descendants],
            "missing": list(self.missing),
        }
