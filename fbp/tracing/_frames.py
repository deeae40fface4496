"""IPs as pandas DataFrames (pandas is imported only here, when a frame is asked for)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._schema import KIND_NAMES

if TYPE_CHECKING:
    import pandas as pd

__all__ = ("ips_frame",)

_META = ("ip_id", "kind", "activation", "t", "parents")


def _payloads(texts: Sequence[str | None]) -> list[Any]:
    """Decode many JSON payloads with one parse."""
    if not texts:
        return []
    return json.loads("[" + ",".join("null" if t is None else t for t in texts) + "]")  # type: ignore[no-any-return]


def ips_frame(
    rows: Sequence[tuple[int, int, int, int, int, str | None, str | None]],
    t0_perf_ns: int,
    *,
    with_kind: bool,
) -> pd.DataFrame:
    """Build the frame of :meth:`TracedRun.ips` from query rows.

    Payloads that are all JSON objects (dicts, models) are flattened into one column
    per field (``a.b`` for nested ones); otherwise they form a ``value`` column. A
    payload field named like a meta column gets the prefix ``payload.``.
    """
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the install
        msg = "TracedRun.ips() needs pandas; install it with: pip install 'fbp-causal[trace]'"
        raise ImportError(msg) from exc

    meta: dict[str, Any] = {
        "ip_id": pd.array([r[0] for r in rows], dtype="int64"),
    }
    if with_kind:
        meta["kind"] = [KIND_NAMES.get(r[1], str(r[1])) for r in rows]
    meta["activation"] = pd.array([r[3] for r in rows], dtype="int64")
    meta["t"] = (pd.Series([r[4] for r in rows], dtype="int64") - t0_perf_ns).to_numpy() / 1e9
    meta["parents"] = [tuple(int(p) for p in r[6].split(",")) if r[6] else () for r in rows]
    frame = pd.DataFrame(meta)

    values = _payloads([r[5] for r in rows])
    present = [v for v in values if v is not None]
    if present and all(type(v) is dict for v in present):
        dicts = [v if v is not None else {} for v in values]
        nested = any(type(x) is dict for d in dicts for x in d.values())
        fields = pd.json_normalize(dicts) if nested else pd.DataFrame.from_records(dicts)
        fields.columns = [f"payload.{c}" if c in _META else c for c in fields.columns]
        fields.index = frame.index
        return pd.concat([frame, fields], axis=1)
    frame["value"] = pd.Series(values, index=frame.index)
    return frame
