"""The contract between the runtime and a trace sink.

The runtime knows nothing of files or databases: it appends one tuple per event to a
list and hands the list to a :class:`TraceSink` when it holds ``sink.batch_size``
records, every 0.05 s from a thread of its own (which also works while the event loop
is blocked), and at the end of the run. Everything slow (serialising payloads,
writing) happens in the sink, off the event loop's hot path. The sink's methods are
called one at a time, but not always from the event loop's thread.

A record is a plain tuple, ``(ip_id, kind, port_id, activation, t_ns, parents, payload)``:

- ``ip_id``: the IP's id, unique within the run (positive int).
- ``kind``: one of the ``KIND_*`` constants below, the values of
  :class:`fbp._core._record.Kind` (where the layout is defined once, with names for the
  positions).
- ``port_id``: index into :attr:`RunInfo.ports`. For ``KIND_DATA``/``KIND_OPEN``/
  ``KIND_CLOSE`` it is the output port that sent the IP; for ``KIND_IIP`` the input port
  the IIP was given to; for ``KIND_DROP`` the input port whose full channel dropped the
  (already recorded) IP ``ip_id`` under the drop-oldest policy; for ``KIND_DEAD`` the
  ERROR output port that received a dead-letter IP (the record of that IP itself follows
  as ``KIND_DATA``).
- ``activation``: the id of the activation that sent the IP (unique within the run; 0
  for IIPs).
- ``t_ns``: ``time.perf_counter_ns()`` at the send; :attr:`RunInfo.t0_perf_ns` and
  :attr:`RunInfo.t0_wall_ns` anchor it to wall-clock time.
- ``parents``: tuple of the ids of the IPs that caused this one (see the lineage rules
  in :mod:`fbp._core._ports`).
- ``payload``: the Python object sent (a bracket's tag for brackets); the sink decides
  how to serialise it. Payloads are treated as immutable once sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ._record import CLOSE as KIND_CLOSE
from ._record import DATA as KIND_DATA
from ._record import DEAD as KIND_DEAD
from ._record import DROP as KIND_DROP
from ._record import IIP as KIND_IIP
from ._record import OPEN as KIND_OPEN
from ._record import TraceRecord as TraceRecord

__all__ = (
    "KIND_CLOSE",
    "KIND_DATA",
    "KIND_DEAD",
    "KIND_DROP",
    "KIND_IIP",
    "KIND_OPEN",
    "PortInfo",
    "RunInfo",
    "RunStatus",
    "TraceRecord",
    "TraceSink",
)

RunStatus = Literal["completed", "failed", "deadlock", "interrupted"]


@dataclass(frozen=True, slots=True)
class PortInfo:
    """One port of the running network, as the trace refers to it by position."""

    process: str
    component: str
    port: str
    index: int | None
    direction: Literal["in", "out"]
    type_name: str
    #: JSON schema of the port's type, when pydantic can give one.
    json_schema: dict[str, Any] | None = None
    #: For an output port: the input ports it is connected to, as ``proc.PORT[i]``.
    targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a sink learns when a run starts."""

    run_id: str
    graph_name: str
    graph: dict[str, Any]
    ports: tuple[PortInfo, ...]
    t0_wall_ns: int
    t0_perf_ns: int
    settings: dict[str, Any] = field(default_factory=dict)


class TraceSink(Protocol):
    """Receives a run's records in batches. Implemented by :mod:`fbp.tracing`."""

    #: How many records the runtime buffers before calling :meth:`write`.
    batch_size: int

    def start_run(self, info: RunInfo) -> None:
        """Begin a run; called before any record."""

    def write(self, records: list[TraceRecord]) -> None:
        """Take a batch. May block to apply back-pressure; must not lose records.

        An empty batch is the runtime's timer (every 0.05 s while the event loop
        hands batches over itself): store what was gathered a while ago."""

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """End the run: every record written so far must be durable when this returns."""
