"""Run a network on Ray: one network across cores and machines.

Partitions of the graph (placed by process metadata: ``partition``, ``replicas``,
``key``, ``num_cpus``) run as ordinary in-process networks, in Ray actors or in the
driver; edges between partitions are bridged with bounded, credit-based,
batched channels that keep IP identity and lineage. See docs/scaling.md.

Importing this module does not import Ray; running does (install the ``ray`` extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from .._core._network import RunResult
from ..graph._model import Graph
from ._driver import PartitionLost as PartitionLost
from ._driver import RayBackend as RayBackend
from ._link import PeerLost as PeerLost
from ._link import PeerStopped as PeerStopped
from ._link import RouteError as RouteError
from ._plan import Placement as Placement

__all__ = (
    "PartitionLost",
    "PeerLost",
    "PeerStopped",
    "Placement",
    "RayBackend",
    "RouteError",
    "run",
    "run_async",
)


async def run_async(
    graph: Graph | str | Path, *, address: str | None = None, **options: Any
) -> RunResult:
    """Run a graph on Ray (a local Ray started on demand, or the cluster at ``address``).

    The options are those of :meth:`RayBackend.run`. A local Ray started here is
    stopped before this returns.
    """
    with RayBackend(address) as backend:
        return await backend.run(graph, **options)


def run(graph: Graph | str | Path, *, address: str | None = None, **options: Any) -> RunResult:
    """Run a graph on Ray from synchronous code (see :func:`run_async`)."""
    return anyio.run(lambda: run_async(graph, address=address, **options))
