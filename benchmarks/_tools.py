"""The tools the matrix compares: fbp variants, bare baselines and peers."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._baselines import run_anyio, run_asyncio
from ._cases import Case, Timing
from ._fbp import run_fbp, tracing_available
from ._peers import (
    peer_available,
    peer_version,
    run_aiostream,
    run_bytewax,
    run_pypeln,
    run_pypeln_sync,
    run_streamz,
)

__all__ = ("BARE", "FBP_TOOLS", "TOOLS", "Tool", "tool_named")

Family = Literal["fbp", "baseline", "peer"]

#: The bare fast-path pipeline every ratio is taken against.
BARE = "anyio-nowait"


def _always() -> str | None:
    return None


def _version(dist: str) -> Callable[[], str | None]:
    def version() -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return version


@dataclass(frozen=True, slots=True)
class Tool:
    """One way of running a case.

    Attributes:
        name: short and unique (``fbp``, ``anyio-nowait``, ``pypeln``).
        family: ``fbp``, ``baseline`` or ``peer``.
        description: one line for the report.
        run: runs a case over prebuilt items and times it; raises ``Unsupported`` for a
            shape the tool has no natural form of.
        unavailable: None when the tool can run here, else why not.
        version: the version measured, when it has one.
        peer: for a peer, which tool it is a configuration of (``bytewax`` for
            ``bytewax-src64``); the report compares fbp with each peer's best.
    """

    name: str
    family: Family
    description: str
    run: Callable[[Case, list[Any]], Timing]
    unavailable: Callable[[], str | None] = _always
    version: Callable[[], str | None] = _always
    peer: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form, with availability and version resolved now."""
        return {
            "name": self.name,
            "family": self.family,
            "description": self.description,
            "unavailable": self.unavailable(),
            "version": self.version(),
            "peer": self.peer or (self.name if self.family == "peer" else None),
        }


def _fbp(
    validate: bool, trace: bool, *, fuse: bool = True, accel: bool = True, loops: bool = True
) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        return run_fbp(
            case, items, validate=validate, trace=trace, fuse=fuse, accel=accel, loops=loops
        )

    return run


def _bytewax_batch(n: int) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        return run_bytewax(case, items, batch_size=n)

    return run


def _asyncio(nowait: bool) -> Callable[[Case, list[Any]], Timing]:
    def run(case: Case, items: list[Any]) -> Timing:
        return run_asyncio(case, items, nowait=nowait)

    return run


def _peer(name: str) -> Callable[[], str | None]:
    return lambda: peer_available(name)


def _peer_version(name: str) -> Callable[[], str | None]:
    return lambda: peer_version(name)


TOOLS: tuple[Tool, ...] = (
    Tool(
        "fbp",
        "fbp",
        "fbp Network, validation on, no tracing (the default)",
        _fbp(True, False),
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-novalidate",
        "fbp",
        "fbp Network, validate=False",
        _fbp(False, False),
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-traced",
        "fbp",
        "fbp Network, validation on, every IP recorded by fbp.tracing.TraceWriter"
        " (SQLite, temp file); timed until the trace is stored",
        _fbp(True, True),
        unavailable=tracing_available,
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-traced-novalidate",
        "fbp",
        "fbp Network, validate=False, every IP recorded as for fbp-traced",
        _fbp(False, True),
        unavailable=tracing_available,
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-novalidate-unfused",
        "fbp",
        "fbp Network, validate=False, fuse=False (every process stepped by the event loop)",
        _fbp(False, False, fuse=False),
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-novalidate-as-written",
        "fbp",
        "fbp Network, validate=False, loops run as written, not compiled (as FBP_NO_LOOPS=1)",
        _fbp(False, False, loops=False),
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-novalidate-python",
        "fbp",
        "fbp Network, validate=False, without the optional C paths (as FBP_NO_ACCEL=1)",
        _fbp(False, False, accel=False),
        version=_version("fbp-causal"),
    ),
    Tool(
        "fbp-traced-python",
        "fbp",
        "fbp Network, traced as fbp-traced, without the optional C paths (as FBP_NO_ACCEL=1)",
        _fbp(True, True, accel=False),
        unavailable=tracing_available,
        version=_version("fbp-causal"),
    ),
    Tool(
        BARE,
        "baseline",
        "anyio memory object streams, send_nowait/receive_nowait, await only on WouldBlock",
        run_anyio,
        version=_version("anyio"),
    ),
    Tool(
        "asyncio-nowait",
        "baseline",
        "asyncio.Queue, put_nowait/get_nowait, await only on QueueFull/QueueEmpty",
        _asyncio(True),
    ),
    Tool(
        "asyncio-await",
        "baseline",
        "asyncio.Queue, plain await put()/get()",
        _asyncio(False),
    ),
    Tool(
        "pypeln",
        "peer",
        "pypeln.task.map stages (a task and a queue of 32 per stage)",
        run_pypeln,
        _peer("pypeln"),
        _peer_version("pypeln"),
    ),
    Tool(
        "pypeln-sync",
        "peer",
        "pypeln.sync.map stages (chained generators in one thread, maxsize 32)",
        run_pypeln_sync,
        _peer("pypeln"),
        _peer_version("pypeln"),
        peer="pypeln",
    ),
    Tool(
        "aiostream",
        "peer",
        "aiostream pipe.map chain (async generators, no buffers)",
        run_aiostream,
        _peer("aiostream"),
        _peer_version("aiostream"),
    ),
    Tool(
        "streamz",
        "peer",
        "streamz Stream.map, synchronous mode (direct calls, no buffers)",
        run_streamz,
        _peer("streamz"),
        _peer_version("streamz"),
    ),
    Tool(
        "bytewax",
        "peer",
        "bytewax op.map, single worker run_main, TestingSource batch 1",
        run_bytewax,
        _peer("bytewax"),
        _peer_version("bytewax"),
    ),
    Tool(
        "bytewax-src64",
        "peer",
        "bytewax op.map, single worker run_main, TestingSource batch 64",
        _bytewax_batch(64),
        _peer("bytewax"),
        _peer_version("bytewax"),
        peer="bytewax",
    ),
    Tool(
        "bytewax-src1000",
        "peer",
        "bytewax op.map, single worker run_main, TestingSource batch 1000",
        _bytewax_batch(1000),
        _peer("bytewax"),
        _peer_version("bytewax"),
        peer="bytewax",
    ),
)

#: The fbp variants, whose ratios to every other tool are reported.
FBP_TOOLS = tuple(t.name for t in TOOLS if t.family == "fbp")


def tool_named(name: str) -> Tool:
    """Look a tool up by name."""
    for t in TOOLS:
        if t.name == name:
            return t
    msg = f"no tool named {name!r}; the tools are {', '.join(t.name for t in TOOLS)}"
    raise KeyError(msg)
