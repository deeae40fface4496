"""From a graph to a runnable network: resolve, flatten subnets, check, wire.

Every problem is collected before anything runs, and reported together: unknown
components and ports (with the names that come close), type mismatches naming both
ends, IIPs that do not fit their port, required ports left open, bad runtime settings.

Subnets are flattened: a process ``S`` running a graph ``G`` becomes G's processes
named ``S/inner``, and edges to and from ``S``'s ports attach to the inner ports that
``G`` exports. The causal layer sees the same flat graph.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._core._channel import Overflow
from .._core._component import Component, ComponentDefinitionError, ComponentSpec
from .._core._exceptions import (
    ComponentNotFoundError,
    GraphIssue,
    GraphValidationError,
    PacketTypeError,
    SourceLocation,
)
from .._core._network import DEFAULT_CAPACITY, Network
from .._core._ports import PortSpec
from .._core._suggest import close_matches
from .._core._tracehook import TraceSink
from .._core._types import Compat, Validator, compatibility, type_name
from ._model import Connection, Graph, Initial, Node, PortRef
from ._registry import Registry

__all__ = (
    "FlatGraph",
    "FlatProcess",
    "build_network",
    "check_graph",
    "connect_edges",
    "flatten",
)

GraphLoader = Callable[[Path], Graph]


@dataclass
class FlatProcess:
    """A process of the flattened graph, with its resolved component."""

    name: str
    cls: type[Component]
    component: str
    metadata: dict[str, Any]
    location: SourceLocation | None

    @property
    def spec(self) -> ComponentSpec:
        """The component's declared ports."""
        return self.cls.spec()


@dataclass
class FlatGraph:
    """A graph with every subnet inlined and every component resolved."""

    name: str
    processes: dict[str, FlatProcess] = field(default_factory=dict)
    edges: list[Connection] = field(default_factory=list)
    initials: list[Initial] = field(default_factory=list)
    issues: list[GraphIssue] = field(default_factory=list)
    array_sizes: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Processes whose component could not be resolved (already reported).
    unresolved: set[str] = field(default_factory=set)
    #: The top-level graph's exported ports: (``"in"``/``"out"``, public name lowered)
    #: to the flat port they stand for.
    exports: dict[tuple[str, str], PortRef] = field(default_factory=dict)


def _where(
    el: Node | Connection | Initial, path: tuple[str | int, ...], source: str | None
) -> SourceLocation:
    if el.location is not None:
        return el.location
    return SourceLocation(source=source, path=path)


def flatten(
    graph: Graph,
    registry: Registry,
    load: GraphLoader,
    swap: Mapping[str, type[Component]] | None = None,
) -> FlatGraph:
    """Resolve components and inline subnets; collect issues instead of raising.

    ``swap`` maps flat process names (``P``, or ``S/P`` inside subnet ``S``) to the
    component class each runs instead of the one the graph names.
    """
    flat = FlatGraph(graph.name)
    flat.exports = _inline(
        graph, "", registry, load, flat, stack=(graph.source or graph.name,), swap=swap or {}
    )
    for name in swap or {}:
        if name not in flat.processes and name not in flat.unresolved:
            close = difflib.get_close_matches(name, list(flat.processes), n=1)
            flat.issues.append(
                GraphIssue(
                    f"swap {name!r}: the graph has no process {name!r}",
                    SourceLocation(source=graph.source),
                    f"did you mean {close[0]!r}?" if close else "name a process of the graph",
                )
            )
    _check(flat)
    return flat


_ExportMap = dict[tuple[str, str], PortRef]


def _inline(
    graph: Graph,
    prefix: str,
    registry: Registry,
    load: GraphLoader,
    flat: FlatGraph,
    stack: tuple[str, ...],
    swap: Mapping[str, type[Component]],
) -> _ExportMap:
    """Inline ``graph`` into ``flat``; return its exports mapped to flat port refs."""
    base_dir = Path(graph.source).parent if graph.source else None
    subnets: dict[str, tuple[Graph, _ExportMap]] = {}
    for node in graph.processes.values():
        where = _where(node, ("processes", node.name), graph.source)
        comp = node.component
        resolved: type[Component] | Graph | Path | None
        try:
            if prefix + node.name in swap:
                resolved = swap[prefix + node.name]
            else:
                resolved = (
                    registry.resolve(comp, base_dir=base_dir) if isinstance(comp, str) else comp
                )
        except ComponentNotFoundError as e:
            flat.issues.append(
                GraphIssue(
                    f"process {prefix + node.name!r}: {e}",
                    where,
                    "check the spelling; 'fbp components' lists every component it finds"
                    " (with --path DIR, those of the modules in DIR too)",
                )
            )
            flat.unresolved.add(prefix + node.name)
            continue
        if isinstance(resolved, Path):
            key = str(resolved.resolve())
            if key in stack:
                flat.issues.append(
                    GraphIssue(
                        f"process {prefix + node.name!r}: subnet {resolved} includes itself"
                        f" ({' -> '.join([*stack, key])})",
                        where,
                    )
                )
                continue
            resolved = load(resolved)
        if isinstance(resolved, Graph):
            inner_map = _inline(
                resolved,
                f"{prefix}{node.name}/",
                registry,
                load,
                flat,
                (*stack, resolved.source or resolved.name),
                swap,
            )
            subnets[node.name] = (resolved, inner_map)
            continue
        try:
            resolved.spec()
        except ComponentDefinitionError as e:
            flat.issues.append(GraphIssue(f"process {prefix + node.name!r}: {e}", where))
            flat.unresolved.add(prefix + node.name)
            continue
        name = node.component_name
        if prefix + node.name in swap:
            name = resolved.spec().qualname
        flat.processes[prefix + node.name] = FlatProcess(
            prefix + node.name, resolved, name, dict(node.metadata), where
        )

    def outer_to_inner(ref: PortRef, direction: str, where: SourceLocation) -> PortRef | None:
        entry = subnets.get(ref.process)
        if entry is None:
            return PortRef(prefix + ref.process, ref.port, ref.index)
        sub, inner_map = entry
        exports = sub.inports if direction == "in" else sub.outports
        inner = inner_map.get((direction, ref.port.lower()))
        if inner is None:
            names = sorted(exports)
            close = close_matches(ref.port, names, n=1)
            flat.issues.append(
                GraphIssue(
                    f"{ref}: subnet {sub.name!r} exports no {direction}port {ref.port!r}"
                    f" (it exports: {', '.join(names) or 'none'})",
                    where,
                    f"did you mean {close[0]!r}?" if close else "",
                )
            )
            return None
        return PortRef(
            inner.process, inner.port, ref.index if ref.index is not None else inner.index
        )

    for n, c in enumerate(graph.connections):
        where = _where(c, ("connections", n), graph.source)
        tgt = outer_to_inner(c.tgt, "in", where)
        if tgt is None:
            continue
        if isinstance(c, Initial):
            flat.initials.append(Initial(c.data, tgt, dict(c.metadata), where))
        else:
            src = outer_to_inner(c.src, "out", where)
            if src is not None:
                flat.edges.append(Connection(src, tgt, dict(c.metadata), where))
    export_map: _ExportMap = {}
    for kind, exports in (("inports", graph.inports), ("outports", graph.outports)):
        direction = "in" if kind == "inports" else "out"
        for public, exp in exports.items():
            where = exp.location or SourceLocation(source=graph.source, path=(kind, public))
            if exp.process not in graph.processes:
                close = close_matches(exp.process, list(graph.processes), n=1)
                flat.issues.append(
                    GraphIssue(
                        f"exported port {public!r} points at {exp.ref}, but there is no process"
                        f" {exp.process!r}",
                        where,
                        f"did you mean {close[0]!r}?" if close else "",
                    )
                )
                continue
            inner = outer_to_inner(exp.ref, direction, where)
            if inner is not None:
                export_map[(direction, public.lower())] = inner
    return export_map


def _port_of(
    flat: FlatGraph, ref: PortRef, direction: str, where: SourceLocation, *, report: bool = True
) -> tuple[FlatProcess, PortSpec] | None:
    proc = flat.processes.get(ref.process)
    if proc is None:
        if ref.process in flat.unresolved or not report:
            return None  # the process itself is already reported
        close = close_matches(ref.process, list(flat.processes), n=1)
        flat.issues.append(
            GraphIssue(
                f"{ref}: no process named {ref.process!r}",
                where,
                f"did you mean {close[0]!r}?" if close else "declare the process first",
            )
        )
        return None
    spec = proc.spec
    port = spec.inport(ref.port) if direction == "in" else spec.outport(ref.port)
    if not report:
        return None if port is None else (proc, port)
    if port is None:
        other = spec.outport(ref.port) if direction == "in" else spec.inport(ref.port)
        names = [p.display for p in (spec.inports if direction == "in" else spec.outports)]
        if other is not None:
            hint = (
                f"{ref.port.upper()} is an {'output' if direction == 'in' else 'input'}"
                " port; swap the ends of the connection"
            )
        else:
            close = close_matches(ref.port.upper(), names, n=1)
            hint = f"did you mean {close[0]!r}?" if close else ""
        flat.issues.append(
            GraphIssue(
                f"{ref}: {proc.component} has no {direction}put port {ref.port.upper()!r}"
                f" (its {direction}put ports: {', '.join(names) or 'none'})",
                where,
                hint,
            )
        )
        return None
    if ref.index is not None and not port.array:
        flat.issues.append(
            GraphIssue(
                f"{ref}: {ref.process}.{port.display} is not an array port",
                where,
                f"drop the index [{ref.index}]",
            )
        )
        return None
    return proc, port


def _check(flat: FlatGraph) -> None:
    next_index: dict[tuple[str, str, str], int] = {}
    used: dict[tuple[str, str, str], set[int]] = {}
    ends: list[tuple[str, PortRef, SourceLocation]] = []
    for e in flat.edges:
        ends.append(("out", e.src, e.location or SourceLocation()))
        ends.append(("in", e.tgt, e.location or SourceLocation()))
    for i in flat.initials:
        ends.append(("in", i.tgt, i.location or SourceLocation()))
    for direction, ref, where in ends:
        got = _port_of(flat, ref, direction, where, report=False)
        if got is not None and got[1].array and ref.index is not None:
            used.setdefault((ref.process, got[1].name, direction), set()).add(ref.index)

    # Array connections without an index take the next free index, in order.
    def fix(ref: PortRef, direction: str) -> PortRef:
        proc = flat.processes.get(ref.process)
        if proc is None:
            return ref
        spec = proc.spec
        port = spec.inport(ref.port) if direction == "in" else spec.outport(ref.port)
        if port is None or not port.array or ref.index is not None:
            return ref
        key = (ref.process, port.name, direction)
        taken = used.setdefault(key, set())
        i = next_index.get(key, 0)
        while i in taken:
            i += 1
        taken.add(i)
        next_index[key] = i + 1
        return PortRef(ref.process, ref.port, i)

    flat.edges = [
        Connection(fix(e.src, "out"), fix(e.tgt, "in"), e.metadata, e.location) for e in flat.edges
    ]
    flat.initials = [
        Initial(i.data, fix(i.tgt, "in"), i.metadata, i.location) for i in flat.initials
    ]
    for (proc, pname, _direction), idxs in used.items():
        flat.array_sizes.setdefault(proc, {})[pname] = max(idxs) + 1 if idxs else 0


def _settings(
    meta: Mapping[str, Any], what: str, where: SourceLocation, issues: list[GraphIssue]
) -> tuple[int | None, Overflow]:
    cap: int | None = None
    raw = meta.get("capacity", meta.get("buffer"))
    if raw is not None:
        try:
            cap = int(raw)
            if cap < 0 or isinstance(raw, bool) or (isinstance(raw, float) and raw != cap):
                raise ValueError
        except (TypeError, ValueError):
            issues.append(
                GraphIssue(
                    f"{what}: capacity must be an integer >= 0, got {raw!r}",
                    where,
                    'e.g. metadata {"capacity": 8}',
                )
            )
            cap = None
    overflow = meta.get("overflow", "block")
    if overflow not in ("block", "drop_oldest"):
        issues.append(
            GraphIssue(
                f"{what}: overflow must be 'block' or 'drop_oldest', got {overflow!r}", where
            )
        )
        overflow = "block"
    return cap, overflow


def check_graph(
    graph: Graph,
    registry: Registry | None = None,
    load: GraphLoader | None = None,
    *,
    exports_fed: bool = False,
    swap: Mapping[str, type[Component]] | None = None,
) -> FlatGraph:
    """Check a graph completely; the result's ``issues`` lists every problem found.

    With ``exports_fed``, the graph's exported input ports count as fed (the network
    will be fed through them from outside). ``swap`` runs processes with other
    component classes (see :func:`flatten`).
    """
    from ._load import load_graph

    flat = flatten(graph, registry or Registry(), load or load_graph, swap)
    issues = flat.issues
    if not flat.processes and not issues:
        issues.append(
            GraphIssue(
                f"graph {graph.name!r} has no processes, so running it would do nothing",
                SourceLocation(graph.source),
                "declare a process, e.g. 'Source(core/Repeat) OUT -> IN Show(core/Output)'",
            )
        )
    fed: dict[tuple[str, str, int | None], int] = {}
    if exports_fed:
        for (direction, _), ref in flat.exports.items():
            got = _port_of(flat, ref, "in", SourceLocation(), report=False)
            if direction == "in" and got is not None:
                fed[(ref.process, got[1].name, ref.index)] = 1
    for e in flat.edges:
        where = e.location or SourceLocation()
        src = _port_of(flat, e.src, "out", where)
        tgt = _port_of(flat, e.tgt, "in", where)
        _settings(e.metadata, f"edge {e}", where, issues)
        if tgt is not None:
            # Counted even when the source end is wrong: that is reported once, above.
            fed[(e.tgt.process, tgt[1].name, e.tgt.index)] = 1
        if src is None or tgt is None:
            continue
        if compatibility(src[1].tp, tgt[1].tp) is Compat.NEVER:
            issues.append(
                GraphIssue(
                    f"edge {e}: {e.tgt} accepts {type_name(tgt[1].tp)} but {e.src} sends"
                    f" {type_name(src[1].tp)}",
                    where,
                    "insert a converting process between them, or change a port type",
                )
            )
    for i in flat.initials:
        where = i.location or SourceLocation()
        tgt = _port_of(flat, i.tgt, "in", where)
        if tgt is None:
            continue
        fed[(i.tgt.process, tgt[1].name, i.tgt.index)] = 1
        try:
            i.data = Validator(tgt[1].tp, str(i.tgt)).check(i.data)
        except PacketTypeError as err:
            issues.append(
                GraphIssue(
                    f"IIP {i.data!r} -> {i.tgt}: {err}",
                    where,
                    f"give {i.tgt} a value of type {type_name(tgt[1].tp)}",
                )
            )
    for proc in flat.processes.values():
        _settings(
            proc.metadata, f"process {proc.name!r}", proc.location or SourceLocation(), issues
        )
        sizes = flat.array_sizes.get(proc.name, {})
        for p in proc.spec.inports:
            if p.optional:
                continue
            if p.array:
                ok = any(k[0] == proc.name and k[1] == p.name for k in fed)
            else:
                ok = (proc.name, p.name, None) in fed
            if not ok:
                issues.append(
                    GraphIssue(
                        f"{proc.name}.{p.display} is a required input port but nothing feeds it",
                        proc.location or SourceLocation(),
                        f"connect an edge to it, or give it an IIP ('value' -> {p.display}"
                        f" {proc.name})",
                    )
                )
        for p in [*proc.spec.inports, *proc.spec.outports]:
            if p.array and p.fixed_size is not None and sizes.get(p.name, 0) != p.fixed_size:
                issues.append(
                    GraphIssue(
                        f"{proc.name}.{p.display} must have exactly {p.fixed_size} elements,"
                        f" has {sizes.get(p.name, 0)}",
                        proc.location or SourceLocation(),
                    )
                )
    return flat


def connect_edges(net: Network, flat: FlatGraph) -> None:
    """Connect the edges of a flattened graph in a network whose processes are added,
    each with the capacity and overflow policy its metadata (or its receiving process's)
    sets."""
    proc_caps = {
        p.name: _settings(p.metadata, "", SourceLocation(), [])[0] for p in flat.processes.values()
    }
    for e in flat.edges:
        cap, overflow = _settings(e.metadata, "", SourceLocation(), [])
        if cap is None:
            cap = proc_caps.get(e.tgt.process)
        net.connect(
            (e.src.process, e.src.port, e.src.index),
            (e.tgt.process, e.tgt.port, e.tgt.index),
            capacity=cap,
            overflow=overflow,
            location=e.location,
        )


def build_network(
    graph: Graph,
    *,
    registry: Registry | None = None,
    capacity: int = DEFAULT_CAPACITY,
    validate: bool = True,
    trace: TraceSink | None = None,
    settings: dict[str, Any] | None = None,
    deadlock_interval: float = 0.25,
    open_exports: bool = False,
    quiet_period: float | None = 10.0,
    swap: Mapping[str, type[Component]] | None = None,
) -> Network:
    """Check ``graph`` and wire it into a :class:`~fbp.Network`, ready to run.

    With ``open_exports``, each exported input port becomes an inlet of the network
    and each exported output port an outlet (``net.inlets``/``net.outlets``, by
    public name): the network is then fed and read from outside while it runs, as
    the FBP protocol runtime does. ``deadlock_interval`` and ``quiet_period`` are the
    watchdog's (see :class:`~fbp.Network`). ``swap`` maps process names (``S/P`` inside a
    subnet ``S``) to component classes that run instead of the graph's: the code
    change a replay (:func:`fbp.causal.replay`) is compared with.

    Raises:
        GraphValidationError: with every problem found in the graph.
    """
    flat = check_graph(graph, registry, exports_fed=open_exports, swap=swap)
    if flat.issues:
        raise GraphValidationError(flat.issues, graph_name=graph.source or graph.name)
    net = Network(
        graph.name,
        capacity=capacity,
        validate=validate,
        trace=trace,
        graph=graph.to_dict(),
        settings=settings,
        deadlock_interval=deadlock_interval,
        quiet_period=quiet_period,
    )
    for proc in flat.processes.values():
        net.add_process(
            proc.name,
            proc.cls,
            component_name=proc.component,
            location=proc.location,
            array_sizes=flat.array_sizes.get(proc.name),
        )
    connect_edges(net, flat)
    for i in flat.initials:
        net.add_initial((i.tgt.process, i.tgt.port, i.tgt.index), i.data, location=i.location)
    if open_exports:
        for public in graph.inports:
            ref = flat.exports.get(("in", public.lower()))
            if ref is not None:
                net.inlets[public] = net.add_inlet((ref.process, ref.port, ref.index))
        for public in graph.outports:
            ref = flat.exports.get(("out", public.lower()))
            if ref is not None:
                net.outlets[public] = net.add_outlet((ref.process, ref.port, ref.index))
    return net
