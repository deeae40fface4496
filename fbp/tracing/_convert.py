"""Converting trace files of older formats (1 and 2) to the current one.

Formats 1 and 2 kept each record as a row of an ``ips`` table and each parent link as
a row of ``links`` (format 2 also kept records not indexed yet as JSON texts in
``batches``). :func:`convert` reads an old file without changing it and writes every
run, with its ports, status and records in their order, to a new file::

    python -m fbp trace convert old.trace new.trace
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .._core._record import DROP
from ._errors import TraceFileError
from ._schema import APPLICATION_ID, FORMAT_VERSION, connect_writer
from ._store import RunStore

__all__ = ("Converted", "convert")

_CHUNK = 8192  # records per chunk of the new file

# One old record as the JSON array the writer's encoder makes: parents from links
# (a drop marker has none of its own), the payload left out when it was not kept.
_RECORD_JSON = f"""
SELECT seq, CASE WHEN payload IS NULL
    THEN json_array(ip_id, kind, port_id, activation, t_ns, json(parents))
    ELSE json_array(ip_id, kind, port_id, activation, t_ns, json(parents), json(payload))
    END
FROM (SELECT i.seq, i.ip_id, i.kind, i.port_id, i.activation, i.t_ns, i.payload,
    CASE WHEN i.kind = {DROP} THEN '[]' ELSE (SELECT json_group_array(parent) FROM
        (SELECT l.parent FROM links AS l WHERE l.run = i.run AND l.child = i.ip_id
         ORDER BY l.ord)) END AS parents
    FROM ips AS i WHERE i.run = ?1)
ORDER BY seq
"""


@dataclass(frozen=True, slots=True)
class Converted:
    """What :func:`convert` wrote."""

    old_version: int
    runs: int
    records: int


def _open_old(path: str) -> tuple[sqlite3.Connection, int]:
    p = Path(path)
    if not p.is_file():
        msg = f"cannot convert {path!r}: no such file"
        raise TraceFileError(path, msg)
    con = sqlite3.connect(f"{p.resolve().as_uri()}?mode=ro", uri=True)
    try:
        app_id = con.execute("PRAGMA application_id").fetchone()[0]
        version = int(con.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        con.close()
        raise TraceFileError(path, f"{path!r} is not an fbp trace file ({exc})") from exc
    if app_id != APPLICATION_ID:
        con.close()
        raise TraceFileError(path, f"{path!r} is not an fbp trace file")
    if version not in (1, 2):
        con.close()
        if version == FORMAT_VERSION:
            msg = f"{path!r} already has trace format {version}; there is nothing to convert"
        else:
            msg = f"{path!r} has trace format {version}; only formats 1 and 2 are converted"
        raise TraceFileError(path, msg)
    return con, version


def _texts(con: sqlite3.Connection, run: int, batches: bool) -> Iterator[tuple[int, bytes]]:
    """The run's records as JSON texts of at most ``_CHUNK`` records, in seq order:
    the indexed ones and, in format 2, the batches never indexed."""
    pending: list[tuple[int, int]] = []
    if batches:
        pending = con.execute(
            "SELECT seq, n FROM batches WHERE run = ? ORDER BY seq", (run,)
        ).fetchall()
    rows: list[str] = []

    def flush() -> Iterator[tuple[int, bytes]]:
        if rows:
            yield len(rows), ("[" + ",".join(rows) + "]").encode()
            rows.clear()

    def batch(seq: int, n: int) -> tuple[int, bytes]:
        (text,) = con.execute("SELECT rows FROM batches WHERE seq = ?", (seq,)).fetchone()
        return n, text.encode() if isinstance(text, str) else bytes(text)

    for seq, text in con.execute(_RECORD_JSON, (run,)):
        while pending and pending[0][0] < seq:
            yield from flush()
            yield batch(*pending.pop(0))
        rows.append(text)
        if len(rows) >= _CHUNK:
            yield from flush()
    yield from flush()
    for seq, n in pending:
        yield batch(seq, n)


def convert(old: str | os.PathLike[str], new: str | os.PathLike[str]) -> Converted:
    """Write every run of a trace file of format 1 or 2 to a new file of the current
    format; the old file is only read.

    Raises:
        TraceFileError: ``old`` is not a trace of format 1 or 2, or ``new`` exists or
            cannot be written.
    """
    old_name, new_name = os.fspath(old), os.fspath(new)
    if Path(new_name).exists():
        msg = f"cannot convert to {new_name!r}: it exists; give the name of a new file"
        raise TraceFileError(new_name, msg)
    con, version = _open_old(old_name)
    try:
        has_batches = version >= 2
        store = RunStore(connect_writer(new_name), new_name)
        try:
            runs = records = 0
            for row in con.execute(
                "SELECT run, run_id, graph_name, graph, settings, started_ns, t0_perf_ns,"
                " ended_ns, status, error, stats, writer_pid, writer_host FROM runs ORDER BY run"
            ).fetchall():
                store.con.execute(
                    "INSERT INTO runs (run_id, graph_name, graph, settings, started_ns,"
                    " t0_perf_ns, ended_ns, status, error, stats, writer_pid, writer_host)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row[1:],
                )
                key = store.con.execute("SELECT last_insert_rowid()").fetchone()[0]
                ports = con.execute(
                    "SELECT ?, port_id, process, component, port, port_index, direction,"
                    " type_name, json_schema, targets FROM ports WHERE run = ?",
                    (key, row[0]),
                ).fetchall()
                store.con.executemany(
                    "INSERT INTO ports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", ports
                )
                store.run_key = key
                for n, text in _texts(con, row[0], has_batches):
                    store.append(n, text)
                    records += n
                store.run_key = None
                runs += 1
        finally:
            store.close()
    except BaseException:
        Path(new_name).unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(new_name + suffix).unlink(missing_ok=True)
        raise
    finally:
        con.close()
    return Converted(old_version=version, runs=runs, records=records)
