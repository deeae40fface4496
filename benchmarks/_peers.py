"""Peers: other Python dataflow and stream tools doing the same work.

Each is written the way its documentation suggests, with the same stage function and
the same prebuilt items; where a tool has no natural form of a shape, the case is n/a.

- ``pypeln``: ``pypeln.task`` stages (one asyncio task and one bounded queue per stage,
  ``workers=1``, ``maxsize=32``), and ``pypeln.sync`` stages (chained generators in
  the caller's thread, its fastest mode for cheap functions). Diamond: n/a (no fan-out
  or zip).
- ``aiostream``: ``stream.map`` operators, a chain of async generators pulled by the
  sink: no buffers and no task per stage. Diamond: n/a (``zip`` of two branches would
  run the source twice, not fan it out).
- ``streamz``: ``Stream.map`` nodes in its default synchronous mode: ``emit`` calls the
  downstream functions directly; no buffers, no tasks.
- ``bytewax``: a single-worker dataflow run by ``run_main`` (Rust runtime, Python
  stage functions); input from ``TestingSource`` with source batches of 1, 64 and
  1,000 items (the same per-item ``map`` steps: a batch moves through each step
  before the next is read), no capacity setting. Diamond: two ``map`` branches paired
  by a keyed ``join``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import sys
import time
import types
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any

from ._cases import MERGE_SOURCES, Case, Probe, Timing, Unsupported, merge_feeds
from ._payloads import stage_function

__all__ = (
    "PEERS",
    "peer_available",
    "peer_version",
    "run_aiostream",
    "run_bytewax",
    "run_bytewax_batched",
    "run_pypeln",
    "run_pypeln_sync",
    "run_streamz",
)

#: The peer tools, by distribution name.
PEERS = ("pypeln", "aiostream", "streamz", "bytewax")


def _import_pypeln() -> Any:
    """Import pypeln. Its dependency stopit still imports ``pkg_resources`` (for its
    version), which setuptools no longer ships: where it is missing, a stand-in with
    the one function stopit calls is present for that import only."""
    if "pkg_resources" in sys.modules or importlib.util.find_spec("pkg_resources"):
        return importlib.import_module("pypeln")
    shim = types.ModuleType("pkg_resources")

    def get_distribution(name: str) -> Any:
        return types.SimpleNamespace(version=importlib.metadata.version(name))

    shim.get_distribution = get_distribution  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    try:
        return importlib.import_module("pypeln")
    finally:
        if sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def peer_available(name: str) -> str | None:
    """None when the peer imports, else the reason it cannot be measured."""
    try:
        _import_pypeln() if name == "pypeln" else importlib.import_module(name)
    except Exception as e:
        hint = "pip install -e '.[bench]'"
        return f"not installed ({type(e).__name__}: {e}); {hint}"
    return None


def peer_version(name: str) -> str | None:
    """The installed version of a peer, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


async def _agen(feed: Iterable[Any], probe: Probe) -> AsyncIterator[Any]:
    probe.start()
    for x in feed:
        yield x


def _gen(feed: Iterable[Any], probe: Probe) -> Iterator[Any]:
    probe.start()
    yield from feed


def _add(pair: tuple[Any, Any]) -> Any:
    return pair[0] + pair[1]


# -- pypeln ---------------------------------------------------------------------------


def run_pypeln(case: Case, items: list[Any]) -> Timing:
    """pypeln.task: one task and one bounded queue per stage."""
    pl = _import_pypeln()

    if case.shape == "diamond":
        msg = "pypeln has no fan-out or pairing of two stages"
        raise Unsupported(msg)
    fn = stage_function(case.payload)
    probe = Probe()

    async def main() -> Timing:
        start = time.perf_counter()
        if case.shape == "linear":
            stage: Any = _agen(items, probe)
            for _ in range(case.stages):
                stage = pl.task.map(fn, stage, workers=1, maxsize=case.capacity)
        else:
            sources = [
                pl.task.map(_same, _agen(f, probe), workers=1, maxsize=case.capacity)
                for f in merge_feeds(items)
            ]
            stage = pl.task.concat(sources, maxsize=case.capacity)
        n = 0
        last = None
        async for x in stage:
            n += 1
            last = x
        end = time.perf_counter()
        return Timing(end - (probe.t0 or start), end - start, n, last)

    return asyncio.run(main())


def run_pypeln_sync(case: Case, items: list[Any]) -> Timing:
    """pypeln.sync: stages as chained generators run in the caller's thread (pypeln's
    fastest mode for cheap functions: no tasks, threads or queues)."""
    pl = _import_pypeln()

    if case.shape == "diamond":
        msg = "pypeln has no fan-out or pairing of two stages"
        raise Unsupported(msg)
    fn = stage_function(case.payload)
    probe = Probe()
    start = time.perf_counter()
    if case.shape == "linear":
        stage: Any = _gen(items, probe)
        for _ in range(case.stages):
            stage = pl.sync.map(fn, stage, workers=1, maxsize=case.capacity)
    else:
        stage = pl.sync.concat(
            [pl.sync.map(_same, _gen(f, probe), workers=1) for f in merge_feeds(items)],
            maxsize=case.capacity,
        )
    n = 0
    last = None
    for x in stage:
        n += 1
        last = x
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, n, last)


def _same(x: Any) -> Any:
    return x


# -- aiostream ------------------------------------------------------------------------


def run_aiostream(case: Case, items: list[Any]) -> Timing:
    """aiostream operators: a pull-based chain of async generators."""
    from aiostream import pipe, stream

    if case.shape == "diamond":
        msg = "aiostream zips re-run their source; it has no fan-out of one stream"
        raise Unsupported(msg)
    fn = stage_function(case.payload)
    probe = Probe()

    async def main() -> Timing:
        start = time.perf_counter()
        if case.shape == "linear":
            xs: Any = stream.iterate(_agen(items, probe))
            for _ in range(case.stages):
                xs = xs | pipe.map(fn)
        else:
            xs = stream.merge(*(stream.iterate(_agen(f, probe)) for f in merge_feeds(items)))
        n = 0
        last = None
        async with xs.stream() as s:
            async for x in s:
                n += 1
                last = x
        end = time.perf_counter()
        return Timing(end - (probe.t0 or start), end - start, n, last)

    return asyncio.run(main())


# -- streamz --------------------------------------------------------------------------


def run_streamz(case: Case, items: list[Any]) -> Timing:
    """streamz in synchronous mode: each emit calls down the graph."""
    from streamz import Stream  # type: ignore[import-untyped,unused-ignore]

    fn = stage_function(case.payload)
    probe = Probe()
    box: list[Any] = [0, None]

    def sink(x: Any) -> None:
        box[0] += 1
        box[1] = x

    start = time.perf_counter()
    if case.shape == "merge":
        sources = [Stream() for _ in range(MERGE_SOURCES)]
        sources[0].union(*sources[1:]).sink(sink)
        feeds = merge_feeds(items)
        probe.start()
        for k in range(len(feeds[0])):
            for src, feed in zip(sources, feeds, strict=True):
                if k < len(feed):
                    src.emit(feed[k])
    else:
        source = Stream()
        if case.shape == "linear":
            s = source
            for _ in range(case.stages):
                s = s.map(fn)
            s.sink(sink)
        else:
            source.map(fn).zip(source.map(fn)).map(_add).sink(sink)
        emit = source.emit
        probe.start()
        for x in items:
            emit(x)
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, int(box[0] or 0), box[1])


# -- bytewax --------------------------------------------------------------------------


def _bytewax_sink(probe: Probe) -> Any:
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    class _Partition(StatelessSinkPartition[Any]):
        def write_batch(self, items: list[Any]) -> None:
            probe.count += len(items)
            probe.last = items[-1]

    class _Sink(DynamicSink[Any]):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
            return _Partition()

    return _Sink()


def _run_bytewax_flow(build: Callable[[Any, Probe], None], probe: Probe) -> Timing:
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main

    flow = Dataflow("bench")
    build(flow, probe)
    start = time.perf_counter()
    run_main(flow)  # type: ignore[no-untyped-call]
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, probe.count, probe.last)


def run_bytewax(case: Case, items: list[Any], *, batch_size: int = 1) -> Timing:
    """A single-worker bytewax dataflow with ``map`` steps."""
    import bytewax.operators as op
    from bytewax.testing import TestingSource

    if case.shape == "diamond" and batch_size > 1:
        msg = "the keyed join emits the pairs of a source batch out of item order"
        raise Unsupported(msg)
    fn = stage_function(case.payload)

    def build(flow: Any, probe: Probe) -> None:
        if case.shape == "merge":
            ins = [
                op.input(f"in{i}", flow, TestingSource(_gen(f, probe), batch_size))
                for i, f in enumerate(merge_feeds(items))
            ]
            op.output("out", op.merge("merge", *ins), _bytewax_sink(probe))
            return
        s = op.input("in", flow, TestingSource(_gen(items, probe), batch_size))
        if case.shape == "linear":
            for k in range(case.stages):
                s = op.map(f"s{k}", s, fn)
        else:
            a = op.key_on("ka", op.map("a", s, fn), str)
            b = op.key_on("kb", op.map("b", s, fn), str)
            s = op.map("add", op.join("join", a, b), lambda kv: _add(kv[1]))
        op.output("out", s, _bytewax_sink(probe))

    return _run_bytewax_flow(build, Probe())


def run_bytewax_batched(stages: int, batches: list[list[int]], *, batch_size: int) -> Timing:
    """bytewax over ints in source batches of ``batch_size``, each stage a
    ``flat_map_batch`` that adds 1 to a whole batch."""
    import bytewax.operators as op
    from bytewax.testing import TestingSource

    flat = [x for b in batches for x in b]

    def inc_batch(xs: list[int]) -> list[int]:
        return [x + 1 for x in xs]

    def build(flow: Any, probe: Probe) -> None:
        s = op.input("in", flow, TestingSource(_gen(flat, probe), batch_size))
        for k in range(stages):
            s = op.flat_map_batch(f"s{k}", s, inc_batch)
        op.output("out", s, _bytewax_sink(probe))

    return _run_bytewax_flow(build, Probe())
