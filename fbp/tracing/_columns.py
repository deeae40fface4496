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
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

__all__ = ("RunColumns",)

I64 = npt.NDArray[np.int64]

#: An integer of 19 digits or more (beyond orjson's 64 bits). Not the digits after a
#: decimal point: a small float such as 0.0012345678901234567 must not send a whole
#: block to the slower json module.
_LONG_NUMBER = re.compile(rb"[^0-9.][0-9]{19}")

_DEFINING = np.array([0, 1, 2, 3], dtype=np.int8)


#: Payloads decoded per JSON parse (bounds the memory of the gathered text).
_DECODE_BLOCK = 65536


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


class RunColumns:
    """A run's records as columns, in write order (see the module docstring).

    The payload texts are read on first use (``payload_data`` may be a function that
    reads them), since counting and lineage never need them.
    """

    def __init__(
        self,
        *,
        ip_id: I64,
        kind: npt.NDArray[np.int8],
        port_id: npt.NDArray[np.int32],
        activation: I64,
        t_ns: I64,
        parent_ends: I64,
        parents: I64,
        payload_starts: I64,
        payload_ends: I64,
        payload_data: bytes | Callable[[], bytes],
    ) -> None:
        self.ip_id = ip_id
        self.kind = kind
        self.port_id = port_id
        self.activation = activation
        self.t_ns = t_ns
        self.parent_ends = parent_ends
        self.parents = parents
        self.payload_starts = payload_starts
        self.payload_ends = payload_ends
        self._payload_data = payload_data
        self._links: tuple[I64, I64, npt.NDArray[np.int16]] | None = None
        self._adjacency: dict[bool, tuple[I64, I64]] = {}

    def __len__(self) -> int:
        return len(self.ip_id)

    @property
    def payload_data(self) -> bytes:
        """Every payload's JSON text, one after the other."""
        data = self._payload_data
        if not isinstance(data, bytes):
            data = self._payload_data = data()
        return data

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
        has = counts > 0
        ids = self.ip_id[has]
        # The runtime numbers IPs in send order, so the ids of the records with
        # parents usually increase; otherwise sort them to look for repeats.
        if len(ids) > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            repeat = np.zeros(len(ids), dtype=bool)
            repeat[order[1:]] = ids[order[1:]] == ids[order[:-1]]
            if repeat.any():  # an IP recorded twice: keep its first record's parents
                keep = np.ones(len(counts), dtype=bool)
                keep[np.flatnonzero(has)[repeat]] = False
                counts = np.where(keep, counts, 0)
                mask = np.repeat(keep, np.diff(self.parent_ends, prepend=np.int64(0)))
                return self._links_of(counts, self.parents[mask])
        return self._links_of(counts, self.parents)

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
        borrowed = np.flatnonzero((kinds == 4) | (kinds == 5))
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
            joined = _json_array(data, self.payload_starts[block], self.payload_ends[block])
            if _LONG_NUMBER.search(joined):  # orjson reads integers beyond 64 bits as floats
                out += json.loads(joined)
            else:
                out += orjson.loads(joined)
        return out

    # -- selections -----------------------------------------------------------------------

    def rows_of(self, port_ids: Sequence[int], kinds: Sequence[int]) -> npt.NDArray[np.intp]:
        """The positions of the records of ``kinds`` sent on ``port_ids``, in order."""
        mask = np.isin(self.port_id, np.asarray(port_ids, dtype=np.int32)) & np.isin(
            self.kind, np.asarray(kinds, dtype=np.int8)
        )
        return np.flatnonzero(mask)

    def defining_rows(self) -> npt.NDArray[np.intp]:
        """Positions of the records that introduce an IP (not drop or dead markers)."""
        return np.flatnonzero(np.isin(self.kind, _DEFINING))
