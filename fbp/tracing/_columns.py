"""One run's records as columns (numpy arrays), what every query of a run reads.

A run's records are held as parallel arrays in write order, plus two ragged columns
stored the Arrow way (one flat array and the end offset of each record's slice):

- ``ip_id`` int64, ``kind`` int8, ``port_id`` int32, ``activation`` int64,
  ``t_ns`` int64: one value per record;
- ``parent_ends`` int64 and ``parents`` int64: the parents of record ``i`` are
  ``parents[parent_ends[i - 1]:parent_ends[i]]`` (``parent_ends[-1]`` is 0 for ``i = 0``);
- ``payload_starts``, ``payload_ends`` int64 and ``payload_data`` bytes: the payload
  of record ``i`` as JSON text is ``payload_data[payload_starts[i]:payload_ends[i]]``
  (records of one forwarded payload may share a slice); an empty slice means the
  payload was not recorded.

numpy is imported with this module (it comes with the ``trace`` extra).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, overload

import numpy as np
import numpy.typing as npt
import orjson

from .._core._record import DEAD, DEFINING, DROP

__all__ = ("RunColumns",)

I64 = npt.NDArray[np.int64]
A = TypeVar("A")

#: An integer of 19 digits or more (beyond orjson's 64 bits). Not the digits after a
#: decimal point: a small float such as 0.0012345678901234567 must not send a whole
#: block to the slower json module.
_LONG_NUMBER = re.compile(rb"[^0-9.][0-9]{19}")

_DEFINING = np.arange(DEFINING + 1, dtype=np.int8)


#: Payloads decoded per JSON parse (bounds the memory of the gathered text).
_DECODE_BLOCK = 65536


def _compiled() -> Any:
    """``fbp.tracing._scan``, the C passes over a run's columns, or None where it is not
    built or ``FBP_NO_ACCEL`` is set."""
    from fbp._core._compiled import load

    return load("fbp.tracing._scan")


_scan: Any = _compiled()


def _hugepage_setter() -> Callable[[bool], bool] | None:
    """numpy's switch of transparent huge pages for large arrays, if it has one."""
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            import importlib

            fn: Callable[[bool], bool] = importlib.import_module(module)._set_madvise_hugepage
        except (ImportError, AttributeError):
            continue
        return fn
    return None


@contextmanager
def small_pages() -> Iterator[None]:
    """Large arrays made meanwhile use ordinary pages (the setting before is restored).

    numpy asks the kernel for transparent huge pages for large arrays; where memory is
    fragmented (a busy machine, with the kernel's default ``defrag = madvise``) the
    first touch of each may wait for the kernel to compact memory. A causal table of a
    run of 20 million records, which makes many large temporary arrays, spent more
    time in the kernel than in Python that way (9.4 s against 3.5 s of system time).
    """
    setter = _hugepage_setter()
    if setter is None:
        yield
        return
    before = setter(False)
    try:
        yield
    finally:
        setter(before)


def _python_join(data: bytes, starts: I64, ends: I64) -> tuple[bytes, bool]:
    joined = _json_array(data, starts, ends)
    return joined, _LONG_NUMBER.search(joined) is not None


#: ``join(data, starts, ends) -> (text, long)``: the JSON array of the payload texts
#: ``data[s:e]`` (``null`` for an empty one), and whether it holds an integer of 19
#: digits or more (which orjson would read as a float).
_join: Callable[[bytes, I64, I64], tuple[bytes, bool]] = (
    _scan.join if _scan is not None else _python_join
)


def _tuples(flat: I64, starts: I64, ends: I64) -> list[tuple[int, ...]]:
    """``[tuple(flat[s:e]) for s, e in zip(starts, ends)]``, built a slice length at a
    time (records mostly have the same number of parents)."""
    n = len(starts)
    counts = ends - starts
    kinds = np.unique(counts)
    if len(kinds) == 1:  # one length for all: no scattering
        k = int(kinds[0])
        if k == 0:
            return [()] * n
        values = flat[(starts[:, None] + np.arange(k)).ravel()].reshape(-1, k)
        return list(zip(*values.T.tolist(), strict=True))
    out = np.empty(n, dtype=object)
    for k in kinds.tolist():
        at = np.flatnonzero(counts == k)
        if k == 0:
            out[at] = np.fromiter([()] * len(at), dtype=object, count=len(at))
            continue
        values = flat[(starts[at][:, None] + np.arange(k)).ravel()].reshape(-1, k)
        rows = list(zip(*values.T.tolist(), strict=True))
        out[at] = np.fromiter(rows, dtype=object, count=len(rows))
    result: list[tuple[int, ...]] = out.tolist()
    return result


def _json_array(data: bytes, starts: I64, ends: I64) -> bytes:
    """The JSON array of the texts ``data[s:e]``, ``null`` for an empty one; gathered
    with one numpy indexing (``data`` is read in place, never copied: a run's payload
    texts are read a block at a time)."""
    n = len(starts)
    if not n:
        return b"[]"
    lens = ends - starts
    absent = lens == 0
    if len(data) < 4:
        data = data + b"    "  # room for the placeholder gather of an absent text
    src = np.frombuffer(data, dtype=np.uint8)
    starts = np.where(absent, 0, starts)
    lens = np.where(absent, 4, lens)
    seg = lens + 1  # each text and a comma
    out_end = np.cumsum(seg)
    out_start = out_end - seg
    total = int(out_end[-1])
    index = np.repeat(starts - out_start, seg) + np.arange(total, dtype=np.int64)
    index[out_end - 1] = 0
    body = src[index]
    body[out_end - 1] = ord(",")
    if absent.any():
        at = out_start[absent]
        body[(at[:, None] + np.arange(4)).ravel()] = np.tile(
            np.frombuffer(b"null", dtype=np.uint8), len(at)
        )
    return b"[" + body[:-1].tobytes() + b"]"


def _starts_at(ends: I64, rows: npt.NDArray[np.intp]) -> I64:
    """The starts of the slices of ``rows`` (the end of the slice before each)."""
    before = np.asarray(rows, dtype=np.intp) - 1
    out: I64 = np.where(before >= 0, ends[np.maximum(before, 0)], 0).astype(np.int64)
    return out


def _starts(ends: I64) -> I64:
    out = np.empty_like(ends)
    if len(ends):
        out[0] = 0
        out[1:] = ends[:-1]
    return out


class _Column(Generic[A]):
    """A column of :class:`RunColumns`: an array, or a function that reads it on first
    use (and again after :meth:`RunColumns.release`)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> _Column[A]: ...
    @overload
    def __get__(self, obj: RunColumns, objtype: type | None = None) -> A: ...
    def __get__(self, obj: RunColumns | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._get(self.name)

    def __set__(self, obj: RunColumns, value: A | Callable[[], A]) -> None:
        obj._set(self.name, value)


class RunColumns:
    """A run's records as columns, in write order (see the module docstring).

    Each column may be given as a function that reads it (or that reads several and
    returns them by name, a dict): it is then read on first use
    (a query reads only the columns it needs: counting and lineage never read the
    payload texts, the causal tables never read the times) and can be let go with
    :meth:`release` once a query is done with it.
    """

    ip_id = _Column[I64]()
    kind = _Column[npt.NDArray[np.int8]]()
    port_id = _Column[npt.NDArray[np.int32]]()
    activation = _Column[I64]()
    t_ns = _Column[I64]()
    parent_ends = _Column[I64]()
    parents = _Column[I64]()
    payload_starts = _Column[I64]()
    payload_ends = _Column[I64]()
    payload_data = _Column[bytes]()
    """Every payload's JSON text, one after the other."""

    def __init__(
        self,
        *,
        ip_id: I64 | Callable[[], I64],
        kind: npt.NDArray[np.int8] | Callable[[], npt.NDArray[np.int8]],
        port_id: npt.NDArray[np.int32] | Callable[[], npt.NDArray[np.int32]],
        activation: I64 | Callable[[], I64],
        t_ns: I64 | Callable[[], I64],
        parent_ends: I64 | Callable[[], I64],
        parents: I64 | Callable[[], I64],
        payload_starts: I64 | Callable[[], I64],
        payload_ends: I64 | Callable[[], I64],
        payload_data: bytes | Callable[[], bytes],
        length: int | None = None,
    ) -> None:
        self._data: dict[str, Any] = {}
        self._readers: dict[str, Callable[[], Any]] = {}
        self.ip_id = ip_id
        self.kind = kind
        self.port_id = port_id
        self.activation = activation
        self.t_ns = t_ns
        self.parent_ends = parent_ends
        self.parents = parents
        self.payload_starts = payload_starts
        self.payload_ends = payload_ends
        self.payload_data = payload_data
        self._length = length
        self._links: tuple[I64, I64, npt.NDArray[np.int16]] | None = None
        self._adjacency: dict[bool, tuple[I64, I64]] = {}
        self._by_port: dict[int, tuple[npt.NDArray[np.integer[Any]], dict[int, slice]]] = {}

    def _set(self, name: str, value: Any) -> None:
        if callable(value):
            self._readers[name] = value
            self._data.pop(name, None)
        else:
            self._readers.pop(name, None)
            self._data[name] = value

    def _get(self, name: str) -> Any:
        value = self._data.get(name)
        if value is None:
            value = self._readers[name]()
            if isinstance(value, dict):  # a reader of several columns at once
                for other, column in value.items():
                    if other in self._readers:
                        self._data.setdefault(other, column)
                value = value[name]
            self._data[name] = value
        return value

    def release(self, *names: str) -> None:
        """Let go of the columns ``names`` that were read from a file (they are read
        again if used again); columns given as arrays are kept."""
        for name in names:
            if name in self._readers:
                self._data.pop(name, None)
        if "parents" in names or "parent_ends" in names:
            self._links = None
            self._adjacency.clear()

    def __len__(self) -> int:
        if self._length is None:
            self._length = len(self.kind)
        return self._length

    # -- lineage --------------------------------------------------------------------------

    def links(self) -> tuple[I64, I64, npt.NDArray[np.int16]]:
        """Every parent link once, as ``(child, parent, ord)`` in the order of the
        child records, parents in their order.

        An IP recorded twice (a dead letter's marker and its data record) lists its
        parents once.
        """
        if self._links is None:
            self._links = self._make_links()
        return self._links

    def _make_links(self) -> tuple[I64, I64, npt.NDArray[np.int16]]:
        counts = np.diff(self.parent_ends, prepend=np.int64(0))
        keep = self._first_records(counts)
        if keep is not None:  # an IP recorded twice: keep its first record's parents
            mask = np.repeat(keep, counts)
            counts = np.where(keep, counts, 0)
            return self._links_of(counts, self.parents[mask])
        return self._links_of(counts, self.parents)

    def _first_records(self, counts: I64) -> npt.NDArray[np.bool_] | None:
        """Which records' parents count (None: all): of an IP recorded twice with
        parents (a dead letter's marker and its data record), only the first's."""
        has = counts > 0
        ids = self.ip_id[has]
        # The runtime numbers IPs in send order, so the ids of the records with
        # parents usually increase; otherwise sort them to look for repeats.
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            repeat = np.zeros(len(ids), dtype=bool)
            repeat[order[1:]] = ids[order[1:]] == ids[order[:-1]]
            if repeat.any():
                keep = np.ones(len(counts), dtype=bool)
                keep[np.flatnonzero(has)[repeat]] = False
                return keep
        return None

    def data_links(self, is_data: npt.NDArray[np.bool_]) -> tuple[I64, I64]:
        """The links of :meth:`links` both ends of which are IPs ``is_data`` holds
        (indexed by IP id; ids beyond it are not), as ``(child, parent)``: in C in
        one pass over the records, or a block of records at a time; never the arrays
        of every link."""
        counts = np.diff(self.parent_ends, prepend=np.int64(0))
        keep = self._first_records(counts)
        del counts
        if _scan is not None:
            mask = np.ascontiguousarray(is_data, dtype=np.bool_)
            args = (
                np.ascontiguousarray(self.ip_id, dtype=np.int64),
                np.ascontiguousarray(self.parent_ends, dtype=np.int64),
                np.ascontiguousarray(self.parents, dtype=np.int64),
                mask,
                keep,
            )
            n = _scan.data_links(*args, None, None)
            child = np.empty(n, dtype=np.int64)
            parent = np.empty(n, dtype=np.int64)
            _scan.data_links(*args, child, parent)
            return child, parent
        size = len(is_data)
        keep_c: list[I64] = []
        keep_p: list[I64] = []
        for c, p in self.link_blocks(keep=keep):
            if len(c) and (min(c.min(), p.min()) < 0 or max(c.max(), p.max()) >= size):
                inside = (c >= 0) & (c < size) & (p >= 0) & (p < size)
                c, p = c[inside], p[inside]
            ok = is_data[p]
            ok &= is_data[c]
            keep_c.append(c[ok])
            keep_p.append(p[ok])
        if not keep_c:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        child = keep_c[0] if len(keep_c) == 1 else np.concatenate(keep_c)
        del keep_c
        parent = keep_p[0] if len(keep_p) == 1 else np.concatenate(keep_p)
        return child, parent

    def link_blocks(
        self, block: int = 1 << 20, *, keep: npt.NDArray[np.bool_] | bool | None = True
    ) -> Iterator[tuple[I64, I64]]:
        """The links of :meth:`links` as ``(child, parent)``, a block of ``block``
        records at a time: for a query that keeps only some links, without the
        arrays of all of them. (``keep``: which records' parents count, if known.)"""
        ends = self.parent_ends
        parents = self.parents
        ids = self.ip_id
        if keep is True:
            keep = self._first_records(np.diff(ends, prepend=np.int64(0)))
        assert keep is None or not isinstance(keep, bool)
        for a in range(0, len(ends), block):
            b = min(a + block, len(ends))
            start = int(ends[a - 1]) if a else 0
            counts = np.diff(ends[a:b], prepend=np.int64(start))
            par = parents[start : int(ends[b - 1])]
            if keep is not None:
                mine = keep[a:b]
                par = par[np.repeat(mine, counts)]
                counts = np.where(mine, counts, 0)
            yield np.repeat(ids[a:b], counts), par

    def _links_of(self, counts: I64, parents: I64) -> tuple[I64, I64, npt.NDArray[np.int16]]:
        child = np.repeat(self.ip_id, counts)
        ends = np.cumsum(counts)
        first = np.repeat(ends - counts, counts)
        order = np.arange(len(parents), dtype=np.int64) - first
        return child, parents, order.astype(np.int16)

    def adjacency(self, *, up: bool) -> tuple[I64, I64]:
        """The links sorted for walking: ``(child, parent)`` sorted by child when
        ``up``, else ``(parent, child)`` sorted by parent."""
        if up not in self._adjacency:
            child, parent, _ = self.links()
            keys, values = (child, parent) if up else (parent, child)
            order = np.argsort(keys, kind="stable")
            self._adjacency[up] = (keys[order], values[order])
        return self._adjacency[up]

    def parents_of(self, ip_ids: Sequence[int]) -> dict[int, tuple[int, ...]]:
        """The parents of the IPs ``ip_ids`` that have some, by IP id."""
        keys, values = self.adjacency(up=True)
        wanted = np.asarray(ip_ids, dtype=np.int64)
        lo = np.searchsorted(keys, wanted, "left").tolist()
        hi = np.searchsorted(keys, wanted, "right").tolist()
        return {
            int(w): tuple(values[a:b].tolist())
            for w, a, b in zip(wanted.tolist(), lo, hi, strict=True)
            if b > a
        }

    def record_parents(self, rows: npt.NDArray[np.intp]) -> list[tuple[int, ...]]:
        """The parents of the records at ``rows``; a record with none of its own (a
        drop marker) shows those of the IP it is about."""
        ends = self.parent_ends
        s = _starts_at(ends, rows)
        e = ends[rows]
        if not len(rows):
            return []
        out = _tuples(self.parents, s, e)
        kinds = self.kind[rows]
        borrowed = np.flatnonzero((kinds == DROP) | (kinds == DEAD))
        if len(borrowed):
            ids = self.ip_id[rows]
            by_ip = self.parents_of(ids[borrowed].tolist())
            for k in borrowed.tolist():
                if not out[k]:
                    out[k] = by_ip.get(int(ids[k]), ())
        return out

    # -- payloads -------------------------------------------------------------------------

    def payload_recorded(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
        """Whether each record at ``rows`` has its payload recorded."""
        ends = self.payload_ends
        return ends[rows] > self.payload_starts[rows]

    def payload_texts(self, rows: npt.NDArray[np.intp]) -> list[bytes]:
        """The payload JSON of the records at ``rows`` (``b""`` when not recorded)."""
        ends = self.payload_ends
        data = self.payload_data
        s = self.payload_starts[rows].tolist()
        e = ends[rows].tolist()
        return [data[a:b] for a, b in zip(s, e, strict=True)]

    def payload_values(self, rows: npt.NDArray[np.intp]) -> list[Any]:
        """The decoded payloads of the records at ``rows`` (None when not recorded),
        with one JSON parse."""
        if not len(rows):
            return []
        out: list[Any] = []
        data = self.payload_data
        for k in range(0, len(rows), _DECODE_BLOCK):
            block = rows[k : k + _DECODE_BLOCK]
            joined, long = _join(data, self.payload_starts[block], self.payload_ends[block])
            if long:  # orjson reads integers beyond 64 bits as floats
                out += json.loads(joined)
            else:
                out += orjson.loads(joined)
        return out

    def payload_numbers(self, rows: npt.NDArray[np.intp]) -> npt.NDArray[np.float64] | None:
        """The payloads of the records at ``rows`` as floats (NaN where not recorded or
        null), or None when one is not a JSON number or null, or where the C passes
        are not built: the numbers :meth:`payload_values` would give, without making
        them Python objects."""
        if _scan is None:
            return None
        out = np.empty(len(rows), dtype=np.float64)
        starts = np.ascontiguousarray(self.payload_starts[rows], dtype=np.int64)
        ends = np.ascontiguousarray(self.payload_ends[rows], dtype=np.int64)
        if not _scan.numbers(self.payload_data, starts, ends, out):
            return None
        return out

    # -- selections -----------------------------------------------------------------------

    def rows_of(self, port_ids: Sequence[int], kinds: Sequence[int]) -> npt.NDArray[np.intp]:
        """The positions of the records of ``kinds`` sent on ``port_ids``, in order.

        The records of a kind are grouped by port once (one sort), so that asking for
        a few ports costs the size of their records, not of the run's.
        """
        parts = []
        for k in sorted({int(k) for k in kinds}):
            rows, slices = self.by_port(k)
            parts += [
                rows[slices[p]] for p in dict.fromkeys(int(p) for p in port_ids) if p in slices
            ]
        if not parts:
            return np.empty(0, dtype=np.intp)
        if len(parts) == 1:
            return parts[0].astype(np.intp)
        return np.sort(np.concatenate(parts)).astype(np.intp, copy=False)

    def by_port(self, kind: int) -> tuple[npt.NDArray[np.integer[Any]], dict[int, slice]]:
        """The records of ``kind`` grouped by port: their positions sorted by port (in
        write order within a port), and each port's slice of them. Made once."""
        index = self._by_port.get(kind)
        if index is None:
            index = self._by_port[kind] = self._group_by_port(kind)
        return index

    def _group_by_port(self, kind: int) -> tuple[npt.NDArray[np.integer[Any]], dict[int, slice]]:
        port_id = self.port_id
        mine = self.kind == kind
        k = int(np.count_nonzero(mine))
        if _scan is not None and k and int(port_id.min()) >= 0:
            # A counting sort, in one pass (no mask, no argsort over the records).
            del mine
            counts = np.zeros(int(port_id.max()) + 1, dtype=np.int64)
            out: npt.NDArray[np.integer[Any]] = np.empty(
                k, dtype=np.int32 if len(self) < 1 << 31 else np.int64
            )
            _scan.group(
                np.ascontiguousarray(self.kind, dtype=np.int8),
                np.ascontiguousarray(port_id, dtype=np.int32),
                kind,
                counts,
                out,
            )
            stops = np.cumsum(counts)
            some = np.flatnonzero(counts)
            return out, {
                int(p): slice(int(stops[p] - counts[p]), int(stops[p])) for p in some.tolist()
            }
        sel: npt.NDArray[np.integer[Any]] = np.flatnonzero(mine)
        del mine
        if len(self) < 1 << 31:  # half the memory of the index
            sel = sel.astype(np.int32)
        ports = self.port_id[sel]
        if len(ports) and ports.min() >= 0 and ports.max() < 1 << 16:
            order = np.argsort(ports.astype(np.uint16), kind="stable")  # a radix sort
        else:
            order = np.argsort(ports, kind="stable")
        rows = sel[order]
        ports = ports[order]
        del sel, order
        slices: dict[int, slice] = {}
        if len(ports):
            cuts = np.flatnonzero(ports[1:] != ports[:-1]) + 1
            starts = [0, *cuts.tolist()]
            ends = [*cuts.tolist(), len(ports)]
            for a, b in zip(starts, ends, strict=True):
                slices[int(ports[a])] = slice(a, b)
        return rows, slices

    def defining_rows(self) -> npt.NDArray[np.intp]:
        """Positions of the records that introduce an IP (not drop or dead markers)."""
        return np.flatnonzero(np.isin(self.kind, _DEFINING))
