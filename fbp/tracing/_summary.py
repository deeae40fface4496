"""A run's summary counts: what ``trace summary``, ``processes()`` and ``edges()`` show.

Three small tables of numbers, whatever the size of the run: the records of each kind
on each port, the activations of each process that sent something, and the drop
markers of each edge. The writer's thread counts them chunk by chunk as it stores the
records (:class:`SummaryCounter`) and stores them with the run when it ends, in the
``summaries`` table, so that a summary reads kilobytes and needs neither numpy nor the
records. A run without stored counts (a crashed run, one still being written, a
converted one) is counted from its ``kind``, ``port_id`` and ``activation`` columns
only (:func:`read_counts`), never its parents or payloads.

Activations are counted as the runtime makes them: a process runs one activation at
a time and numbers them in increasing order, so the distinct activations among a
process's records are the changes of activation along them. A counter that meets a
decreasing activation, or a drop on a port fed by several output ports (whose sender
only the records tell), stores nothing, and the run is counted from its columns.

A rotated trace stores a run in several segments, each with its own counts: they add
up (:func:`merged`), less one activation of a process wherever its last activation in
a segment is its first in the next (``spans``).
"""

from __future__ import annotations

import json
import sqlite3
import sys
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fbp._core._tracehook import PortInfo

from ._address import format_address

if TYPE_CHECKING:
    from ._columns import RunColumns

__all__ = (
    "SummaryCounter",
    "SummaryCounts",
    "counts_of_columns",
    "merged",
    "read_counts",
    "stored_counts",
)

# The kinds of records a process sends (data, open, close) and the drop marker.
_SENT_MAX = 2
_DROP = 4


@dataclass
class SummaryCounts:
    """The counts of one run (see the module docstring)."""

    #: Records per ``(port_id, kind)``.
    records: dict[tuple[int, int], int] = field(default_factory=dict)
    #: Activations that sent at least one record (data or bracket), per process.
    activations: dict[str, int] = field(default_factory=dict)
    #: Drop markers per ``(sending port_id, dropping port_id)``.
    dropped: dict[tuple[int, int], int] = field(default_factory=dict)
    #: The first and the last activation of each process that sent something.
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The counts as the JSON text stored in ``summaries.counts``."""
        return json.dumps(
            {
                "records": [[p, k, n] for (p, k), n in sorted(self.records.items())],
                "activations": self.activations,
                "dropped": [[s, t, n] for (s, t), n in sorted(self.dropped.items())],
                "spans": {k: list(v) for k, v in self.spans.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SummaryCounts:
        """Counts from the JSON text of :meth:`to_json`."""
        data = json.loads(text)
        return cls(
            records={(int(p), int(k)): int(n) for p, k, n in data["records"]},
            activations={str(k): int(n) for k, n in data["activations"].items()},
            dropped={(int(s), int(t)): int(n) for s, t, n in data["dropped"]},
            spans={str(k): (int(a), int(b)) for k, (a, b) in data["spans"].items()},
        )


def _process_codes(ports: Sequence[PortInfo]) -> tuple[list[str], list[int]]:
    """The processes in the order of their first port, and each port's process code."""
    names = list(dict.fromkeys(p.process for p in ports))
    code = {name: k for k, name in enumerate(names)}
    return names, [code[p.process] for p in ports]


def _sole_senders(ports: Sequence[PortInfo]) -> dict[int, int]:
    """For each input port that exactly one output port feeds, that output port."""
    by_address = {format_address(p.process, p.port, p.index): i for i, p in enumerate(ports)}
    senders: dict[int, list[int]] = {}
    for i, p in enumerate(ports):
        if p.direction == "out":
            for target in p.targets:
                tgt = by_address.get(target)
                if tgt is not None:
                    senders.setdefault(tgt, []).append(i)
    return {tgt: srcs[0] for tgt, srcs in senders.items() if len(srcs) == 1}


def _count_python(
    kind: bytes,
    port_id: bytes,
    activation: bytes,
    proc_of_port: array[int],
    records: array[int],
    activations: array[int],
    first: array[int],
    last: array[int],
    drops: array[int],
) -> bool:
    """A chunk's counts added to the counter's arrays (``fbp.tracing._split.count`` in
    Python, where it is not built; see there). False when the chunk breaks what the
    counts rest on."""
    ports = array("i", port_id)
    acts = array("q", activation)
    if sys.byteorder == "big":  # pragma: no cover - the columns are little-endian
        ports.byteswap()
        acts.byteswap()
    n_ports, n_procs = len(proc_of_port), len(activations)
    for k, p, a in zip(kind, ports, acts, strict=True):
        if k > 7 or not 0 <= p < n_ports:  # (a negative kind reads as > 127)
            return False
        records[p * 8 + k] += 1
        if k <= _SENT_MAX:
            proc = proc_of_port[p]
            if not 0 <= proc < n_procs:
                return False
            if a != last[proc]:
                if a < last[proc]:
                    return False
                if last[proc] < 0:
                    first[proc] = a
                last[proc] = a
                activations[proc] += 1
        elif k == _DROP:
            drops[p] += 1
    return True


def _counter() -> Any:
    from fbp._core._compiled import load

    module: Any = load("fbp.tracing._split")
    return _count_python if module is None else module.count


class SummaryCounter:
    """Counts a run's records chunk by chunk, in write order (the writer's thread).

    The counts live in flat arrays (records per ``port * 8 + kind``; activations, first
    and last activation per process; drop markers per port) that
    ``fbp.tracing._split.count`` adds each chunk to in C, in a fraction of a millisecond
    and without numpy.
    """

    def __init__(self, ports: Sequence[PortInfo]) -> None:
        self._names, codes = _process_codes(ports)
        self._proc_of_port = array("i", codes)
        self._sole_sender = _sole_senders(ports)
        n_ports, n_procs = len(ports), len(self._names)
        self._records = array("q", bytes(8 * 8 * n_ports))
        self._activations = array("q", bytes(8 * n_procs))
        self._first = array("q", [-1]) * n_procs  # each process's first activation seen
        self._last = array("q", [-1]) * n_procs  # and its last (-1: none yet)
        self._drops = array("q", bytes(8 * n_ports))
        self._count = _counter()
        #: False once the chunks break an assumption the counts rest on.
        self.exact = True

    def add(self, n: int, kind: bytes, port_id: bytes, activation: bytes) -> None:
        """Count a chunk of ``n`` records from its (little-endian) column BLOBs."""
        if not self.exact or not n:
            return
        self.exact = self._count(
            kind,
            port_id,
            activation,
            self._proc_of_port,
            self._records,
            self._activations,
            self._first,
            self._last,
            self._drops,
        )

    def counts(self) -> SummaryCounts | None:
        """The counts so far; None when they could not be counted exactly."""
        if not self.exact:
            return None
        dropped: dict[tuple[int, int], int] = {}
        for port, n in enumerate(self._drops):
            if n:
                sender = self._sole_sender.get(port)
                if sender is None:  # several output ports feed it: the records tell
                    return None
                dropped[(sender, port)] = n
        return SummaryCounts(
            records={(k // 8, k % 8): n for k, n in enumerate(self._records) if n},
            activations=dict(zip(self._names, self._activations, strict=True)),
            dropped=dropped,
            spans={
                name: (self._first[k], self._last[k])
                for k, name in enumerate(self._names)
                if self._last[k] >= 0
            },
        )


def merged(parts: Sequence[SummaryCounts]) -> SummaryCounts:
    """The counts of a run stored in several parts (the segments of a rotated trace,
    in order): their sums, less one activation of a process wherever it goes on from
    one part into the next."""
    if len(parts) == 1:
        return parts[0]
    out = SummaryCounts()
    for part in parts:
        for pk, n in part.records.items():
            out.records[pk] = out.records.get(pk, 0) + n
        for st, n in part.dropped.items():
            out.dropped[st] = out.dropped.get(st, 0) + n
        for proc, n in part.activations.items():
            out.activations[proc] = out.activations.get(proc, 0) + n
            span = part.spans.get(proc)
            if span is None:
                continue
            before = out.spans.get(proc)
            if before is not None and before[1] == span[0]:
                out.activations[proc] -= 1
            out.spans[proc] = (span[0] if before is None else before[0], span[1])
    return out


def stored_counts(con: sqlite3.Connection, run: int) -> SummaryCounts | None:
    """The counts stored with a run when it ended; None if there are none."""
    try:
        row = con.execute("SELECT counts FROM summaries WHERE run = ?", (run,)).fetchone()
    except sqlite3.OperationalError:  # a file written before summaries were stored
        return None
    return None if row is None else SummaryCounts.from_json(row[0])


def counts_of_columns(
    ports: Sequence[PortInfo],
    kind: Any,
    port_id: Any,
    activation: Any,
    ip_id: Any = None,
) -> SummaryCounts:
    """The counts of a run's records from its columns (numpy arrays, in write order).

    ``ip_id`` is needed only when the run has drop markers, to find their senders.
    """
    import numpy as np

    names, proc_codes = _process_codes(ports)
    kind = np.asarray(kind)
    port_id = np.asarray(port_id, dtype=np.int64)
    key = port_id * 8 + kind
    counts = np.bincount(key) if len(key) else np.zeros(0, dtype=np.int64)
    records = {(k // 8, k % 8): int(counts[k]) for k in np.flatnonzero(counts).tolist()}
    proc_of_port = np.array(proc_codes or [0], dtype=np.int64)
    sent = kind <= _SENT_MAX
    procs = proc_of_port[port_id[sent]]
    distinct = np.unique(np.asarray(activation)[sent] * max(len(names), 1) + procs)
    per_proc = np.bincount(distinct % max(len(names), 1), minlength=len(names))
    activations = {name: int(per_proc[k]) for k, name in enumerate(names)}
    acts = np.asarray(activation)[sent]
    seen, first_at = np.unique(procs, return_index=True)
    last_at = len(procs) - 1 - np.unique(procs[::-1], return_index=True)[1]
    spans = {
        names[p]: (int(acts[a]), int(acts[b]))
        for p, a, b in zip(seen.tolist(), first_at.tolist(), last_at.tolist(), strict=True)
    }
    dropped: dict[tuple[int, int], int] = {}
    drops = np.flatnonzero(kind == _DROP)
    sole = _sole_senders(ports)
    if len(drops):  # a drop on a port one output port feeds is from that port
        direct = np.isin(port_id[drops], np.fromiter(sole, dtype=np.int64, count=len(sole)))
        for t, c in zip(*np.unique(port_id[drops[direct]], return_counts=True), strict=True):
            dropped[(sole[int(t)], int(t))] = int(c)
        drops = drops[~direct]
    if len(drops) and ip_id is not None:
        ip_id = np.asarray(ip_id)
        sent_rows = np.flatnonzero(sent)
        ids = ip_id[sent_rows]
        order = np.argsort(ids, kind="stable")
        sorted_ids = ids[order]
        pos = np.searchsorted(sorted_ids, ip_id[drops])
        found = (pos < len(sorted_ids)) & (
            sorted_ids[np.minimum(pos, max(len(ids) - 1, 0))] == ip_id[drops]
            if len(ids)
            else np.zeros(len(drops), dtype=bool)
        )
        src = port_id[sent_rows[order[pos[found]]]]
        tgt = port_id[drops[found]]
        for s, t in zip(src.tolist(), tgt.tolist(), strict=True):
            dropped[(s, t)] = dropped.get((s, t), 0) + 1
    return SummaryCounts(records=records, activations=activations, dropped=dropped, spans=spans)


def read_counts(
    con: sqlite3.Connection, run: int, ports: Sequence[PortInfo], columns: RunColumns | None = None
) -> SummaryCounts:
    """A run's counts: stored, else from the columns given, else from the ``kind``,
    ``port_id`` and ``activation`` columns of its chunks (and ``ip_id`` when it has
    drop markers), read for this."""
    stored = stored_counts(con, run)
    if stored is not None:
        return stored
    if columns is not None:
        return counts_of_columns(
            ports, columns.kind, columns.port_id, columns.activation, columns.ip_id
        )
    import numpy as np

    rows = con.execute(
        "SELECT kind, port_id, activation FROM chunks WHERE run = ? ORDER BY seq", (run,)
    ).fetchall()
    if not rows:
        return counts_of_columns(ports, np.zeros(0, "i1"), np.zeros(0, "i4"), np.zeros(0, "i8"))
    kind = np.frombuffer(b"".join(r[0] for r in rows), dtype="i1")
    port_id = np.frombuffer(b"".join(r[1] for r in rows), dtype="<i4")
    activation = np.frombuffer(b"".join(r[2] for r in rows), dtype="<i8")
    ip_id = None
    if bool((kind == _DROP).any()):
        ids = con.execute(
            "SELECT ip_id FROM chunks WHERE run = ? ORDER BY seq LIMIT ?", (run, len(rows))
        ).fetchall()
        ip_id = np.frombuffer(b"".join(r[0] for r in ids), dtype="<i8")
    return counts_of_columns(ports, kind, port_id, activation, ip_id)
