"""The runtime's lower-level interfaces, for extension authors and fbp's own layers.

Most programs need only :mod:`fbp`. This module is for code that plugs into the
runtime rather than running on it:

- **a trace sink** (a store, a live view, an exporter): implement :class:`TraceSink`;
  it receives :class:`RunInfo` (with one :class:`PortInfo` per port) and batches of
  :data:`TraceRecord` tuples, whose fields are named by the index constants
  (``rec[PAYLOAD]``) and whose kinds are :class:`Kind`;
- **feeding or tapping a running network from outside**: :class:`Inlet` and
  :class:`Outlet` (made by :meth:`fbp.Network.add_inlet` / ``add_outlet``), and
  :class:`LiveEdits` (:meth:`fbp.Network.edits`) for changing its wiring while it
  runs (:class:`LiveEditError` when an edit cannot apply);
- **observing a run**: :class:`ProcessStats`, :class:`EdgeStats` and
  :class:`PortStats`, what :class:`fbp.Network` reports while and after it runs;
- **naming ports**: :class:`PortAddress`, the one grammar and spelling of a port
  address, ``process.PORT[index]`` (:meth:`PortAddress.parse`, ``str()``; :func:`address`
  formats one from its parts), and :class:`PortSpec`, a component's declared port;
- **a resource closed by** ``with``: :class:`Closing` (define ``close()``; the trace
  reader and writer and the metrics server build on it);
- **running a coroutine from synchronous code**, also inside a notebook:
  :func:`run_sync`.

Importing it is as light as importing :mod:`fbp`'s core.
"""

from __future__ import annotations

from ._core._address import PortAddress as PortAddress
from ._core._closing import Closing as Closing
from ._core._live import Inlet as Inlet
from ._core._live import LiveEditError as LiveEditError
from ._core._live import LiveEdits as LiveEdits
from ._core._live import Outlet as Outlet
from ._core._network import EdgeStats as EdgeStats
from ._core._network import PortStats as PortStats
from ._core._network import ProcessStats as ProcessStats
from ._core._ports import PortSpec as PortSpec
from ._core._ports import address as address
from ._core._record import ACTIVATION as ACTIVATION
from ._core._record import FIELDS as FIELDS
from ._core._record import IP_ID as IP_ID
from ._core._record import KIND as KIND
from ._core._record import PARENTS as PARENTS
from ._core._record import PAYLOAD as PAYLOAD
from ._core._record import PORT_ID as PORT_ID
from ._core._record import T_NS as T_NS
from ._core._record import Kind as Kind
from ._core._sync import run_sync as run_sync
from ._core._tracehook import PortInfo as PortInfo
from ._core._tracehook import RunInfo as RunInfo
from ._core._tracehook import RunStatus as RunStatus
from ._core._tracehook import TraceRecord as TraceRecord
from ._core._tracehook import TraceSink as TraceSink

__all__ = (
    "ACTIVATION",
    "FIELDS",
    "IP_ID",
    "KIND",
    "PARENTS",
    "PAYLOAD",
    "PORT_ID",
    "T_NS",
    "Closing",
    "EdgeStats",
    "Inlet",
    "Kind",
    "LiveEditError",
    "LiveEdits",
    "Outlet",
    "PortAddress",
    "PortInfo",
    "PortSpec",
    "PortStats",
    "ProcessStats",
    "RunInfo",
    "RunStatus",
    "TraceRecord",
    "TraceSink",
    "address",
    "run_sync",
)
