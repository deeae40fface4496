"""One run of a trace: :class:`TracedRun` and its queries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ._address import format_address, parse_address, parse_edge
from ._errors import TraceLookupError, suggest
from ._lineage import roots_of, walk_sql
from ._records import EdgeSummary, Lineage, ProcessSummary, RunSummary, TracedIP, TracedPort
from ._schema import KIND_CODES, KIND_NAMES

if TYPE_CHECKING:
    import sqlite3

    import pandas as pd

    from ._columns import RunColumns
    from ._frames import RunFrames

__all__ = ("IPRow", "TracedRun", "parse_parents")

_DEFINING = "(0, 1, 2, 3)"  # kinds that introduce an IP (not drop/dead markers)

#: A row of ips with its parents: ip_id, kind, port_id, activation, t_ns, payload, parents.
IPRow = tuple[int, int, int, int, int, str | None, str | None]

SELECT_IP = (
    "SELECT i.ip_id, i.kind, i.port_id, i.activation, i.t_ns, i.payload,"
    " (SELECT group_concat(parent) FROM (SELECT l.parent FROM links AS l"
    "  WHERE l.run = i.run AND l.child = i.ip_id ORDER BY l.ord))"
)

_KIND_SETS: dict[str, tuple[int, ...]] = {
    **{name: (code,) for name, code in KIND_CODES.items()},
    "brackets": (1, 2),
    "all": tuple(KIND_NAMES),
}


def parse_parents(text: str | None) -> tuple[int, ...]:
    """Parse the comma-separated parent ids of a query row."""
    return tuple(int(p) for p in text.split(",")) if text else ()


class TracedRun:
    """One run of a trace: its ports, processes, edges and IPs."""

    def __init__(self, con: sqlite3.Connection, summary: RunSummary, row: tuple[Any, ...]) -> None:
        self._con = con
        self._key: int = row[0]
        self.summary = summary
        #: The graph that ran, as FBP JSON.
        self.graph: dict[str, Any] = json.loads(row[11]) or {}
        #: The run's settings.
        self.settings: dict[str, Any] = json.loads(row[12]) or {}
        self.t0_perf_ns: int = row[13]
        self._first_seq: int = row[14]
        self._last_seq: int = row[15] if row[15] is not None else row[14] - 1
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
        self._counts: dict[tuple[int, int], int] | None = None
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

    # -- structure ----------------------------------------------------------------------

    def ports(self) -> list[TracedPort]:
        """Every port of the run's network, by port id."""
        return list(self._ports)

    def _kind_counts(self) -> dict[tuple[int, int], int]:
        """Records per (port_id, kind), counted once."""
        if self._counts is None:
            rows = self._con.execute(
                "SELECT port_id, kind, count(*) FROM ips WHERE run = ? AND seq BETWEEN ? AND ?"
                " GROUP BY port_id, kind",
                (self._key, self._first_seq, self._last_seq),
            )
            self._counts = {(p, k): n for p, k, n in rows}
        return self._counts

    def processes(self) -> list[ProcessSummary]:
        """Every process, in the order of its first port, with what it sent."""
        counts = self._kind_counts()
        activations = dict(
            self._con.execute(
                "SELECT p.process, count(DISTINCT i.activation) FROM ips AS i"
                " JOIN ports AS p ON p.run = i.run AND p.port_id = i.port_id"
                " WHERE i.run = ? AND i.seq BETWEEN ? AND ? AND i.kind IN (0, 1, 2)"
                " GROUP BY p.process",
                (self._key, self._first_seq, self._last_seq),
            ).fetchall()
        )
        order: dict[str, list[TracedPort]] = {}
        for p in self._ports:
            order.setdefault(p.process, []).append(p)
        return [
            ProcessSummary(
                name=name,
                component=ports[0].component,
                inports=tuple(p.address for p in ports if p.direction == "in"),
                outports=tuple(p.address for p in ports if p.direction == "out"),
                ips_sent=sum(counts.get((p.port_id, 0), 0) for p in ports if p.direction == "out"),
                activations=activations.get(name, 0),
            )
            for name, ports in order.items()
        ]

    def edges(self) -> list[EdgeSummary]:
        """Every edge with the IPs that crossed it, then IIPs as edges from nowhere."""
        counts = self._kind_counts()
        dropped: dict[tuple[int, int], int] = {
            (src, tgt): n
            for src, tgt, n in self._con.execute(
                "SELECT s.port_id, d.port_id, count(*) FROM ips AS d"
                " JOIN ips AS s ON s.run = d.run AND s.ip_id = d.ip_id AND s.kind IN (0, 1, 2)"
                " WHERE d.run = ? AND d.seq BETWEEN ? AND ? AND d.kind = 4"
                " GROUP BY s.port_id, d.port_id",
                (self._key, self._first_seq, self._last_seq),
            )
        }
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
            if p.index is not None and f"{p.process}.{p.port.upper()}" == address
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

    def _select(self, where: str, params: Iterable[Any], limit: int | None = None) -> list[IPRow]:
        sql = f"{SELECT_IP} FROM ips AS i WHERE i.run = ? AND i.seq BETWEEN ? AND ? AND {where}"
        sql += " ORDER BY i.seq"
        args: list[Any] = [self._key, self._first_seq, self._last_seq, *params]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return self._con.execute(sql, args).fetchall()

    def rows(
        self, port_or_edge: str, *, kind: str = "data", limit: int | None = None
    ) -> list[IPRow]:
        """The raw rows behind :meth:`ips` (see ``IPRow``)."""
        if kind not in _KIND_SETS:
            msg = f"kind must be one of {sorted(_KIND_SETS)}, not {kind!r}"
            raise ValueError(msg)
        senders, receivers = self.resolve(port_or_edge)
        kinds = _KIND_SETS[kind]
        send_kinds = [k for k in kinds if k in (0, 1, 2, 5)]
        recv_kinds = [k for k in kinds if k in (3, 4)]
        clauses: list[str] = []
        params: list[int] = []
        if senders and send_kinds:
            clauses.append(
                f"(i.port_id IN ({_marks(senders)}) AND i.kind IN ({_marks(send_kinds)}))"
            )
            params += senders + send_kinds
        if receivers and recv_kinds:
            clauses.append(
                f"(i.port_id IN ({_marks(receivers)}) AND i.kind IN ({_marks(recv_kinds)}))"
            )
            params += receivers + recv_kinds
        if not clauses:
            return []
        return self._select("(" + " OR ".join(clauses) + ")", params, limit)

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

        rows = self.rows(port_or_edge, kind=kind, limit=limit)
        return ips_frame(rows, self.t0_perf_ns, with_kind=len(_KIND_SETS[kind]) > 1)

    def columns(self) -> RunColumns:
        """The run's records as columns (read once, then kept)."""
        if self._columns is None:
            from ._columns import from_sqlite_rows

            rows = self._con.execute(
                "SELECT ip_id, kind, port_id, activation, t_ns, payload FROM ips"
                " WHERE run = ? AND seq BETWEEN ? AND ? ORDER BY seq",
                (self._key, self._first_seq, self._last_seq),
            ).fetchall()
            links = self._con.execute(
                "SELECT child, parent, ord FROM links WHERE run = ? ORDER BY child, ord",
                (self._key,),
            ).fetchall()
            self._columns = from_sqlite_rows(rows, links)
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

    def _traced(self, row: IPRow) -> TracedIP:
        ip_id, kind, port_id, activation, t_ns, payload, parents = row
        port = self._port_by_id.get(port_id)
        return TracedIP(
            ip_id=ip_id,
            kind=KIND_NAMES.get(kind, str(kind)),
            port=port.address if port else f"<port {port_id}>",
            process=port.process if port else "",
            port_id=port_id,
            activation=activation,
            t=(t_ns - self.t0_perf_ns) / 1e9,
            parents=parse_parents(parents),
            payload=None if payload is None else json.loads(payload),
            payload_recorded=payload is not None,
        )

    def records(self) -> Iterator[TracedIP]:
        """Every record of the run, in send order (streamed)."""
        cur = self._con.execute(
            f"{SELECT_IP} FROM ips AS i WHERE i.run = ? AND i.seq BETWEEN ? AND ? ORDER BY i.seq",
            (self._key, self._first_seq, self._last_seq),
        )
        for row in cur:
            yield self._traced(row)

    def ip(self, ip_id: int) -> TracedIP:
        """One IP by id.

        Raises:
            TraceLookupError: the run has no IP with that id.
        """
        row = self._con.execute(
            f"{SELECT_IP} FROM ips AS i WHERE i.run = ? AND i.ip_id = ? AND i.kind IN {_DEFINING}"
            " ORDER BY i.seq LIMIT 1",
            (self._key, ip_id),
        ).fetchone()
        if row is None:
            msg = f"no IP #{ip_id} in run {self.run_id!r}"
            raise TraceLookupError(msg, what="IP", name=str(ip_id))
        return self._traced(row)

    def _walk(self, ip_id: int, direction: str) -> list[TracedIP]:
        self.ip(ip_id)  # raises for an unknown id
        seen: set[int] = set()
        out: list[TracedIP] = []
        for row in self._con.execute(walk_sql(direction, SELECT_IP), (self._key, ip_id)):
            if row[0] not in seen:  # an IP recorded twice (dead letters) is listed once
                seen.add(row[0])
                out.append(self._traced(row))
        return out

    def ancestors(self, ip_id: int) -> list[TracedIP]:
        """Every IP that ``ip_id`` descends from, in send order."""
        return self._walk(ip_id, "up")

    def descendants(self, ip_id: int) -> list[TracedIP]:
        """Every IP descending from ``ip_id``, in send order."""
        return self._walk(ip_id, "down")

    def lineage(self, ip_id: int) -> Lineage:
        """An IP with its ancestors and descendants."""
        return Lineage(
            ip=self.ip(ip_id),
            ancestors=tuple(self.ancestors(ip_id)),
            descendants=tuple(self.descendants(ip_id)),
        )

    def roots_of(self, ip_ids: Iterable[int]) -> dict[int, tuple[int, ...]]:
        """For each IP, the ids of its root ancestors (IPs with no parents).

        An IP without parents is its own root. One SQL query walks every lineage.

        Raises:
            TraceLookupError: some id is not an IP of the run.
        """
        wanted = list(dict.fromkeys(int(i) for i in ip_ids))
        if not wanted:
            return {}
        found = {
            r[0]
            for r in self._con.execute(
                "SELECT DISTINCT i.ip_id FROM json_each(?2) AS s"
                " CROSS JOIN ips AS i ON i.run = ?1 AND i.ip_id = s.value",
                (self._key, json.dumps(wanted)),
            )
        }
        if len(found) < len(wanted):
            missing = [i for i in wanted if i not in found]
            shown = ", ".join(f"#{i}" for i in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            msg = f"no IP {shown}{more} in run {self.run_id!r}"
            raise TraceLookupError(msg, what="IP", name=str(missing[0]))
        return roots_of(self._con, self._key, wanted, records=self.summary.records)

    def last_t(self) -> float:
        """Seconds from the start to the last record (0.0 without records)."""
        row = self._con.execute(
            "SELECT t_ns FROM ips WHERE seq = (SELECT max(seq) FROM ips WHERE run = ?"
            " AND seq BETWEEN ? AND ?)",
            (self._key, self._first_seq, self._last_seq),
        ).fetchone()
        return 0.0 if row is None else (row[0] - self.t0_perf_ns) / 1e9


def _marks(values: list[int]) -> str:
    return ", ".join("?" * len(values))
