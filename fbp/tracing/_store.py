"""The SQL side of the trace writer: one connection, used by the writer thread only.

During a run, each commit of records arrives serialised to one JSON text (see
:class:`~fbp.tracing._payload.BatchEncoder`). :meth:`RunStore.append` splits it into
columns (:func:`fbp.tracing._chunks.split`, in C without the GIL) and inserts them as
one ``chunks`` row with a single ``INSERT``, committed on its own; a trigger counts the
records in ``runs``. Nothing else happens per record, and nothing is left to do once
the run ends: its chunks are what readers read.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from typing import Any

from fbp._core._tracehook import RunInfo

from ._chunks import COLUMNS, Chunk, split
from ._errors import TraceError
from ._payload import encode_json
from ._summary import SummaryCounter

__all__ = ("RunStore",)

_APPEND = (
    f"INSERT INTO chunks (run, n, {', '.join(COLUMNS)})"
    f" VALUES (?, {', '.join('?' * (len(COLUMNS) + 1))})"
)
_INSERT_RUN = (
    "INSERT INTO runs (run_id, graph_name, graph, settings, started_ns, t0_perf_ns,"
    " status, writer_pid, writer_host)"
    " VALUES (?, ?, ?, ?, ?, ?, 'running', ?, ?)"
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
        #: Records committed, over every run.
        self.stored = 0
        #: Seconds spent splitting commits into columns and inserting them.
        self.store_seconds = 0.0
        self._counter: SummaryCounter | None = None

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
        self._counter = SummaryCounter(info.ports)

    def append(self, n: int, text: bytes | bytearray) -> None:
        """Append ``n`` records, serialised as one JSON array, committed on return."""
        t0 = time.perf_counter()
        chunk = split(text)
        if chunk[0] != n:
            msg = f"a commit of {n} records split into {chunk[0]}"
            raise TraceError(msg)
        self.insert(chunk)
        self.store_seconds += time.perf_counter() - t0
        self.stored += n

    def insert(self, chunk: Chunk) -> None:
        """Insert a chunk of the run in progress, committed on return."""
        self.con.execute(_APPEND, (self.run_key, *chunk))
        if self._counter is not None:
            self._counter.add(chunk[0], chunk[2], chunk[3], chunk[4])  # kind, port, activation

    def copy(self, chunk: Chunk) -> None:
        """Append a chunk made elsewhere (records copied from another run)."""
        t0 = time.perf_counter()
        self.insert(chunk)
        self.store_seconds += time.perf_counter() - t0
        self.stored += chunk[0]

    def finish(self, status: str, error: str | None, stats: dict[str, Any], ended_ns: int) -> None:
        """Mark the run ended, with its summary counts; the commit is synced to disk
        before this returns."""
        counts = None if self._counter is None else self._counter.counts()
        con = self.con
        con.execute("BEGIN IMMEDIATE")
        try:
            con.execute(
                "UPDATE runs SET status = ?, error = ?, stats = ?, ended_ns = ? WHERE run = ?",
                (status, error, _json(stats), ended_ns, self.run_key),
            )
            if counts is not None:
                con.execute(
                    "INSERT INTO summaries (run, counts) VALUES (?, ?)",
                    (self.run_key, counts.to_json()),
                )
            con.execute("COMMIT")  # synced (synchronous=FULL)
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self.run_key = None
        self._counter = None

    def close(self) -> None:
        """Close the connection."""
        self.con.close()
