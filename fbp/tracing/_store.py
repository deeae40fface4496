"""The SQL side of the trace writer: one connection, used by the writer thread only.

A batch of records is serialised to one JSON text (``[[ip_id, kind, port_id,
activation, t_ns, [parents], payload], ...]``, large payloads apart in a byte string
the rows point into, see :func:`~fbp.tracing._payload.encode_batch`) and stored with
two statements that unpack it inside SQLite (``json_each``), one for ``ips`` and one
for ``links``. Python binds a few parameters per batch, and SQLite runs the
per-record work without the GIL.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from typing import Any

from fbp._core._tracehook import RunInfo, TraceRecord

from ._errors import TraceError
from ._payload import Selection, encode_batch, encode_json

__all__ = ("RunStore",)

if sqlite3.sqlite_version_info >= (3, 38, 0):
    _INSERT_IPS = (
        "INSERT INTO ips (run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT ?2, value->>0, value->>1, value->>2, value->>3, value->>4, value->6"
        " FROM json_each(?1)"
    )
    _INSERT_IPS_SPLIT = (
        "INSERT INTO ips (run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT ?2, value->>0, value->>1, value->>2, value->>3, value->>4,"
        " nullif(CAST(substr(?3, value->>6, value->>7) AS TEXT), '')"
        " FROM json_each(?1)"
    )
    _INSERT_LINKS = (
        "INSERT OR IGNORE INTO links (run, child, parent, ord)"
        " SELECT ?2, r.value->>0, p.value, p.key"
        " FROM json_each(?1) AS r, json_each(r.value, '$[5]') AS p"
    )
else:  # pragma: no cover - SQLite before 3.38 lacks the -> and ->> operators
    _INSERT_IPS = (
        "INSERT INTO ips (run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),"
        " CASE WHEN json_type(value, '$[6]') IS NULL THEN NULL"
        " ELSE json_quote(json_extract(value, '$[6]')) END"
        " FROM json_each(?1)"
    )
    _INSERT_IPS_SPLIT = (
        "INSERT INTO ips (run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT ?2, json_extract(value, '$[0]'), json_extract(value, '$[1]'),"
        " json_extract(value, '$[2]'), json_extract(value, '$[3]'), json_extract(value, '$[4]'),"
        " nullif(CAST(substr(?3, json_extract(value, '$[6]'), json_extract(value, '$[7]'))"
        " AS TEXT), '')"
        " FROM json_each(?1)"
    )
    _INSERT_LINKS = (
        "INSERT OR IGNORE INTO links (run, child, parent, ord)"
        " SELECT ?2, json_extract(r.value, '$[0]'), p.value, p.key"
        " FROM json_each(?1) AS r, json_each(r.value, '$[5]') AS p"
    )

_INSERT_RUN = (
    "INSERT INTO runs (run_id, graph_name, graph, settings, started_ns, t0_perf_ns,"
    " status, first_seq, writer_pid, writer_host)"
    " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)"
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
        self.modes: dict[int, Selection] = {}
        self.run_records = 0
        self.last_seq: int | None = None
        #: Records committed, over every run.
        self.stored = 0
        self.uncommitted = 0
        self.encode_seconds = 0.0
        self.store_seconds = 0.0

    @property
    def in_transaction(self) -> bool:
        """Whether records are waiting for a commit."""
        return self.con.in_transaction

    def start(self, info: RunInfo, modes: dict[int, Selection]) -> None:
        """Store a new run and its ports, committed at once."""
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", (info.run_id,)).fetchone():
                msg = f"run {info.run_id!r} is already in trace {self.path!r}; give it a new id"
                raise TraceError(msg)
            first_seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM ips").fetchone()[0]
            cur = con.execute(
                _INSERT_RUN,
                (
                    info.run_id,
                    info.graph_name,
                    _json(info.graph),
                    _json(info.settings),
                    info.t0_wall_ns,
                    info.t0_perf_ns,
                    first_seq,
                    os.getpid(),
                    socket.gethostname(),
                ),
            )
            run_key = cur.lastrowid
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
        self.modes = modes
        self.run_records = 0
        self.last_seq = None

    def ingest(self, batch: list[TraceRecord], *, behind: bool = False) -> None:
        """Insert a batch of records (in the open transaction, or a new one).

        Args:
            batch: the records.
            behind: more batches are waiting: spend Python time to save SQLite time
                (see :func:`~fbp.tracing._payload.encode_batch`).
        """
        con = self.con
        if not con.in_transaction:
            con.execute("BEGIN")
        t0 = time.perf_counter()
        enc = encode_batch(batch, self.modes, split=behind)
        t1 = time.perf_counter()
        if enc.payloads is None:
            cur = con.execute(_INSERT_IPS, (enc.rows, self.run_key))
        else:
            cur = con.execute(_INSERT_IPS_SPLIT, (enc.rows, self.run_key, enc.payloads))
        self.last_seq = cur.lastrowid
        con.execute(_INSERT_LINKS, (enc.rows, self.run_key))
        self.store_seconds += time.perf_counter() - t1
        self.encode_seconds += t1 - t0
        self.run_records += len(batch)
        self.uncommitted += len(batch)

    def commit(self) -> None:
        """Commit the records inserted so far, with the run's counters."""
        con = self.con
        if not con.in_transaction:
            return
        if self.run_key is not None:
            con.execute(
                "UPDATE runs SET records = ?, last_seq = ? WHERE run = ?",
                (self.run_records, self.last_seq, self.run_key),
            )
        con.execute("COMMIT")
        self.stored += self.uncommitted
        self.uncommitted = 0

    def rollback(self) -> None:
        """Abandon an open transaction."""
        if self.con.in_transaction:
            self.con.execute("ROLLBACK")

    def finish(self, status: str, error: str | None, stats: dict[str, Any], ended_ns: int) -> None:
        """Mark the run ended; the commit is synced to disk before this returns."""
        self.commit()
        con = self.con
        con.execute("PRAGMA synchronous = FULL")
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(
                "UPDATE runs SET status = ?, error = ?, stats = ?, ended_ns = ?, records = ?,"
                " last_seq = ? WHERE run = ?",
                (
                    status,
                    error,
                    _json(stats),
                    ended_ns,
                    self.run_records,
                    self.last_seq,
                    self.run_key,
                ),
            )
            con.execute("COMMIT")  # with synchronous=FULL the WAL is on disk now
        finally:
            con.execute("PRAGMA synchronous = NORMAL")
        self.run_key = None
        self.modes = {}

    def close(self) -> None:
        """Close the connection."""
        self.con.close()
