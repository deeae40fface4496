"""Runs and IPs as pandas DataFrames (pandas is imported only when a frame is asked for)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .._core._record import DATA
from ._columns import RunColumns
from ._records import TracedPort
from ._schema import KIND_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ("RunFrames", "ips_frame", "run_frames")

_META = ("ip_id", "kind", "activation", "t", "parents")


def ips_frame(
    cols: RunColumns,
    rows: npt.NDArray[np.intp],
    t0_perf_ns: int,
    *,
    with_kind: bool,
) -> pd.DataFrame:
    """Build the frame of :meth:`TracedRun.ips` from the records at ``rows``.

    Payloads that are all JSON objects (dicts, models) are flattened into one column
    per field (``a.b`` for nested ones); otherwise they form a ``value`` column. A
    payload field named like a meta column gets the prefix ``payload.``.
    """
    pandas = _pandas()
    meta: dict[str, Any] = {"ip_id": cols.ip_id[rows]}
    if with_kind:
        names = np.array([KIND_NAMES.get(k, str(k)) for k in range(8)], dtype=object)
        meta["kind"] = names[cols.kind[rows]]
    meta["activation"] = cols.activation[rows]
    meta["t"] = (cols.t_ns[rows] - t0_perf_ns) / 1e9
    parents = np.empty(len(rows), dtype=object)
    parents[:] = cols.record_parents(rows)
    meta["parents"] = parents
    frame: pd.DataFrame = pandas.DataFrame(meta)

    values = cols.payload_values(rows)
    present = [v for v in values if v is not None]
    if present and all(type(v) is dict for v in present):
        dicts = [v if v is not None else {} for v in values]
        nested = any(type(x) is dict for d in dicts for x in d.values())
        fields = pandas.json_normalize(dicts) if nested else pandas.DataFrame.from_records(dicts)
        fields.columns = [f"payload.{c}" if c in _META else c for c in fields.columns]
        fields.index = frame.index
        out: pd.DataFrame = pandas.concat([frame, fields], axis=1)
        return out
    column = np.empty(len(values), dtype=object)
    column[:] = values
    frame["value"] = column
    return frame


# -- the columnar read path: RunFrames ---------------------------------------------------

#: A field kind, as :meth:`RunFrames.fields_seen` names them.
_NUMERIC, _BOOL, _STRING, _OTHER = "numeric", "bool", "string", "other"


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the install
        msg = "reading traces needs pandas; install it with: pip install 'fbp-causal[trace]'"
        raise ImportError(msg) from exc
    return pd


def _value_kind(v: Any) -> str | None:
    t = type(v)
    if t is bool:
        return _BOOL
    if t is int or t is float:
        return _NUMERIC
    if t is str:
        return _STRING
    if v is None:
        return None
    return _OTHER


def _schema_kind(schema: dict[str, Any] | None, parts: Sequence[str]) -> str | None:
    """The kind of the field at ``parts`` as a JSON schema declares it, or None."""
    if not isinstance(schema, dict):
        return None
    defs = schema.get("$defs", {})
    node: Any = schema
    for step in [*parts, None]:
        for _ in range(16):  # follow $ref and single-type unions
            if not isinstance(node, dict):
                return None
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                node = defs.get(ref[len("#/$defs/") :])
                continue
            options = node.get("anyOf") or node.get("oneOf")
            if isinstance(options, list):
                real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
                if len(real) != 1:
                    return None
                node = real[0]
                continue
            break
        if step is None:
            break
        props = node.get("properties") if isinstance(node, dict) else None
        if not isinstance(props, dict) or step not in props:
            return None
        node = props[step]
    if not isinstance(node, dict):
        return None
    kind = {"number": _NUMERIC, "integer": _NUMERIC, "boolean": _BOOL, "string": _STRING}
    t = node.get("type")
    return kind.get(t) if isinstance(t, str) else None


def _pluck(values: list[Any], path: str) -> list[Any]:
    """The value at a dotted path of each payload (None where absent)."""
    if path == "":
        return [None if type(v) is dict else v for v in values]
    parts = path.split(".")
    if len(parts) == 1:
        (p,) = parts
        return [v.get(p) if type(v) is dict else None for v in values]
    out: list[Any] = []
    for v in values:
        for p in parts:
            v = v.get(p) if type(v) is dict else None
        out.append(v)
    return out


_NUMBER_TYPES = (int, float)


def _typed(pd: Any, values: list[Any], kind: str | None) -> Any:
    """A column for one field: float64, boolean, or object."""
    if kind == _NUMERIC:
        try:
            return np.array(values, dtype=np.float64)
        except (TypeError, ValueError):
            nan = float("nan")
            return np.array(
                [x if type(x) in _NUMBER_TYPES else nan for x in values], dtype=np.float64
            )
    if kind == _BOOL:
        return pd.array([x if type(x) is bool else None for x in values], dtype="boolean")
    if kind == _STRING:
        return np.array([x if type(x) is str else None for x in values], dtype=object)
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


@dataclass(frozen=True, eq=False)
class RunFrames:
    """One traced run as columns, ready for vectorised joins.

    Made by :meth:`TracedRun.frames`. ``records`` has one row per record of the run, in
    write order: ``ip_id`` int64, ``kind`` int8 (0 data, 1 open, 2 close, 3 iip,
    4 drop, 5 dead), ``port_id`` int32 (the sending output port; the receiving input
    port for iip and drop; the ERROR port for dead), ``activation`` int64, ``t_ns``
    int64. ``links`` has one row per parent link, ``child``, ``parent``, ``ord`` (the
    parent's position among the child's parents), in the order of the child records.
    ``ports`` has one row per port: ``port_id``, ``process``, ``port``, ``port_index``
    (nullable), ``direction``, ``address``, ``type_name``, ``json_schema``.

    ``records`` and ``links`` are made on first use; a query that needs less reads
    less: :meth:`data_ips` and :meth:`data_links` (the data IPs and the links between
    them, as arrays) and :meth:`payloads` (the payloads of chosen ports) read only the
    columns they need.
    """

    ports: pd.DataFrame
    _columns: RunColumns = field(repr=False)
    _schemas: dict[int, dict[str, Any] | None] = field(repr=False)

    @cached_property
    def records(self) -> pd.DataFrame:
        """One row per record, in write order (see the class docstring)."""
        columns = self._columns
        frame: pd.DataFrame = _pandas().DataFrame(
            {
                "ip_id": columns.ip_id,
                "kind": columns.kind,
                "port_id": columns.port_id,
                "activation": columns.activation,
                "t_ns": columns.t_ns,
            },
            copy=False,
        )
        return frame

    @cached_property
    def links(self) -> pd.DataFrame:
        """One row per parent link (see the class docstring)."""
        child, parent, order = self._columns.links()
        frame: pd.DataFrame = _pandas().DataFrame(
            {"child": child, "parent": parent, "ord": order}, copy=False
        )
        return frame

    def counts(self, kind: int = 0) -> dict[int, int]:
        """How many records of ``kind`` (0: data) each port has, by port id (ports
        with none left out)."""
        _, slices = self._columns.by_port(kind)
        return {p: sl.stop - sl.start for p, sl in slices.items()}

    def data_ips(self) -> dict[int, npt.NDArray[np.int64]]:
        """The ids of the data IPs each port sent, by port id, in write order."""
        cols = self._columns
        rows, slices = cols.by_port(0)
        ip_id = cols.ip_id
        return {p: ip_id[rows[sl]] for p, sl in slices.items()}

    def data_links(
        self, is_data: npt.NDArray[np.bool_] | None = None
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The links both ends of which are data IPs of the run, as ``(child,
        parent)`` in the order of the child records (an IIP parent, a bracket, a
        parent the run did not record are left out). Made in one pass over the
        records (or a block of records at a time), without the arrays of every link.

        Args:
            is_data: whether each IP id is a data IP of the run, if known already.
        """
        cols = self._columns
        if is_data is None:
            ip = cols.ip_id[cols.kind == DATA]
            is_data = np.zeros(int(ip.max()) + 1 if len(ip) else 1, dtype=bool)
            is_data[ip] = True
            del ip
        return cols.data_links(is_data)

    def _rows(self, port_ids: Sequence[int], kinds: Sequence[int]) -> Any:
        return self._columns.rows_of(list(port_ids), list(kinds))

    def payloads(
        self,
        port_ids: Sequence[int],
        fields: Sequence[str] | None = None,
        *,
        kinds: Sequence[int] = (0, 3),
    ) -> pd.DataFrame:
        """Payloads of the records sent on ``port_ids`` (of the given kinds).

        One row per record in write order: column ``ip_id``, then with ``fields=None``
        one column ``payload`` (the decoded JSON value, None when not recorded), or one
        typed column per dotted field path in ``fields``: float64 for numbers (NaN
        where absent), pandas ``boolean`` for bools, object for strings and anything
        else (None where absent or where the payload is not a mapping). A scalar
        payload is the field ``""``. The type of a field comes from the port's JSON
        schema when it declares one, else from the values.
        """
        pandas = _pandas()
        cols = self._columns
        rows = self._rows(port_ids, kinds)
        data: dict[str, Any] = {"ip_id": cols.ip_id[rows]}
        if fields is None:
            values = cols.payload_values(rows)
            payload = np.empty(len(values), dtype=object)
            payload[:] = values
            data["payload"] = payload
            frame: pd.DataFrame = pandas.DataFrame(data, copy=False)
            return frame
        schemas = [self._schemas.get(int(p)) for p in port_ids]
        decoded: list[Any] | None = None
        for path in fields:
            kind = None
            declared = {_schema_kind(s, path.split(".") if path else []) for s in schemas}
            if len(declared) == 1:
                kind = declared.pop()
            if path == "" and kind in (None, _NUMERIC) and decoded is None:
                # Scalar numbers, converted without becoming Python objects (the same
                # floats; a kind read off the values needs one among the first 1000).
                numbers = cols.payload_numbers(rows)
                if numbers is not None and (kind == _NUMERIC or not np.isnan(numbers[:1000]).all()):
                    data[path] = numbers
                    continue
            if decoded is None:
                decoded = cols.payload_values(rows)
            values = decoded
            if kind is None:
                kind = _infer([x for x in _pluck(values[:1000], path) if x is not None])
            # A typed column of scalar payloads is the same with or without plucking
            # (a mapping is absent either way): skip a pass over the values.
            plain = path == "" and kind in (_NUMERIC, _BOOL, _STRING)
            column = values if plain else _pluck(values, path)
            data[path] = _typed(pandas, column, kind)
        out: pd.DataFrame = pandas.DataFrame(data, copy=False)
        return out

    def fields_seen(self, port_id: int, limit: int = 1000) -> dict[str, str]:
        """For dict and model payloads: every dotted field path seen in the first
        ``limit`` payloads of the port, with its kind: ``numeric``, ``bool``,
        ``string`` or ``other`` (lists, mixed kinds, or only nulls)."""
        rows = self._rows([port_id], (0, 3))[:limit]
        kinds: dict[str, set[str]] = {}
        for value in self._columns.payload_values(rows):
            if type(value) is dict:
                _collect(value, "", kinds)
        out: dict[str, str] = {}
        for path, seen in kinds.items():
            concrete = seen - {""}
            out[path] = concrete.pop() if len(concrete) == 1 else _OTHER
        return out


def _collect(value: dict[str, Any], prefix: str, kinds: dict[str, set[str]]) -> None:
    for key, v in value.items():
        path = f"{prefix}{key}"
        if type(v) is dict and v:
            _collect(v, path + ".", kinds)
            continue
        kinds.setdefault(path, set()).add(_value_kind(v) or "")


def _infer(values: list[Any]) -> str | None:
    kinds = {_value_kind(v) for v in values}
    return kinds.pop() if len(kinds) == 1 else None


def run_frames(columns: RunColumns, ports: Sequence[TracedPort]) -> RunFrames:
    """The :class:`RunFrames` of a run's columns and ports."""
    pd = _pandas()
    port_frame = pd.DataFrame(
        {
            "port_id": np.array([p.port_id for p in ports], dtype=np.int32),
            "process": [p.process for p in ports],
            "port": [p.port for p in ports],
            "port_index": pd.array([p.index for p in ports], dtype="Int64"),
            "direction": [p.direction for p in ports],
            "address": [p.address for p in ports],
            "type_name": [p.type_name for p in ports],
            "json_schema": pd.Series([p.json_schema for p in ports], dtype=object),
        }
    )
    return RunFrames(
        ports=port_frame,
        _columns=columns,
        _schemas={p.port_id: p.json_schema for p in ports},
    )
