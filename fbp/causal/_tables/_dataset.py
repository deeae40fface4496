"""From traced runs to datasets: one row per unit of work, one column per variable.

**Units.** A unit of work is, by default, a *root* IP: a data IP none of whose parents
is a data IP (sources emit them; IIPs are parameters, not units). "Root" in this
package always means such a data root, unlike :meth:`fbp.tracing.TracedRun.roots_of`,
whose roots include IIPs. Lineage gives every
IP the set of roots it descends from, so no correlation id is needed. Rows are the
roots sent on one **unit port** (by default the source output port that sent the most
roots; choose with ``unit=``).

How each pattern lands in the table:

- **pipeline / fan-out**: an IP descends from one root; its value goes to that row (the
  same IP seen by several receivers is one value).
- **fan-in / joins**: an IP with roots from several sources goes to the row of its
  unit-port root; a root of another source joined to a unit is *linked* to it, and the
  values descending only from linked roots go to that unit's row too.
- **filters and branches**: a port that sent nothing for a unit leaves the cell empty;
  the cell is filled with 0 and an indicator column ``PORT.fired`` (0/1) records it, so
  that "the branch was not taken" is data, not noise. Whether a port needs an indicator
  is decided over all the runs of a query together: a branch never taken in one run is
  0 with its indicator 0 there, not a missing column.
- **aggregations** (one IP from many, e.g. batches, sums): the value goes to every
  row it descends from.
- **several IPs for one unit on one port** (splits, repeats): numeric values are
  averaged, categorical ones take the first; ``PORT.count`` is not added unless asked.
- **brackets** carry no value and are skipped.

**Aggregates as units.** When the unit port is not a source port but one whose IPs
each aggregate many (``unit="Agg.OUT"``, or chosen by :func:`fbp.causal.tables` when
the target is an aggregate or lies downstream of one), rows are that port's IPs: a
variable downstream of it takes the value descending from each aggregate; a variable
upstream of it is *summarised* over each aggregate's inputs, per source IP: the sum of
its values over the inputs divided by the number of the aggregate's source IPs (a port
every source IP passes through gives the mean; two branches add up to the stream they
merge into), or the mean where the aggregate has no source port upstream; a
categorical one becomes the share of each category (``VAR=category`` columns, the most
common category the reference). Its port's indicator becomes the share of the
aggregate's source IPs that passed through the port (1 when all did). Ports that
neither feed nor descend from the unit port are left out, with a note.

Parameters (IIPs) are constant within a run: a column holding the run's value, which
differs between runs when ``--set`` changed it. Categorical columns of every run share
one category set (the union of what the runs saw).

All of this runs as vectorised joins over the run's columns (:mod:`._units`): one pass
per output port, not one per record. :func:`fbp.causal.tables` reads the runs of a
query one after the other, so its memory is that of the largest run.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._core._exceptions import CausalModelError
from ..._core._record import DATA, IIP
from ._units import Lineage, Mapping, ascend, data_roots, descend, lineage_of
from ._wiring import NetworkVariables, Variable

if TYPE_CHECKING:
    import pandas as pd

    from ...tracing import RunFrames, TracedRun

__all__ = (
    "Dataset",
    "RunTable",
    "aggregating_ports",
    "assemble",
    "assemble_windows",
    "extract",
    "fill",
    "model_inputs",
)

#: A categorical cell with no value: the port did not fire, or the field was absent.
NONE = "<none>"


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
    #: Categorical variables summarised as one share column per category (aggregate
    #: units): variable -> its columns, ``VAR=category``.
    expanded: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class RunTable:
    """One run's values by unit, before the runs of a query are filled together."""

    name: str
    unit_port: str
    #: "roots" (units are source IPs) or "aggregate" (units are a port's IPs).
    mode: str
    units: np.ndarray
    #: Variable name -> values by unit (NaN or None where the unit had none).
    values: dict[str, pd.Series] = field(default_factory=dict)
    #: Port address -> share of each unit's IPs that passed through the port (0..1;
    #: 0 or 1 in roots mode), for ports with variables.
    fired: dict[str, np.ndarray] = field(default_factory=dict)
    #: Aggregate mode, categorical variables upstream of the unit port: the share of
    #: each unit's source IPs per category (units x categories).
    shares: dict[str, pd.DataFrame] = field(default_factory=dict)
    #: Parameter address -> the run's IIP value.
    params: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: ``units`` as an index, shared by the value series already in unit order.
    index: Any = None


# -- extracting one run --------------------------------------------------------------


def _numeric(col: Any, kind: str) -> np.ndarray:
    """A payload column as floats: numbers as they are, bools as 0/1 (``kind`` bool:
    any value by its truth), anything else NaN."""
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.BooleanDtype):
        return np.asarray(col.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))
    if dtype.kind == "f":
        out = np.asarray(col, dtype=np.float64)
        if kind == "bool":
            out = np.where(np.isnan(out), np.nan, (out != 0).astype(np.float64))
        return out
    values = col.tolist()
    if kind == "bool":
        return np.array([np.nan if x is None else float(bool(x)) for x in values], dtype=np.float64)
    return np.array(
        [float(x) if type(x) in (int, float, bool) else np.nan for x in values], dtype=np.float64
    )


def _labels(col: Any) -> np.ndarray:
    """A payload column as category labels (strings; None where absent)."""
    import pandas as pd

    out = np.empty(len(col), dtype=object)
    for i, x in enumerate(col.tolist()):
        if x is None or x is pd.NA or (type(x) is float and x != x):
            out[i] = None
        else:
            out[i] = str(x)
    return out


def _group(rows: np.ndarray, values: np.ndarray, categorical: bool) -> tuple[Any, int]:
    """Values by row: the mean (numeric) or first (categorical) of a row's values,
    ignoring missing ones; and how many rows had several values."""
    import pandas as pd

    present = pd.notna(values)
    rows, values = rows[present], values[present]
    if not len(rows):
        return pd.Series([], dtype=object if categorical else np.float64), 0
    s = pd.Series(values, index=rows)
    if s.index.is_unique:
        return s, 0
    g = s.groupby(level=0, sort=False)
    sizes = g.size()
    return (g.first() if categorical else g.mean()), int((sizes > 1).sum())


def _by_unit(
    table: RunTable, unit_pos: np.ndarray, rows: np.ndarray, values: np.ndarray, categorical: bool
) -> tuple[Any, int]:
    """Values by unit, as :func:`_group`; where every unit has at most one value, in
    unit order on ``table.index`` (no reindexing later)."""
    import pandas as pd

    present = pd.notna(values)
    if not present.all():
        rows, values = rows[present], values[present]
    at = unit_pos[rows]
    n = len(table.units)
    if len(at) and at.min() >= 0 and np.bincount(at, minlength=n).max() <= 1:
        out = np.full(n, None, dtype=object) if categorical else np.full(n, np.nan)
        out[at] = values
        return pd.Series(out, index=table.index), 0
    return _group(rows, values, categorical)


def _pids(frames: RunFrames, direction: str) -> dict[str, int]:
    p = frames.ports
    sel = p["direction"].to_numpy() == direction
    return dict(
        zip(
            p["address"].to_numpy()[sel].tolist(),
            p["port_id"].to_numpy()[sel].tolist(),
            strict=True,
        )
    )


def aggregating_ports(frames: RunFrames, *, lineage: Lineage | None = None) -> set[str]:
    """Output ports most of whose IPs descend from several IPs of one port (windowed
    batches, aggregates by key, totals), as addresses."""
    lin = lineage if lineage is not None else lineage_of(frames)
    if not len(lin.child):
        return set()
    # Only an IP with two data parents or more can have two of one port: sort only
    # the links of those (none in a pipeline).
    several = np.bincount(lin.child)[lin.child] > 1
    child, parent = lin.child[several], lin.parent[several]
    del several
    key = (child << 20) | lin.port_of[parent]  # child and its parent's port
    uniq, counts = np.unique(key, return_counts=True)
    child = uniq >> 20
    agg = np.unique(child[counts > 1])
    names = dict(
        zip(frames.ports["port_id"].tolist(), frames.ports["address"].tolist(), strict=True)
    )
    out: set[str] = set()
    for pid, ids in lin.ids.items():
        if len(ids) and np.isin(ids, agg).mean() > 0.5:
            out.add(names[pid])
    return out


def extract(
    frames: RunFrames,
    nv: NetworkVariables,
    *,
    unit: str | None = None,
    name: str = "run",
    lineage: Lineage | None = None,
) -> RunTable:
    """One run's values by unit (see the module's docstring for the semantics).

    Raises:
        CausalModelError: the run has no data IPs, or ``unit`` names no output port
            that sent any.
    """
    from ...tracing._columns import small_pages

    with small_pages():  # many large temporary arrays (see small_pages)
        return _extract(frames, nv, unit=unit, name=name, lineage=lineage)


def _extract(
    frames: RunFrames,
    nv: NetworkVariables,
    *,
    unit: str | None,
    name: str,
    lineage: Lineage | None,
) -> RunTable:
    import pandas as pd

    lin = lineage if lineage is not None else lineage_of(frames)
    outs = _pids(frames, "out")
    address = {pid: a for a, pid in outs.items()}
    rts = data_roots(lin)
    by_port = nv.by_port()
    if not len(rts) or not any(outs.get(a) in lin.ids for a in by_port):
        msg = f"{name} has no data IPs on the network's output ports"
        raise CausalModelError(msg)
    root_ports, root_counts = np.unique(lin.port_of[rts], return_counts=True)
    sent = {address[int(p)]: int(n) for p, n in zip(root_ports, root_counts, strict=True)}
    if unit is None:
        unit = max(sent, key=lambda a: (sent[a], a))
    elif outs.get(unit) not in lin.ids:
        import difflib

        sending = sorted(address[p] for p in lin.ids if p in address)
        close = difflib.get_close_matches(unit, sending, n=1)
        if unit in outs:
            msg = (
                f"{unit}, the unit port, sent no IPs in {name}, so that run has no unit of"
                " work to compare: trace a longer run, or choose another unit port"
                f" (source ports: {', '.join(sorted(sent))})"
            )
        else:
            msg = (
                f"{unit} is no output port of {name}; the unit port is an output port"
                f" that sent IPs: the source ports {', '.join(sorted(sent))}, or any of"
                f" {', '.join(sending)}" + (f"; did you mean {close[0]!r}?" if close else "")
            )
        raise CausalModelError(msg)
    upid = outs[unit]
    unit_ids = lin.ids[upid]
    is_root = np.zeros(len(lin.port_of), dtype=bool)
    is_root[rts] = True
    mode = "roots" if is_root[unit_ids].mean() > 0.5 else "aggregate"
    table = RunTable(name, unit, mode, np.empty(0, dtype=np.int64))
    rows_of: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # port -> (ip, unit row)
    per_source: dict[int, np.ndarray | None] = {}  # upstream port -> source IPs per unit
    if mode == "roots":
        units = unit_ids[is_root[unit_ids]]
        rows_of = _root_rows(lin, rts, units, [outs[a] for a in by_port if outs.get(a) in lin.ids])
    else:
        units = unit_ids
        rows_of = _aggregate_rows(lin, units, upid, by_port, outs, address, sent, table, per_source)
    table.units = units
    table.index = pd.Index(units, name="unit")
    size = len(lin.port_of)
    counts = {p: len(ids) for p, ids in lin.ids.items()}
    if lineage is None:
        del lin  # the links are no longer needed: let them go before payloads are read
    mark = np.zeros(size, dtype=bool)
    # One read of the payloads per group of ports with the same fields and type.
    type_of = dict(
        zip(frames.ports["port_id"].tolist(), frames.ports["type_name"].tolist(), strict=True)
    )
    groups: dict[tuple[Any, ...], list[tuple[str, int, list[Variable]]]] = {}
    for addr, variables in by_port.items():
        pid = outs.get(addr)
        if variables[0].role != "stream" or pid is None or pid not in rows_of:
            continue
        ip, row = rows_of[pid]
        if addr not in table.fired:
            mark[row] = True
            table.fired[addr] = mark[units]
            mark[row] = False
        key = (tuple(v.field or "" for v in variables), type_of.get(pid))
        groups.setdefault(key, []).append((addr, pid, variables))
    reads: list[tuple[tuple[str, ...], list[tuple[str, int, list[Variable]]]]] = []
    for (paths, _), members in groups.items():
        # Read in parts of a bounded number of IPs (decoded payloads are Python objects).
        part: list[tuple[str, int, list[Variable]]] = []
        n = 0
        for m in members:
            if part and n + counts[m[1]] > _READ_IPS:
                reads.append((paths, part))
                part, n = [], 0
            part.append(m)
            n += counts[m[1]]
        reads.append((paths, part))
    at: np.ndarray | None = None  # position in a read's columns by IP id (-1: none)
    unit_pos: np.ndarray | None = None  # position in ``units`` by IP id (-1: none)
    placed: np.ndarray | None = None  # the ids ``at`` holds a position for
    for paths, members in reads:
        if at is not None and placed is not None:
            at[placed] = -1
            placed = None
        cols = None  # (the last read's columns go first)
        cols = frames.payloads([pid for _, pid, _ in members], list(dict.fromkeys(paths)))
        got = cols["ip_id"].to_numpy()
        converted: dict[tuple[str, str], np.ndarray] = {}
        for _, pid, variables in members:
            ip, row = rows_of.pop(pid)  # each port's rows are let go once read
            if len(members) == 1 and len(got) == len(ip) and np.array_equal(got, ip):
                ip_rows, pos = row, np.arange(len(ip))  # one row per IP, in send order
            else:
                if at is None:
                    at = np.full(size, -1, dtype=np.int32)
                if placed is None:
                    inside = got < len(at)
                    placed = got[inside]
                    at[placed] = np.flatnonzero(inside)
                pos = at[ip]
                found = pos >= 0
                ip_rows, pos = row[found], pos[found]
            for v, path in zip(variables, paths, strict=True):
                categorical = v.kind == "categorical"
                vals = converted.get((path, v.kind))
                if vals is None:
                    col = cols[path]
                    vals = _labels(col) if categorical else _numeric(col, v.kind)
                    converted[(path, v.kind)] = vals
                if pid in per_source:
                    _summarise(table, v, ip_rows, vals[pos], per_source[pid])
                    continue
                if unit_pos is None:
                    unit_pos = np.full(size, -1, dtype=np.int32)
                    unit_pos[units] = np.arange(len(units), dtype=np.int32)
                series, several = _by_unit(table, unit_pos, ip_rows, vals[pos], categorical)
                table.values[v.name] = series
                if several:
                    how = "took the first" if categorical else "averaged"
                    table.notes.append(f"{v.name}: {several} units had several IPs; values {how}")
    ins = _pids(frames, "in")
    wanted = {
        v.address: ins[v.address]
        for v in nv.variables.values()
        if v.role == "parameter" and v.address in ins
    }
    for addr, pid in wanted.items():  # the last IIP a port received is the run's value
        iips = frames.payloads([pid], kinds=(IIP,))["payload"].tolist()
        if iips:
            table.params[addr] = iips[-1]
    return table


#: The most IPs whose payloads :func:`extract` decodes at once.
_READ_IPS = 2_000_000


def _root_rows(
    lin: Lineage, rts: np.ndarray, units: np.ndarray, pids: list[int]
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(ip, unit) pairs of every port in roots mode, joined IPs linked to their units."""
    down = descend(lin, rts)
    size = len(lin.port_of)
    is_unit = np.zeros(size, dtype=bool)
    is_unit[units] = True
    # Only an IP with several roots joins a unit with another source's root: the other
    # root is linked to the unit of the first such IP (in id order) on a variable port.
    link = np.full(size, -1, dtype=np.int64)
    mi, ms = down.many_ip, down.many_seed
    if len(mi):
        on_var = np.isin(lin.port_of[mi], pids)
        mi, ms = mi[on_var], ms[on_var]
        u = is_unit[ms]
        ips, n_units = np.unique(mi[u], return_counts=True)
        one = ips[n_units == 1]
        if len(one):
            unit_of = np.full(size, -1, dtype=np.int64)
            sel = u & np.isin(mi, one)
            unit_of[mi[sel]] = ms[sel]
            other = ~u & (unit_of[mi] >= 0)
            r, at = ms[other], mi[other]
            order = np.lexsort((at, r))
            r, at = r[order], at[order]
            first = np.ones(len(r), dtype=bool)
            first[1:] = r[1:] != r[:-1]
            link[r[first]] = unit_of[at[first]]
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for pid in pids:
        ip, root = down.pairs(lin.ids[pid])
        u = is_unit[root]
        if u.all():
            out[pid] = (ip, root)
            continue
        has_unit = np.zeros(size, dtype=bool)
        has_unit[ip[u]] = True
        via = ~u & ~has_unit[ip] & (link[root] >= 0)
        a = np.concatenate([ip[u], ip[via]])
        b = np.concatenate([root[u], link[root[via]]])
        if len(a):
            key = np.unique((a << 32) | b)
            a, b = key >> 32, key & 0xFFFFFFFF
        out[pid] = (a, b)
    return out


def _aggregate_rows(
    lin: Lineage,
    units: np.ndarray,
    upid: int,
    by_port: dict[str, list[Variable]],
    outs: dict[str, int],
    address: dict[int, str],
    sent: dict[str, int],
    table: RunTable,
    per_source: dict[int, np.ndarray | None],
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """(ip, unit) pairs in aggregate mode: descendants of each unit IP, and the inputs
    it aggregates (with the share of its source IPs that passed each upstream port, and
    in ``per_source`` how many source IPs each unit has, to summarise per source IP)."""
    import networkx as nx

    below = nx.descendants(lin.graph, upid) | {upid}
    above = nx.ancestors(lin.graph, upid)
    down: Mapping = descend(lin, units)
    up: Mapping = ascend(lin, units)
    base = max(
        (outs[a] for a in sent if outs[a] in above), key=lambda p: len(lin.ids[p]), default=None
    )
    base_count = None
    if base is not None:
        _, u = up.pairs(lin.ids[base])
        base_count = np.bincount(np.searchsorted(units, u), minlength=len(units))
    out: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for addr, variables in by_port.items():
        pid = outs.get(addr)
        if pid is None or pid not in lin.ids or variables[0].role != "stream":
            continue
        if pid in below:
            out[pid] = down.pairs(lin.ids[pid])
        elif pid in above:
            ip, u = up.pairs(lin.ids[pid])
            out[pid] = (ip, u)
            per_source[pid] = base_count
            n = np.bincount(np.searchsorted(units, u), minlength=len(units))
            if base_count is not None:
                share = np.divide(n, base_count, out=np.zeros(len(units)), where=base_count > 0)
                table.fired[addr] = np.minimum(share, 1.0)
        else:
            table.notes.append(
                f"{addr}: neither feeds nor descends from the unit port {address[upid]};"
                " left out of this table"
            )
    return out


def _summarise(
    table: RunTable, v: Variable, rows: np.ndarray, values: np.ndarray, sources: np.ndarray | None
) -> None:
    """A variable upstream of aggregate units, per unit: the sum of its values over the
    unit's inputs per source IP of the unit (so that branches add up where they merge,
    and a port every source IP passes through gives the mean), or the mean when the
    unit has no source port upstream; a categorical one as the share of each category."""
    import pandas as pd

    units = table.units
    present = pd.notna(values)
    rows, values = rows[present], values[present]
    denom = (
        pd.Series(sources.astype(np.float64), index=units).replace(0.0, np.nan)
        if sources is not None
        else None
    )
    if v.kind == "categorical":
        counts = pd.crosstab(pd.Series(rows, name="unit"), pd.Series(values, name="value"))
        counts = counts.reindex(units, fill_value=0).astype(np.float64)
        if denom is None:
            denom = counts.sum(axis=1).replace(0.0, np.nan)
        table.shares[v.name] = counts.div(denom, axis=0).fillna(0.0)
        return
    s = pd.Series(values.astype(np.float64), index=rows)
    g = s.groupby(level=0)
    if denom is None:
        table.values[v.name] = g.mean()
    else:
        table.values[v.name] = g.sum().reindex(units) / denom


def assemble(run: TracedRun, nv: NetworkVariables, *, unit: str | None = None) -> Dataset:
    """Build the unit-of-work table of one traced run.

    Args:
        run: the traced run.
        nv: the network's causal variables (:func:`network_causal_graph`).
        unit: the unit port address (``"Source.OUT"``); by default the source port
            that sent the most roots. A port whose IPs aggregate others makes those
            aggregates the units.

    Raises:
        CausalModelError: the run has no data IPs, or ``unit`` names no port that sent.
    """
    table = extract(run.frames(), nv, unit=unit, name=f"run {run.run_id}")
    return fill([table], nv)[0]


# -- filling the runs of a query together ---------------------------------------------


def fill(tables: Sequence[RunTable], nv: NetworkVariables) -> list[Dataset]:
    """Turn the runs' values into complete tables, deciding together which variables
    exist, which ports need an indicator and which categories a column has."""
    import pandas as pd

    frames: list[dict[str, Any]] = [{} for _ in tables]
    kept: list[str] = []
    indicators: list[str] = []
    notes: list[list[str]] = [list(t.notes) for t in tables]
    shared: list[str] = []
    expanded: dict[str, list[str]] = {}
    for v in nv.variables.values():
        if v.role != "stream":
            continue
        if any(v.name in t.shares for t in tables):
            totals: dict[str, float] = {}
            for t in tables:
                if v.name in t.shares:
                    for c, x in t.shares[v.name].sum().items():
                        totals[str(c)] = totals.get(str(c), 0.0) + float(x)
            # The most common category is the reference: shares that add up to one
            # would be collinear.
            ref = max(sorted(totals), key=lambda c: totals[c])
            cats = sorted(c for c in totals if c != ref)
            shared.append(
                f"{v.name}: summarised per unit as the share of each category ({ref}: the rest)"
            )
            names = [f"{v.name}={c}" for c in cats]
            expanded[v.name] = names
            kept.extend(names)
            for cols, t in zip(frames, tables, strict=True):
                got = t.shares.get(v.name)
                for c, col_name in zip(cats, names, strict=True):
                    cols[col_name] = (
                        got[c].reindex(t.units, fill_value=0.0).to_numpy(dtype=np.float64)
                        if got is not None and c in got
                        else np.zeros(len(t.units))
                    )
            continue
        per_run = [t.values.get(v.name) for t in tables]
        if all(s is None or not len(s) for s in per_run):
            shared.append(f"{v.name}: no values in any run; left out")
            continue
        kept.append(v.name)
        ind = f"{v.address}.fired"
        on_runs = [
            t.fired.get(v.address, np.zeros(len(t.units), dtype=bool)).astype(np.float64)
            for t in tables
        ]
        if any((on < 1).any() for on in on_runs) and ind not in indicators:
            indicators.append(ind)
            for cols, on in zip(frames, on_runs, strict=True):
                cols[ind] = on
        categorical = v.kind == "categorical"
        labels: list[str] = []
        if categorical:
            seen: set[str] = set()
            for s in per_run:
                if s is not None:
                    seen.update(str(x) for x in s.dropna().unique())
            labels = sorted(seen)
        cols_by_run: list[tuple[Any, np.ndarray]] = []
        for k, (t, s, on) in enumerate(zip(tables, per_run, on_runs, strict=True)):
            if s is None:
                s = pd.Series([], dtype=object if categorical else np.float64)
            col = s if t.index is not None and s.index is t.index else s.reindex(t.units)
            gaps = col.isna().to_numpy() & (on > 0)
            if gaps.any():
                # A fixed fill, the same in every run: a per-run statistic would itself
                # differ between runs and look like a shift.
                notes[k].append(f"{v.name}: {int(gaps.sum())} IPs had no value; filled with 0")
            cols_by_run.append((col, col.isna().to_numpy() | (on <= 0)))
        if categorical and any(blank.any() for _, blank in cols_by_run) and NONE not in labels:
            labels.append(NONE)
        for k, (col, blank) in enumerate(cols_by_run):
            if categorical:
                values = np.where(blank, NONE, col.to_numpy(dtype=object))
                frames[k][v.name] = pd.Categorical(values, categories=labels)
            else:
                frames[k][v.name] = np.where(blank, 0.0, col.to_numpy(dtype=np.float64))
    for v in nv.variables.values():
        if v.role != "parameter":
            continue
        given = [t.params.get(v.address, v.value) for t in tables]
        if v.kind == "categorical":
            cats = sorted({str(x) for x in given})
            for cols, t, x in zip(frames, tables, given, strict=True):
                cols[v.name] = pd.Categorical([str(x)] * len(t.units), categories=cats)
        else:
            for cols, x in zip(frames, given, strict=True):
                cols[v.name] = float(x) if x is not None else 0.0
        kept.append(v.name)
    out: list[Dataset] = []
    for t, cols, run_notes in zip(tables, frames, notes, strict=True):
        index = pd.Index(t.units, name="unit")
        frame = pd.DataFrame({c: x for c, x in cols.items()}, index=index)
        frame = frame[[c for c in [*kept, *indicators] if c in frame.columns]]
        out.append(
            Dataset(
                frame=frame,
                unit_port=t.unit_port,
                variables=list(kept),
                indicators=list(indicators),
                notes=[*shared, *run_notes],
                expanded=dict(expanded),
            )
        )
    return out


# -- windows --------------------------------------------------------------------------


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
    frames = run.frames()
    outs = _pids(frames, "out")
    wanted = {outs[a]: a for a in ports if a in outs}
    rec = frames.records
    data = rec[rec["kind"].to_numpy() == DATA]
    ip = data["ip_id"].to_numpy().astype(np.int64)
    t = (data["t_ns"].to_numpy().astype(np.int64) - run.t0_perf_ns) / 1e9
    sent_at = np.full(int(ip.max(initial=0)) + 1, np.nan)
    sent_at[ip] = t
    links = frames.links
    child = links["child"].to_numpy().astype(np.int64)
    parent = links["parent"].to_numpy().astype(np.int64)
    ok = (child < len(sent_at)) & (parent < len(sent_at))
    child, parent = child[ok], parent[ok]
    ok = ~np.isnan(sent_at[parent]) & ~np.isnan(sent_at[child])
    # From the latest data parent (IIPs are not work): a source has no latency.
    latest = pd.Series(sent_at[parent[ok]]).groupby(child[ok]).max()
    sel = data["port_id"].isin(list(wanted)).to_numpy()
    if not sel.any():
        msg = "no data IPs on the requested ports"
        raise CausalModelError(msg)
    ips = ip[sel]
    before = latest.reindex(ips).to_numpy()
    lat = np.where(np.isnan(before), 0.0, sent_at[ips] - before)
    df = pd.DataFrame(
        {
            "port": [wanted[p] for p in data["port_id"].to_numpy()[sel].tolist()],
            "window": (t[sel] // window).astype(np.int64),
            "latency": lat,
        }
    )
    counts = df.pivot_table(
        index="window", columns="port", values="latency", aggfunc="size", fill_value=0
    )
    lat_mean = df.pivot_table(index="window", columns="port", values="latency", aggfunc="mean")
    frame = pd.concat(
        [counts.add_suffix(".count").astype(float), lat_mean.add_suffix(".latency").fillna(0.0)],
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
    frames = _aligned(
        [d.frame for d in datasets], sorted({i for d in datasets for i in d.indicators})
    )
    common = set(frames[0].columns)
    for f in frames[1:]:
        common &= set(f.columns)
    indicators = sorted({i for d in datasets for i in d.indicators})
    g = nx.DiGraph()
    base = nv.graph
    expanded = {
        k: [c for c in cols if c in common] for d in datasets for k, cols in d.expanded.items()
    }

    def nodes_of(n: str) -> list[str]:
        """A variable's columns: itself, or its share columns (categorical variables
        summarised per category)."""
        return expanded.get(n, [n])

    for n in nx.topological_sort(base):
        for c in nodes_of(n):
            if c in common:
                g.add_node(c, **{**base.nodes[n], "role": base.nodes[n].get("role", "stream")})
    for a, b in base.edges:
        for x in nodes_of(a):
            for y in nodes_of(b):
                if x in g and y in g:
                    g.add_edge(x, y)
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


def _aligned(frames: list[pd.DataFrame], indicators: list[str]) -> list[pd.DataFrame]:
    """Frames of runs assembled apart, made comparable: an indicator one lacks means
    its port fired for every unit there (1); categorical columns get the union of the
    categories."""
    import pandas as pd

    out = []
    for f in frames:
        missing = [i for i in indicators if i not in f.columns]
        out.append(f.assign(**{i: 1.0 for i in missing}) if missing else f)
    for col in {c for f in out for c in f.columns}:
        cats = [f[col].dtype for f in out if col in f.columns]
        if any(isinstance(d, pd.CategoricalDtype) for d in cats):
            union = sorted(
                {str(x) for f in out if col in f.columns for x in f[col].astype(str).unique()}
            )
            out = [
                f.assign(**{col: pd.Categorical(f[col].astype(str), categories=union)})
                if col in f.columns
                else f
                for f in out
            ]
    return out


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
    import pandas as pd

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
            # As plain values: two categorical columns may have other category sets.
            a = f.loc[rows, n].to_numpy(dtype=object)
            b = f.loc[rows, p].to_numpy(dtype=object)
            if not bool(((a == b) | (pd.isna(a) & pd.isna(b))).all()):
                same = False
                break
        if same:
            return str(p)
    return None
