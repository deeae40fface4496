"""The trace file: an SQLite database in WAL mode, many runs per file.

A trace file is recognised by its SQLite header (``PRAGMA application_id`` is
``0x46425054``, "FBPT") and versioned by ``PRAGMA user_version`` (currently 3). Files
of formats 1 and 2, whose records were indexed into ``ips`` and ``links`` tables, are
refused with the command that converts them (``python -m fbp trace convert OLD NEW``,
see :mod:`fbp.tracing._convert`).

Records are stored as they arrive, in *chunks*: each commit of the writer becomes one
row of ``chunks`` holding its records as columns, one BLOB per column, which a reader
turns into arrays without parsing anything (see :mod:`fbp.tracing._chunks`). Nothing
is done per record in SQLite and nothing is left to do after a run: a run is readable,
and fast to query, as soon as its chunks are committed. The tables::

    runs    one row per run
      run          INTEGER PRIMARY KEY   key used by the other tables
      run_id       TEXT UNIQUE           the runtime's id for the run
      graph_name   TEXT                  the graph's name
      graph        TEXT                  the graph, as FBP JSON
      settings     TEXT                  the run's settings, JSON
      started_ns   INTEGER               wall clock at start, ns since the Unix epoch
      t0_perf_ns   INTEGER               perf counter at start; t_ns - t0_perf_ns is
                                         the time since start
      ended_ns     INTEGER               wall clock at the end (NULL while running)
      status       TEXT                  running | completed | failed | deadlock |
                                         interrupted ("running" left behind by a killed
                                         process reads back as "crashed"); rotated: a
                                         segment of a rotated trace, the run going on
                                         in the next segment
      error        TEXT                  the error that ended the run, if any
      stats        TEXT                  the runtime's statistics, JSON
      records      INTEGER               records stored so far (kept by a trigger on
                                         chunks, so always in step with them)
      writer_pid   INTEGER               the writing process, to tell a live run from a
      writer_host  TEXT                  crashed one

    ports   the ports of a run's network, as the runtime numbered them
      run, port_id                       PRIMARY KEY; the records' port_id refers to it
      process, component, port, port_index, direction ('in'|'out'), type_name,
      json_schema (JSON or NULL), targets (JSON array of 'proc.PORT[i]')

    chunks  the records, one row per commit (index chunks_by_run: run, seq)
      seq          INTEGER PRIMARY KEY   write order across the file
      run          INTEGER               runs.run
      n            INTEGER               records in the chunk
      ip_id        BLOB                  int64 per record: the IP's id within the run
      kind         BLOB                  int8 per record: 0 data, 1 open, 2 close,
                                         3 iip, 4 drop, 5 dead (names in ``kinds``)
      port_id      BLOB                  int32 per record: the sending output port; the
                                         receiving input port for iip and drop; the
                                         ERROR port for dead
      activation   BLOB                  int64 per record: the activation that sent it
                                         (0 for IIPs and drops)
      t_ns         BLOB                  int64 per record: perf counter at the send
      parent_ends  BLOB                  int64 per record: the end of its parents in
                                         ``parents`` (the start is the previous end)
      parents      BLOB                  int64 per parent link: the parents' ids, each
                                         record's in the order the runtime gave them
      payload_starts BLOB                int64 per record: where its payload starts in
      payload_ends BLOB                  ``payloads``, and ends; an empty slice: the
                                         payload was not recorded
      payloads     BLOB                  the payloads as JSON texts (UTF-8). A text of 32
                                         bytes or more met again in the chunk (a payload
                                         forwarded along a pipeline) is stored once,
                                         its records sharing the slice. A payload JSON
                                         cannot encode is stored as
                                         {"$repr": "...", "$type": "module.Class"}

    summaries  a run's summary counts, stored when it ends (none for a run that
               crashed, is still running or was converted: its columns are counted)
      run          INTEGER PRIMARY KEY   runs.run
      counts       TEXT                  JSON: {"records": [[port_id, kind, n], ...],
                                         "activations": {process: n, ...} (those that
                                         sent something), "dropped": [[sending
                                         port_id, dropping port_id, n], ...]}

Every BLOB is a little-endian array. A record's parents belong to its IP: a drop
marker carries none of its own (a reader shows the IP's), a dead-letter marker the
same as the data record that follows it.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from .._core._record import Kind
from ._errors import TraceFileError

__all__ = (
    "APPLICATION_ID",
    "FORMAT_VERSION",
    "KIND_CODES",
    "KIND_NAMES",
    "check_writable",
    "connect_reader",
    "connect_writer",
    "convert_hint",
)

APPLICATION_ID = 0x46425054  # "FBPT"
FORMAT_VERSION = 3

KIND_NAMES: dict[int, str] = {k.value: k.label for k in Kind}
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
CREATE TABLE IF NOT EXISTS chunks (
    seq          INTEGER PRIMARY KEY,
    run          INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    ip_id        BLOB NOT NULL,
    kind         BLOB NOT NULL,
    port_id      BLOB NOT NULL,
    activation   BLOB NOT NULL,
    t_ns         BLOB NOT NULL,
    parent_ends  BLOB NOT NULL,
    parents      BLOB NOT NULL,
    payload_starts BLOB NOT NULL,
    payload_ends BLOB NOT NULL,
    payloads     BLOB NOT NULL
)
""",
    "CREATE INDEX IF NOT EXISTS chunks_by_run ON chunks (run, seq)",
    """
CREATE TRIGGER IF NOT EXISTS chunks_counted AFTER INSERT ON chunks BEGIN
    UPDATE runs SET records = records + NEW.n WHERE run = NEW.run;
END
""",
    """
CREATE TABLE IF NOT EXISTS summaries (
    run         INTEGER PRIMARY KEY,
    counts      TEXT NOT NULL
)
""",
    """
CREATE TABLE IF NOT EXISTS kinds (
    kind        INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE
)
""",
)


def convert_hint(path: str) -> str:
    """The command that converts an older trace file, for error messages."""
    stem = Path(path)
    new = stem.with_name(stem.stem + "-v3" + (stem.suffix or ".trace"))
    return f"python -m fbp trace convert {path} {new}"


_NEW_FILE = "; give a new file name, or an existing fbp trace to add the run to"


def _not_a_trace(path: str, detail: str, *, writing: bool = False) -> TraceFileError:
    fix = _NEW_FILE if writing else ""
    return TraceFileError(path, f"{path!r} is not an fbp trace file ({detail}){fix}")


def _check_header(con: sqlite3.Connection, path: str, *, allow_new: bool) -> bool:
    """Check the file's identity; return True when it is an empty new database.

    ``allow_new`` is what a writer asks: an empty database may become a trace.
    """
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = con.execute("PRAGMA user_version").fetchone()[0]
        n_tables = con.execute("SELECT count(*) FROM sqlite_schema").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise _not_a_trace(path, str(exc), writing=allow_new) from exc
    if app_id == 0 and n_tables == 0:
        if allow_new:
            return True
        raise _not_a_trace(path, "it is an empty SQLite database")
    if app_id != APPLICATION_ID:
        detail = "it is an SQLite database of another application"
        raise _not_a_trace(path, detail, writing=allow_new)
    if version > FORMAT_VERSION:
        msg = (
            f"{path!r} has trace format {version}, newer than the {FORMAT_VERSION} this"
            " version of fbp reads; upgrade fbp-causal to read it"
        )
        raise TraceFileError(path, msg)
    if version < FORMAT_VERSION:
        msg = (
            f"{path!r} has trace format {version}, written by an older fbp; convert it"
            f" to format {FORMAT_VERSION} with: {convert_hint(path)}"
        )
        raise TraceFileError(path, msg, old_version=version)
    return False


def check_writable(name: str) -> None:
    """Refuse, with the fix, a path no trace can be written to: a folder, a path in a
    missing folder or under a file. (What the file holds is checked on opening it.)

    Raises:
        TraceFileError: the path cannot hold a trace file.
    """
    p = Path(name)
    if p.is_dir():
        example = str(p / "run.trace")
        msg = f"cannot write trace {name!r}: it is a folder; give a file name, such as {example!r}"
        raise TraceFileError(name, msg)
    parent = p.absolute().parent
    for above in (parent, *parent.parents):
        if above.exists():
            if not above.is_dir():
                msg = (
                    f"cannot write trace {name!r}: {str(above)!r} is a file, not a folder;"
                    " give a path in an existing folder"
                )
                raise TraceFileError(name, msg)
            break
    if not parent.is_dir():
        msg = (
            f"cannot write trace {name!r}: folder {str(parent)!r} does not exist;"
            " create it first, or give a path in an existing folder"
        )
        raise TraceFileError(name, msg)


def connect_writer(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open (creating if needed) a trace file for writing.

    The connection is in autocommit mode (``isolation_level=None``): the writer opens
    its own transactions. It may be handed to another thread.

    Raises:
        TraceFileError: the file exists but is not a trace, or cannot be opened.
    """
    name = os.fspath(path)
    check_writable(name)
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
        # Checkpoints run in a thread of their own (fbp.tracing._store._Checkpointer).
        con.execute("PRAGMA wal_autocheckpoint = 0")
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
