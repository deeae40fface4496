"""Reading only the records of some ports: the read path of one port's or edge's IPs.

A run's chunks are read one at a time: the ``kind`` and ``port_id`` columns of each
say which of its records are wanted, only those rows of the other columns are kept,
and the payload texts are read only from chunks that hold a wanted record. Reading
stops at ``limit`` records. The result is a :class:`~fbp.tracing._columns.RunColumns`
of the selected records alone, in write order, so that the queries that take a run's
columns and positions (``ips_frame``, ``TracedRun._traced``) work on it unchanged;
except lineage lookups across records (a drop marker's parents are those of another
record), which need the whole run.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._chunks import COLUMNS, _gather
from ._errors import TraceFileError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from ._columns import RunColumns

__all__ = ("concatenated", "read_selected")

#: Keeps the records wanted of a chunk, given its ``kind`` and ``port_id`` arrays.
Selector = Callable[["npt.NDArray[np.int8]", "npt.NDArray[np.int32]"], "npt.NDArray[np.bool_]"]


def read_selected(
    con: sqlite3.Connection, run: int, path: str, keep: Selector, limit: int | None = None
) -> RunColumns:
    """The records of a run that ``keep`` selects (at most ``limit``), as columns.

    Raises:
        TraceFileError: the chunks cannot be read (a damaged file).
    """
    import numpy as np

    from ._columns import RunColumns

    blobs = ", ".join(COLUMNS[:-1])  # every column but the payload texts
    parts: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    parent_base = payload_base = found = 0
    try:
        cursor = con.execute(
            f"SELECT seq, n, {blobs} FROM chunks WHERE run = ? ORDER BY seq", (run,)
        )
        for row in cursor:
            if limit is not None and found >= limit:
                break
            seq, n, ip_id, kind, port_id, activation, t_ns = row[:7]
            kinds = np.frombuffer(kind, dtype="i1")
            ports = np.frombuffer(port_id, dtype="<i4")
            if len(kinds) != n or len(ports) != n:
                msg = f"chunk {seq} holds {len(kinds)} kinds and {len(ports)} ports for {n} records"
                raise ValueError(msg)
            at = np.flatnonzero(keep(kinds, ports))
            if limit is not None:
                at = at[: limit - found]
            if not len(at):
                continue
            found += len(at)
            parts["ip_id"].append(np.frombuffer(ip_id, dtype="<i8")[at])
            parts["kind"].append(kinds[at])
            parts["port_id"].append(ports[at])
            parts["activation"].append(np.frombuffer(activation, dtype="<i8")[at])
            parts["t_ns"].append(np.frombuffer(t_ns, dtype="<i8")[at])
            ends = np.frombuffer(row[7], dtype="<i8")
            starts = np.where(at > 0, ends[np.maximum(at - 1, 0)], 0)
            parents, parent_ends = _gather(np.frombuffer(row[8], dtype="<i8"), starts, ends[at], np)
            parts["parents"].append(parents)
            parts["parent_ends"].append(parent_ends + parent_base)
            parent_base += len(parents)
            (texts,) = con.execute("SELECT payloads FROM chunks WHERE seq = ?", (seq,)).fetchone()
            payloads, payload_ends = _gather(
                np.frombuffer(texts, dtype=np.uint8),
                np.frombuffer(row[9], dtype="<i8")[at],
                np.frombuffer(row[10], dtype="<i8")[at],
                np,
            )
            sizes = np.diff(payload_ends, prepend=np.int64(0))
            parts["payloads"].append(payloads.tobytes())
            parts["payload_ends"].append(payload_ends + payload_base)
            parts["payload_starts"].append(payload_ends - sizes + payload_base)
            payload_base += len(payloads)
    except (sqlite3.DatabaseError, ValueError) as exc:
        msg = f"cannot read the records of trace {path!r}, which looks damaged: {exc}"
        raise TraceFileError(path, msg) from exc

    def cat(name: str, dtype: str) -> Any:
        if not parts[name]:
            return np.empty(0, dtype=dtype)
        return np.concatenate(parts[name]).astype(dtype.replace("<", "="), copy=False)

    return RunColumns(
        ip_id=cat("ip_id", "<i8"),
        kind=cat("kind", "i1"),
        port_id=cat("port_id", "<i4"),
        activation=cat("activation", "<i8"),
        t_ns=cat("t_ns", "<i8"),
        parent_ends=cat("parent_ends", "<i8"),
        parents=cat("parents", "<i8"),
        payload_starts=cat("payload_starts", "<i8"),
        payload_ends=cat("payload_ends", "<i8"),
        payload_data=b"".join(parts["payloads"]),
    )


def concatenated(
    parts: list[RunColumns], payload_sizes: Callable[[], list[int]] | None = None
) -> RunColumns:
    """Columns of records read apart (from the segments of a rotated trace, in order)
    as one run's: each column joined on first use (and let go in the parts), the
    offsets into the ragged columns (parents, payloads) shifted. ``payload_sizes``:
    the payload bytes of every part but the last, when known without reading them."""
    if len(parts) == 1:
        return parts[0]
    import numpy as np

    from ._columns import RunColumns

    def joined(name: str) -> Callable[[], Any]:
        def read() -> Any:
            out = np.concatenate([getattr(c, name) for c in parts])
            for c in parts:
                c.release(name)
            return out

        return read

    def shifted(name: str, sizes: Callable[[], list[int]]) -> Callable[[], Any]:
        def read() -> Any:
            shifts = np.cumsum([0, *sizes()])
            out = np.concatenate(
                [getattr(c, name) + s for c, s in zip(parts, shifts.tolist(), strict=False)]
            )
            for c in parts:
                c.release(name)
            return out

        return read

    def parent_sizes() -> list[int]:
        return [len(c.parents) for c in parts[:-1]]

    def read_payload_sizes() -> list[int]:
        return [len(c.payload_data) for c in parts[:-1]]

    def payloads() -> bytes:
        out = b"".join(c.payload_data for c in parts)
        for c in parts:
            c.release("payload_data")
        return out

    sizes = payload_sizes or read_payload_sizes
    return RunColumns(
        ip_id=joined("ip_id"),
        kind=joined("kind"),
        port_id=joined("port_id"),
        activation=joined("activation"),
        t_ns=joined("t_ns"),
        parent_ends=shifted("parent_ends", parent_sizes),
        parents=joined("parents"),
        payload_starts=shifted("payload_starts", sizes),
        payload_ends=shifted("payload_ends", sizes),
        payload_data=payloads,
        length=sum(len(c) for c in parts),
    )
