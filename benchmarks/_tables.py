"""What the table assembly costs: the synthetic traced networks the table benchmark
runs, and, for comparison in the same run, the record-by-record assembly the causal
layer used before its tables became vectorised joins (kept here verbatim, as the
baseline)."""

from __future__ import annotations

import random
import zlib
from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fbp import Component, InPort, OutPort
from fbp import port as declare
from fbp._core._exceptions import CausalModelError
from fbp.causal._tables._dataset import Dataset
from fbp.causal._tables._wiring import NetworkVariables, Variable
from fbp.graph import Graph

if TYPE_CHECKING:
    from fbp.tracing import TracedRun

__all__ = ("baseline_assemble", "synthetic")


# -- a synthetic network of V causal variables ---------------------------------------------


class Feed(Component):
    """N values from a normal distribution (SHIFT moves them: an input data shift)."""

    n: InPort[int] = declare(causal=False)
    seed: InPort[int] = declare(default=0, causal=False)
    shift: InPort[float] = declare(default=0.0, causal=False)
    out: OutPort[float]

    async def run(self) -> None:
        n = await self.n.receive()
        rng = random.Random(await self.seed.receive())
        shift = await self.shift.receive()
        gauss = rng.gauss
        for _ in range(n):
            await self.out.send(gauss(shift, 1.0))


class One(Component):
    """A non-linear stage of one input (FAULT adds to it: a code change)."""

    in_: InPort[float]
    w: InPort[float] = declare(default=1.0, causal=False)
    fault: InPort[float] = declare(default=0.0, causal=False)
    out: OutPort[float]

    def __init__(self) -> None:
        super().__init__()
        self._gauss: Any = None

    async def process(self, in_: float, w: float, fault: float) -> None:
        if self._gauss is None:
            self._gauss = random.Random(zlib.crc32(self.name.encode())).gauss
        y = w * in_ + 0.3 * (in_ if in_ > 0 else 0.0) + self._gauss(0.0, 0.5) + fault
        await self.out.send(y)


class Two(Component):
    """A stage of two inputs."""

    a: InPort[float]
    b: InPort[float]
    w: InPort[float] = declare(default=1.0, causal=False)
    fault: InPort[float] = declare(default=0.0, causal=False)
    out: OutPort[float]

    def __init__(self) -> None:
        super().__init__()
        self._gauss: Any = None

    async def process(self, a: float, b: float, w: float, fault: float) -> None:
        if self._gauss is None:
            self._gauss = random.Random(zlib.crc32(self.name.encode())).gauss
        y = w * a + 0.5 * b + self._gauss(0.0, 0.5) + fault
        await self.out.send(y)


def synthetic(n_vars: int, rows: int, seed: int = 0) -> Graph:
    """A traced-network benchmark: one source and ``n_vars - 1`` stages of one or two
    inputs wired at random (a DAG), each output port one causal variable; the last
    stage, ``S{n_vars - 1}``, is the target. Every stage's port feeds at least one
    later stage or is the target, so all are its ancestors or siblings."""
    rng = random.Random(seed)
    g = Graph(f"synthetic{n_vars}").add_process("S0", Feed).add_initial(rows, "S0.N")
    for i in range(1, n_vars):
        name = f"S{i}"
        if i >= 2 and rng.random() < 0.4:
            a, b = rng.sample(range(max(0, i - 8), i), 2)
            g.add_process(name, Two).add_initial(round(rng.uniform(0.5, 1.2), 2), f"{name}.W")
            g.connect(f"S{a}.OUT", f"{name}.A").connect(f"S{b}.OUT", f"{name}.B")
        else:
            a = rng.randrange(max(0, i - 4), i)
            g.add_process(name, One).add_initial(round(rng.uniform(0.5, 1.2), 2), f"{name}.W")
            g.connect(f"S{a}.OUT", f"{name}.IN")
    return g


# -- the record-by-record assembly, as it was ------------------------------------------------


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


def baseline_assemble(
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
