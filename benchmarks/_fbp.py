"""The fbp side: benchmark components and networks built with the low-level API.

Components are written the way a user writes them (``async for x in self.in_: await
self.out.send(f(x))``); only their port types vary with the payload. Each run binds its
feed and probe in throwaway subclasses, so nothing is shared between runs.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any, cast

from fbp import ArrayInPort, ArrayOutPort, Component, InPort, Network, OutPort
from fbp._core._tracehook import TraceSink

from ._cases import MERGE_SOURCES, Case, Probe, Timing, merge_feeds
from ._payloads import payload_type, stage_function

__all__ = (
    "build_batch_api",
    "build_case",
    "build_chain",
    "build_fan",
    "compiled_loops",
    "compiled_paths",
    "run_fbp",
    "run_network",
    "tracing_available",
    "tracing_sink",
)


# -- the component bodies -------------------------------------------------------------


async def _source_run(self: Any) -> None:
    self.probe.start()
    for x in self.feed:
        await self.out.send(x)


async def _fan_source_run(self: Any) -> None:
    outs = self.out.elements
    n = len(outs)
    self.probe.start()
    for i, x in enumerate(self.feed):
        await outs[i % n].send(x)


async def _stage_run(self: Any) -> None:
    fn = self.fn
    async for x in self.in_:
        await self.out.send(fn(x))


async def _join_process(self: Any, a: Any, b: Any) -> None:
    await self.out.send(a + b)


async def _merge_run(self: Any) -> None:
    async for _index, x in self.in_:
        await self.out.send(x)


async def _sink_run(self: Any) -> None:
    n = 0
    last = None
    async for x in self.in_:
        n += 1
        last = x
    self.probe.count = n
    self.probe.last = last


async def _batch_source_run(self: Any) -> None:
    self.probe.start()
    for chunk in self.feed:
        await self.out.send_batch(chunk)


async def _batch_stage_run(self: Any) -> None:
    fn = self.fn
    async for batch in self.in_.batches(self.max_items):
        await self.out.send_batch(fn(batch))


async def _batch_sink_run(self: Any) -> None:
    n = 0
    last = None
    async for batch in self.in_.batches(self.max_items):
        n += len(batch)
        last = batch[-1]
    self.probe.count = n
    self.probe.last = last


def _component(name: str, annotations: dict[str, Any], members: dict[str, Any]) -> type[Component]:
    ns: dict[str, Any] = {
        "__annotations__": annotations,
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"Benchmark {name.lower()}.",
        **members,
    }
    return cast("type[Component]", type(name, (Component,), ns))


@cache
def _components(tp: Any) -> dict[str, type[Component]]:
    """The benchmark components whose ports carry ``tp``."""
    return {
        "source": _component("Source", {"out": OutPort[tp]}, {"run": _source_run}),
        "fan_source": _component("FanSource", {"out": ArrayOutPort[tp]}, {"run": _fan_source_run}),
        "stage": _component("Stage", {"in_": InPort[tp], "out": OutPort[tp]}, {"run": _stage_run}),
        "join": _component(
            "Join",
            {"a": InPort[tp], "b": InPort[tp], "out": OutPort[tp]},
            {"process": _join_process},
        ),
        "merge": _component(
            "Merge", {"in_": ArrayInPort[tp], "out": OutPort[tp]}, {"run": _merge_run}
        ),
        "sink": _component("Sink", {"in_": InPort[tp]}, {"run": _sink_run}),
        "batch_source": _component("BatchSource", {"out": OutPort[tp]}, {"run": _batch_source_run}),
        "batch_stage": _component(
            "BatchStage", {"in_": InPort[tp], "out": OutPort[tp]}, {"run": _batch_stage_run}
        ),
        "batch_sink": _component("BatchSink", {"in_": InPort[tp]}, {"run": _batch_sink_run}),
    }


def _bind(cls: type[Component], **attrs: Any) -> type[Component]:
    """A subclass of ``cls`` carrying this run's feed, probe or stage function."""
    members = {k: staticmethod(v) if k == "fn" else v for k, v in attrs.items()}
    return cast("type[Component]", type(cls.__name__, (cls,), members))


# -- networks -------------------------------------------------------------------------


def build_case(
    case: Case,
    items: list[Any],
    probe: Probe,
    *,
    validate: bool = True,
    trace: TraceSink | None = None,
    sink_run: Callable[..., Any] | None = None,
    port_type: Any = None,
    fn: Callable[[Any], Any] | None = None,
    fuse: bool = True,
) -> Network:
    """Wire the network of a case (nothing is timed here).

    Args:
        case: the shape and size.
        items: the payloads the source(s) send (any iterable works for ``linear``).
        probe: shared with the source(s) and the sink.
        validate: the network's validation setting.
        trace: a trace sink, or None.
        sink_run: replaces the sink's ``run`` (used by the memory run to sample RSS).
        port_type: the ports' type (default: the case's payload type).
        fn: the stage function (default: the case's payload work).
        fuse: the network's ``fuse`` setting.
    """
    tp: Any = port_type if port_type is not None else payload_type(case.payload)
    comps = _components(tp)
    work = fn if fn is not None else stage_function(case.payload)
    net = Network(
        f"bench-{case.name}", capacity=case.capacity, validate=validate, trace=trace, fuse=fuse
    )
    sink_attrs: dict[str, Any] = {"probe": probe}
    if sink_run is not None:
        sink_attrs["run"] = sink_run
    net.add_process("sink", _bind(comps["sink"], **sink_attrs))
    if case.shape == "linear":
        net.add_process("src", _bind(comps["source"], feed=items, probe=probe))
        prev = "src"
        for k in range(case.stages):
            net.add_process(f"s{k}", _bind(comps["stage"], fn=work))
            net.connect((prev, "out", None), (f"s{k}", "in", None))
            prev = f"s{k}"
        net.connect((prev, "out", None), ("sink", "in", None))
    elif case.shape == "diamond":
        net.add_process("src", _bind(comps["source"], feed=items, probe=probe))
        net.add_process("a", _bind(comps["stage"], fn=work))
        net.add_process("b", _bind(comps["stage"], fn=work))
        net.add_process("join", comps["join"])
        net.connect(("src", "out", None), ("a", "in", None))
        net.connect(("src", "out", None), ("b", "in", None))
        net.connect(("a", "out", None), ("join", "a", None))
        net.connect(("b", "out", None), ("join", "b", None))
        net.connect(("join", "out", None), ("sink", "in", None))
    else:
        net.add_process("merge", comps["merge"], array_sizes={"in": MERGE_SOURCES})
        for i, feed in enumerate(merge_feeds(items)):
            net.add_process(f"src{i}", _bind(comps["source"], feed=feed, probe=probe))
            net.connect((f"src{i}", "out", None), ("merge", "in", i))
        net.connect(("merge", "out", None), ("sink", "in", None))
    return net


def build_batch_api(
    case: Case,
    chunks: list[list[Any]],
    probe: Probe,
    fn: Callable[[list[Any]], list[Any]],
    *,
    max_items: int,
    validate: bool = True,
    trace: TraceSink | None = None,
) -> Network:
    """A linear case written with the batched port API, one IP per item.

    The source sends each chunk with ``send_batch``; every stage reads
    ``in_.batches(max_items)`` and sends ``fn(batch)`` with ``send_batch``; the sink
    counts the items of its batches. Ports carry the case's payload type, so each item
    is its own IP (validated, and traced with element-wise lineage).
    """
    if case.shape != "linear":
        msg = f"the batch API network is linear only; {case.name} is {case.shape}"
        raise ValueError(msg)
    tp: Any = payload_type(case.payload)
    comps = _components(tp)
    net = Network(f"bench-{case.name}", capacity=case.capacity, validate=validate, trace=trace)
    net.add_process("src", _bind(comps["batch_source"], feed=chunks, probe=probe))
    net.add_process("sink", _bind(comps["batch_sink"], probe=probe, max_items=max_items))
    prev = "src"
    for k in range(case.stages):
        net.add_process(f"s{k}", _bind(comps["batch_stage"], fn=fn, max_items=max_items))
        net.connect((prev, "out", None), (f"s{k}", "in", None))
        prev = f"s{k}"
    net.connect((prev, "out", None), ("sink", "in", None))
    return net


def build_chain(processes: int, feed: Iterable[Any], probe: Probe) -> Network:
    """A long chain: a source, ``processes - 2`` ``x + 1`` stages and a sink."""
    case = Case("chain", "linear", processes - 2, "int", 0)
    return build_case(case, cast("list[Any]", feed), probe)


def build_fan(processes: int, feed: Iterable[Any], probe: Probe) -> Network:
    """A wide fan: a source deals items round-robin to ``processes - 2`` workers whose
    outputs all feed one sink port (fan-in)."""
    comps = _components(int)
    workers = processes - 2
    net = Network("bench-fan")
    net.add_process(
        "src", _bind(comps["fan_source"], feed=feed, probe=probe), array_sizes={"out": workers}
    )
    net.add_process("sink", _bind(comps["sink"], probe=probe))
    for w in range(workers):
        net.add_process(f"w{w}", _bind(comps["stage"], fn=stage_function("int")))
        net.connect(("src", "out", w), (f"w{w}", "in", None))
        net.connect((f"w{w}", "out", None), ("sink", "in", None))
    return net


async def _drive(net: Network, probe: Probe) -> Timing:
    start = time.perf_counter()
    await net.run()
    end = time.perf_counter()
    return Timing(end - (probe.t0 or start), end - start, probe.count, probe.last)


def run_network(net: Network, probe: Probe) -> Timing:
    """Run a built network in a fresh event loop and time it."""
    return asyncio.run(_drive(net, probe))


def tracing_available() -> str | None:
    """None when ``fbp.tracing.TraceWriter`` can be imported, else why not."""
    try:
        from fbp.tracing import TraceWriter  # noqa: F401
    except ImportError as e:
        return f"fbp.tracing is not available ({e})"
    return None


@contextmanager
def tracing_sink() -> Iterator[TraceSink]:
    """A :class:`fbp.tracing.TraceWriter` on a fresh temporary file."""
    from fbp.tracing import TraceWriter

    with tempfile.TemporaryDirectory(prefix="fbp-bench-") as tmp:
        writer = TraceWriter(Path(tmp) / "bench.trace")
        try:
            yield writer
        finally:
            writer.close()


@contextmanager
def compiled_paths(on: bool) -> Iterator[None]:
    """With ``on`` False, run without the C port methods and the C traced send
    (as with ``FBP_NO_ACCEL=1``), the pure-Python paths."""
    from fbp._core import _fast, _port_variants

    if on:
        yield
        return
    put = _port_variants._put
    _fast.uninstall()
    _port_variants._put = None
    try:
        yield
    finally:
        _port_variants._put = put
        _fast.install()


@contextmanager
def compiled_loops(on: bool) -> Iterator[None]:
    """With ``on`` False, components' loops run as written (as with ``FBP_NO_LOOPS=1``)."""
    if on:
        yield
        return
    was = os.environ.get("FBP_NO_LOOPS")
    os.environ["FBP_NO_LOOPS"] = "1"
    try:
        yield
    finally:
        if was is None:
            del os.environ["FBP_NO_LOOPS"]
        else:
            os.environ["FBP_NO_LOOPS"] = was


def run_fbp(
    case: Case,
    items: list[Any],
    *,
    validate: bool = True,
    trace: bool = False,
    fuse: bool = True,
    accel: bool = True,
    loops: bool = True,
) -> Timing:
    """Build and run the fbp network of a case (``fuse``: the network's setting;
    ``accel``: with the optional C paths, where built; ``loops``: components' loops
    compiled, where they can be)."""
    probe = Probe()
    with compiled_paths(accel), compiled_loops(loops):
        if not trace:
            net = build_case(case, items, probe, validate=validate, fuse=fuse)
            return run_network(net, probe)
        with tracing_sink() as sink:
            net = build_case(case, items, probe, validate=validate, trace=sink, fuse=fuse)
            return run_network(net, probe)
