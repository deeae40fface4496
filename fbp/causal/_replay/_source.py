"""The recorded run a replay reads: its records as columns, selected by port.

A replay needs three things of the run it replays: the streams that cross from the
processes it does not run into the ones it does (fed in their recorded order), every
other record (copied into the new trace as it was), and the IIPs and roots whose ids
the new trace keeps. :class:`Recorded` gives them, reading the run once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import orjson

from ..._core._record import CLOSE, DATA, DEAD, DROP, IIP, OPEN

if TYPE_CHECKING:
    from ...tracing import TracedPort, TracedRun
    from ...tracing._columns import RunColumns

__all__ = ("DATA", "DEAD", "DROP", "IIP", "Recorded")

_STREAM_KINDS = (DATA, OPEN, CLOSE)
#: Records decoded at a time when a stream or a copy is read.
BLOCK = 4096

Rows = npt.NDArray[np.intp]


class Recorded:
    """A traced run, read for a replay (see the module docstring)."""

    def __init__(self, run: TracedRun) -> None:
        self.run = run
        self.run_id = run.run_id
        self.t0_perf_ns: int = run.t0_perf_ns
        self.ports: list[TracedPort] = run.ports()
        self.by_address = {p.address: p for p in self.ports}
        self._cols: RunColumns = run.columns()
        c = self._cols
        self.max_ip_id = int(c.ip_id.max()) if len(c) else 0
        self.max_activation = int(c.activation.max()) if len(c) else 0
        self._anchors: tuple[npt.NDArray[np.intp], dict[int, tuple[int, ...]]] | None = None
        self._single: npt.NDArray[np.int64] | None = None
        self._roots: npt.NDArray[np.bool_] = np.zeros(0, dtype=bool)
        self._payloads: tuple[tuple[int, ...], tuple[list[int], list[Any]]] | None = None

    def __len__(self) -> int:
        return len(self._cols)

    @property
    def columns(self) -> RunColumns:
        """The run's records as columns."""
        return self._cols

    def parents_at(self, rows: Rows) -> list[tuple[int, ...]]:
        """The parents each record at ``rows`` stored (none for a drop marker)."""
        out = self._cols.record_parents(rows)
        drops = np.flatnonzero(self._cols.kind[rows] == DROP)
        for k in drops.tolist():
            out[k] = ()
        return out

    # -- selections ---------------------------------------------------------------------

    def rows(self, port_ids: Sequence[int], kinds: Sequence[int]) -> Rows:
        """Positions of the records of ``kinds`` on ``port_ids``, in write order."""
        c = self._cols
        wanted = np.unique(np.asarray(port_ids, dtype=np.int32))
        if len(wanted) <= 8:  # a comparison per port beats a set lookup per record
            mask = np.zeros(len(c), dtype=bool)
            for p in wanted.tolist():
                mask |= c.port_id == p
        else:
            mask = np.isin(c.port_id, wanted)
        rows = np.flatnonzero(mask)
        out: Rows = rows[np.isin(c.kind[rows], np.asarray(kinds, dtype=np.int8))]
        return out

    def count(self, port_ids: Sequence[int], kinds: Sequence[int] = (DATA,)) -> int:
        """How many records of ``kinds`` the ports have."""
        return len(self.rows(port_ids, kinds))

    def unrecorded(self, port_ids: Sequence[int]) -> int:
        """Data records on ``port_ids`` whose payload was not kept."""
        rows = self.rows(port_ids, (DATA,))
        return int((~self._cols.payload_recorded(rows)).sum())

    def ids(self, port_ids: Sequence[int], kinds: Sequence[int] = (DATA,)) -> list[int]:
        """The ids of the records of ``kinds`` on ``port_ids``, in write order."""
        rows = self.rows(port_ids, kinds)
        out: list[int] = self._cols.ip_id[rows].tolist()
        return out

    def iips(self, port_id: int) -> list[tuple[int, Any]]:
        """``(ip_id, payload)`` of each IIP given to an input port, in order."""
        rows = self.rows([port_id], (IIP,))
        values = self._cols.payload_values(rows)
        return list(zip(self._cols.ip_id[rows].tolist(), values, strict=True))

    def payloads(self, port_ids: Sequence[int]) -> tuple[list[int], list[Any]]:
        """Ids and payloads of the data records on ``port_ids``, in write order (the
        last ones asked for are kept: a port's mean and its values per unit decode
        them once)."""
        key = tuple(sorted(set(port_ids)))
        if self._payloads is not None and self._payloads[0] == key:
            return self._payloads[1]
        rows = self.rows(port_ids, (DATA,))
        ids: list[int] = self._cols.ip_id[rows].tolist()
        got = (ids, self._cols.payload_values(rows))
        self._payloads = (key, got)
        return got

    def texts(self, port_ids: Sequence[int]) -> tuple[Rows, list[bytes]]:
        """Positions and payload JSON texts of the data records on ``port_ids``."""
        rows = self.rows(port_ids, (DATA,))
        return rows, self._cols.payload_texts(rows)

    def _lineage(self) -> tuple[npt.NDArray[np.intp], dict[int, tuple[int, ...]]]:
        """Units of work by record, computed once, with numpy where lineage is a chain.

        A unit is a data IP with no data IP or bracket among its ancestors (IIPs are
        parameters). A record with one such parent has its parent's units: pointer
        jumping takes each to its *anchor*, a record with none (a unit, or a bracket
        without one) or with several (a join, an aggregate), whose units are the union
        of its parents', found in write order. Returns each record's anchor position
        and each anchor's units (sorted root ids)."""
        if self._anchors is None:
            c = self._cols
            n = len(c)
            defining = c.kind <= CLOSE
            counts = np.diff(c.parent_ends, prepend=np.int64(0))
            owner = np.repeat(np.arange(n), counts)
            where = _positions(c.ip_id, defining, c.parents)
            keep = (where >= 0) & defining[owner]
            owner, prow = owner[keep], where[keep]
            nlinks = np.bincount(owner, minlength=n)
            ptr = np.arange(n)
            one = nlinks[owner] == 1
            ptr[owner[one]] = prow[one]
            while True:
                nxt = ptr[ptr]
                if np.array_equal(nxt, ptr):
                    break
                ptr = nxt
            # Units of the anchors: a root is its own unit, a bracket without units has
            # none (both implied, see _units_at); a record of several parents, the union.
            self._roots = defining & (nlinks == 0) & (c.kind == DATA)
            units: dict[int, tuple[int, ...]] = {}
            multi = np.flatnonzero(nlinks >= 2)
            if len(multi):
                starts = np.searchsorted(owner, multi, "left")
                ends = np.searchsorted(owner, multi, "right")
                for m, a, b in zip(multi.tolist(), starts.tolist(), ends.tolist(), strict=True):
                    found: set[int] = set()
                    for p in prow[a:b].tolist():
                        found.update(self._units_at(int(ptr[p]), units))
                    units[m] = tuple(sorted(found))
            # The one unit of each record (-1 for none or several), for the fast paths.
            single = np.where(self._roots, c.ip_id, -1)
            for m in multi.tolist():
                if len(units[m]) == 1:
                    single[m] = units[m][0]
            self._single = single[ptr]
            self._anchors = (ptr, units)
        return self._anchors

    def _units_at(self, anchor: int, units: dict[int, tuple[int, ...]]) -> tuple[int, ...]:
        got = units.get(anchor)
        if got is not None:
            return got
        return (int(self._cols.ip_id[anchor]),) if self._roots[anchor] else ()

    def single_units(self, rows: Rows) -> npt.NDArray[np.int64]:
        """The unit of each record at ``rows`` when it descends from exactly one, else -1."""
        self._lineage()
        assert self._single is not None
        out: npt.NDArray[np.int64] = self._single[rows]
        return out

    def unit_keys(self, rows: Rows) -> list[tuple[int, ...]]:
        """The units each record at ``rows`` descends from (sorted root ids)."""
        ptr, units = self._lineage()
        return [self._units_at(a, units) for a in ptr[rows].tolist()]

    def units_of(self) -> dict[int, tuple[int, ...]]:
        """For every data IP and bracket, the units it descends from, by IP id."""
        rows = np.flatnonzero(self._cols.kind <= CLOSE)
        return dict(zip(self._cols.ip_id[rows].tolist(), self.unit_keys(rows), strict=True))

    def data_roots(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int32]]:
        """Ids and ports of the units of work, in write order."""
        c = self._cols
        ptr, _ = self._lineage()
        rows = np.flatnonzero(c.kind == DATA)
        at = rows[(ptr[rows] == rows) & (self.single_units(rows) == c.ip_id[rows])]
        return c.ip_id[at], c.port_id[at]

    # -- records ------------------------------------------------------------------------

    def records(
        self,
        rows: Rows,
        *,
        port_map: npt.NDArray[np.int32] | None = None,
        dt_ns: int = 0,
        payloads: Literal["values", "texts", "fragments"] = "values",
    ) -> Iterator[list[tuple[Any, ...]]]:
        """The records at ``rows`` as the runtime makes them, a block at a time:
        ``(ip_id, kind, port_id, activation, t_ns, parents, payload)``, without the
        payload when it was not recorded. ``port_map`` renumbers ports (old id ->
        new id); ``dt_ns`` moves the times. Payloads are decoded (``values``), or
        their recorded JSON texts (``texts``), or those texts as ``orjson.Fragment``
        (``fragments``), which a trace writer stores as they are."""
        c = self._cols
        for start in range(0, len(rows), BLOCK):
            block = rows[start : start + BLOCK]
            ports = c.port_id[block] if port_map is None else port_map[c.port_id[block]]
            kept = c.payload_recorded(block).tolist()
            got: list[Any]
            if payloads == "fragments":
                got = [orjson.Fragment(t) for t in c.payload_texts(block)]
            elif payloads == "texts":
                got = c.payload_texts(block)
            else:
                got = c.payload_values(block)
            columns = zip(
                c.ip_id[block].tolist(),
                c.kind[block].tolist(),
                ports.tolist(),
                c.activation[block].tolist(),
                (c.t_ns[block] + dt_ns).tolist(),
                self.parents_at(block),
                got,
                kept,
                strict=True,
            )
            yield [
                (i, k, p, a, t, ps, x) if keep else (i, k, p, a, t, ps)
                for i, k, p, a, t, ps, x, keep in columns
            ]


def _positions(
    ids: npt.NDArray[np.int64], defining: npt.NDArray[np.bool_], wanted: npt.NDArray[np.int64]
) -> npt.NDArray[np.intp]:
    """The position of the first defining record of each id in ``wanted`` (-1 for
    none). The runtime numbers IPs densely, so a table indexed by id finds them; ids
    spread too thin for one are looked up in sorted order."""
    rows = np.flatnonzero(defining)
    out = np.full(len(wanted), -1, dtype=np.intp)
    if not len(rows) or not len(wanted):
        return out
    dids = ids[rows]
    lo, hi = int(dids.min()), int(dids.max())
    if hi - lo < 4 * len(dids) + 65536:
        table = np.full(hi - lo + 1, -1, dtype=np.intp)
        table[dids[::-1] - lo] = rows[::-1]  # the first record of an id written last
        inside = (wanted >= lo) & (wanted <= hi)
        out[inside] = table[wanted[inside] - lo]
        return out
    order = np.argsort(dids, kind="stable")
    dids, rows = dids[order], rows[order]
    pos = np.minimum(np.searchsorted(dids, wanted), len(dids) - 1)
    hit = dids[pos] == wanted
    out[hit] = rows[pos[hit]]
    return out
