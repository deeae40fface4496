"""The SQL side of the trace writer: one connection, used by the writer thread only.

During a run, each commit of records arrives serialised to one JSON text (see
:class:`~fbp.tracing._payload.BatchEncoder`) and is appended to ``batches`` with a
single ``INSERT``, committed on its own: SQLite copies the text into pages and a trigger
counts the records in ``runs``, nothing more per record. Unpacking batches into
``ips`` and ``links`` (indexing, :mod:`fbp.tracing._index`) is left for when the
writer has nothing else to do.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from typing import Any

from fbp._core._tracehook import RunInfo

from ._errors import TraceError
from ._index import index_batch, next_batch
from ._payload import encode_json

__all__ = ("RunStore",)

# The next seq: after every indexed record and every batch still to index. Computed
# inside the INSERT, so writers in several processes never hand out a seq twice.
_NEXT_SEQ = (
    "max(coalesce((SELECT max(seq) FROM ips), 0),"
    " coalesce((SELECT seq + n - 1 FROM batches ORDER BY seq DESC LIMIT 1), 0)) + 1"
)
_APPEND = f"INSERT INTO batches (seq, run, n, rows) VALUES ({_NEXT_SEQ}, ?1, ?2, ?3)"
_INSERT_RUN = (
    "INSERT INTO runs (run_id, graph_name, graph, settings, started_ns, t0_perf_ns,"
    " status, first_seq, writer_pid, writer_host)"
    f" VALUES (?, ?, ?, ?, ?, ?, 'running', {_NEXT_SEQ}, ?, ?)"
)
_INSERT_PORT = (
    "INSERT INTO ports (run, port_id, process, component, port, port_index, direction,"
    " type_name, json_schema, targets) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _json(value: Any) -> str:
    return encode_json(value).decode()


class RunStore:
    """Stores runs and their records through one SQLite connection."""

    def __init__(self, con: sqlite3.Connection, path: str) -> None:
        self.con = con
        self.path = path
        self.run_key: int | None = None
        #: Batches this store appended and has not seen indexed, by run.
        self.unindexed: dict[int, int] = {}
        #: Records committed, over every run.
        self.stored = 0
        #: Records this store indexed, over every run.
        self.indexed = 0
        self.store_seconds = 0.0
        self.index_seconds = 0.0

    def start(self, info: RunInfo) -> None:
        """Store a new run and its ports, committed at once."""
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (info.run_id,)).fetchone():
                msg = f"run {info.run_id!r} is already in trace {self.path!r}; give it a new id"
                raise TraceError(msg)
            cur = con.execute(
                _INSERT_RUN,
                (
                    info.run_id,
                    info.graph_name,
                    _json(info.graph),
                    _json(info.settings),
                    info.t0_wall_ns,
                    info.t0_perf_ns,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            run_key = cur.lastrowid
            assert run_key is not None
            con.executemany(
                _INSERT_PORT,
                [
                    (
                        run_key,
                        port_id,
                        p.process,
                        p.component,
                        p.port,
                        p.index,
                        p.direction,
                        p.type_name,
                        None if p.json_schema is None else _json(p.json_schema),
                        _json(list(p.targets)),
                    )
                    for port_id, p in enumerate(info.ports)
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.run_key = run_key

    def append(self, n: int, rows: str) -> None:
        """Append ``n`` records, serialised as one JSON array, committed on return."""
        t0 = time.perf_counter()
        self.con.execute(_APPEND, (self.run_key, n, rows))
        run = self.run_key
        assert run is not None
        self.unindexed[run] = self.unindexed.get(run, 0) + 1
        self.store_seconds += time.perf_counter() - t0
        self.stored += n

    def finish(self, status: str, error: str | None, stats: dict[str, Any], ended_ns: int) -> None:
        """Mark the run ended; the commit is synced to disk before this returns."""
        self.con.execute(  # committed and synced (synchronous=FULL)
            "UPDATE runs SET status = ?, error = ?, stats = ?, ended_ns = ? WHERE run = ?",
            (status, error, _json(stats), ended_ns, self.run_key),
        )
        self.run_key = None

    def has_unindexed(self, *, current: bool) -> bool:
        """Whether some batch this store appended may still need indexing.

        Args:
            current: count the run in progress too.
        """
        return any(current or run != self.run_key for run in self.unindexed)

    def index_some(self, *, current: bool) -> None:
        """Index one batch this store appended (of the run in progress only if
        ``current``), or learn that someone else indexed them."""
        for run, count in self.unindexed.items():
            if run == self.run_key and not current:
                continue
            seq = next_batch(self.con, run)
            if seq is None or count <= 1:
                del self.unindexed[run]
            else:
                self.unindexed[run] = count - 1
            if seq is not None:
                t0 = time.perf_counter()
                self.indexed += index_batch(self.con, seq)
                self.index_seconds += time.perf_counter() - t0
            return

    def close(self) -> None:
        """Close the connection."""
        self.con.close()
