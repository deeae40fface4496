"""Indexing: unpacking the batches a writer appended into ``ips`` and ``links``.

During a run the writer appends every batch of records to ``batches`` as one JSON
text and nothing else, which keeps SQLite's work per record small. Indexing turns a
batch into one ``ips`` row per record and one ``links`` row per parent link, and
deletes the batch, all in one transaction; the statements unpack the JSON inside
SQLite (``json_each``), which runs without the GIL. Indexing a batch twice is
harmless: whoever comes second finds it gone and inserts nothing, so the writer (between
runs and when it closes) and a reader (a run its writer left unindexed) may both do it.
"""

from __future__ import annotations

import sqlite3

__all__ = ("index_batch", "index_run", "next_batch", "pending_records")

if sqlite3.sqlite_version_info >= (3, 38, 0):
    _INDEX_IPS = (
        "INSERT INTO ips (seq, run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT b.seq + r.key, b.run, r.value->>0, r.value->>1, r.value->>2, r.value->>3,"
        " r.value->>4, r.value->6"
        " FROM batches AS b, json_each(b.rows) AS r WHERE b.seq = ?1"
    )
    _INDEX_LINKS = (
        "INSERT OR IGNORE INTO links (run, child, parent, ord)"
        " SELECT b.run, r.value->>0, p.value, p.key"
        " FROM batches AS b, json_each(b.rows) AS r, json_each(r.value, '$[5]') AS p"
        " WHERE b.seq = ?1"
    )
else:  # pragma: no cover - SQLite before 3.38 lacks the -> and ->> operators
    _INDEX_IPS = (
        "INSERT INTO ips (seq, run, ip_id, kind, port_id, activation, t_ns, payload)"
        " SELECT b.seq + r.key, b.run, json_extract(r.value, '$[0]'),"
        " json_extract(r.value, '$[1]'), json_extract(r.value, '$[2]'),"
        " json_extract(r.value, '$[3]'), json_extract(r.value, '$[4]'),"
        " CASE WHEN json_type(r.value, '$[6]') IS NULL THEN NULL"
        " ELSE json_quote(json_extract(r.value, '$[6]')) END"
        " FROM batches AS b, json_each(b.rows) AS r WHERE b.seq = ?1"
    )
    _INDEX_LINKS = (
        "INSERT OR IGNORE INTO links (run, child, parent, ord)"
        " SELECT b.run, json_extract(r.value, '$[0]'), p.value, p.key"
        " FROM batches AS b, json_each(b.rows) AS r, json_each(r.value, '$[5]') AS p"
        " WHERE b.seq = ?1"
    )

_DELETE = "DELETE FROM batches WHERE seq = ?1"


def index_batch(con: sqlite3.Connection, seq: int) -> int:
    """Index the batch starting at ``seq``, in one transaction of its own.

    Args:
        con: a connection in autocommit mode, with no transaction open.
        seq: the batch's key in ``batches``.

    Returns:
        The records indexed: 0 if the batch was already indexed.
    """
    con.execute("BEGIN IMMEDIATE")
    try:
        n: int = con.execute(_INDEX_IPS, (seq,)).rowcount
        con.execute(_INDEX_LINKS, (seq,))
        con.execute(_DELETE, (seq,))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return n


def next_batch(con: sqlite3.Connection, run: int, upto: int | None = None) -> int | None:
    """The first batch of ``run`` still to index (at most ``upto``), or None."""
    row = con.execute(
        "SELECT seq FROM batches WHERE run = ?1 AND seq <= ?2 ORDER BY seq LIMIT 1",
        (run, (1 << 63) - 1 if upto is None else upto),
    ).fetchone()
    return None if row is None else int(row[0])


def pending_records(con: sqlite3.Connection, run: int) -> int:
    """How many records of ``run`` are waiting to be indexed."""
    return int(
        con.execute("SELECT coalesce(sum(n), 0) FROM batches WHERE run = ?", (run,)).fetchone()[0]
    )


def index_run(con: sqlite3.Connection, run: int) -> int:
    """Index every batch of ``run`` there is now (not those written meanwhile).

    One transaction per batch, so a writer still appending to the run waits at
    most one batch's indexing for its next commit.

    Returns:
        The records indexed.
    """
    row = con.execute("SELECT max(seq) FROM batches WHERE run = ?", (run,)).fetchone()
    if row[0] is None:
        return 0
    upto, done = int(row[0]), 0
    while (seq := next_batch(con, run, upto)) is not None:
        done += index_batch(con, seq)
    return done
