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
import sqlite3
import sys
from array import array
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .._core._record import ACTIVATION, IP_ID, KIND, PARENTS, PAYLOAD, PORT_ID, T_NS
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


def split_python(text: bytes | bytearray | str) -> Chunk:
    """:func:`split` in Python: parse the records, pack their columns.

    A payload's JSON is written anew (compact, the same value), not copied.
    """
    # Equal payload texts of 32 bytes or more are stored once, as the C splitter does.
    # A record ending with null and k ([..., parents, null, k]) has record k's payload.
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
        ids.append(rec[IP_ID])
        kinds.append(rec[KIND])
        ports.append(rec[PORT_ID])
        acts.append(rec[ACTIVATION])
        times.append(rec[T_NS])
        parents.extend(rec[PARENTS])
        parent_ends.append(len(parents))
        if len(rec) > 7:  # a reference to an earlier record: its payload
            k = rec[7]
            if k >= len(payload_starts):
                msg = f"not a batch of trace records: record {rec[IP_ID]} refers to record {k}"
                raise ValueError(msg + ", not one before it")
            payload_starts.append(payload_starts[k])
            payload_ends.append(payload_ends[k])
        elif len(rec) > PAYLOAD:
            data = dumps(rec[PAYLOAD]).encode()
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


def _splitter() -> Callable[[bytes | bytearray], Chunk]:
    from fbp._core._compiled import load

    module: Any = load("fbp.tracing._split")
    if module is None:
        return split_python
    fn: Callable[[bytes | bytearray], Chunk] = module.split
    return fn


#: Split the JSON text of a commit of records into a :data:`Chunk`.
split: Callable[[bytes | bytearray], Chunk] = _splitter()


def _gather(flat: Any, starts: Any, ends: Any, np: Any) -> tuple[Any, Any]:
    """The slices ``flat[s:e]`` one after the other, and the end of each in the result."""
    counts = ends - starts
    out_ends = np.cumsum(counts, dtype=np.int64)
    total = int(out_ends[-1]) if len(out_ends) else 0
    if not total:
        return flat[:0], out_ends
    some = counts > 0
    s, e = starts[some], ends[some]
    # Slices that follow one another in ``flat`` (records copied in write order mostly
    # do) are taken as one run; long runs are copied run by run.
    first = np.flatnonzero(np.concatenate(([True], s[1:] != e[:-1])))
    if total >= 64 * len(first):
        last = np.append(first[1:] - 1, len(s) - 1)
        parts = [flat[a:b] for a, b in zip(s[first].tolist(), e[last].tolist(), strict=True)]
        return np.concatenate(parts), out_ends
    # The positions to take, as a running sum: +1 within a slice, a jump between slices.
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

    Only the chunks' sizes are read now; each column is read on first use, from the
    chunks committed by now (a run still being written may grow meanwhile), one chunk
    at a time straight into its array: a query reads the columns it needs, and reading
    one holds the column and a chunk, never a second copy of the run.

    Raises:
        TraceFileError: the chunks cannot be read (a damaged file); a column read
            later raises it too. A column first used after the trace was closed is
            read from the file anew.
    """
    try:
        import numpy as np
    except ImportError as exc:  # pragma: no cover - depends on the install
        msg = "reading traces needs numpy, a dependency of fbp-causal: pip install numpy"
        raise ImportError(msg) from exc

    from ._columns import RunColumns, small_pages

    def damaged(exc: Exception) -> TraceFileError:
        msg = f"cannot read the records of trace {path!r}, which looks damaged: {exc}"
        return TraceFileError(path, msg)

    try:
        sizes = con.execute(
            "SELECT n, length(parents), length(payloads), seq FROM chunks"
            " WHERE run = ? ORDER BY seq",
            (run,),
        ).fetchall()
    except sqlite3.DatabaseError as exc:
        raise damaged(exc) from exc
    last = sizes[-1][3] if sizes else -1
    counts = [int(r[0]) for r in sizes]
    n_parents = [int(r[1] or 0) // 8 for r in sizes]
    n_payload = [int(r[2] or 0) for r in sizes]

    def rows_of(columns: list[str]) -> Any:
        """The BLOBs of ``columns`` of every chunk, a row per chunk, in order (from the
        file anew when the trace was closed before the columns were read)."""
        query = f"SELECT {', '.join(columns)} FROM chunks WHERE run = ? AND seq <= ? ORDER BY seq"
        try:
            try:
                cursor = con.execute(query, (run, last))
            except sqlite3.ProgrammingError:  # closed
                from ._schema import connect_reader

                again = connect_reader(path)
                try:
                    yield from again.execute(query, (run, last))
                finally:
                    again.close()
                return
            yield from cursor
        except sqlite3.DatabaseError as exc:
            raise damaged(exc) from exc

    # name: (dtype, items per chunk, offsets to add per chunk); ``payloads`` is bytes.
    shapes: dict[str, tuple[str, list[int], list[int] | None]] = {}

    def group(*names: str) -> Any:
        """A function reading the columns ``names`` in one pass over the chunks: a
        chunk's BLOBs are one SQLite record, whose overflow pages are walked from its
        start for every query, so columns read together cost one walk, not one each."""

        def read() -> dict[str, Any]:
            with small_pages():
                return read_group()

        def read_group() -> dict[str, Any]:
            arrays = {
                n: np.empty(sum(shapes[n][1]), dtype=shapes[n][0].replace("<", "="))
                for n in names
                if n != "payloads"
            }
            texts: list[bytes] = []
            pos = dict.fromkeys(arrays, 0)
            k = 0
            for row in rows_of(list(names)):
                for name, blob in zip(names, row, strict=True):
                    if name == "payloads":
                        texts.append(blob)
                        continue
                    dtype, per_chunk, base = shapes[name]
                    out = arrays[name]
                    if k >= len(per_chunk) or len(blob) != per_chunk[k] * out.itemsize:
                        msg = f"chunk {k} of column {name} has a wrong size"
                        raise damaged(ValueError(msg))
                    part = out[pos[name] : pos[name] + per_chunk[k]]
                    part[:] = np.frombuffer(blob, dtype=dtype)
                    if base is not None and base[k]:
                        part += base[k]
                    pos[name] += per_chunk[k]
                k += 1
            if k != len(counts):
                msg = f"columns {', '.join(names)} have {k} chunks, not {len(counts)}"
                raise damaged(ValueError(msg))
            got: dict[str, Any] = dict(arrays)
            if "payloads" in names:
                got["payload_data"] = b"".join(texts)
            return got

        return read

    parent_base = [0]
    payload_base = [0]
    for a, b in zip(n_parents[:-1], n_payload[:-1], strict=True):
        parent_base.append(parent_base[-1] + a)
        payload_base.append(payload_base[-1] + b)
    shapes.update(
        ip_id=("<i8", counts, None),
        kind=("i1", counts, None),
        port_id=("<i4", counts, None),
        activation=("<i8", counts, None),
        t_ns=("<i8", counts, None),
        parent_ends=("<i8", counts, parent_base),
        parents=("<i8", n_parents, None),
        payload_starts=("<i8", counts, payload_base),
        payload_ends=("<i8", counts, payload_base),
    )
    # Columns read together (in the order of a chunk's record): what every query needs,
    # the lineage, the payloads, and the times, which the causal tables never read.
    ids = group("ip_id", "kind", "port_id")
    times = group("activation", "t_ns")
    links = group("parent_ends", "parents")
    texts = group("payload_starts", "payload_ends", "payloads")
    return RunColumns(
        ip_id=ids,
        kind=ids,
        port_id=ids,
        activation=times,
        t_ns=times,
        parent_ends=links,
        parents=links,
        payload_starts=texts,
        payload_ends=texts,
        payload_data=texts,
        length=sum(counts),
    )
