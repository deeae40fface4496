"""A traced run as columns for the table assembly: ``TracedRun.frames()`` where the
trace reader has it, else a stand-in with the same contract built from
``TracedRun.records()`` (slow: one pass in Python over every record).

The contract (``records``, ``links``, ``ports``, ``payloads()``, ``fields_seen()``) is
that of ``fbp.tracing``'s ``RunFrames``; this module goes once the reader provides it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from ..tracing import TracedRun

__all__ = ("Frames", "run_frames")


class Frames(Protocol):
    """What the table assembly reads of a run (``fbp.tracing``'s ``RunFrames``)."""

    @property
    def records(self) -> pd.DataFrame: ...

    @property
    def links(self) -> pd.DataFrame: ...

    @property
    def ports(self) -> pd.DataFrame: ...

    def payloads(
        self,
        port_ids: Sequence[int],
        fields: Sequence[str] | None = None,
        *,
        kinds: Sequence[int] = (0, 3),
    ) -> pd.DataFrame: ...

    def fields_seen(self, port_id: int, limit: int = 1000) -> dict[str, str]: ...


def run_frames(run: TracedRun) -> Frames:
    """The run as columns."""
    frames = getattr(run, "frames", None)
    if callable(frames):
        return frames()  # type: ignore[no-any-return]
    return _from_records(run)


_KIND_CODES = {"data": 0, "open": 1, "close": 2, "iip": 3, "drop": 4, "dead": 5}


def _kind(v: Any) -> str | None:
    t = type(v)
    if t is bool:
        return "bool"
    if t is int or t is float:
        return "numeric"
    if t is str:
        return "string"
    if v is None:
        return None
    return "other"


def _collect(d: dict[str, Any], prefix: str, kinds: dict[str, set[str]]) -> None:
    for k, v in d.items():
        path = prefix + k
        if type(v) is dict:
            _collect(v, path + ".", kinds)
            continue
        kinds.setdefault(path, set()).add(_kind(v) or "")


def _pluck(values: list[Any], path: str) -> list[Any]:
    if path == "":
        return [None if type(v) is dict else v for v in values]
    out: list[Any] = []
    for v in values:
        for p in path.split("."):
            v = v.get(p) if type(v) is dict else None
        out.append(v)
    return out


@dataclass(frozen=True, eq=False)
class _StandIn:
    records: pd.DataFrame
    links: pd.DataFrame
    ports: pd.DataFrame
    _payload: list[Any]

    def _rows(self, port_ids: Sequence[int], kinds: Sequence[int]) -> np.ndarray:
        r = self.records
        key = r["port_id"].to_numpy().astype(np.int64) * 8 + r["kind"].to_numpy()
        wanted = [p * 8 + k for p in port_ids for k in kinds]
        if len(wanted) == 1:
            return np.flatnonzero(key == wanted[0])
        return np.flatnonzero(np.isin(key, wanted))

    def payloads(
        self,
        port_ids: Sequence[int],
        fields: Sequence[str] | None = None,
        *,
        kinds: Sequence[int] = (0, 3),
    ) -> pd.DataFrame:
        import pandas as pd

        rows = self._rows(port_ids, kinds)
        values = [self._payload[i] for i in rows]
        data: dict[str, Any] = {"ip_id": self.records["ip_id"].to_numpy()[rows]}
        if fields is None:
            col = np.empty(len(values), dtype=object)
            col[:] = values
            data["payload"] = col
            return pd.DataFrame(data)
        for path in fields:
            column = _pluck(values, path)
            kinds_seen = {_kind(x) for x in column[:1000] if x is not None}
            kind = kinds_seen.pop() if len(kinds_seen) == 1 else None
            if kind == "numeric":
                data[path] = np.array(
                    [x if type(x) in (int, float) else np.nan for x in column], dtype=np.float64
                )
            elif kind == "bool":
                data[path] = pd.array(
                    [x if type(x) is bool else None for x in column], dtype="boolean"
                )
            else:
                col = np.empty(len(column), dtype=object)
                col[:] = column
                data[path] = col
        return pd.DataFrame(data)

    def fields_seen(self, port_id: int, limit: int = 1000) -> dict[str, str]:
        rows = self._rows([port_id], (0, 3))[:limit]
        kinds: dict[str, set[str]] = {}
        for i in rows:
            v = self._payload[i]
            if type(v) is dict:
                _collect(v, "", kinds)
        out: dict[str, str] = {}
        for path, seen in kinds.items():
            concrete = seen - {""}
            out[path] = concrete.pop() if len(concrete) == 1 else "other"
        return out


def _from_records(run: TracedRun) -> Frames:
    import pandas as pd

    ip_id: list[int] = []
    kind: list[int] = []
    port_id: list[int] = []
    activation: list[int] = []
    t_ns: list[int] = []
    payload: list[Any] = []
    child: list[int] = []
    parent: list[int] = []
    order: list[int] = []
    t0 = run.t0_perf_ns
    for rec in run.records():
        ip_id.append(rec.ip_id)
        kind.append(_KIND_CODES.get(rec.kind, -1))
        port_id.append(rec.port_id)
        activation.append(rec.activation)
        t_ns.append(t0 + round(rec.t * 1e9))
        payload.append(rec.payload)
        for k, p in enumerate(rec.parents):
            child.append(rec.ip_id)
            parent.append(p)
            order.append(k)
    records = pd.DataFrame(
        {
            "ip_id": np.array(ip_id, dtype=np.int64),
            "kind": np.array(kind, dtype=np.int8),
            "port_id": np.array(port_id, dtype=np.int32),
            "activation": np.array(activation, dtype=np.int64),
            "t_ns": np.array(t_ns, dtype=np.int64),
        }
    )
    links = pd.DataFrame(
        {
            "child": np.array(child, dtype=np.int64),
            "parent": np.array(parent, dtype=np.int64),
            "ord": np.array(order, dtype=np.int16),
        }
    )
    ps = run.ports()
    ports = pd.DataFrame(
        {
            "port_id": np.array([p.port_id for p in ps], dtype=np.int32),
            "process": [p.process for p in ps],
            "port": [p.port for p in ps],
            "port_index": pd.array([p.index for p in ps], dtype="Int64"),
            "direction": [p.direction for p in ps],
            "address": [p.address for p in ps],
            "type_name": [p.type_name for p in ps],
            "json_schema": pd.Series([p.json_schema for p in ps], dtype=object),
        }
    )
    return _StandIn(records, links, ports, payload)
