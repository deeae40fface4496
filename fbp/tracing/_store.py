"""The SQL side of the trace writer: one connection, used by the writer thread only.

During a run, each commit of records arrives serialised to one JSON text (see
:class:`~fbp.tracing._payload.BatchEncoder`). :meth:`RunStore.append` splits it into
columns (:func:`fbp.tracing._chunks.split`, in C without the GIL) and inserts them as
one ``chunks`` row with a single ``INSERT``, committed on its own; a trigger counts the
records in ``runs``. Nothing else happens per record, and nothing is left to do once
the run ends: its chunks are what readers read.

SQLite copies a WAL's pages into the file (a checkpoint) in the thread that commits,
once the WAL holds some megabytes: a stall of 10-20 ms in the writer's thread, during
which the event loop's next hand-over waits. The writer's connections leave that to a
:class:`_Checkpointer` instead, a thread with its own connection, which copies what was
committed while the writer goes on appending (a PASSIVE checkpoint, concurrent with
the writer and with readers). The last connection to close does the final one.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from typing import Any, Final

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


#: Bytes of chunks committed before the WAL is checkpointed (SQLite's own default is
#: a thousand pages, 16 MiB at the trace files' page size).
CHECKPOINT_BYTES: Final = 16 << 20
#: The WAL holds at most this many times CHECKPOINT_BYTES of chunks: beyond, the
#: writer's thread checkpoints itself.
_WAL_BOUND: Final = 4
#: Checkpoints at most in a row, each copying what the writer appended during the one
#: before (a few suffice: each is shorter than the one before).
_ROUNDS: Final = 50


def _json(value: Any) -> str:
    return encode_json(value).decode()


class _Checkpointer:
    """Checkpoints a trace file's WAL in a thread of its own, when asked (:meth:`due`).

    A PASSIVE checkpoint copies the frames committed so far without waiting for the
    writer or readers; the writer goes on appending meanwhile. The writer starts the
    WAL over only at a transaction that begins once a checkpoint has copied all of it,
    so the checkpointer repeats while the writer appended during its last round, and
    the writer's thread then copies the frames appended during that round itself (a
    commit or two: :attr:`caught_up`, :meth:`finish`). Should the checkpointer fall
    behind (a busy machine), the writer's thread does the same once the WAL holds
    ``_WAL_BOUND`` times :data:`CHECKPOINT_BYTES`: a bound, not the usual path.
    Measured on 1.2M-record runs: the WAL stays at 18-20 MiB, where checkpoints
    copying only what was there when they began let it grow to the size of the whole
    trace. Should a checkpoint fail (the file's folder gone, a disk error),
    :attr:`failed` says so and the store checkpoints in its own thread from then on,
    as SQLite would.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.failed: BaseException | None = None
        #: The last checkpoint asked for is done: what is left in the WAL is what the
        #: writer appended meanwhile.
        self.caught_up = False
        self._due = threading.Event()
        self._closing = False
        # Held while this thread checkpoints: two checkpoints cannot run at once (the
        # second returns at once, copying nothing); _hold asks the rounds to stop.
        self._lock = threading.Lock()
        self._hold = False
        self._thread = threading.Thread(
            target=self._main, name=f"fbp-trace-checkpoint {path}", daemon=True
        )
        self._thread.start()

    def due(self) -> None:
        """Checkpoint soon (at once if the thread is idle)."""
        self._due.set()

    def finish(self, con: sqlite3.Connection) -> bool:
        """Copy the rest of the WAL through ``con`` (the writer's connection, between
        its transactions), the thread's rounds stopped meanwhile; whether all of it
        was copied (the writer's next transaction then starts the WAL over)."""
        self.caught_up = False
        self._hold = True
        try:
            with self._lock:
                busy, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
        finally:
            self._hold = False
        return not busy and copied >= frames

    def close(self) -> None:
        """Stop the thread, after the checkpoint it is doing."""
        self._closing = True
        self._due.set()
        self._thread.join()

    def _main(self) -> None:
        try:
            con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            self.failed = exc
            return
        try:
            while True:
                self._due.wait()
                self._due.clear()
                if self._closing:
                    return
                # Again while the writer appended during the last one, so that what
                # is left for the writer's thread (finish) is short.
                last = -1
                with self._lock:
                    for _ in range(_ROUNDS):
                        if self._hold or self._closing:
                            break
                        _, frames, _ = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
                        if frames <= last:
                            break
                        last = frames
                self.caught_up = True
        except sqlite3.Error as exc:
            self.failed = exc
        finally:
            con.close()


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
        #: Bytes committed since the last checkpoint was asked for.
        self._unchecked = 0
        #: Bytes committed since a checkpoint copied the whole WAL (so that the next
        #: transaction started it over).
        self._unrestarted = 0
        self._checkpointer: _Checkpointer | None = None

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
        size = sum(len(column) for column in chunk[1:])
        self._unchecked += size
        self._unrestarted += size
        cp = self._checkpointer
        if (
            cp is not None
            and cp.failed is None
            and (cp.caught_up or self._unrestarted >= _WAL_BOUND * CHECKPOINT_BYTES)
            and cp.finish(self.con)
        ):
            self._unrestarted = 0
        if self._unchecked >= CHECKPOINT_BYTES:
            self._unchecked = 0
            self._checkpoint()

    def _checkpoint(self) -> None:
        """Have the WAL copied into the file, by the checkpointer's thread."""
        cp = self._checkpointer
        if cp is None:
            cp = self._checkpointer = _Checkpointer(self.path)
        if cp.failed is None:
            cp.due()
        else:  # as SQLite's automatic checkpoint would, in this thread
            self.con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

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
        """Close the connection (which checkpoints what is left in the WAL)."""
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        self.con.close()
