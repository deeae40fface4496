"""One run of a trace: :class:`TracedRun` and its queries.

Every query reads the run's records as columns (:class:`~fbp.tracing._columns.RunColumns`,
read from the file once, then kept) and works on them with numpy: counting, selecting
and walking lineage are vectorised; only the rows a caller asks for become Python
objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._core._address import PortAddress
from .._core._record import CLOSE, DEFINING, OPEN
from ._address import format_address, parse_address, parse_edge
from ._errors import TraceLookupError, suggest
from ._records import EdgeSummary, Lineage, ProcessSummary, RunSummary, TracedIP, TracedPort
from ._schema import KIND_CODES, KIND_NAMES

if TYPE_CHECKING:
    import sqlite3

    import numpy as np
    import numpy.typing as npt
    import pandas as pd

    from ._columns import RunColumns
    from ._frames import RunFrames
    from ._summary import SummaryCounts

__all__ = ("KIND_SETS", "TracedRun")

#: The record kinds each ``kind=`` argument selects.
KIND_SETS: dict[str, tuple[int, ...]] = {
    **{name: (code,) for name, code in KIND_CODES.items()},
    "brackets": (OPEN, CLOSE),
    "all": tuple(KIND_NAMES),
}

_BLOCK = 8192  # records decoded at a time by records()


class TracedRun:
    """One run of a trace: its ports, processes, edges and IPs."""

    def __init__(
        self, con: sqlite3.Connection, summary: RunSummary, row: tuple[Any, ...], path: str = ""
    ) -> None:
        self._con = con
        #: The trace file.
        self.path = path
        #: The files holding the run's records: the trace file, or the kept segments
        #: of a rotated trace, oldest first.
        self.segments: tuple[str, ...] = (path,)
        self._key: int = row[0]
        self.summary = summary
        #: The graph that ran, as FBP JSON.
        self.graph: dict[str, Any] = json.loads(row[11]) or {}
        #: The run's settings.
        self.settings: dict[str, Any] = json.loads(row[12]) or {}
        self.t0_perf_ns: int = row[13]
        self._ports = [
            TracedPort(
                port_id=r[0],
                address=format_address(r[1], r[3], r[4]),
                process=r[1],
                component=r[2],
                port=r[3],
                index=r[4],
                direction=r[5],
                type_name=r[6],
                json_schema=json.loads(r[7]) if r[7] else None,
                targets=tuple(json.loads(r[8])),
            )
            for r in self._con.execute(
                "SELECT port_id, process, component, port, port_index, direction, type_name,"
                " json_schema, targets FROM ports WHERE run = ? ORDER BY port_id",
                (self._key,),
            )
        ]
        self._port_by_id = {p.port_id: p for p in self._ports}
        self._counts: SummaryCounts | None = None
        self._columns: RunColumns | None = None

    @property
    def run_id(self) -> str:
        """The run's id."""
        return self.summary.run_id

    def __repr__(self) -> str:
        s = self.summary
        return f"<TracedRun {s.run_id!r} of {s.graph_name!r}: {s.status}, {s.records} records>"

    def _repr_html_(self) -> str:
        """The run's processes and edges as tables, for notebooks."""
        from .._core._html import html_table

        s = self.summary
        return html_table(
            f"{s.graph_name} (run {s.run_id[:12]}): {s.status}, {s.records:,} records",
            ("process", "component", "IPs sent", "activations"),
            ((p.name, p.component, p.ips_sent, p.activations) for p in self.processes()),
            numeric=2,
        ) + html_table(
            "edges",
            ("edge", "IPs", "brackets", "dropped"),
            ((e.name, e.ips, e.brackets, e.dropped) for e in self.edges()),
            numeric=3,
        )

    # -- the columns ------------------------------------------------------------------

    def columns(self) -> RunColumns:
        """The run's records as columns: read from the file on the first call (every
        record committed by then), then kept. Needs numpy."""
        if self._columns is None:
            from ._chunks import read_columns

            self._columns = read_columns(self._con, self._key, self.path)
        return self._columns

    def frames(self) -> RunFrames:
        """The run as columns ready for vectorised joins (needs pandas).

        Returns:
            A :class:`RunFrames`: ``records`` (one row per record, in write order),
            ``links`` (one row per parent link) and ``ports``, with
            :meth:`RunFrames.payloads` to decode the payloads of chosen ports into
            typed columns.
        """
        from ._frames import run_frames

        return run_frames(self.columns(), self._ports)

    # -- structure ----------------------------------------------------------------------

    def ports(self) -> list[TracedPort]:
        """Every port of the run's network, by port id."""
        return list(self._ports)

    def _stores(self) -> list[tuple[sqlite3.Connection, int, str]]:
        """Where the run's records are, in order: ``(connection, run key, file)`` of
        each file holding some (one, but for a rotated trace)."""
        return [(self._con, self._key, self.path)]

    def _summary_counts(self) -> SummaryCounts:
        """The run's summary counts: those stored with the run (or with each of its
        segments) when it ended, else counted from its columns (see
        :mod:`fbp.tracing._summary`); then kept."""
        if self._counts is None:
            from ._summary import counts_of_columns, merged, read_counts

            cols = self._columns
            if cols is not None:
                self._counts = counts_of_columns(
                    self._ports, cols.kind, cols.port_id, cols.activation, cols.ip_id
                )
            else:
                self._counts = merged(
                    [read_counts(con, key, self._ports) for con, key, _ in self._stores()]
                )
        return self._counts

    def processes(self) -> list[ProcessSummary]:
        """Every process, in the order of its first port, with what it sent."""
        counts = self._summary_counts()
        order: dict[str, list[TracedPort]] = {}
        for p in self._ports:
            order.setdefault(p.process, []).append(p)
        return [
            ProcessSummary(
                name=name,
                component=ports[0].component,
                inports=tuple(p.address for p in ports if p.direction == "in"),
                outports=tuple(p.address for p in ports if p.direction == "out"),
                ips_sent=sum(
                    counts.records.get((p.port_id, 0), 0) for p in ports if p.direction == "out"
                ),
                activations=counts.activations.get(name, 0),
            )
            for name, ports in order.items()
        ]

    def edges(self) -> list[EdgeSummary]:
        """Every edge with the IPs that crossed it, then IIPs as edges from nowhere."""
        summary = self._summary_counts()
        counts, dropped = summary.records, summary.dropped
        by_address = {p.address: p for p in self._ports}
        out: list[EdgeSummary] = []
        for p in self._ports:
            if p.direction != "out":
                continue
            for target in p.targets:
                tgt = by_address.get(target)
                out.append(
                    EdgeSummary(
                        src=p.address,
                        tgt=target,
                        ips=counts.get((p.port_id, 0), 0),
                        brackets=counts.get((p.port_id, 1), 0) + counts.get((p.port_id, 2), 0),
                        dropped=0 if tgt is None else dropped.get((p.port_id, tgt.port_id), 0),
                    )
                )
        for p in self._ports:
            n = counts.get((p.port_id, 3), 0)
            if p.direction == "in" and n:
                out.append(EdgeSummary(src=None, tgt=p.address, ips=n, brackets=0, dropped=0))
        return out

    # -- resolving names ----------------------------------------------------------------

    def _unknown(self, text: str, what: str = "port or edge") -> TraceLookupError:
        names = [p.address for p in self._ports] + [e.name for e in self._static_edges()]
        msg = f"no {what} {text!r} in run {self.run_id!r} of {self.summary.graph_name!r}"
        return TraceLookupError(msg, what=what, name=text, suggestions=suggest(text, names))

    def _static_edges(self) -> Iterator[EdgeSummary]:
        for p in self._ports:
            if p.direction == "out":
                for t in p.targets:
                    yield EdgeSummary(src=p.address, tgt=t, ips=0, brackets=0, dropped=0)

    def _ports_at(self, address: str) -> list[TracedPort]:
        """The ports an address names: exactly, or every element of an array port."""
        exact = [p for p in self._ports if p.address == address]
        if exact:
            return exact
        return [
            p
            for p in self._ports
            if p.index is not None and str(PortAddress(p.process, p.port)) == address
        ]

    def resolve(self, port_or_edge: str) -> tuple[list[int], list[int]]:
        """The ports whose records an address or edge selects.

        Returns:
            ``(sending_port_ids, receiving_port_ids)``: data and brackets are read from
            the sending ports; IIPs and drops from the receiving ones.

        Raises:
            TraceLookupError: nothing in the run has that name.
        """
        edge = parse_edge(port_or_edge)
        if edge is not None:
            srcs = self._ports_at(edge[0])
            tgts = self._ports_at(edge[1])
            tgt_addresses = {t.address for t in tgts}
            senders = [s for s in srcs if s.direction == "out" and tgt_addresses & set(s.targets)]
            if not senders:
                raise self._unknown(port_or_edge, "edge")
            receivers = [t for t in tgts if any(t.address in s.targets for s in senders)]
            return [s.port_id for s in senders], [t.port_id for t in receivers]
        parsed = parse_address(port_or_edge)
        ports = [] if parsed is None else self._ports_at(format_address(*parsed))
        if not ports:
            raise self._unknown(port_or_edge)
        outs = [p.port_id for p in ports if p.direction == "out"]
        ins = [p for p in ports if p.direction == "in"]
        in_addresses = {p.address for p in ins}
        for p in self._ports:
            if p.direction == "out" and in_addresses & set(p.targets):
                outs.append(p.port_id)
        return outs, [p.port_id for p in ins]

    # -- IPs ----------------------------------------------------------------------------

    def select(
        self, port_or_edge: str, *, kind: str = "data", limit: int | None = None
    ) -> npt.NDArray[np.intp]:
        """The positions (in :meth:`columns`) of the records behind :meth:`ips`.

        Raises:
            ValueError: ``kind`` is not a kind name.
            TraceLookupError: nothing in the run has that name.
        """
        import numpy as np

        if kind not in KIND_SETS:
            msg = f"kind must be one of {sorted(KIND_SETS)}, not {kind!r}"
            raise ValueError(msg)
        senders, receivers = self.resolve(port_or_edge)
        kinds = KIND_SETS[kind]
        send_kinds = [k for k in kinds if k in (0, 1, 2, 5)]
        recv_kinds = [k for k in kinds if k in (3, 4)]
        cols = self.columns()
        mask = np.zeros(len(cols), dtype=bool)
        if senders and send_kinds:
            mask |= np.isin(cols.port_id, senders) & np.isin(cols.kind, send_kinds)
        if receivers and recv_kinds:
            mask |= np.isin(cols.port_id, receivers) & np.isin(cols.kind, recv_kinds)
        rows = np.flatnonzero(mask)
        return rows if limit is None else rows[:limit]

    def ips(
        self, port_or_edge: str, *, kind: str = "data", limit: int | None = None
    ) -> pd.DataFrame:
        """The IPs that crossed a port or an edge, as a DataFrame (needs pandas).

        Args:
            port_or_edge: ``proc.OUT``, ``proc.IN[0]`` (every IP sent to it), ``proc.OUT``
                of an array port (all its elements), or ``a.OUT -> b.IN``.
            kind: ``data`` (default), ``open``, ``close``, ``brackets``, ``iip``,
                ``drop``, ``dead`` or ``all``.
            limit: at most this many rows, in send order.

        Returns:
            Columns ``ip_id``, ``activation``, ``t`` (seconds since the run started),
            ``parents`` (tuple of ids), then the payload: one column per field for
            dict and model payloads (nested fields as ``a.b``), else ``value``. A
            ``kind`` column is added when several kinds are selected.

        Raises:
            TraceLookupError: nothing in the run has that name.
        """
        from ._frames import ips_frame

        cols, rows = self._selected(port_or_edge, kind, limit)
        with_kind = len(KIND_SETS[kind]) > 1
        return ips_frame(cols, rows, self.t0_perf_ns, with_kind=with_kind)

    def _selected(
        self, port_or_edge: str, kind: str, limit: int | None
    ) -> tuple[RunColumns, npt.NDArray[np.intp]]:
        """The records of :meth:`select`, as columns and positions in them: the run's
        columns when they are read already, or when a drop or dead-letter marker (whose
        parents are another record's) is asked for; else only the records selected,
        read for this (see :mod:`fbp.tracing._select`)."""
        import numpy as np

        if kind not in KIND_SETS:
            msg = f"kind must be one of {sorted(KIND_SETS)}, not {kind!r}"
            raise ValueError(msg)
        kinds = KIND_SETS[kind]
        if self._columns is not None or {4, 5} & set(kinds):
            return self.columns(), self.select(port_or_edge, kind=kind, limit=limit)
        from ._select import concatenated, read_selected

        senders, receivers = self.resolve(port_or_edge)
        send = (np.asarray(senders, np.int32), np.asarray([k for k in kinds if k <= 2], np.int8))
        recv = (np.asarray(receivers, np.int32), np.asarray([k for k in kinds if k == 3], np.int8))

        def keep(kind: npt.NDArray[np.int8], port: npt.NDArray[np.int32]) -> npt.NDArray[np.bool_]:
            mask = np.zeros(len(kind), dtype=bool)
            for ports, ks in (send, recv):
                if len(ports) and len(ks):
                    mask |= np.isin(port, ports) & np.isin(kind, ks)
            return mask

        parts: list[RunColumns] = []
        for con, key, path in self._stores():
            left = None if limit is None else limit - sum(len(p) for p in parts)
            parts.append(read_selected(con, key, path, keep, left))
        cols = concatenated(parts)
        return cols, np.arange(len(cols))

    def _selected_ips(self, port_or_edge: str, kind: str, limit: int | None) -> list[TracedIP]:
        """The records of :meth:`select` as :class:`TracedIP`, read as :meth:`ips` does."""
        cols, rows = self._selected(port_or_edge, kind, limit)
        return self._traced(rows, cols)

    def _traced(
        self, rows: npt.NDArray[np.intp], cols: RunColumns | None = None
    ) -> list[TracedIP]:
        """The records at ``rows`` (of the run's columns, or of ``cols``) as :class:`TracedIP`."""
        if cols is None:
            cols = self.columns()
        parents = cols.record_parents(rows)
        payloads = cols.payload_values(rows)
        recorded = cols.payload_recorded(rows).tolist()
        t0 = self.t0_perf_ns
        out: list[TracedIP] = []
        get_port = self._port_by_id.get
        for k, (ip_id, kind, port_id, activation, t_ns) in enumerate(
            zip(
                cols.ip_id[rows].tolist(),
                cols.kind[rows].tolist(),
                cols.port_id[rows].tolist(),
                cols.activation[rows].tolist(),
                cols.t_ns[rows].tolist(),
                strict=True,
            )
        ):
            port = get_port(port_id)
            out.append(
                TracedIP(
                    ip_id=ip_id,
                    kind=KIND_NAMES.get(kind, str(kind)),
                    port=port.address if port else f"<port {port_id}>",
                    process=port.process if port else "",
                    port_id=port_id,
                    activation=activation,
                    t=(t_ns - t0) / 1e9,
                    parents=parents[k],
                    payload=payloads[k],
                    payload_recorded=recorded[k],
                )
            )
        return out

    def traced(self, rows: npt.NDArray[np.intp]) -> list[TracedIP]:
        """The records at positions ``rows`` (as :meth:`select` gives them)."""
        return self._traced(rows)

    def records(self) -> Iterator[TracedIP]:
        """Every record of the run, in send order (decoded a block at a time)."""
        import numpy as np

        n = len(self.columns())
        for start in range(0, n, _BLOCK):
            yield from self._traced(np.arange(start, min(start + _BLOCK, n)))

    def _defining_row(self, ip_id: int) -> int | None:
        import numpy as np

        cols = self.columns()
        hits = np.flatnonzero((cols.ip_id == ip_id) & (cols.kind <= DEFINING))
        return int(hits[0]) if len(hits) else None

    def ip(self, ip_id: int) -> TracedIP:
        """One IP by id.

        Raises:
            TraceLookupError: the run has no IP with that id.
        """
        import numpy as np

        row = self._defining_row(ip_id)
        if row is None:
            msg = f"no IP #{ip_id} in run {self.run_id!r}"
            raise TraceLookupError(msg, what="IP", name=str(ip_id))
        return self._traced(np.array([row]))[0]

    def _walk(self, ip_id: int, direction: str) -> tuple[list[TracedIP], tuple[int, ...]]:
        """The IPs reachable from ``ip_id``, and the ids reached that have no record."""
        import numpy as np

        from ._lineage import reachable

        self.ip(ip_id)  # raises for an unknown id
        cols = self.columns()
        found = reachable(cols, [ip_id], up=direction == "up")
        found.discard(ip_id)
        if not found:
            return [], ()
        rows = np.flatnonzero(
            np.isin(cols.ip_id, np.fromiter(found, dtype=np.int64)) & (cols.kind <= DEFINING)
        )
        present, first = np.unique(cols.ip_id[rows], return_index=True)
        missing = tuple(sorted(found.difference(present.tolist())))
        return self._traced(np.sort(rows[first])), missing

    def ancestors(self, ip_id: int) -> list[TracedIP]:
        """Every IP that ``ip_id`` descends from, in send order (those recorded in the
        run: see :attr:`Lineage.missing`)."""
        return self._walk(ip_id, "up")[0]

    def descendants(self, ip_id: int) -> list[TracedIP]:
        """Every IP descending from ``ip_id``, in send order."""
        return self._walk(ip_id, "down")[0]

    def lineage(self, ip_id: int) -> Lineage:
        """An IP with its ancestors and descendants, and the ids of ancestors whose
        records are not in the run (a rotated trace's deleted segments)."""
        ancestors, missing = self._walk(ip_id, "up")
        return Lineage(
            ip=self.ip(ip_id),
            ancestors=tuple(ancestors),
            descendants=tuple(self.descendants(ip_id)),
            missing=missing,
        )

    def roots_of(self, ip_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        """For each IP, the ids of its root ancestors (IPs with no parents).

        An IP without parents is its own root.

        Raises:
            TraceLookupError: some id is not an IP of the run.
        """
        import numpy as np

        from ._lineage import roots_of

        wanted = list(dict.fromkeys(int(i) for i in ip_ids))
        if not wanted:
            return {}
        cols = self.columns()
        known = np.isin(np.array(wanted, dtype=np.int64), cols.ip_id)
        if not known.all():
            missing = [w for w, k in zip(wanted, known.tolist(), strict=True) if not k]
            shown = ", ".join(f"#{i}" for i in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            msg = f"no IP {shown}{more} in run {self.run_id!r}"
            raise TraceLookupError(msg, what="IP", name=str(missing[0]))
        return roots_of(cols, wanted)

    def last_t(self) -> float:
        """Seconds from the start to the last record (0.0 without records)."""
        cols = self.columns()
        return 0.0 if not len(cols) else (int(cols.t_ns[-1]) - self.t0_perf_ns) / 1e9
