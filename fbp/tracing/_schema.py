"""The trace file: an SQLite database in WAL mode, many runs per file.

A trace file is recognised by its SQLite header (``PRAGMA application_id`` is
``0x46425054``, "FBPT") and versioned by ``PRAGMA user_version`` (currently 2; files
of version 1, which lack ``batches``, are read and upgraded in place by a writer).

Records arrive in two steps. During a run the writer appends each batch of records,
as one JSON text, to ``batches`` (one row and one commit per batch: nothing per
record, no index to maintain). Between runs, at :meth:`TraceWriter.close`, or when a
reader first opens the run, each batch is *indexed*: unpacked into ``ips`` and
``links`` and deleted, in one transaction. A batch is in exactly one of the two
places at any time, so a run is fully indexed when ``batches`` holds none of its
rows. The tables, which plain SQL can query::

    runs    one row per run
      run          INTEGER PRIMARY KEY   key used by the other tables
      run_id       TEXT UNIQUE           the runtime's id for the run
      graph_name   TEXT                  the graph's name
      graph        TEXT                  the graph, as FBP JSON
      settings     TEXT                  the run's settings, JSON
      started_ns   INTEGER               wall clock at start, ns since the Unix epoch
      t0_perf_ns   INTEGER               perf counter at start; ips.t_ns - t0_perf_ns is
                                         the time since start
      ended_ns     INTEGER               wall clock at the end (NULL while running)
      status       TEXT                  running | completed | failed | deadlock |
                                         interrupted ("running" left behind by a killed
                                         process reads back as "crashed")
      error        TEXT                  the error that ended the run, if any
      stats        TEXT                  the runtime's statistics, JSON
      records      INTEGER               records stored so far (kept by a trigger on
                                         batches, so always in step with them)
      first_seq    INTEGER               every ips row of the run has seq >= first_seq
      last_seq     INTEGER               ... and seq <= last_seq
      writer_pid   INTEGER               the writing process, to tell a live run from a
      writer_host  TEXT                  crashed one

    ports   the ports of a run's network, as the runtime numbered them
      run, port_id                       PRIMARY KEY; ips.port_id refers to port_id
      process, component, port, port_index, direction ('in'|'out'), type_name,
      json_schema (JSON or NULL), targets (JSON array of 'proc.PORT[i]')

    batches records written but not indexed yet (index batches_by_run: run, seq)
      seq          INTEGER PRIMARY KEY   the seq of the batch's first record; record k
                                         (from 0) of the batch becomes ips.seq = seq + k
      run          INTEGER               runs.run
      n            INTEGER               records in the batch
      rows         TEXT                  JSON: [[ip_id, kind, port_id, activation,
                                         t_ns, [parents...], payload], ...]; the
                                         payload is left out when not recorded

    ips     one row per record, in the order the runtime handed them over
      seq          INTEGER PRIMARY KEY   write order across the file
      run          INTEGER               runs.run
      ip_id        INTEGER               the IP's id within the run (index ips_by_id)
      kind         INTEGER               0 data, 1 open, 2 close, 3 iip, 4 drop, 5 dead
                                         (names in table ``kinds``)
      port_id      INTEGER               ports.port_id: the sending output port; the
                                         receiving input port for iip and drop; the
                                         ERROR port for dead
      activation   INTEGER               the activation that sent it (0 for IIPs)
      t_ns         INTEGER               perf counter at the send
      payload      TEXT                  the payload as JSON; NULL when not recorded.
                                         A payload JSON cannot encode is stored as
                                         {"$repr": "...", "$type": "module.Class"}

    links   parent links, child -> parent (index links_by_parent: parent -> child)
      run, child, parent                 PRIMARY KEY (run, child, parent)
      ord                                the parent's position in the record's parents

Ancestors and descendants are recursive CTEs over ``links``, for example::

    WITH RECURSIVE up(id) AS (
        SELECT parent FROM links WHERE run = :run AND child = :ip
        UNION SELECT l.parent FROM up JOIN links l ON l.run = :run AND l.child = up.id)
    SELECT * FROM up;
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ._errors import TraceFileError

__all__ = (
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "KIND_CODES",
    "KIND_NAMES",
    "connect_indexer",
    "connect_reader",
    "connect_writer",
    "has_table",
)

APPLICATION_ID = 0x46425054  # "FBPT"
FORMAT_VERSION = 2

KIND_NAMES: dict[int, str] = {0: "data", 1: "open", 2: "close", 3: "iip", 4: "drop", 5: "dead"}
KIND_CODES: dict[str, int] = {v: k for k, v in KIND_NAMES.items()}

_PAGE_SIZE = 16384
_CACHE_KIB = 8192  # the page cache, which bounds the writer's memory besides its queue
_BUSY_TIMEOUT_S = 30.0

_DDL = (
    """
CREATE TABLE IF NOT EXISTS runs (
    run         INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL UNIQUE,
    graph_name  TEXT NOT NULL,
    graph       TEXT NOT NULL,
    settings    TEXT NOT NULL,
    started_ns  INTEGER NOT NULL,
    t0_perf_ns  INTEGER NOT NULL,
    ended_ns    INTEGER,
    status      TEXT NOT NULL,
    error       TEXT,
    stats       TEXT,
    records     INTEGER NOT NULL DEFAULT 0,
    first_seq   INTEGER NOT NULL,
    last_seq    INTEGER,
    writer_pid  INTEGER,
    writer_host TEXT
)
""",
    """
CREATE TABLE IF NOT EXISTS ports (
    run         INTEGER NOT NULL,
    port_id     INTEGER NOT NULL,
    process     TEXT NOT NULL,
    component   TEXT NOT NULL,
    port        TEXT NOT NULL,
    port_index  INTEGER,
    direction   TEXT NOT NULL,
    type_name   TEXT NOT NULL,
    json_schema TEXT,
    targets     TEXT NOT NULL,
    PRIMARY KEY (run, port_id)
) WITHOUT ROWID
""",
    """
CREATE TABLE IF NOT EXISTS ips (
    seq         INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL,
    ip_id       INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    port_id     INTEGER NOT NULL,
    activation  INTEGER NOT NULL,
    t_ns        INTEGER NOT NULL,
    payload     TEXT
)
""",
    "CREATE INDEX IF NOT EXISTS ips_by_id ON ips (run, ip_id)",
    """
CREATE TABLE IF NOT EXISTS links (
    run         INTEGER NOT NULL,
    child       INTEGER NOT NULL,
    parent      INTEGER NOT NULL,
    ord         INTEGER NOT NULL,
    PRIMARY KEY (run, child, parent)
) WITHOUT ROWID
""",
    "CREATE INDEX IF NOT EXISTS links_by_parent ON links (run, parent, child)",
    """
CREATE TABLE IF NOT EXISTS batches (
    seq         INTEGER PRIMARY KEY,
    run         INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    rows        TEXT NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS batches_by_run ON batches (run, seq)",
    """
CREATE TRIGGER IF NOT EXISTS batches_counted AFTER INSERT ON batches BEGIN
    UPDATE runs SET records = records + NEW.n, last_seq = NEW.seq + NEW.n - 1
    WHERE run = NEW.run;
END
""",
    """
CREATE TABLE IF NOT EXISTS kinds (
    kind        INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
)
""",
)


def _not_a_trace(path: str, detail: str) -> TraceFileError:
    return TraceFileError(path, f"{path!r} is not an fbp trace file ({detail})")


def _check_header(con: sqlite3.Connection, path: str, *, allow_new: bool) -> bool:
    """Check the file's identity; return True when it is an empty new database."""
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        n_tables = con.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _not_a_trace(path, str(exc)) from exc
    if app_id == 0 and n_tables == 0:
        if allow_new:
            return True
        raise _not_a_trace(path, "it is an empty SQLite database")
    if app_id != APPLICATION_ID:
        raise _not_a_trace(path, "it is an SQLite database of another application")
    if version > FORMAT_VERSION:
        msg = (
            f"{path!r} has trace format {version}, newer than the {FORMAT_VERSION} this"
            " version of fbp reads; upgrade fbp-causal to read it"
        )
        raise TraceFileError(path, msg)
    return False


def connect_writer(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating if needed) a trace file for writing.

    The connection is in autocommit mode (``isolation_level=None``): the writer opens
    its own transactions. It may be handed to another thread.

    Raises:
        TraceFileError: the file exists but is not a trace, or cannot be opened.
    """
    name = os.fspath(path)
    parent = Path(name).resolve().parent
    if not parent.is_dir():
        msg = f"cannot create trace {name!r}: folder {str(parent)!r} does not exist"
        raise TraceFileError(name, msg)
    try:
        con = sqlite3.connect(
            name, timeout=_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise TraceFileError(name, f"cannot open trace {name!r}: {exc}") from exc
    try:
        new = _check_header(con, name, allow_new=True)
        if new:
            con.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
        mode = con.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            msg = f"cannot put trace {name!r} in WAL mode (journal mode stays {mode!r})"
            raise TraceFileError(name, msg)
        # Every commit syncs the WAL: an appended batch survives a power cut, and
        # finishing a run has little left to sync. The syncs run in the writer's
        # thread without the GIL.
        con.execute("PRAGMA synchronous = FULL")
        con.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
        con.execute("PRAGMA temp_store = MEMORY")
        con.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have created the file since the first check.
            _check_header(con, name, allow_new=True)
            for stmt in _DDL:
                con.execute(stmt)
            con.executemany(
                "INSERT OR IGNORE INTO kinds (kind, name) VALUES (?, ?)", KIND_NAMES.items()
            )
            con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            con.execute(f"PRAGMA user_version = {FORMAT_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        con.close()
        raise TraceFileError(name, f"cannot write trace {name!r}: {exc}") from exc
    except BaseException:
        con.close()
        raise
    return con


def connect_reader(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing trace file for reading.

    Raises:
        TraceFileError: the file does not exist or is not a trace.
    """
    name = os.fspath(path)
    p = Path(name)
    if not p.exists():
        raise TraceFileError(name, f"trace file {name!r} does not exist")
    if p.is_dir():
        raise TraceFileError(name, f"{name!r} is a folder, not a trace file")
    uri = p.resolve().as_uri()
    con: sqlite3.Connection | None = None
    for mode in ("rw", "ro"):
        try:
            con = sqlite3.connect(
                f"{uri}?mode={mode}", uri=True, timeout=_BUSY_TIMEOUT_S, check_same_thread=False
            )
            con.execute("PRAGMA schema_version").fetchone()
            break
        except sqlite3.OperationalError:
            if con is not None:
                con.close()
            con = None
        except sqlite3.DatabaseError as exc:
            if con is not None:
                con.close()
            raise _not_a_trace(name, str(exc)) from exc
    if con is None:
        raise TraceFileError(name, f"cannot open trace {name!r} for reading")
    try:
        _check_header(con, name, allow_new=False)
    except BaseException:
        con.close()
        raise
    con.execute("PRAGMA query_only = ON")
    return con


def connect_indexer(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an existing trace file to index the records a writer left in ``batches``.

    The connection is in autocommit mode; :mod:`fbp.tracing._index` opens its own
    transactions.

    Raises:
        TraceFileError: the file cannot be written.
    """
    name = os.fspath(path)
    uri = Path(name).resolve().as_uri()
    try:
        con = sqlite3.connect(
            f"{uri}?mode=rw", uri=True, timeout=_BUSY_TIMEOUT_S, isolation_level=None
        )
        con.execute("PRAGMA synchronous = NORMAL")
        con.execute(f"PRAGMA cache_size = -{_CACHE_KIB}")
    except sqlite3.Error as exc:
        msg = (
            f"cannot open trace {name!r} to index its latest records ({exc}); make the"
            " file and its folder writable, or read a writable copy"
        )
        raise TraceFileError(name, msg) from exc
    return con


def has_table(con: sqlite3.Connection, name: str) -> bool:
    """Whether the trace file has a table (``batches`` is missing from version 1)."""
    row = con.execute(
        "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return row is not None
