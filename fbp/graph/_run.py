"""Running a graph in one call."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._core._network import DEFAULT_CAPACITY, Network, RunResult
from .._core._sync import run_sync
from .._core._tracehook import TraceSink
from ._load import load_graph
from ._model import Connection, Graph
from ._registry import Registry
from ._wiring import build_network

__all__ = ("apply_settings", "prepare", "run", "run_async", "with_set_values")


def prepare(
    graph: Graph | str | Path,
    *,
    set_values: dict[str, Any] | None = None,
    registry: Registry | None = None,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
    trace: TraceSink | None = None,
) -> Network:
    """Load (if needed), apply ``--set`` values, check and wire a graph.

    ``set_values`` maps input port addresses (``proc.PORT``) to values: each replaces
    the port's IIPs, and cuts the edges into that port, which is what an intervention
    ``do(port = value)`` means.
    """
    g, settings = apply_settings(graph, set_values)
    return build_network(
        g, registry=registry, capacity=capacity, validate=validate, trace=trace, settings=settings
    )


def apply_settings(
    graph: Graph | str | Path, set_values: dict[str, Any] | None
) -> tuple[Graph, dict[str, Any]]:
    """Load the graph if needed and apply ``--set`` values (see :func:`prepare`);
    return the graph to run and the settings to store with its trace."""
    g = graph if isinstance(graph, Graph) else load_graph(graph)
    settings: dict[str, Any] = {}
    if set_values:
        g = with_set_values(g, set_values)
        settings["set"] = dict(set_values)
    return g, settings


def with_set_values(graph: Graph, set_values: Mapping[str, Any]) -> Graph:
    """A copy of ``graph`` with ``--set`` values applied: each replaces the IIPs of its
    input port (``proc.PORT``) and cuts the edges into that port."""
    g = graph.copy()
    for addr, value in set_values.items():
        g.set_initial(addr, value)
        t = g.connections[-1].tgt
        g.connections = [
            c
            for c in g.connections
            if not (
                isinstance(c, Connection)
                and c.tgt.process == t.process
                and c.tgt.port.lower() == t.port.lower()
                and c.tgt.index == t.index
            )
        ]
    return g


async def run_async(graph: Graph | str | Path, **options: Any) -> RunResult:
    """Load, check, wire and run a graph; see :func:`prepare` for the options."""
    net = prepare(graph, **options)
    return await net.run()


def run(graph: Graph | str | Path, **options: Any) -> RunResult:
    """Run a graph to its end from synchronous code; see :func:`prepare` for the options.

    It starts an event loop, or, where one is already running in this thread (a Jupyter
    notebook's cell), runs the network on an event loop of its own in a worker thread
    and waits for it. In async code, ``await run_async(...)`` instead.

    Returns:
        What the run did, with ``outputs``: the items each collecting sink kept, by
        process name.

    Raises:
        GraphError: the graph does not load or check (every problem at once).
        NetworkError: the run failed (a component raised, a deadlock).
    """
    return run_sync(lambda: run_async(graph, **options))
