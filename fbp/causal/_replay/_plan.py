"""What a replay runs, what it feeds from the trace, and what it copies.

A replay starts from some processes (the swapped ones, those given a ``--set`` value)
and re-executes them and everything downstream of them. Every other process is
*held*: it does not run, and its records are copied from the recorded run. Each input
port of a re-executed process that a held process fed gets a *feed*: the records its
held senders sent, in their recorded order (the order they entered the port's channel,
when several senders share it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..._core._address import PortAddress
from ..._core._component import Component
from ..._core._exceptions import GraphValidationError
from ...graph import Graph, PortRef, Registry
from ...graph._run import with_set_values
from ...graph._wiring import FlatGraph, check_graph

__all__ = ("Feed", "Plan", "make_plan")


@dataclass(frozen=True)
class Feed:
    """An input port of a re-executed process fed from the trace."""

    target: PortRef
    #: The held output ports whose records it receives, as addresses.
    senders: tuple[str, ...]

    @property
    def address(self) -> str:
        """The fed port, ``P.PORT[i]``."""
        return str(self.target)


@dataclass(frozen=True)
class Plan:
    """A replay's plan (see the module docstring)."""

    graph: Graph
    flat: FlatGraph
    #: Where re-execution starts.
    starts: tuple[str, ...]
    #: Processes re-executed, in graph order.
    rerun: tuple[str, ...]
    #: Processes held (their records are copied), in graph order.
    held: tuple[str, ...]
    feeds: tuple[Feed, ...]

    @property
    def fed_from(self) -> tuple[str, ...]:
        """Held processes whose streams feed a re-executed one."""
        procs = {s.rsplit(".", 1)[0] for f in self.feeds for s in f.senders}
        return tuple(p for p in self.held if p in procs)


def make_plan(
    graph: Graph,
    *,
    swap: Mapping[str, type[Component]],
    set_values: Mapping[str, Any],
    starts: Iterable[str] | None = None,
    registry: Registry | None = None,
) -> Plan:
    """Check ``graph`` with the swaps and set values applied, and draw the plan.

    Args:
        graph: the network.
        swap: process name -> the class it runs instead.
        set_values: ``P.PORT`` -> value, as ``--set`` gives them.
        starts: where re-execution starts; by default the swapped processes and the
            processes given a value.

    Raises:
        GraphValidationError: the graph, a swap or a set value does not check.
    """
    g = with_set_values(graph, set_values) if set_values else graph
    flat = check_graph(g, registry, swap=swap)
    if flat.issues:
        raise GraphValidationError(flat.issues, graph_name=graph.source or graph.name)
    if starts is None:
        begin = set(swap)
        for addr in set_values:
            proc = PortAddress.parse(addr).process
            if proc in flat.processes:
                begin.add(proc)
            else:
                # A --set on an exported port of a subnet: the flat port it stands for.
                begin.update(
                    i.tgt.process for i in flat.initials if i.tgt.process.startswith(proc + "/")
                )
    else:
        begin = set(starts)
    down: dict[str, set[str]] = {}
    for e in flat.edges:
        down.setdefault(e.src.process, set()).add(e.tgt.process)
    rerun: set[str] = set()
    todo = [p for p in begin if p in flat.processes]
    while todo:
        p = todo.pop()
        if p in rerun:
            continue
        rerun.add(p)
        todo.extend(down.get(p, ()))
    senders: dict[tuple[str, str, int | None], list[str]] = {}
    for e in flat.edges:
        if e.tgt.process in rerun and e.src.process not in rerun:
            key = (e.tgt.process, e.tgt.port.lower(), e.tgt.index)
            senders.setdefault(key, [])
            addr = str(PortRef(e.src.process, e.src.port, e.src.index))
            if addr not in senders[key]:
                senders[key].append(addr)
    feeds = tuple(
        Feed(PortRef(proc, port, index), tuple(srcs))
        for (proc, port, index), srcs in senders.items()
    )
    order = list(flat.processes)
    return Plan(
        graph=g,
        flat=flat,
        starts=tuple(p for p in order if p in begin),
        rerun=tuple(p for p in order if p in rerun),
        held=tuple(p for p in order if p not in rerun),
        feeds=feeds,
    )


def downstream(flat: FlatGraph, process: str) -> set[str]:
    """``process`` and every process downstream of it."""
    down: dict[str, set[str]] = {}
    for e in flat.edges:
        down.setdefault(e.src.process, set()).add(e.tgt.process)
    seen: set[str] = set()
    todo = [process]
    while todo:
        p = todo.pop()
        if p not in seen:
            seen.add(p)
            todo.extend(down.get(p, ()))
    return seen
