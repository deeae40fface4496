"""Batched mode: what moving items 64 at a time buys over one item per await.

The same K=5 ``x + 1`` pipeline over the same ints, run per item and in batches of 64;
figures are per int per hop. Three ways of batching are measured:

- **the batch API** (``fbp-batchapi*``): ports of ``int``, one IP per item; the source
  sends chunks of 64 with ``OutPort.send_batch``, each stage reads ``InPort.batches()``
  (whatever is buffered, up to TAKE) and sends the mapped batch with ``send_batch``. Items keep
  their identity, validation and element-wise lineage; the traced variants record
  every IP with :class:`fbp.tracing.TraceWriter`.
- **list ports** (``fbp-list64*``, ``anyio-list64``): ports carrying ``list[int]``, one
  IP (or stream item) per list of 64; each stage maps a whole list. With validation on,
  pydantic checks every element of every list.
- **bytewax**: ``map`` over source batches of 64 (``bytewax-src64``), and
  ``flat_map_batch`` stages over batches of 64 (``bytewax-batch64``, its batched mode).

Capacity: every edge buffers at most 256 ints, whatever it carries: 256 IPs on a
per-item edge (four source batches), 4 lists of 64 on a list edge. bytewax has no
per-edge buffer to size.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ._baselines import run_anyio
from ._cases import Case, Probe, Timing
from ._fbp import build_batch_api, build_case, run_network, tracing_available, tracing_sink
from ._matrix import Progress, case_dict, paired_ratio, run_case
from ._peers import peer_available, run_bytewax_batched
from ._settings import Settings
from ._tools import BARE, Tool, tool_named

__all__ = ("BATCH", "BATCH_CAPACITY", "BYTEWAX_BATCHED", "batching_tools", "run_batching")

#: Items per batch.
BATCH = 64
#: Ints buffered per edge, for every tool that has a buffer.
BATCH_CAPACITY = 256
#: bytewax's batched mode, which every batching variant is compared with.
BYTEWAX_BATCHED = f"bytewax-batch{BATCH}"
_STAGES = 5


def _chunks(items: list[int]) -> list[list[int]]:
    return [items[i : i + BATCH] for i in range(0, len(items), BATCH)]


def _inc_batch(xs: list[int]) -> list[int]:
    return [x + 1 for x in xs]


def _per_list(case: Case) -> Case:
    """The case with its capacity counted in lists of ``BATCH`` (the same ints)."""
    return dataclasses.replace(case, capacity=max(1, case.capacity // BATCH))


def _unbatched(t: Timing, batches: list[list[int]]) -> Timing:
    """Report a batched run per int: the count is right only if every batch arrived."""
    ok = t.count == len(batches) and len(t.last) == len(batches[-1])
    n = sum(len(b) for b in batches)
    return Timing(t.seconds, t.total, n if ok else t.count, t.last[-1] if ok else t.last)


def _fbp_lists(validate: bool) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        batches = _chunks(items)
        probe = Probe()
        net = build_case(
            _per_list(case),
            batches,
            probe,
            validate=validate,
            port_type=list[int],
            fn=_inc_batch,
        )
        return _unbatched(run_network(net, probe), batches)

    return run


#: What a batch-API stage takes per await at most: whatever is buffered, adaptively
#: (the source still sends chunks of BATCH).
TAKE = 1024


def _fbp_batch_api(validate: bool, trace: bool) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        chunks = _chunks(items)
        probe = Probe()
        if not trace:
            net = build_batch_api(
                case, chunks, probe, _inc_batch, max_items=TAKE, validate=validate
            )
            return run_network(net, probe)
        with tracing_sink() as sink:
            net = build_batch_api(
                case, chunks, probe, _inc_batch, max_items=TAKE, validate=validate, trace=sink
            )
            return run_network(net, probe)

    return run


def _anyio_lists(case: Case, items: list[Any]) -> Timing:
    batches = _chunks(items)
    return _unbatched(run_anyio(_per_list(case), batches, _inc_batch), batches)


def _bytewax_flat_map_batch(case: Case, items: list[Any]) -> Timing:
    return run_bytewax_batched(case.stages, _chunks(items), batch_size=BATCH)


def _bytewax() -> str | None:
    return peer_available("bytewax")


def _api(name: str, what: str, validate: bool, trace: bool) -> Tool:
    return Tool(
        name,
        "fbp",
        f"fbp batch API (send_batch, batches({BATCH})), one IP per int, {what}",
        _fbp_batch_api(validate, trace),
        tracing_available if trace else tool_named("fbp").unavailable,
        tool_named("fbp").version,
    )


def batching_tools() -> list[Tool]:
    """Per-item and batched variants of fbp, the bare pipeline and bytewax."""
    return [
        tool_named("fbp"),
        tool_named("fbp-novalidate"),
        tool_named("fbp-traced"),
        _api("fbp-batchapi", "validation on", True, False),
        _api("fbp-batchapi-novalidate", "validate=False", False, False),
        _api("fbp-batchapi-traced", "validation on, traced", True, True),
        _api("fbp-batchapi-traced-novalidate", "validate=False, traced", False, True),
        Tool(
            f"fbp-list{BATCH}",
            "fbp",
            f"fbp, ports of list[int] batches of {BATCH}, validation on",
            _fbp_lists(True),
        ),
        Tool(
            f"fbp-list{BATCH}-novalidate",
            "fbp",
            f"fbp, ports of list[int] batches of {BATCH}, validate=False",
            _fbp_lists(False),
        ),
        tool_named(BARE),
        Tool(
            f"anyio-list{BATCH}",
            "baseline",
            f"anyio fast path, list batches of {BATCH}",
            _anyio_lists,
        ),
        tool_named("bytewax"),
        tool_named(f"bytewax-src{BATCH}"),
        Tool(
            BYTEWAX_BATCHED,
            "peer",
            f"bytewax op.flat_map_batch over batches of {BATCH}",
            _bytewax_flat_map_batch,
            _bytewax,
        ),
    ]


#: Each batched variant, and the per-item run it is compared with.
_PAIRS = {
    "fbp-batchapi": "fbp",
    "fbp-batchapi-novalidate": "fbp-novalidate",
    "fbp-batchapi-traced": "fbp-traced",
    "fbp-batchapi-traced-novalidate": "fbp-traced",
    f"fbp-list{BATCH}": "fbp",
    f"fbp-list{BATCH}-novalidate": "fbp-novalidate",
    f"anyio-list{BATCH}": BARE,
    f"bytewax-src{BATCH}": "bytewax",
    BYTEWAX_BATCHED: "bytewax",
}


def run_batching(settings: Settings, progress: Progress) -> dict[str, Any]:
    """Per-int cost of the K=5 pipeline, per item and in batches of 64."""
    items = max(settings.min_items * 4, settings.hops // (_STAGES + 1) * 4)
    items -= items % BATCH
    case = Case(f"batching-k{_STAGES}", "linear", _STAGES, "int", items, BATCH_CAPACITY)
    progress(f"batching: K={_STAGES}, {items} ints, batches of {BATCH}, {BATCH_CAPACITY} per edge")
    tools = batching_tools()
    results = run_case(case, tools, settings, progress)
    entry = case_dict(case, results)
    by_name = {r.tool: r for r in results}
    ok = [r for r in results if r.status == "ok"]
    # Every fbp variant of this section against every other tool (above 1: fbp slower).
    entry["fbp_vs"] = {
        me.tool: {o.tool: paired_ratio(case, me, o) for o in ok if o is not me}
        for me, t in zip(results, tools, strict=True)
        if t.family == "fbp" and me.status == "ok"
    }
    entry["families"] = {t.name: t.family for t in tools}
    rows = {r["tool"]: r for r in entry["results"]}
    gains: dict[str, float | None] = {}
    for batched, single in _PAIRS.items():
        b, s = rows.get(batched), rows.get(single)
        if b and s and b["status"] == s["status"] == "ok" and b["us_per_hop"] > 0:
            # Unrounded: a smoke run on a loaded machine can make the batched figure
            # hundreds of times the per-item one, which two decimals would turn into 0.
            gains[batched] = s["us_per_hop"] / b["us_per_hop"]
        else:
            gains[batched] = None
    bw = by_name.get(BYTEWAX_BATCHED)
    for row in entry["results"]:
        me = by_name[row["tool"]]
        if row["status"] == "ok" and bw is not None:
            row["ratio_to_bytewax_batched"] = paired_ratio(case, me, bw)
        row["capacity"] = _capacity_text(row["tool"])
    entry["batch"] = BATCH
    entry["capacity_ints"] = BATCH_CAPACITY
    entry["gain_over_per_item"] = gains
    entry["compared_with"] = dict(_PAIRS)
    return entry


def _capacity_text(tool: str) -> str:
    if tool.startswith("bytewax"):
        return "none"
    if "-list" in tool:
        return f"{BATCH_CAPACITY // BATCH} lists"
    return f"{BATCH_CAPACITY} IPs" if tool.startswith("fbp") else f"{BATCH_CAPACITY} items"
