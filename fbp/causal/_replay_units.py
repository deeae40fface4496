"""Units of work in recorded runs, and what a port produced for each.

A unit of work is a root IP: a data IP none of whose parents is a data IP, as in the
causal tables. A replay keeps the recorded units' ids, so the runs of one replay
family are compared unit by unit, by id.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ._replay_run import ReplayError
from ._replay_source import Recorded

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


_TARGET = re.compile(
    r"^(?P<proc>[^.\[\]]+)\.(?P<port>[A-Za-z_][\w-]*)(?P<index>\[\d+\])?(?:\.(?P<field>.+))?$"
)


def parse_target(text: str, recorded: Recorded) -> Target:
    """Resolve ``P.PORT[.field]`` (``P.PORT[i]`` for one element) against a run's ports.

    Raises:
        ReplayError: no port matches; the message lists close ones.
    """
    outs = [p for p in recorded.ports if p.direction == "out"]
    m = _TARGET.match(text)
    ports: list[str] = []
    field = None
    if m is not None:
        field = m["field"]
        wanted = f"{m['proc']}.{m['port'].upper()}{m['index'] or ''}"
        ports = [p.address for p in outs if p.address == wanted]
        if not ports and not m["index"]:
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
    for pid in ports.tolist():
        counts[by_id[pid]] = counts.get(by_id[pid], 0) + 1
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
    sums = np.zeros(len(wanted))
    counts = np.zeros(len(wanted))
    single = recorded.single_units(rows)
    fast = single >= 0

    def add(unit_ids: np.ndarray, values: np.ndarray) -> None:
        if not len(wanted) or not len(unit_ids):
            return
        pos = np.minimum(np.searchsorted(wanted[order], unit_ids), len(wanted) - 1)
        hit = (wanted[order][pos] == unit_ids) & ~np.isnan(values)
        np.add.at(sums, order[pos[hit]], values[hit])
        np.add.at(counts, order[pos[hit]], 1)

    add(single[fast], xs[fast])
    slow = np.flatnonzero(~fast)
    if len(slow):  # IPs of several units (joins, aggregates): the value goes to each
        keys = recorded.unit_keys(rows[slow])
        ids = [u for key in keys for u in key]
        vals = [xs[k] for k, key in zip(slow.tolist(), keys, strict=True) for _ in key]
        add(np.asarray(ids, dtype=np.int64), np.asarray(vals, dtype=float))
    out: np.ndarray = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    return out


@dataclass
class Outputs:
    """What one output port sent in a run: the payload texts and their units."""

    texts: list[bytes]
    #: Each IP's unit, or -1 for none or several.
    units: np.ndarray
    #: The units each IP descends from, for IPs of none or several (None when every IP
    #: has exactly one unit and no unit has two IPs: the fast case).
    keys: list[tuple[int, ...]] | None

    @property
    def ips(self) -> int:
        """Data IPs sent."""
        return len(self.texts)

    def by_unit(self) -> dict[Any, tuple[bytes, ...]]:
        """The payload texts by unit (an int) or units (a tuple)."""
        if self.keys is None:
            return {u: (t,) for u, t in zip(self.units.tolist(), self.texts, strict=True)}
        groups: dict[Any, list[bytes]] = {}
        for key, text in zip(self.keys, self.texts, strict=True):
            k: Any = key[0] if len(key) == 1 else key
            groups.setdefault(k, []).append(text)
        return {k: tuple(sorted(v)) for k, v in groups.items()}


def outputs(recorded: Recorded, address: str) -> Outputs:
    """What the port at ``address`` sent (nothing when the run has no such port)."""
    port = recorded.by_address.get(address)
    if port is None:
        return Outputs([], np.zeros(0, dtype=np.int64), None)
    rows, texts = recorded.texts([port.port_id])
    units = recorded.single_units(rows)
    ordered = np.sort(units)
    fast = bool((units >= 0).all()) and bool((ordered[1:] != ordered[:-1]).all())
    return Outputs(texts, units, None if fast else recorded.unit_keys(rows))


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
    # One IP per unit on both sides: units matched with numpy, texts compared first,
    # values only where texts of the same length differ (the same value written by
    # the same encoder has the same length; fields in another order do too).
    ta, tb = a.texts, b.texts
    if np.array_equal(a.units, b.units):  # the same units in the same order
        xs, ys = ta, tb
        only_a = only_b = np.zeros(0, dtype=np.intp)
    else:
        _, ia, ib = np.intersect1d(a.units, b.units, assume_unique=True, return_indices=True)
        xs = [ta[i] for i in ia.tolist()]
        ys = [tb[i] for i in ib.tolist()]
        only_a = np.setdiff1d(np.arange(len(ta)), ia, assume_unique=True)
        only_b = np.setdiff1d(np.arange(len(tb)), ib, assume_unique=True)
    neq = np.fromiter(map(bytes.__ne__, xs, ys), dtype=bool, count=len(xs))
    changed = np.flatnonzero(neq)
    if len(changed):
        lx = np.fromiter(map(len, xs), dtype=np.int64, count=len(xs))[changed]
        ly = np.fromiter(map(len, ys), dtype=np.int64, count=len(ys))[changed]
        maybe = changed[lx == ly].tolist()
        if maybe:  # same length: compare as values
            dx, dy = [xs[k] for k in maybe], [ys[k] for k in maybe]
            alike = {
                k for k, vx, vy in zip(maybe, _values(dx), _values(dy), strict=True) if vx == vy
            }
            if alike:
                changed = np.array([k for k in changed.tolist() if k not in alike], dtype=np.intp)
    units = len(xs) + len(only_a) + len(only_b)
    count = len(changed) + len(only_a) + len(only_b)
    if not pairs:
        return units, count, []
    out: list[Pair] = [((xs[k],), (ys[k],)) for k in changed.tolist()]
    out.extend(((ta[i],), None) for i in only_a.tolist())
    out.extend((None, (tb[i],)) for i in only_b.tolist())
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
