"""Units of work in recorded runs, and what a port produced for each.

A unit of work is a root IP: a data IP none of whose parents is a data IP, as in the
causal tables. A replay keeps the recorded units' ids, so the runs of one replay
family are compared unit by unit, by id.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from ._replay_run import ReplayError
from ._replay_source import Recorded

__all__ = ("Target", "parse_target", "signatures", "target_values", "unit_ids")


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


def _roots(recorded: Recorded, ids: Sequence[int], keep: set[int]) -> dict[int, tuple[int, ...]]:
    """The units (among ``keep``) each IP descends from."""
    units = recorded.units_of()
    return {i: tuple(r for r in units.get(i, ()) if r in keep) for i in ids}


def target_values(recorded: Recorded, target: Target, units: Sequence[int]) -> np.ndarray:
    """The target's value for each unit: the mean of the values of its IPs at the
    target, 0 where the target sent nothing for it (as the causal tables have it)."""
    ports = [recorded.by_address[a].port_id for a in target.ports]
    ids, payloads = recorded.payloads(ports)
    keep = set(units)
    roots = _roots(recorded, ids, set(recorded.data_roots()[0].tolist()))
    sums: dict[int, float] = {}
    counts: dict[int, int] = {}
    for i, payload in zip(ids, payloads, strict=True):
        x = _number(payload, target.field, target.port)
        if x is None:
            continue
        for u in roots.get(i, ()):
            if u in keep:
                sums[u] = sums.get(u, 0.0) + x
                counts[u] = counts.get(u, 0) + 1
    return np.array([sums[u] / counts[u] if u in counts else 0.0 for u in units])


def _canonical(payload: Any) -> bytes:
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


Signature = dict[tuple[int, ...], tuple[bytes, ...]]


def signatures(recorded: Recorded, addresses: Iterable[str]) -> dict[str, Signature]:
    """For each output port: what it sent for each unit (key: the unit roots of the IP,
    sorted), as the sorted payloads' JSON."""
    all_roots = set(recorded.data_roots()[0].tolist())
    out: dict[str, Signature] = {}
    for addr in addresses:
        port = recorded.by_address.get(addr)
        if port is None:
            out[addr] = {}
            continue
        ids, payloads = recorded.payloads([port.port_id])
        roots = _roots(recorded, ids, all_roots)
        groups: dict[tuple[int, ...], list[bytes]] = {}
        for i, payload in zip(ids, payloads, strict=True):
            groups.setdefault(roots.get(i, ()), []).append(_canonical(payload))
        out[addr] = {k: tuple(sorted(v)) for k, v in groups.items()}
    return out


def differences(a: Signature, b: Signature) -> list[tuple[int, ...]]:
    """The units whose outputs differ between two signatures of a port."""
    return [k for k in a.keys() | b.keys() if a.get(k) != b.get(k)]


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
