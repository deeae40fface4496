"""Units of work in recorded runs, and what a port produced for each.

A unit of work is a root IP: a data IP none of whose parents is a data IP, as in the
causal tables. A replay keeps the recorded units' ids, so the runs of one replay
family are compared unit by unit, by id.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..._core._address import parse_variable
from ._run import ReplayError
from ._source import Recorded

__all__ = (
    "Outputs",
    "Target",
    "differences",
    "numeric_gap",
    "outputs",
    "parse_target",
    "same",
    "target_values",
    "unit_ids",
)


@dataclass(frozen=True)
class Target:
    """A port (every element of an array port) and an optional payload field."""

    text: str
    #: Port addresses of the recorded run.
    ports: tuple[str, ...]
    field: str | None

    @property
    def port(self) -> str:
        """The port as written (without the field)."""
        return self.text if self.field is None else self.text[: -len(self.field) - 1]


def parse_target(text: str, recorded: Recorded) -> Target:
    """Resolve ``P.PORT[.field]`` (``P.PORT[i]`` for one element) against a run's ports.

    Raises:
        ReplayError: no port matches; the message lists close ones.
    """
    outs = [p for p in recorded.ports if p.direction == "out"]
    parsed = parse_variable(text)
    ports: list[str] = []
    field = None
    if parsed is not None:
        address, field = parsed
        wanted = str(address)
        ports = [p.address for p in outs if p.address == wanted]
        if not ports and address.index is None:
            ports = [p.address for p in outs if p.address.startswith(wanted + "[")]
    if not ports:
        close = difflib.get_close_matches(text, [p.address for p in outs], n=3)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        msg = f"no output port {text!r} in the recorded run (write P.PORT or P.PORT.field){hint}"
        raise ReplayError(msg)
    return Target(text=text, ports=tuple(ports), field=field or None)


def unit_ids(recorded: Recorded, unit: str | None = None) -> tuple[str, list[int]]:
    """The unit port (given, or the source port that sent the most roots) and the ids
    of the units it sent, in order.

    Raises:
        ReplayError: the run has no root IPs, or ``unit`` sent none.
    """
    ids, ports = recorded.data_roots()
    by_id = {p.port_id: p.address for p in recorded.ports}
    counts: dict[str, int] = {}
    found, many = np.unique(ports, return_counts=True)
    for pid, k in zip(found.tolist(), many.tolist(), strict=True):
        counts[by_id[pid]] = counts.get(by_id[pid], 0) + k
    if not counts:
        msg = f"run {recorded.run_id} has no data IPs: nothing to compare unit by unit"
        raise ReplayError(msg)
    if unit is None:
        unit = max(counts, key=lambda a: (counts[a], a))
    elif unit not in counts:
        close = difflib.get_close_matches(unit, list(counts), n=1)
        msg = (
            f"{unit} sent no root IPs; unit ports are source ports: {', '.join(sorted(counts))}"
            + (f"; did you mean {close[0]!r}?" if close else "")
        )
        raise ReplayError(msg)
    wanted = [k for k, a in by_id.items() if a == unit]
    mask = np.isin(ports, np.asarray(wanted, dtype=np.int32))
    return unit, ids[mask].tolist()


def _number(x: Any, field: str | None, where: str) -> float | None:
    if field:
        for part in field.split("."):
            x = x.get(part) if isinstance(x, Mapping) else None
    if x is None:
        return None
    if isinstance(x, bool | int | float):
        return float(x)
    if isinstance(x, Mapping):
        numeric = sorted(k for k, v in x.items() if isinstance(v, bool | int | float))
        hint = f"; name one, e.g. {where}.{numeric[0]}" if numeric else ""
        msg = f"{where} carries objects, not numbers{hint}"
        raise ReplayError(msg)
    return None


def _numbers(payloads: list[Any], target: Target) -> np.ndarray:
    """The target's number in each payload (NaN where it has none)."""
    picked = payloads
    if target.field is not None and "." not in target.field:
        f = target.field
        picked = [p.get(f) if type(p) is dict else None for p in payloads]
    elif target.field is not None:
        picked = [_pick(p, target.field) for p in payloads]
    try:
        out: np.ndarray = np.array([np.nan if x is None else x for x in picked], dtype=float)
        if out.dtype == float and not any(type(x) is dict for x in picked[:1]):
            return out
    except (TypeError, ValueError):
        pass
    return np.array(
        [np.nan if (x := _number(p, None, target.text)) is None else x for p in picked],
        dtype=float,
    )


def _pick(x: Any, field: str) -> Any:
    for part in field.split("."):
        x = x.get(part) if isinstance(x, Mapping) else None
    return x


def target_values(recorded: Recorded, target: Target, units: Sequence[int]) -> np.ndarray:
    """The target's value for each unit: the mean of the values of its IPs at the
    target, 0 where the target sent nothing for it (as the causal tables have it)."""
    ports = [recorded.by_address[a].port_id for a in target.ports]
    rows = recorded.rows(ports, (0,))
    _, payloads = recorded.payloads(ports)
    xs = _numbers(payloads, target)
    wanted = np.asarray(units, dtype=np.int64)
    order = np.argsort(wanted, kind="stable")
    sums: np.ndarray = np.zeros(len(wanted))
    counts: np.ndarray = np.zeros(len(wanted))
    single = recorded.single_units(rows)
    fast = single >= 0

    unit_of, values = single[fast], xs[fast]
    slow = np.flatnonzero(~fast)
    if len(slow):  # IPs of several units (joins, aggregates): the value goes to each
        keys = recorded.unit_keys(rows[slow])
        ids = [u for key in keys for u in key]
        vals = [xs[k] for k, key in zip(slow.tolist(), keys, strict=True) for _ in key]
        unit_of = np.concatenate([unit_of, np.asarray(ids, dtype=np.int64)])
        values = np.concatenate([values, np.asarray(vals, dtype=float)])
    if len(wanted) and len(unit_of):
        # Summed in the order of the IPs, one unit at a time.
        pos = np.minimum(np.searchsorted(wanted[order], unit_of), len(wanted) - 1)
        hit = (wanted[order][pos] == unit_of) & ~np.isnan(values)
        at = order[pos[hit]]
        if len(at):
            sums = np.bincount(at, weights=values[hit], minlength=len(wanted))
            counts = np.bincount(at, weights=np.ones(len(at)), minlength=len(wanted))
    out: np.ndarray = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return out


@dataclass
class Outputs:
    """What one output port sent in a run: where its payload texts are, and their units.

    The texts stay in the run's payload column (``raw[starts[i]:ends[i]]``, an empty
    slice for a payload not recorded): runs are compared on those bytes with numpy,
    and only the texts asked for become ``bytes`` of their own.
    """

    raw: bytes
    starts: npt.NDArray[np.int64]
    ends: npt.NDArray[np.int64]
    #: Each IP's unit, or -1 for none or several.
    units: np.ndarray
    #: The units each IP descends from, for IPs of none or several (None when every IP
    #: has exactly one unit and no unit has two IPs: the fast case).
    keys: list[tuple[int, ...]] | None
    #: The run and the port, whose decoded payloads give the mean.
    source: Recorded | None = None
    port_id: int = -1

    @property
    def ips(self) -> int:
        """Data IPs sent."""
        return len(self.starts)

    @property
    def data(self) -> npt.NDArray[np.uint8]:
        """The payload column as bytes, for numpy (not a copy)."""
        return np.frombuffer(self.raw, dtype=np.uint8)

    def text(self, k: int) -> bytes:
        """The payload JSON of the ``k``-th IP (``b""`` when it was not recorded)."""
        return self.raw[int(self.starts[k]) : int(self.ends[k])]

    @property
    def texts(self) -> list[bytes]:
        """Every payload JSON, in order."""
        raw = self.raw
        return [raw[a:b] for a, b in zip(self.starts.tolist(), self.ends.tolist(), strict=True)]

    def below(self, bound: int) -> Outputs:
        """The IPs of one unit each whose unit's id is below ``bound``."""
        keep = np.flatnonzero((self.units >= 0) & (self.units < bound))
        if self.keys is not None:
            keep = keep[[len(self.keys[k]) == 1 for k in keep.tolist()]]
        return Outputs(
            self.raw,
            self.starts[keep],
            self.ends[keep],
            self.units[keep],
            None if self.keys is None else [self.keys[k] for k in keep.tolist()],
            source=self.source,
            port_id=self.port_id,
        )

    def unit_count(self) -> int:
        """How many units it sent something for."""
        return len(self.units) if self.keys is None else len(self.by_unit())

    def by_unit(self) -> dict[Any, tuple[bytes, ...]]:
        """The payload texts by unit (an int) or units (a tuple)."""
        if self.keys is None:
            return {u: (t,) for u, t in zip(self.units.tolist(), self.texts, strict=True)}
        groups: dict[Any, list[bytes]] = {}
        for key, text in zip(self.keys, self.texts, strict=True):
            k: Any = key[0] if len(key) == 1 else key
            groups.setdefault(k, []).append(text)
        return {k: tuple(sorted(v)) for k, v in groups.items()}

    def mean(self) -> float | None:
        """The mean of the recorded payloads when they are numbers, else None."""
        kept = self.ends > self.starts
        if self.source is None or not kept.any():
            return None
        first = int(self.starts[np.argmax(kept)])
        if self.raw[first : first + 1] in (b"{", b"[", b'"', b"t", b"f", b"n"):
            return None
        try:
            _, values = self.source.payloads([self.port_id])
        except ValueError:
            return None
        if not kept.all():
            values = [v for v, k in zip(values, kept.tolist(), strict=True) if k]
        try:
            return float(np.mean(np.asarray(values, dtype=float)))
        except (TypeError, ValueError):
            return None


def outputs(recorded: Recorded, address: str) -> Outputs:
    """What the port at ``address`` sent (nothing when the run has no such port)."""
    port = recorded.by_address.get(address)
    none = np.zeros(0, dtype=np.int64)
    if port is None:
        return Outputs(b"", none, none, none, None)
    c = recorded.columns
    rows = recorded.rows([port.port_id], (0,))
    units = recorded.single_units(rows)
    ordered = np.sort(units)
    fast = bool((units >= 0).all()) and bool((ordered[1:] != ordered[:-1]).all())
    return Outputs(
        c.payload_data,
        c.payload_starts[rows],
        c.payload_ends[rows],
        units,
        None if fast else recorded.unit_keys(rows),
        source=recorded,
        port_id=port.port_id,
    )


#: Bytes of texts compared at a time (bounds the memory of the gathered texts).
_BLOCK_BYTES = 1 << 23
#: Texts longer than this are compared one by one.
_WIDE = 4096


def _rows(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    size: npt.NDArray[np.int64],
    width: int,
) -> npt.NDArray[np.uint8]:
    """The texts ``data[s:s + n]`` as the rows of a ``width``-wide array, padded with 0
    (a byte no JSON text has)."""
    out = np.zeros((len(starts), width), dtype=np.uint8)
    inside = starts + width <= len(data)
    if len(data) >= width:
        windows = np.lib.stride_tricks.sliding_window_view(data, width)
        out[inside] = windows[starts[inside]]
    for k in np.flatnonzero(~inside).tolist():  # the last texts of the column
        a = int(starts[k])
        tail = data[a : a + width]
        out[k, : len(tail)] = tail
    out[np.arange(width) >= size[:, None]] = 0
    return out


def _compare_texts(
    a: Outputs, ia: npt.NDArray[np.intp], b: Outputs, ib: npt.NDArray[np.intp]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """For the pairs of texts ``a[ia[k]]``, ``b[ib[k]]``: whether they are the same
    bytes, and whether, not being so, they may still be the same value. Texts of one
    value written by the same encoder differ at most in the order of an object's
    fields, so they have the same bytes in another order; texts of other lengths, or
    of other bytes, are other values."""
    size = a.ends[ia] - a.starts[ia]
    alike = size == b.ends[ib] - b.starts[ib]
    equal = alike & (size == 0)
    maybe = np.zeros(len(ia), dtype=bool)
    todo = np.flatnonzero(alike & (size > 0))
    wide = todo[size[todo] > _WIDE]
    for k in wide.tolist():
        x, y = a.text(int(ia[k])), b.text(int(ib[k]))
        equal[k] = x == y
        maybe[k] = x != y and sorted(x) == sorted(y)
    todo = todo[size[todo] <= _WIDE]
    da, db = a.data, b.data
    start = 0
    while start < len(todo):
        width = int(size[todo[start : start + 64]].max())
        n = max(1, _BLOCK_BYTES // max(width, 1))
        at = todo[start : start + n]
        width = int(size[at].max())
        start += len(at)
        xa = _rows(da, a.starts[ia[at]], size[at], width)
        xb = _rows(db, b.starts[ib[at]], size[at], width)
        same = (xa == xb).all(axis=1)
        equal[at] = same
        # Bytes in another order have the same sum; those are sorted and compared.
        differ = np.flatnonzero(~same)
        differ = differ[
            xa[differ].sum(axis=1, dtype=np.int64) == xb[differ].sum(axis=1, dtype=np.int64)
        ]
        if len(differ):
            xa, xb = np.sort(xa[differ], axis=1), np.sort(xb[differ], axis=1)
            maybe[at[differ]] = (xa == xb).all(axis=1)
    return equal, maybe


def _value(text: bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def same(a: tuple[bytes, ...] | None, b: tuple[bytes, ...] | None) -> bool:
    """Whether two outputs of a unit are the same values (texts that differ are
    compared as values, so the order of fields does not matter)."""
    if a == b:
        return True
    if a is None or b is None or len(a) != len(b):
        return False
    if len(a) == 1:
        return bool(_value(a[0]) == _value(b[0]))
    canon = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return sorted(orjson.dumps(_value(x), option=canon) for x in a) == sorted(
        orjson.dumps(_value(x), option=canon) for x in b
    )


def _values(texts: list[bytes]) -> list[Any]:
    """Decode many JSON texts with one parse (an empty text, a payload not kept, is
    None)."""
    return list(orjson.loads(b"[" + b",".join(t or b"null" for t in texts) + b"]"))


Pair = tuple[tuple[bytes, ...] | None, tuple[bytes, ...] | None]


def differences(a: Outputs, b: Outputs, *, pairs: bool = True) -> tuple[int, int, list[Pair]]:
    """How many units either run sent something for, for how many the runs differ,
    and (with ``pairs``) the outputs of those."""
    if a.keys is not None or b.keys is not None:
        ga, gb = a.by_unit(), b.by_unit()
        found = [(ga.get(k), gb.get(k)) for k in ga.keys() | gb.keys()]
        diffs = [(x, y) for x, y in found if not same(x, y)]
        return len(found), len(diffs), diffs if pairs else []
    # One IP per unit on both sides: units matched with numpy, texts compared as bytes
    # with numpy, and as values only where they may be one value written with the
    # fields in another order (see _compare_texts).
    if np.array_equal(a.units, b.units):  # the same units in the same order
        ia = ib = np.arange(len(a.units), dtype=np.intp)
        only_a = only_b = np.zeros(0, dtype=np.intp)
    else:
        _, ia, ib = np.intersect1d(a.units, b.units, assume_unique=True, return_indices=True)
        only_a = np.setdiff1d(np.arange(a.ips), ia, assume_unique=True)
        only_b = np.setdiff1d(np.arange(b.ips), ib, assume_unique=True)
    equal, maybe = _compare_texts(a, ia, b, ib)
    check = np.flatnonzero(maybe).tolist()
    if check:
        dx = [a.text(int(ia[k])) for k in check]
        dy = [b.text(int(ib[k])) for k in check]
        for k, vx, vy in zip(check, _values(dx), _values(dy), strict=True):
            if vx == vy:
                equal[k] = True
    changed = np.flatnonzero(~equal)
    units = len(ia) + len(only_a) + len(only_b)
    count = len(changed) + len(only_a) + len(only_b)
    if not pairs:
        return units, count, []
    out: list[Pair] = [((a.text(int(ia[k])),), (b.text(int(ib[k])),)) for k in changed.tolist()]
    out.extend(((a.text(i),), None) for i in only_a.tolist())
    out.extend((None, (b.text(i),)) for i in only_b.tolist())
    return units, count, out


def numeric_gap(a: tuple[bytes, ...] | None, b: tuple[bytes, ...] | None) -> float | None:
    """The largest absolute difference between the numbers of two outputs of a unit
    (fields matched by path), or None when they are not numbers alike."""
    if a is None or b is None or len(a) != len(b):
        return None
    gap = 0.0
    for x, y in zip(a, b, strict=True):
        d = _gap(orjson.loads(x), orjson.loads(y))
        if d is None:
            return None
        gap = max(gap, d)
    return gap


def _gap(x: Any, y: Any) -> float | None:
    if isinstance(x, bool | int | float) and isinstance(y, bool | int | float):
        return abs(float(x) - float(y))
    if isinstance(x, dict) and isinstance(y, dict) and x.keys() == y.keys():
        gaps = [_gap(x[k], y[k]) for k in x]
        known = [g for g in gaps if g is not None]
        if any(g is None and x[k] != y[k] for g, k in zip(gaps, x, strict=True)):
            return None
        return max(known, default=0.0)
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        gaps = [_gap(a, b) for a, b in zip(x, y, strict=True)]
        if any(g is None for g in gaps):
            return None
        return max((g for g in gaps if g is not None), default=0.0)
    return 0.0 if x == y else None


def mean_of(values: Sequence[float]) -> float | None:
    """The mean, or None for no values."""
    return math.fsum(values) / len(values) if values else None
