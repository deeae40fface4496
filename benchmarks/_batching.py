"""Batched mode: what carrying ``list[int]`` batches of 64 buys over one IP per item.

The same K=5 ``x + 1`` pipeline over the same ints, run per item and in batches of 64
(each stage maps the whole batch); figures are per int. fbp's batched ports are
``list[int]``, so with validation on every batch is checked by pydantic, which is what
a typed port of a generic type costs. bytewax, whose runtime moves batches
internally, is measured per item (``map``, source batches of 1 and of 64) and with
``flat_map_batch`` stages over batches of 64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._baselines import run_anyio
from ._cases import Case, Probe, Timing
from ._fbp import build_case, run_network
from ._matrix import Progress, case_dict, run_case
from ._peers import peer_available, run_bytewax, run_bytewax_batched
from ._settings import Settings
from ._tools import BARE, Tool, tool_named

__all__ = ("BATCH", "run_batching")

#: Items per batch.
BATCH = 64
_STAGES = 5


def _chunks(items: list[int]) -> list[list[int]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def _inc_batch(xs: list[int]) -> list[int]:
    return [x + 1 for x in xs]


def _unbatched(t: Timing, batches: list[list[int]]) -> Timing:
    """Report a batched run per int: the count is right only if every batch arrived."""
    ok = t.count == len(batches) and len(t.last) == len(batches[-1])
    n = sum(len(b) for b in batches)
    return Timing(t.seconds, t.total, n if ok else t.count, t.last[-1] if ok else t.last)


def _fbp_batched(validate: bool) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        batches = _chunks(items)
        probe = Probe()
        net = build_case(
            case, batches, probe, validate=validate, port_type=list[int], fn=_inc_batch
        )
        return _unbatched(run_network(net, probe), batches)

    return run


def _anyio_batched(case: Case, items: list[Any]) -> Timing:
    batches = _chunks(items)
    return _unbatched(run_anyio(case, batches, _inc_batch), batches)


def _bytewax_source_batches(case: Case, items: list[Any]) -> Timing:
    return run_bytewax(case, items, batch_size=BATCH)


def _bytewax_flat_map_batch(case: Case, items: list[Any]) -> Timing:
    t = run_bytewax_batched(case.stages, _chunks(items), batch_size=BATCH)
    return t


def _bytewax() -> str | None:
    return peer_available("bytewax")


def batching_tools() -> list[Tool]:
    """Per-item and batched variants of fbp, the bare pipeline and bytewax."""
    return [
        tool_named("fbp"),
        Tool(
            f"fbp-batch{BATCH}",
            "fbp",
            f"fbp, ports of list[int] batches of {BATCH}, validation on",
            _fbp_batched(True),
        ),
        Tool(
            f"fbp-batch{BATCH}-novalidate",
            "fbp",
            f"fbp, list[int] batches of {BATCH}, validate=False",
            _fbp_batched(False),
        ),
        tool_named(BARE),
        Tool(
            f"anyio-batch{BATCH}",
            "baseline",
            f"anyio fast path, list batches of {BATCH}",
            _anyio_batched,
        ),
        tool_named("bytewax"),
        Tool(
            f"bytewax-src{BATCH}",
            "peer",
            f"bytewax op.map, TestingSource batch {BATCH}",
            _bytewax_source_batches,
            _bytewax,
        ),
        Tool(
            f"bytewax-batch{BATCH}",
            "peer",
            f"bytewax op.flat_map_batch over batches of {BATCH}",
            _bytewax_flat_map_batch,
            _bytewax,
        ),
    ]


#: Each batched variant, and the per-item run it is compared with.
_PAIRS = {
    f"fbp-batch{BATCH}": "fbp",
    f"fbp-batch{BATCH}-novalidate": "fbp",
    f"anyio-batch{BATCH}": BARE,
    f"bytewax-src{BATCH}": "bytewax",
    f"bytewax-batch{BATCH}": "bytewax",
}


def run_batching(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Per-int cost of the K=5 pipeline, per item and in batches of 64."""
    items = max(settings.min_items * 4, settings.hops // (_STAGES + 1) * 4)
    items -= items % BATCH
    case = Case(f"batching-k{_STAGES}", "linear", _STAGES, "int", items)
    progress(f"batching: K={_STAGES}, {items} ints, batches of {BATCH}")
    entry = case_dict(case, run_case(case, batching_tools(), settings, progress))
    rows = {r["tool"]: r for r in entry["results"]}
    gains: dict[str, float | None] = {}
    for batched, single in _PAIRS.items():
        b, s = rows.get(batched), rows.get(single)
        if b and s and b["status"] == s["status"] == "ok":
            gains[batched] = round(s["us_per_hop"] / b["us_per_hop"], 2)
        else:
            gains[batched] = None
    entry["batch"] = BATCH
    entry["gain_over_per_item"] = gains
    entry["compared_with"] = dict(_PAIRS)
    return entry
