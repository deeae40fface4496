"""From a traced run to a dataset: one row per unit of work, one column per variable.

**Units.** A unit of work is a *root* IP: a data IP none of whose parents is a data IP
(sources emit them; IIPs are parameters, not units). Lineage gives every IP the set of
roots it descends from, so no correlation id is needed. Rows are the roots sent on one
**unit port** (by default the source output port that sent the most roots; choose with
``unit=``).

How each pattern lands in the table:

- **pipeline / fan-out**: an IP descends from one root; its value goes to that row (the
  same IP seen by several receivers is one value).
- **fan-in / joins**: an IP with roots from several sources goes to the row of its
  unit-port root; a root of another source joined to a unit is *linked* to it, and the
  values descending only from linked roots go to that unit's row too.
- **filters and branches**: a port that sent nothing for a unit leaves the cell empty;
  the cell is filled with 0 and an indicator column ``PORT.fired`` (0/1) records it, so
  that "the branch was not taken" is data, not noise.
- **aggregations** (one IP from many, e.g. batches, sums): the value goes to every
  row it descends from.
- **several IPs for one unit on one port** (splits, repeats): numeric values are
  averaged, categorical ones take the first; ``PORT.count`` is not added unless asked.
- **brackets** carry no value and are skipped.

Parameters (IIPs) are constant within a run: a column holding the run's value, which
differs between runs when ``--set`` changed it.

**Windows.** For performance questions, :func:`assemble_windows` makes one row per time
window instead: per output port, the number of IPs sent (``PORT.count``) and the mean
time from the latest data parent's send to this send (``PORT.latency``, seconds: the
wait in the input queue plus the process's work). Under back-pressure a slow process
also slows everything upstream of it (their sends wait for room), an effect that runs
against the arrows of the dataflow graph: window-mode attributions then name the slow
process together with the ones upstream of it. They are sound for changes that flow
with the data (a source's rate, a stage's work when its input queue is not full).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._core._exceptions import CausalModelError
from ._from_network import NetworkVariables, Variable

if TYPE_CHECKING:
    import pandas as pd

    from ..tracing import TracedRun

__all__ = ("Dataset", "assemble", "assemble_windows")


@dataclass
class Dataset:
    """A table for the causal layer, and how it was made."""

    frame: pd.DataFrame
    #: The unit port whose roots are the rows (unit mode), or None (window mode).
    unit_port: str | None
    #: Variables of the causal graph that are columns of ``frame``.
    variables: list[str]
    #: Indicator columns added for ports that did not fire for every unit.
    indicators: list[str] = field(default_factory=list)
    #: Notes about choices made (averaged multi-IP cells, dropped variables...).
    notes: list[str] = field(default_factory=list)


def _get(payload: Any, path: str | None) -> Any:
    if path is None:
        return payload
    cur = payload
    for part in path.split("."):
        if isinstance(cur, Mapping) and part in cur:
            cur = cur[part]
        else:
            return None
    return cur


def _value(v: Variable, payload: Any) -> Any:
    x = _get(payload, v.field)
    if x is None:
        return None
    if v.kind == "bool":
        return float(bool(x))
    if v.kind == "numeric":
        if isinstance(x, bool):
            return float(x)
        if isinstance(x, (int, float)):
            return float(x)
        return None
    return str(x)


def assemble(
    run: TracedRun,
    nv: NetworkVariables,
    *,
    unit: str | None = None,
) -> Dataset:
    """Build the unit-of-work table of one traced run.

    Args:
        run: the traced run.
        nv: the network's causal variables (:func:`network_causal_graph`).
        unit: the unit port address (``"Source.OUT"``); by default the source port
            that sent the most roots.

    Raises:
        CausalModelError: the run has no data IPs, or ``unit`` names no source port.
    """
    import pandas as pd

    by_port = nv.by_port()
    data_ids: set[int] = set()
    roots_of: dict[int, frozenset[int]] = {}
    root_port: dict[int, str] = {}
    records: list[tuple[str, frozenset[int], Any]] = []
    params: dict[str, Any] = {}
    for rec in run.records():
        if rec.kind == "iip":
            params[rec.port] = rec.payload
            continue
        if rec.kind != "data":
            continue
        data_ids.add(rec.ip_id)
        parents = [p for p in rec.parents if p in data_ids]
        if parents:
            roots: frozenset[int] = frozenset().union(*(roots_of[p] for p in parents))
        else:
            roots = frozenset((rec.ip_id,))
            root_port[rec.ip_id] = rec.port
        roots_of[rec.ip_id] = roots
        if rec.port in by_port:
            records.append((rec.port, roots, rec.payload))
    if not records:
        msg = f"run {run.run_id} has no data IPs on the network's output ports"
        raise CausalModelError(msg)
    counts = Counter(root_port.values())
    if unit is None:
        unit = counts.most_common(1)[0][0]
    elif unit not in counts:
        import difflib

        close = difflib.get_close_matches(unit, list(counts), n=1)
        msg = (
            f"{unit} sent no root IPs in this run; unit ports are source ports:"
            f" {', '.join(sorted(counts))}" + (f"; did you mean {close[0]!r}?" if close else "")
        )
        raise CausalModelError(msg)
    units = sorted(r for r, p in root_port.items() if p == unit)
    unit_set = set(units)
    # Roots of other sources joined with a unit are linked to it.
    linked: dict[int, int] = {}
    for _port, roots, _payload in records:
        mine = [r for r in roots if r in unit_set]
        if len(mine) == 1:
            for r in roots:
                if r not in unit_set:
                    linked.setdefault(r, mine[0])
    cells: dict[tuple[int, str], list[Any]] = {}
    fired: dict[str, set[int]] = {}
    for port, roots, payload in records:
        rows = {r for r in roots if r in unit_set} or {linked[r] for r in roots if r in linked}
        if not rows:
            continue
        fired.setdefault(port, set()).update(rows)
        for v in by_port[port]:
            x = _value(v, payload)
            if x is None:
                continue
            for row in rows:
                cells.setdefault((row, v.name), []).append(x)
    notes: list[str] = []
    multi = Counter(name for (_, name), xs in cells.items() if len(xs) > 1)
    for name, n in sorted(multi.items()):
        notes.append(f"{name}: {n} units had several IPs; numeric values were averaged")
    columns: dict[str, list[Any]] = {}
    stream_vars = [v for v in nv.variables.values() if v.role == "stream"]
    for v in stream_vars:
        col: list[Any] = []
        for u in units:
            xs = cells.get((u, v.name))
            if not xs:
                col.append(None)
            elif v.kind == "categorical":
                col.append(xs[0])
            else:
                col.append(sum(xs) / len(xs))
        columns[v.name] = col
    frame = pd.DataFrame(columns, index=pd.Index(units, name="unit"))
    indicators: list[str] = []
    kept: list[str] = []
    for v in stream_vars:
        s = frame[v.name]
        if s.isna().all():
            frame = frame.drop(columns=v.name)
            notes.append(f"{v.name}: no values for any unit; left out")
            continue
        kept.append(v.name)
        on = frame.index.isin(sorted(fired.get(v.address, ())))
        if not on.all():
            # The port did not fire for some units: a branch not taken.
            ind = f"{v.address}.fired"
            if ind not in frame.columns:
                frame[ind] = on.astype(float)
                indicators.append(ind)
        gaps = s.isna() & on
        if gaps.any():
            # A fixed fill, the same in every run: a per-run statistic would itself differ
            # between runs and look like a shift.
            notes.append(f"{v.name}: {int(gaps.sum())} IPs had no value; filled with 0")
        if v.kind == "categorical":
            frame[v.name] = s.where(~gaps, "<none>").where(on, "<none>").astype("category")
        else:
            frame[v.name] = s.where(~gaps, 0.0).where(on, 0.0).astype(float)
    for v in nv.variables.values():
        if v.role != "parameter":
            continue
        value = params.get(v.address, v.value)
        if v.kind == "categorical":
            frame[v.name] = pd.Categorical([str(value)] * len(frame))
        else:
            frame[v.name] = float(value) if value is not None else 0.0
        kept.append(v.name)
    return Dataset(frame=frame, unit_port=unit, variables=kept, indicators=indicators, notes=notes)


def assemble_windows(run: TracedRun, ports: Iterable[str], *, window: float = 1.0) -> Dataset:
    """Build the per-window table of one run: IP counts and latencies per output port.

    Args:
        run: the traced run.
        ports: output port addresses to measure (``"Model.OUT"``).
        window: the window length in seconds.
    """
    import pandas as pd

    if window <= 0:
        msg = f"window must be > 0 seconds, got {window}"
        raise CausalModelError(msg)
    wanted = set(ports)
    sent_at: dict[int, float] = {}
    rows: list[tuple[str, int, float]] = []
    for rec in run.records():
        if rec.kind != "data":
            continue
        sent_at[rec.ip_id] = rec.t
        if rec.port in wanted:
            # From the latest data parent (IIPs are not work): a source has no latency.
            before = [sent_at[p] for p in rec.parents if p in sent_at]
            latency = rec.t - max(before) if before else 0.0
            rows.append((rec.port, int(rec.t // window), latency))
    if not rows:
        msg = "no data IPs on the requested ports"
        raise CausalModelError(msg)
    df = pd.DataFrame(rows, columns=["port", "window", "latency"])
    counts = df.pivot_table(
        index="window", columns="port", values="latency", aggfunc="size", fill_value=0
    )
    lat = df.pivot_table(index="window", columns="port", values="latency", aggfunc="mean")
    frame = pd.concat(
        [counts.add_suffix(".count").astype(float), lat.add_suffix(".latency").fillna(0.0)],
        axis=1,
    )
    frame.index.name = "window"
    return Dataset(frame=frame, unit_port=None, variables=list(frame.columns))


def model_inputs(
    nv: NetworkVariables, datasets: list[Dataset]
) -> tuple[Any, list[pd.DataFrame], list[str]]:
    """The DAG and the tables a causal model is fitted on, from one or more runs.

    Steps, each reported in the returned notes:

    - keep the variables present in every dataset, with the indicators any has;
    - leave out **copies**: a field a process passes on unchanged (the same field of
      one of its inputs, equal for every unit where both are present) carries no new
      information; its children are wired to the original and to its port's
      ``fired`` indicator, which keeps what the routing decided;
    - leave out variables constant in every dataset (nothing to learn from).

    Returns:
        ``(graph, frames, notes)``: a networkx DAG with ``process``, ``port`` and
        ``role`` on every node, one DataFrame per dataset with the graph's columns, and
        what was left out and why.
    """
    import networkx as nx

    notes: list[str] = []
    frames = [d.frame for d in datasets]
    common = set(frames[0].columns)
    for f in frames[1:]:
        common &= set(f.columns)
    indicators = sorted({i for d in datasets for i in d.indicators})
    g = nx.DiGraph()
    base = nv.graph
    keep = [n for n in nx.topological_sort(base) if n in common]
    for n in keep:
        g.add_node(n, **base.nodes[n])
    for a, b in base.edges:
        if a in g and b in g:
            g.add_edge(a, b)
    by_port = nv.by_port()
    port_ind: dict[str, str] = {}
    for ind in indicators:
        addr = ind[: -len(".fired")]
        vs = by_port.get(addr)
        if not vs:
            continue
        port_ind[addr] = ind
        g.add_node(ind, process=vs[0].process, port=vs[0].port.upper(), role="indicator")
        for p in base.predecessors(vs[0].name):
            if p in g:
                g.add_edge(p, ind)
    # A port's indicator feeds what the port's variables feed, and gates them: a
    # variable is 0 exactly where its port did not fire.
    for n in list(g.nodes):
        if g.nodes[n].get("role") == "indicator":
            continue
        var = nv.variables.get(n)
        gate = port_ind.get(var.address) if var is not None else None
        if gate is not None and gate in g:
            ind = gate
            g.add_edge(ind, n)
            g.nodes[n]["gate"] = ind
            for child in list(g.successors(n)):
                if child != ind:
                    g.add_edge(ind, child)
    for n in list(nx.topological_sort(g)):
        v = nv.variables.get(n)
        if v is None or v.role != "stream" or n not in g:
            continue
        original = _copied_from(n, v, g, nv, frames)
        if original is not None:
            extra = (
                [port_ind[v.address]] if v.address in port_ind and port_ind[v.address] in g else []
            )
            _drop(g, n, [original, *extra])
            notes.append(f"{n}: a copy of {original}, left out")
    for n in list(g.nodes):
        if all(f[n].nunique(dropna=False) <= 1 for f in frames) and all(
            f[n].iloc[0] == frames[0][n].iloc[0] for f in frames if len(f)
        ):
            _drop(g, n, list(g.predecessors(n)))
            notes.append(f"{n}: constant, left out")
    cols = list(nx.topological_sort(g))
    return g, [f[cols].copy() for f in frames], notes


def _drop(g: Any, n: str, replacements: list[str]) -> None:
    children = list(g.successors(n))
    g.remove_node(n)
    for c in children:
        for r in replacements:
            if r in g and r != c:
                g.add_edge(r, c)


def _copied_from(
    n: str, v: Variable, g: Any, nv: NetworkVariables, frames: list[pd.DataFrame]
) -> str | None:
    if v.field is None:
        return None
    for p in g.predecessors(n):
        pv = nv.variables.get(p)
        if pv is None or pv.field != v.field or pv.role != "stream":
            continue
        same = True
        for f in frames:
            fired = f.get(f"{v.address}.fired")
            rows = f.index if fired is None else f.index[fired.to_numpy() > 0]
            a, b = f.loc[rows, n], f.loc[rows, p]
            if not a.equals(b) and not bool(((a == b) | (a.isna() & b.isna())).all()):
                same = False
                break
        if same:
            return str(p)
    return None
