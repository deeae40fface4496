"""Chunks: a commit of records as columns, the unit the trace file stores.

The writer's thread turns each commit it takes, the JSON text of
:class:`~fbp.tracing._payload.BatchEncoder`, into the columns of one ``chunks`` row
(see :mod:`fbp.tracing._schema`) with :func:`split`: in C (``fbp.tracing._split``)
without holding the GIL, so the event loop goes on meanwhile; without the extension
(or with ``FBP_NO_ACCEL`` set) in Python, with the same result. A reader turns a run's
chunks into arrays with :func:`read_columns`, copying bytes and parsing nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import TraceFileError

if TYPE_CHECKING:
    from ._columns import RunColumns

__all__ = ("COLUMNS", "Chunk", "chunk_of", "read_columns", "split", "split_python")

#: The BLOB columns of ``chunks``, in the order :func:`split` returns them.
COLUMNS = (
    "ip_id",
    "kind",
    "port_id",
    "activation",
    "t_ns",
    "parent_ends",
    "parents",
    "payload_starts",
    "payload_ends",
    "payloads",
)

#: ``(n, ip_id, kind, port_id, activation, t_ns, parent_ends, parents,
#: payload_starts, payload_ends, payloads)``: a record count and the ten column BLOBs.
Chunk = tuple[int, bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes, bytes]

#: Payload texts this long or longer are stored once per chunk (a payload forwarded
#: along a pipeline is the same text at every hop).
_SHARE_MIN = 32

_BIG_ENDIAN = sys.byteorder == "big"


def _packed(code: str, values: Sequence[int]) -> bytes:
    a = array(code, values)
    if _BIG_ENDIAN:  # pragma: no cover - the columns are little-endian everywhere
        a.byteswap()
    return a.tobytes()


def split_python(text: bytes | str) -> Chunk:
    """:func:`split` in Python: parse the records, pack their columns.

    A payload's JSON is written anew (compact, the same value), not copied.
    """
    # Equal payload texts of 32 bytes or more are stored once, as the C splitter does.
    records = json.loads(text)
    ids: list[int] = []
    kinds: list[int] = []
    ports: list[int] = []
    acts: list[int] = []
    times: list[int] = []
    parent_ends: list[int] = []
    parents: list[int] = []
    payload_starts: list[int] = []
    payload_ends: list[int] = []
    payloads: list[bytes] = []
    recent: dict[bytes, int] = {}
    end = 0
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    for rec in records:
        ids.append(rec[0])
        kinds.append(rec[1])
        ports.append(rec[2])
        acts.append(rec[3])
        times.append(rec[4])
        parents.extend(rec[5])
        parent_ends.append(len(parents))
        if len(rec) > 6:
            data = dumps(rec[6]).encode()
            start = recent.get(data) if len(data) >= _SHARE_MIN else None
            if start is None:
                start = end
                payloads.append(data)
                end += len(data)
                if len(data) >= _SHARE_MIN:
                    recent[data] = start
            payload_starts.append(start)
            payload_ends.append(start + len(data))
        else:
            payload_starts.append(end)
            payload_ends.append(end)
    return (
        len(records),
        _packed("q", ids),
        _packed("b", kinds),
        _packed("i", ports),
        _packed("q", acts),
        _packed("q", times),
        _packed("q", parent_ends),
        _packed("q", parents),
        _packed("q", payload_starts),
        _packed("q", payload_ends),
        b"".join(payloads),
    )


def _splitter() -> Callable[[bytes], Chunk]:
    if os.environ.get("FBP_NO_ACCEL"):
        return split_python
    try:
        import importlib

        module: Any = importlib.import_module("fbp.tracing._split")
    except ImportError:
        return split_python
    fn: Callable[[bytes], Chunk] = module.split
    return fn


#: Split the JSON text of a commit of records into a :data:`Chunk`.
split: Callable[[bytes], Chunk] = _splitter()


def _gather(flat: Any, starts: Any, ends: Any, np: Any) -> tuple[Any, Any]:
    """The slices ``flat[s:e]`` one after the other, and the end of each in the result."""
    counts = ends - starts
    out_ends = np.cumsum(counts, dtype=np.int64)
    total = int(out_ends[-1]) if len(out_ends) else 0
    if not total:
        return flat[:0], out_ends
    # The positions to take, as a running sum: +1 within a slice, a jump between slices.
    some = counts > 0
    s, e = starts[some], ends[some]
    steps = np.ones(total, dtype=np.int64)
    steps[0] = s[0]
    steps[(out_ends[some] - counts[some])[1:]] = s[1:] - e[:-1] + 1
    return flat[np.cumsum(steps)], out_ends


def chunk_of(columns: RunColumns, rows: Any, *, port_map: Any = None, dt_ns: int = 0) -> Chunk:
    """The records at positions ``rows`` of a run's columns as one chunk, as they were
    stored: ids, kinds, parents and payload texts copied, not parsed. ``port_map``
    renumbers ports (an array: old port id -> new one) and ``dt_ns`` moves the times,
    for a run whose clock and port table differ from the one they were read from."""
    import numpy as np

    c = columns
    rows = np.asarray(rows, dtype=np.intp)
    before = rows - 1
    p_start = np.where(before >= 0, c.parent_ends[np.maximum(before, 0)], 0)
    parents, parent_ends = _gather(c.parents, p_start, c.parent_ends[rows], np)
    data = np.frombuffer(c.payload_data, dtype=np.uint8)
    texts, payload_ends = _gather(data, c.payload_starts[rows], c.payload_ends[rows], np)
    sizes = c.payload_ends[rows] - c.payload_starts[rows]
    ports = c.port_id[rows] if port_map is None else np.asarray(port_map)[c.port_id[rows]]

    def le(values: Any, dtype: str) -> bytes:
        return bytes(np.ascontiguousarray(values, dtype=dtype).tobytes())

    return (
        len(rows),
        le(c.ip_id[rows], "<i8"),
        le(c.kind[rows], "i1"),
        le(ports, "<i4"),
        le(c.activation[rows], "<i8"),
        le(c.t_ns[rows] + dt_ns, "<i8"),
        le(parent_ends, "<i8"),
        le(parents, "<i8"),
        le(payload_ends - sizes, "<i8"),
        le(payload_ends, "<i8"),
        texts.tobytes(),
    )


def read_columns(con: sqlite3.Connection, run: int, path: str) -> RunColumns:
    """Every record of a run, as columns (needs numpy).

    Raises:
        TraceFileError: the chunks cannot be read (a damaged file).
    """
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - depends on the install
        msg = "reading traces needs numpy, a dependency of fbp-causal: pip install numpy"
        raise ImportError(msg) from exc

    from ._columns import RunColumns

    def damaged(exc: Exception) -> TraceFileError:
        msg = f"cannot read the records of trace {path!r}, which looks damaged: {exc}"
        return TraceFileError(path, msg)

    try:
        # The payload texts, which counting and lineage never need, are read on first
        # use, from the chunks read now (a run still being written may grow meanwhile).
        rows = con.execute(
            f"SELECT n, {', '.join(COLUMNS[:-1])}, length(payloads), seq FROM chunks"
            " WHERE run = ? ORDER BY seq",
            (run,),
        ).fetchall()
        last = rows[-1][-1] if rows else -1

        def payloads() -> bytes:
            try:
                texts = con.execute(
                    "SELECT payloads FROM chunks WHERE run = ? AND seq <= ? ORDER BY seq",
                    (run, last),
                ).fetchall()
            except sqlite3.DatabaseError as exc:
                raise damaged(exc) from exc
            return b"".join(t for (t,) in texts)

        return columns_of(rows, np, RunColumns, payloads)
    except (sqlite3.DatabaseError, ValueError) as exc:
        raise damaged(exc) from exc


def columns_of(
    rows: Sequence[Sequence[Any]], np: Any, cls: type[RunColumns], payloads: Callable[[], bytes]
) -> RunColumns:
    """Columns from chunk rows ``(n, ip_id, ..., payload_ends, length(payloads))``, in
    order, and a function reading the payload texts."""
    # (ip_id 1, kind 2, port_id 3, activation 4, t_ns 5, parent_ends 6, parents 7,
    # payload_starts 8, payload_ends 9, length of payloads 10)

    def cat(k: int, dtype: str) -> Any:
        parts = [np.frombuffer(r[k], dtype=dtype) for r in rows]
        if not parts:
            return np.empty(0, dtype=dtype)
        out = np.concatenate(parts)
        return out.astype(dtype.replace("<", "="), copy=False)

    def ends(k: int, sizes: list[int]) -> Any:
        """Offsets within each chunk, made offsets into the concatenation."""
        out = cat(k, "<i8")
        if len(rows) > 1:
            base = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
            out = out + np.repeat(base, [r[0] for r in rows])
        return out

    parent_counts = [len(r[7]) // 8 for r in rows]
    payload_sizes = [int(r[10]) for r in rows]

    return cls(
        ip_id=cat(1, "<i8"),
        kind=cat(2, "i1"),
        port_id=cat(3, "<i4"),
        activation=cat(4, "<i8"),
        t_ns=cat(5, "<i8"),
        parent_ends=ends(6, parent_counts),
        parents=cat(7, "<i8"),
        payload_starts=ends(8, payload_sizes),
        payload_ends=ends(9, payload_sizes),
        payload_data=payloads,
    )
