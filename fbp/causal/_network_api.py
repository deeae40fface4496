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

from .._core._exceptions import CausalModelError
from ..graph import Graph, load_graph
from ._dataset import Dataset, assemble, assemble_windows, model_inputs
from ._from_network import NetworkVariables, network_causal_graph

if TYPE_CHECKING:
    import networkx as nx
    import pandas as pd

    from ._model import FittedModel
    from ._shift import ShiftResult

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
    network: NetworkLike, *, projections: Mapping[str, Any] | None = None
) -> NetworkVariables:
    """The causal variables and DAG of a network (a graph, or a graph file)."""
    graph = network if isinstance(network, Graph) else load_graph(network)
    return network_causal_graph(graph, projections=projections)


@dataclass
class CausalTables:
    """The DAG and the per-run tables a causal model is fitted on."""

    graph: nx.DiGraph
    frames: list[pd.DataFrame]
    datasets: list[Dataset]
    notes: list[str] = field(default_factory=list)

    @property
    def variables(self) -> list[str]:
        """The variables (columns), in topological order."""
        return list(self.frames[0].columns)


def _open_run(ref: TraceRef) -> Any:
    from ..tracing import open_trace

    path, run_id = ref if isinstance(ref, tuple) else (ref, None)
    trace = open_trace(path)
    return trace, trace.run(run_id)


def tables(
    network: NetworkLike | NetworkVariables,
    traces: Sequence[TraceRef],
    *,
    unit: str | None = None,
    projections: Mapping[str, Any] | None = None,
) -> CausalTables:
    """Assemble the tables of traced runs of ``network``.

    Args:
        network: the network (graph, graph file, or its causal variables).
        traces: trace files (their latest run) or ``(file, run_id)`` pairs.
        unit: the unit port (``"Source.OUT"``); by default the busiest source port.
        projections: per-port field choices, as for :func:`causal_graph`.
    """
    nv = (
        network
        if isinstance(network, NetworkVariables)
        else causal_graph(network, projections=projections)
    )
    datasets: list[Dataset] = []
    for ref in traces:
        trace, run = _open_run(ref)
        try:
            datasets.append(assemble(run, nv, unit=unit))
        finally:
            trace.close()
    graph, frames, notes = model_inputs(nv, datasets)
    for d in datasets:
        notes.extend(d.notes)
    return CausalTables(graph=graph, frames=frames, datasets=datasets, notes=notes)


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
    head, _, rest = target.partition(".")
    port, _, fld = rest.partition(".")
    wanted = f"{head}.{port.upper()}" + (f".{fld}" if fld else "")
    if wanted in graph:
        return wanted
    on_port: list[str] = [
        str(n) for n in graph if str(n).startswith(wanted + ".") and not str(n).endswith(".fired")
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
    from ._shift import shift

    t = (
        window_tables(network, [before, after], window=window)
        if window is not None
        else tables(network, [before, after], unit=unit, projections=projections)
    )
    return shift(t.graph, t.frames[0], t.frames[1], resolve_target(target, t.graph), **options)


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

    from ._model import fit

    t = tables(network, traces, unit=unit, projections=projections)
    data = pd.concat(t.frames, ignore_index=True)
    for col in data.columns:
        if any(str(f[col].dtype) == "category" for f in t.frames):
            data[col] = data[col].astype("category")
    return fit(t.graph, data, mechanisms=mechanisms, seed=seed), t
