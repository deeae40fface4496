"""Causal questions asked of a network and its traces, in one call each.

These functions join the three layers: the network's graph gives the causal DAG
(:func:`causal_graph`), its traces give the tables (:func:`tables`), and the engine
answers. They are what ``python -m fbp causal ...`` runs::

    from fbp.causal import shift_between

    result = shift_between("networks/insurance_claims.fbp", "before.trace", "after.trace",
                           target="Payout.OUT")
    print(result.table())
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..._core._address import parse_variable
from ..._core._exceptions import CausalModelError
from ...graph import Graph, load_graph
from ._dataset import Dataset, assemble_windows, model_inputs
from ._wiring import NetworkVariables, network_causal_graph

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

    from .._model._fit import FittedModel
    from .._shift._query import ShiftResult

__all__ = (
    "CausalTables",
    "causal_graph",
    "fit_traces",
    "resolve_target",
    "shift_between",
    "tables",
)

NetworkLike = Graph | str | Path
TraceRef = str | Path | tuple[str | Path, str | None]


def causal_graph(
    network: NetworkLike,
    *,
    projections: Mapping[str, Any] | None = None,
    traces: Sequence[TraceRef] = (),
) -> NetworkVariables:
    """The causal variables and DAG of a network (a graph, or a graph file).

    With ``traces``, ports whose type names no fields get the variables
    :func:`tables` would give them: the fields their IPs carry in those runs.
    """
    from ._wiring import fields_to_project, survey_fields

    graph = network if isinstance(network, Graph) else load_graph(network)
    nv = network_causal_graph(graph, projections=projections)
    if not traces or not nv.untyped:
        return nv
    surveys = []
    for ref in traces:  # one run in memory at a time
        trace, run = _open_run(ref)
        with trace:
            surveys.append(survey_fields(sorted(nv.untyped), run.frames()))
    seen = fields_to_project(sorted(nv.untyped), surveys)
    return network_causal_graph(graph, projections=projections, seen=seen)


@dataclass
class CausalTables:
    """The DAG and the per-run tables a causal model is fitted on."""

    graph: nx.DiGraph
    frames: list[pd.DataFrame]
    datasets: list[Dataset]
    notes: list[str] = field(default_factory=list)
    #: What could mislead an answer on these tables (a component that looks like a
    #: root because the stream it reads is not a variable...), with the fix.
    warnings: list[str] = field(default_factory=list)
    #: The network's variables the tables were made of (fields read off the traces).
    network: NetworkVariables | None = None

    @property
    def variables(self) -> list[str]:
        """The variables (columns), in topological order."""
        return list(self.frames[0].columns)

    def why_not(self, variable: str) -> str | None:
        """Why a variable of the network is not a column of the tables, if it is not."""
        if variable in self.graph:
            return None
        reasons = [n.partition(": ")[2] for n in self.notes if n.startswith(variable + ": ")]
        nv = self.network
        if not reasons and nv is not None and variable in nv.variables:
            addr = nv.variables[variable].address
            reasons = [n.partition(": ")[2] for n in self.notes if n.startswith(addr + ": ")]
            if addr in nv.skipped:
                reasons.append(nv.skipped[addr])
        return "; ".join(dict.fromkeys(reasons)) or None


def _open_run(ref: TraceRef) -> Any:
    from ...tracing import open_trace

    path, run_id = ref if isinstance(ref, tuple) else (ref, None)
    trace = open_trace(path)
    try:
        return trace, trace.run(run_id)
    except BaseException:
        trace.close()
        raise


def _run_name(ref: TraceRef, run: Any) -> str:
    path = ref[0] if isinstance(ref, tuple) else ref
    return f"{Path(path).name} (run {run.run_id})"


def tables(
    network: NetworkLike | NetworkVariables,
    traces: Sequence[TraceRef],
    *,
    unit: str | None = None,
    projections: Mapping[str, Any] | None = None,
    target: str | None = None,
) -> CausalTables:
    """Assemble the tables of traced runs of ``network``.

    Args:
        network: the network (graph, graph file, or its causal variables).
        traces: trace files (their latest run) or ``(file, run_id)`` pairs.
        unit: the unit port (``"Source.OUT"``); by default the busiest source port, or,
            with ``target``, the last aggregating port the target depends on.
        projections: per-port field choices, as for :func:`causal_graph`.
        target: the variable the tables are for (``"Agg.OUT"``): when it aggregates
            other IPs, or lies downstream of an aggregate, its aggregates are the units.

    Raises:
        CausalModelError: no trace, a run without data, an unknown unit or target.
    """
    from ._dataset import aggregating_ports, extract, fill
    from ._units import lineage_of
    from ._wiring import fields_to_project, survey_fields

    if not traces:
        msg = "tables() needs at least one trace"
        raise CausalModelError(msg)
    nv = (
        network
        if isinstance(network, NetworkVariables)
        else causal_graph(network, projections=projections)
    )
    # Runs are read one at a time, so that a query's memory is that of its largest run
    # (with its lineage), not of all of them. What needs every run (the fields of
    # untyped ports, the aggregating ports a target depends on) comes from a first
    # pass, which keeps a run for the second only when it is small.
    project = bool(nv.untyped) and nv.source is not None
    choose_unit = unit is None and target is not None
    kept: dict[int, tuple[Any, Any, Any, str]] = {}  # run -> (trace, frames, lineage, name)
    try:
        if project or choose_unit:
            surveys = []
            agg: set[str] = set()
            for k, ref in enumerate(traces):
                trace, run = _open_run(ref)
                try:
                    frames = run.frames()
                    if project:
                        surveys.append(survey_fields(sorted(nv.untyped), frames))
                    lin = lineage_of(frames) if choose_unit else None
                    if lin is not None:
                        agg |= aggregating_ports(frames, lineage=lin)
                    if len(frames.records) <= _KEEP_RECORDS:
                        kept[k] = (trace, frames, lin, _run_name(ref, run))
                finally:
                    if k not in kept:
                        trace.close()
                del frames, lin
            if project and nv.source is not None:
                seen = fields_to_project(sorted(nv.untyped), surveys)
                nv = network_causal_graph(nv.source, projections=nv.projections, seen=seen)
            if choose_unit and target is not None:
                unit = _unit_for(resolve_target(target, nv.graph), nv, agg)
        raw = []
        for k, ref in enumerate(traces):
            if k in kept:
                trace, frames, lin, name = kept.pop(k)
                with trace:
                    raw.append(extract(frames, nv, unit=unit, name=name, lineage=lin))
                del frames, lin
                continue
            trace, run = _open_run(ref)
            with trace:
                raw.append(extract(run.frames(), nv, unit=unit, name=_run_name(ref, run)))
    finally:
        for trace, *_ in kept.values():
            trace.close()
    datasets = fill(raw, nv)
    graph, frames, notes = model_inputs(nv, datasets)
    for d in datasets:
        notes.extend(n for n in d.notes if n not in notes)
    return CausalTables(
        graph=graph,
        frames=frames,
        datasets=datasets,
        notes=notes,
        warnings=_root_warnings(nv, graph, notes),
        network=nv,
    )


#: The most records of a run the first pass of :func:`tables` keeps for the second
#: (a larger run is read again: two runs of that size need not fit in memory together).
_KEEP_RECORDS = 2_000_000


def _unit_for(target: str, nv: NetworkVariables, agg: set[str]) -> str | None:
    """The last aggregating port (of ``agg``, over all runs) among the target's port and
    the ports it depends on, or None (the source units) when there is none."""
    import networkx as nx

    var = nv.variables.get(target)
    if var is None or var.role != "stream":
        return None
    if not agg:
        return None
    upstream = nx.ancestors(nv.graph, target) | {target}
    order = [n for n in nx.topological_sort(nv.graph) if n in upstream]
    last = None
    for n in order:
        v = nv.variables[n]
        if v.role == "stream" and v.address in agg:
            last = v.address
    return last


def _root_warnings(nv: NetworkVariables, graph: nx.DiGraph, notes: Sequence[str]) -> list[str]:
    """A warning per process that reads a stream which is not a variable of the tables:
    what changes in that stream would be blamed on the process."""
    dropped = {n.partition(": ")[0] for n in notes if n.endswith("no values in any run; left out")}
    out: list[str] = []
    have = {str(n) for n in graph}
    for proc, sources in sorted(nv.feeds.items()):
        mine = [n for n in have if graph.nodes[n].get("process") == proc]
        if not mine:
            continue
        missing: dict[str, str] = {}
        for addr in sorted(sources):
            why = nv.skipped.get(addr)
            if why == "left out by request":
                continue
            names = [v.name for v in nv.variables.values() if v.address == addr]
            if why is None and names and all(n in dropped for n in names):
                why = "no IP of it carried a value"
            if why is not None and not any(n in have for n in names):
                missing[addr] = why
        if not missing:
            continue
        inputs = [
            p
            for n in mine
            for p in graph.predecessors(n)
            if graph.nodes[p].get("role") in ("stream", "indicator")
            and graph.nodes[p].get("process") != proc
        ]
        ports = ", ".join(missing)
        first = next(iter(missing))
        root = "" if inputs else f"; {proc} has no other input variable and looks like a root"
        out.append(
            f"{proc} reads {ports}, which is not a causal variable ({missing[first]}){root}:"
            f" a change in what {ports} carries would be blamed on {proc}. Project a field"
            f" with --field {first}=FIELD, or give the port a typed payload"
        )
    return out


def window_tables(
    network: NetworkLike | NetworkVariables,
    traces: Sequence[TraceRef],
    *,
    window: float = 1.0,
) -> CausalTables:
    """Per-window tables for performance questions: one row per time window.

    The variables are, per output port, ``PORT.count`` (IPs sent in the window) and
    ``PORT.latency`` (mean seconds from an IP's latest parent to its send: the process's
    work and waits). They follow the wiring: a port's count and latency depend on the
    counts and latencies of the ports feeding its process. Windows of one run are not
    independent draws (a slow window delays the next), which the models assume; prefer
    windows several times longer than a process's longest wait.
    """
    import networkx as nx
    import pandas as pd

    nv = network if isinstance(network, NetworkVariables) else causal_graph(network)
    port_of = {name: v.address for name, v in nv.variables.items() if v.role == "stream"}
    ports = sorted(set(port_of.values()))
    g = nx.DiGraph()
    for addr in ports:
        proc = addr.split(".", 1)[0]
        for kind in ("count", "latency"):
            g.add_node(f"{addr}.{kind}", process=proc, port=addr.split(".", 1)[1], role="stream")
    for a, b in nv.graph.edges:
        if a in port_of and b in port_of and port_of[a] != port_of[b]:
            x, y = port_of[a], port_of[b]
            g.add_edge(f"{x}.count", f"{y}.count")
            g.add_edge(f"{x}.count", f"{y}.latency")
            g.add_edge(f"{x}.latency", f"{y}.latency")
    datasets: list[Dataset] = []
    for ref in traces:
        trace, run = _open_run(ref)
        try:
            datasets.append(assemble_windows(run, ports, window=window))
        finally:
            trace.close()
    cols = [n for n in nx.topological_sort(g)]
    frames = [d.frame.reindex(columns=cols, fill_value=0.0).astype(float) for d in datasets]
    keep = [c for c in cols if any(f[c].nunique() > 1 for f in frames)]
    notes = [f"{c}: constant, left out" for c in cols if c not in keep]
    g = g.subgraph(keep).copy()
    return CausalTables(
        graph=g, frames=[pd.DataFrame(f[keep]) for f in frames], datasets=datasets, notes=notes
    )


def resolve_target(target: str, graph: nx.DiGraph) -> str:
    """Turn ``Payout.OUT`` (or ``Payout.out``, or a full variable name) into a variable.

    Raises:
        CausalModelError: no variable matches, or a port has several (name the field).
    """
    if target in graph:
        return target
    parsed = parse_variable(target)
    on_port: list[str] = []
    if parsed is not None:
        address, fld = parsed
        wanted = str(address) + (f".{fld}" if fld else "")
        if wanted in graph:
            return wanted
        on_port = [
            str(n)
            for n in graph
            if str(n).startswith(wanted + ".") and not str(n).endswith(".fired")
        ]
    if len(on_port) == 1:
        return on_port[0]
    if on_port:
        msg = (
            f"{target} has several variables ({', '.join(on_port)}); name one, e.g."
            f" --target {on_port[0]}"
        )
        raise CausalModelError(msg)
    close = difflib.get_close_matches(target, list(graph), n=3)
    msg = f"no causal variable {target!r}" + (
        f"; did you mean {' or '.join(repr(c) for c in close)}?"
        if close
        else "; list them with 'python -m fbp causal graph NETWORK'"
    )
    raise CausalModelError(msg)


def shift_between(
    network: NetworkLike,
    before: TraceRef,
    after: TraceRef,
    target: str,
    *,
    unit: str | None = None,
    projections: Mapping[str, Any] | None = None,
    window: float | None = None,
    **options: Any,
) -> ShiftResult:
    """Which components explain the change of ``target`` between two traced runs.

    With ``window`` (seconds), rows are time windows and the variables per-port counts
    and latencies (:func:`window_tables`), for performance questions. ``options`` go to
    :func:`fbp.causal.shift` (``seed``, ``measure``, ``n_bootstrap``...).
    """
    import dataclasses

    from .._shift._query import shift

    if window is not None:
        t = window_tables(network, [before, after], window=window)
        return shift(t.graph, t.frames[0], t.frames[1], resolve_target(target, t.graph), **options)
    t = tables(network, [before, after], unit=unit, projections=projections, target=target)
    name = _target_of(target, t)
    result = shift(t.graph, t.frames[0], t.frames[1], name, **options)
    if t.warnings:
        result = dataclasses.replace(result, warnings=(*result.warnings, *t.warnings))
    return result


def _target_of(target: str, t: CausalTables) -> str:
    """The target's column, or an error saying why the network's variable is not one."""
    nv = t.network
    if nv is None:
        return resolve_target(target, t.graph)
    name = resolve_target(target, nv.graph)
    if name in t.graph:
        return name
    why = t.why_not(name) or "it was left out of the tables"
    msg = f"{name} is a variable of the network, but not of these runs' tables: {why}"
    raise CausalModelError(msg)


def fit_traces(
    network: NetworkLike,
    traces: Sequence[TraceRef],
    *,
    mechanisms: Any = "linear",
    seed: int = 0,
    unit: str | None = None,
    projections: Mapping[str, Any] | None = None,
) -> tuple[FittedModel, CausalTables]:
    """Fit a structural causal model on one or more traced runs, stacked.

    Stacking runs made with different ``--set`` values is how a model learns the
    effect of a parameter: within one run a parameter is constant.
    """
    import pandas as pd

    from .._model._fit import fit

    t = tables(network, traces, unit=unit, projections=projections)
    data = pd.concat(t.frames, ignore_index=True)
    for col in data.columns:
        if any(str(f[col].dtype) == "category" for f in t.frames):
            data[col] = data[col].astype("category")
    return fit(t.graph, data, mechanisms=mechanisms, seed=seed), t
