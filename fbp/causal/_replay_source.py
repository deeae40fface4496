"""The recorded run a replay reads: its records as columns, selected by port.

A replay needs three things of the run it replays: the streams that cross from the
processes it does not run into the ones it does (fed in their recorded order), every
other record (copied into the new trace as it was), and the IIPs and roots whose ids
the new trace keeps. :class:`Recorded` gives them, reading the run once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..tracing import TracedPort, TracedRun

__all__ = ("DATA", "DEAD", "DROP", "IIP", "Recorded")

DATA, OPEN, CLOSE, IIP, DROP, DEAD = 0, 1, 2, 3, 4, 5
_KIND_CODES = {"data": DATA, "open": OPEN, "close": CLOSE, "iip": IIP, "drop": DROP, "dead": DEAD}
_STREAM_KINDS = (DATA, OPEN, CLOSE)
#: Records decoded at a time when a stream or a copy is read.
BLOCK = 4096

Rows = npt.NDArray[np.intp]


@dataclass
class _Columns:
    """A run's records as arrays, built from ``TracedRun.records()``."""

    ip_id: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    port_id: npt.NDArray[np.int32]
    activation: npt.NDArray[np.int64]
    t_ns: npt.NDArray[np.int64]
    parent_list: list[tuple[int, ...]]
    payload_list: list[Any]
    recorded: npt.NDArray[np.bool_]

    def parents(self, rows: Rows) -> list[tuple[int, ...]]:
        pl = self.parent_list
        return [pl[i] for i in rows.tolist()]

    def payloads(self, rows: Rows) -> list[Any]:
        pl = self.payload_list
        return [pl[i] for i in rows.tolist()]


def _from_records(run: TracedRun) -> _Columns:
    ids: list[int] = []
    kinds: list[int] = []
    ports: list[int] = []
    acts: list[int] = []
    times: list[int] = []
    parents: list[tuple[int, ...]] = []
    payloads: list[Any] = []
    recorded: list[bool] = []
    t0 = run.t0_perf_ns
    for r in run.records():
        ids.append(r.ip_id)
        kinds.append(_KIND_CODES[r.kind])
        ports.append(r.port_id)
        acts.append(r.activation)
        times.append(t0 + round(r.t * 1e9))
        parents.append(r.parents if r.kind != "drop" else ())
        payloads.append(r.payload)
        recorded.append(r.payload_recorded)
    return _Columns(
        ip_id=np.array(ids, dtype=np.int64),
        kind=np.array(kinds, dtype=np.int8),
        port_id=np.array(ports, dtype=np.int32),
        activation=np.array(acts, dtype=np.int64),
        t_ns=np.array(times, dtype=np.int64),
        parent_list=parents,
        payload_list=payloads,
        recorded=np.array(recorded, dtype=bool),
    )


class Recorded:
    """A traced run, read for a replay (see the module docstring)."""

    def __init__(self, run: TracedRun) -> None:
        self.run = run
        self.run_id = run.run_id
        self.t0_perf_ns: int = run.t0_perf_ns
        self.ports: list[TracedPort] = run.ports()
        self.by_address = {p.address: p for p in self.ports}
        self._cols = _from_records(run)
        c = self._cols
        self.max_ip_id = int(c.ip_id.max()) if len(c.ip_id) else 0
        self.max_activation = int(c.activation.max()) if len(c.activation) else 0
        self._units: dict[int, tuple[int, ...]] | None = None

    def __len__(self) -> int:
        return len(self._cols.ip_id)

    # -- selections ---------------------------------------------------------------------

    def rows(self, port_ids: Sequence[int], kinds: Sequence[int]) -> Rows:
        """Positions of the records of ``kinds`` on ``port_ids``, in write order."""
        c = self._cols
        mask = np.isin(c.port_id, np.asarray(port_ids, dtype=np.int32)) & np.isin(
            c.kind, np.asarray(kinds, dtype=np.int8)
        )
        return np.flatnonzero(mask)

    def count(self, port_ids: Sequence[int], kinds: Sequence[int] = (DATA,)) -> int:
        """How many records of ``kinds`` the ports have."""
        return len(self.rows(port_ids, kinds))

    def unrecorded(self, port_ids: Sequence[int]) -> int:
        """Data records on ``port_ids`` whose payload was not kept."""
        rows = self.rows(port_ids, (DATA,))
        return int((~self._cols.recorded[rows]).sum())

    def ids(self, port_ids: Sequence[int], kinds: Sequence[int] = (DATA,)) -> list[int]:
        """The ids of the records of ``kinds`` on ``port_ids``, in write order."""
        rows = self.rows(port_ids, kinds)
        out: list[int] = self._cols.ip_id[rows].tolist()
        return out

    def iips(self, port_id: int) -> list[tuple[int, Any]]:
        """``(ip_id, payload)`` of each IIP given to an input port, in order."""
        rows = self.rows([port_id], (IIP,))
        return list(zip(self._cols.ip_id[rows].tolist(), self._cols.payloads(rows), strict=True))

    def payloads(self, port_ids: Sequence[int]) -> tuple[list[int], list[Any]]:
        """Ids and payloads of the data records on ``port_ids``, in write order."""
        rows = self.rows(port_ids, (DATA,))
        ids: list[int] = self._cols.ip_id[rows].tolist()
        return ids, self._cols.payloads(rows)

    def units_of(self) -> dict[int, tuple[int, ...]]:
        """For every data IP and bracket, the units of work it descends from (sorted
        root ids). A unit is a data IP with no data IP or bracket among its ancestors
        (IIPs are parameters): it is its own unit. Read once, then kept."""
        if self._units is None:
            c = self._cols
            units: dict[int, tuple[int, ...]] = {}
            rows = np.flatnonzero(c.kind <= CLOSE)
            kinds = c.kind
            for start in range(0, len(rows), BLOCK):
                block = rows[start : start + BLOCK]
                for i, k, ps in zip(
                    c.ip_id[block].tolist(), kinds[block].tolist(), c.parents(block), strict=True
                ):
                    found = [units[p] for p in ps if p in units]
                    if not found:
                        units[i] = (i,) if k == DATA else ()
                    elif len(found) == 1:
                        units[i] = found[0]
                    else:
                        units[i] = tuple(sorted(set().union(*found)))
            self._units = units
        return self._units

    def data_roots(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Ids and ports of the units of work (see :meth:`units_of`), in write order."""
        c = self._cols
        units = self.units_of()
        rows = np.flatnonzero(c.kind == DATA)
        ids = c.ip_id[rows]
        root = np.array([units[i] == (i,) for i in ids.tolist()], dtype=bool)
        at = rows[root] if len(rows) else rows
        return c.ip_id[at], c.port_id[at]

    # -- records ------------------------------------------------------------------------

    def records(
        self,
        rows: Rows,
        *,
        port_map: npt.NDArray[np.int32] | None = None,
        dt_ns: int = 0,
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The records at ``rows`` as the runtime makes them, a block at a time:
        ``(ip_id, kind, port_id, activation, t_ns, parents, payload)``, without the
        payload when it was not recorded. ``port_map`` renumbers ports (old id ->
        new id); ``dt_ns`` moves the times."""
        c = self._cols
        for start in range(0, len(rows), BLOCK):
            block = rows[start : start + BLOCK]
            ports = c.port_id[block] if port_map is None else port_map[c.port_id[block]]
            columns = zip(
                c.ip_id[block].tolist(),
                c.kind[block].tolist(),
                ports.tolist(),
                c.activation[block].tolist(),
                (c.t_ns[block] + dt_ns).tolist(),
                c.parents(block),
                c.payloads(block),
                c.recorded[block].tolist(),
                strict=True,
            )
            yield [
                (i, k, p, a, t, ps, x) if kept else (i, k, p, a, t, ps)
                for i, k, p, a, t, ps, x, kept in columns
            ]
