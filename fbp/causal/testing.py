"""Generated networks and fault cases with known culprits, to test causal questions.

A causal answer is only as good as the cases it was checked on. This module builds
random FBP-shaped structural causal models, injects faults whose culprits are known,
and draws a run before and after, so that a user can test :func:`fbp.causal.shift`
(or their own question) on programs shaped like theirs.

* :func:`make_network` builds a random network of processes: sources (input streams),
  categorical sources, parameters (IIPs, constant within a run), transforms of many
  mechanism families (linear, curved, thresholded, multiplicative, saturating,
  ``amount * exp(-score)``, ``price * sigmoid(p)``, ``max``), routers (a branch: the
  value goes to ``HIGH`` or ``LOW``, the other port does not fire and reads as 0, with
  one 0/1 ``fired`` indicator per port), filters (a value passes or is dropped), joins
  (a merge of several streams by sum, max or min, often of a router's two branches)
  and aggregations (a unit is a window of items, summarised by mean, max or the share
  above a level), and one ``Sink`` whose ``OUT`` is the target. The causal graph
  follows the FBP rule: every variable a process reads points to every variable it
  writes, and a process reading a branch port also reads its indicator.
* :class:`Fault` changes one process between two runs: a data shift at a source, a
  new parameter value, a code change in a transform (offset, gain), a new threshold in
  a router or filter, another operation in a join or aggregation, another window.
* :func:`fault_case` builds one case of a given kind (:data:`FAULT_KINDS`), with a
  fault large enough to move the target; :func:`random_case` draws the network, its
  mechanism families and the kind at random, for broad evaluations.

Example::

    from fbp.causal import shift
    from fbp.causal.testing import fault_case

    case = fault_case("join", seed=3, joins=0.3, branches=0.2)
    result = shift(case.network.graph, case.before, case.after, case.network.target)
    assert result.top_processes(1)[0] in case.truth
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, get_args

import networkx as nx
import numpy as np
import pandas as pd

__all__ = (
    "FAULT_KINDS",
    "SHAPES",
    "Fault",
    "FaultCase",
    "FaultKind",
    "Kind",
    "Shape",
    "SyntheticNetwork",
    "SyntheticProcess",
    "fault_case",
    "make_network",
    "random_case",
)

Kind = Literal[
    "source",
    "category",
    "parameter",
    "transform",
    "router",
    "filter",
    "join",
    "aggregate",
    "sink",
]
Shape = Literal[
    "linear",
    "tanh",
    "square",
    "relu",
    "softplus",
    "step",
    "power",
    "product",
    "decay",
    "gate",
    "max",
]
SHAPES: tuple[Shape, ...] = tuple(x for x in get_args(Shape) if x != "linear")
"""Every non-linear transform shape: ``tanh``, ``square``, ``relu``, ``softplus`` and
``power`` (``|z + 2| ** 1.5``) of the weighted sum ``z`` of the inputs; ``step`` (a
threshold on it); and, of the first two inputs ``u``, ``v`` (standardised),
``product`` (``u * v``), ``decay`` (``(2 + u) * exp(-v / 2)``), ``gate``
(``(2 + u) * sigmoid(3 v)``) and ``max``."""
_LEGACY_SHAPES: tuple[Shape, ...] = ("tanh", "square", "relu", "softplus")
_PAIR_SHAPES = frozenset({"product", "decay", "gate", "max"})
_LABELS = ("a", "b", "c")
_JOIN_OPS = ("sum", "max", "min")
_AGG_OPS = ("mean", "max", "share")

FaultKind = Literal[
    "mechanism",
    "input",
    "nonlinear",
    "branch",
    "two",
    "none",
    "gain",
    "filter",
    "join",
    "aggregate",
    "parameter",
    "category",
    "two-mid",
    "cancel",
]
FAULT_KINDS: tuple[FaultKind, ...] = get_args(FaultKind)
"""The kinds of :func:`fault_case`: ``"mechanism"`` (a linear transform's output moves
by 0.6, about 1.5 noise standard deviations), ``"nonlinear"`` (the same in a
non-linear transform), ``"gain"`` (a transform's deterministic part is halved),
``"input"`` (a source scaled by 1.5, the data shift of the Paleyes et al.
experiments), ``"category"`` (a categorical source's frequencies change),
``"parameter"`` (an IIP scaled by 1.5), ``"branch"`` (a router's threshold moves, so
units take the other branch), ``"filter"`` (a filter's threshold moves), ``"join"``
(a join merges by another operation), ``"aggregate"`` (an aggregation summarises by
another operation), ``"two"`` (a transform and a source at once), ``"two-mid"`` (two
transforms at once), ``"cancel"`` (two transforms whose effects on the target's mean
cancel out) and ``"none"`` (a control: nothing changes)."""


@dataclass(frozen=True, slots=True)
class Fault:
    """A change injected into one process.

    Attributes:
        process: the process that changes.
        offset: added to every value the process writes (sources and parameters:
            to the value; transforms, joins, aggregations: to the output; routers and
            filters: to the routed value).
        scale: multiplies the value of a source or parameter, or the deterministic
            part of a transform, join or aggregation.
        threshold: a router's or filter's new threshold, in units of its input's
            standard deviation (the branch units take changes).
        probs: a categorical source's new category probabilities.
        op: a join's (``"sum"``, ``"max"``, ``"min"``) or an aggregation's
            (``"mean"``, ``"max"``, ``"share"``) new operation.
        window: an aggregation's new number of items per unit.
    """

    process: str
    offset: float = 0.0
    scale: float = 1.0
    threshold: float | None = None
    probs: tuple[float, ...] | None = None
    op: str | None = None
    window: int | None = None


@dataclass(frozen=True, slots=True)
class SyntheticProcess:
    """One process of a synthetic network and its mechanism.

    The weighted sum of a process's inputs is ``z = gain * (w . x) + bias``
    (calibrated to mean 0 and standard deviation 1). A transform writes
    ``loc + amp * h(z) + noise`` with ``h`` its shape; a router routes
    ``loc + amp * z + noise`` by ``z > threshold``, and a filter passes it when
    ``z > threshold``; a join writes ``loc + amp * op(w_i * u_i)`` of its standardised
    inputs ``u_i``; an aggregation summarises ``window`` items ``z + spread * e`` by
    ``op``.
    """

    name: str
    kind: Kind
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    weights: tuple[float, ...] = ()
    shape: Shape = "linear"
    gain: float = 1.0
    bias: float = 0.0
    loc: float = 0.0
    amp: float = 1.0
    noise: float = 0.5
    threshold: float = 0.0
    probs: tuple[float, ...] = ()
    effects: tuple[float, ...] = ()
    centers: tuple[float, ...] = ()
    scales: tuple[float, ...] = ()
    op: str = ""
    window: int = 1
    spread: float = 1.0


def _h(shape: Shape, z: np.ndarray) -> np.ndarray:
    out: np.ndarray
    if shape == "tanh":
        out = np.tanh(z)
    elif shape == "square":
        out = z * z / 2.0
    elif shape == "relu":
        out = np.maximum(z, 0.0)
    elif shape == "softplus":
        out = np.logaddexp(0.0, 2.0 * z) / 2.0
    elif shape == "step":
        out = 2.0 * (z > 0.3)
    elif shape == "power":
        out = np.abs(z + 2.0) ** 1.5 / 2.0
    else:
        out = z
    return out


def _standardised(
    p: SyntheticProcess, values: Mapping[str, np.ndarray], n: int
) -> list[np.ndarray]:
    out = []
    for i, name in enumerate(p.inputs):
        c = p.centers[i] if i < len(p.centers) else 0.0
        s = p.scales[i] if i < len(p.scales) else 1.0
        out.append(np.broadcast_to((values[name] - c) / s, (n,)))
    return out


def _pair(shape: Shape, u: np.ndarray, v: np.ndarray, w: Sequence[float]) -> np.ndarray:
    out: np.ndarray
    if shape == "product":
        out = u * v
    elif shape == "decay":
        out = (2.0 + u) * np.exp(-0.5 * v)
    elif shape == "gate":
        out = (2.0 + u) / (1.0 + np.exp(-3.0 * v))
    else:  # max
        out = np.maximum(w[0] * u, w[1] * v)
    return out


def _det(p: SyntheticProcess, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    """The deterministic part of a transform (before loc and amp)."""
    if p.shape in _PAIR_SHAPES and len(p.inputs) >= 2:
        u = _standardised(p, values, n)
        out = _pair(p.shape, u[0], u[1], p.weights)
        for ui, wi in zip(u[2:], p.weights[2:], strict=True):
            out = out + 0.5 * wi * ui
        return out
    return _h(p.shape, _linear_input(p, values, n))


@dataclass(frozen=True)
class SyntheticNetwork:
    """A synthetic network: its causal graph, target and mechanisms.

    Attributes:
        graph: the causal graph (nodes carry ``process``, ``port`` and ``role``).
        target: the variable queries explain (``"Sink.OUT"``).
        processes: every process, in topological order.
    """

    graph: nx.DiGraph
    target: str
    processes: tuple[SyntheticProcess, ...]
    _by_name: dict[str, SyntheticProcess] = field(repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name.update({p.name: p for p in self.processes})

    def process(self, name: str) -> SyntheticProcess:
        """Return the process called ``name``."""
        return self._by_name[name]

    def names(
        self, kind: Kind, *, shape: Literal["linear", "nonlinear", "any"] = "any"
    ) -> list[str]:
        """Return the names of the processes of one kind (and, for transforms, shape)."""
        out = []
        for p in self.processes:
            if p.kind != kind:
                continue
            if shape == "linear" and p.shape != "linear":
                continue
            if shape == "nonlinear" and p.shape == "linear":
                continue
            out.append(p.name)
        return out

    def variables_of(self, process: str) -> tuple[str, ...]:
        """Return the variables ``process`` writes."""
        return self._by_name[process].outputs

    def target_effect(
        self, fault: Fault | Sequence[Fault], *, n: int = 20_000, seed: int = 0
    ) -> float:
        """Return how far ``fault`` (or several) moves the target's mean, in its standard
        deviations."""
        faults = [fault] if isinstance(fault, Fault) else list(fault)
        before = self.sample(n, seed=seed)[self.target].to_numpy(dtype=float)
        after = self.sample(n, faults=faults, seed=seed)[self.target].to_numpy(dtype=float)
        return float((after.mean() - before.mean()) / (before.std() or 1.0))

    def sample(self, n: int, *, faults: Sequence[Fault] = (), seed: int = 0) -> pd.DataFrame:
        """Draw ``n`` units of work, with ``faults`` injected.

        Returns:
            One row per unit, one column per variable; categorical sources are
            pandas ``category`` columns.

        Raises:
            ValueError: a fault names a process the network does not have.
        """
        rng = np.random.default_rng(seed)
        by_process = {f.process: f for f in faults}
        unknown = set(by_process) - set(self._by_name)
        if unknown:
            msg = (
                f"faults name unknown processes {sorted(unknown)}; "
                f"the network's processes are {sorted(self._by_name)}"
            )
            raise ValueError(msg)
        values: dict[str, np.ndarray] = {}
        for p in self.processes:
            _sample_process(p, by_process.get(p.name), values, n, rng)
        frame = pd.DataFrame({v: values[v] for v in self.graph.nodes})
        for p in self.processes:
            if p.kind == "category":
                codes = frame[p.outputs[0]].to_numpy().astype(int)
                frame[p.outputs[0]] = pd.Categorical.from_codes(
                    codes, categories=pd.Index(list(_LABELS))
                )
        return frame


def _linear_input(p: SyntheticProcess, values: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    z = np.zeros(n)
    for name, w in zip(p.inputs, p.weights, strict=True):
        x = values[name]
        z = z + w * x
    return p.gain * z + p.bias


def _aggregate(op: str, items: np.ndarray) -> np.ndarray:
    if op == "max":
        return items.max(axis=1)  # type: ignore[no-any-return]
    if op == "share":
        return 3.0 * (items > 0.0).mean(axis=1)  # type: ignore[no-any-return]
    return items.mean(axis=1)  # type: ignore[no-any-return]


def _sample_process(
    p: SyntheticProcess,
    fault: Fault | None,
    values: dict[str, np.ndarray],
    n: int,
    rng: np.random.Generator,
) -> None:
    offset = fault.offset if fault else 0.0
    scale = fault.scale if fault else 1.0
    out = p.outputs
    if p.kind == "source":
        x = p.loc + p.amp * rng.standard_normal(n)
        values[out[0]] = x * scale + offset
    elif p.kind == "parameter":
        values[out[0]] = np.full(n, p.loc * scale + offset)
    elif p.kind == "category":
        probs = np.asarray(fault.probs if fault and fault.probs else p.probs)
        values[out[0]] = rng.choice(len(probs), size=n, p=probs / probs.sum()).astype(float)
    elif p.kind in ("transform", "sink"):
        det = p.loc + p.amp * _det(p, values, n)
        values[out[0]] = scale * det + offset + p.noise * rng.standard_normal(n)
    elif p.kind in ("router", "filter"):
        # A filter is a router without the LOW branch: it drops what a router sends there.
        z = _linear_input(p, values, n)
        thr = fault.threshold if fault and fault.threshold is not None else p.threshold
        high = z > thr
        routed = p.loc + p.amp * z + offset + p.noise * rng.standard_normal(n)
        values[out[0]] = np.where(high, routed, 0.0)
        values[out[1]] = high.astype(float)
        if p.kind == "router":
            values[out[2]] = np.where(high, 0.0, routed)
            values[out[3]] = (~high).astype(float)
    elif p.kind == "join":
        op = fault.op if fault and fault.op else p.op
        u = _standardised(p, values, n)
        parts = np.column_stack([w * x for w, x in zip(p.weights, u, strict=True)])
        if op == "max":
            merged = parts.max(axis=1)
        elif op == "min":
            merged = parts.min(axis=1)
        else:
            merged = parts.sum(axis=1)
        det = p.loc + p.amp * merged
        values[out[0]] = scale * det + offset + p.noise * rng.standard_normal(n)
    elif p.kind == "aggregate":
        op = fault.op if fault and fault.op else p.op
        window = fault.window if fault and fault.window else p.window
        z = _linear_input(p, values, n)
        items = z[:, None] + p.spread * rng.standard_normal((n, window))
        det = p.loc + p.amp * _aggregate(op, items)
        values[out[0]] = scale * det + offset + p.noise * rng.standard_normal(n)


def make_network(
    n_variables: int = 20,
    *,
    nonlinear: float = 0.0,
    branches: float = 0.0,
    parameters: int = 0,
    categorical: int = 0,
    filters: float = 0.0,
    joins: float = 0.0,
    aggregates: float = 0.0,
    shapes: Sequence[Shape] | None = None,
    seed: int = 0,
) -> SyntheticNetwork:
    """Build a random FBP-shaped network with about ``n_variables`` variables.

    Args:
        n_variables: how many causal variables to aim for (at least 4).
        nonlinear: the share of transforms with a non-linear shape.
        branches: the chance that a new process is a router (4 variables).
        parameters: how many parameter (IIP) roots to add.
        categorical: how many categorical sources to add.
        filters: the chance that a new process is a filter (2 variables).
        joins: the chance that a new process is a join of several streams.
        aggregates: the chance that a new process is an aggregation.
        shapes: the non-linear shapes to draw from (default ``tanh``, ``square``,
            ``relu``, ``softplus``; :data:`SHAPES` has them all).
        seed: makes the structure and the mechanisms reproducible.

    Raises:
        ValueError: ``n_variables`` below 4, or an unknown shape.
    """
    if n_variables < 4:
        msg = f"n_variables must be at least 4, got {n_variables}"
        raise ValueError(msg)
    pool: tuple[Shape, ...] = tuple(shapes) if shapes is not None else _LEGACY_SHAPES
    bad = [s for s in pool if s not in SHAPES]
    if bad or not pool:
        msg = f"unknown shapes {bad}; use some of {SHAPES}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    # Mechanisms are calibrated on a large draw so that every variable has a
    # comparable scale whatever its depth.
    calib_n = 4000
    calib: dict[str, np.ndarray] = {}
    procs: list[SyntheticProcess] = []
    frontier: list[str] = []  # stream variables nobody reads yet
    streams: list[str] = []
    gated: list[str] = []  # branch and filter ports (a value or 0)
    count = 0

    def add(p: SyntheticProcess) -> None:
        nonlocal count
        procs.append(p)
        _sample_process(p, None, calib, calib_n, rng)
        count += len(p.outputs)

    def stream(port: str, *, gate: bool = False) -> None:
        """A new stream variable that later processes may read (``gate``: a branch's
        or a filter's port, a value or 0)."""
        frontier.append(port)
        streams.append(port)
        if gate:
            gated.append(port)

    n_sources = max(2, n_variables // 8)
    for i in range(n_sources):
        name = f"Source{i}"
        add(SyntheticProcess(name, "source", (), (f"{name}.OUT",), loc=float(rng.uniform(1, 3))))
        stream(f"{name}.OUT")
    for i in range(categorical):
        name = f"Kind{i}"
        probs = tuple(float(x) for x in rng.dirichlet(np.full(len(_LABELS), 4.0)))
        add(SyntheticProcess(name, "category", (), (f"{name}.OUT",), probs=probs))
        stream(f"{name}.OUT")
    params: list[str] = []
    for i in range(parameters):
        name = f"Param{i}"
        add(
            SyntheticProcess(
                name, "parameter", (), (f"{name}.VALUE",), loc=float(rng.uniform(1, 2))
            )
        )
        params.append(f"{name}.VALUE")

    def pick_inputs(k: int, prefer: Sequence[str] = ()) -> list[str]:
        chosen: list[str] = []
        for _ in range(k):
            pool_ = [v for v in prefer if v in frontier and v not in chosen]
            if not pool_:
                pool_ = [v for v in frontier if v not in chosen]
            if not pool_ or rng.random() > 0.75:
                pool_ = [v for v in streams[-12:] if v not in chosen]
            if not pool_:
                break
            chosen.append(pool_[int(rng.integers(len(pool_)))])
        for v in chosen:
            if v in frontier:
                frontier.remove(v)
        return chosen

    def weights_for(inputs: Sequence[str]) -> tuple[float, ...]:
        return tuple(float(rng.uniform(0.5, 1.5) * rng.choice([-1.0, 1.0])) for _ in inputs)

    def calibrate(p: SyntheticProcess) -> SyntheticProcess:
        z = _linear_input(replace(p, gain=1.0, bias=0.0), calib, calib_n)
        sd = float(np.std(z)) or 1.0
        centers = tuple(float(np.mean(calib[v])) for v in p.inputs)
        scales = tuple(float(np.std(calib[v])) or 1.0 for v in p.inputs)
        return replace(
            p, gain=1.0 / sd, bias=-float(np.mean(z)) / sd, centers=centers, scales=scales
        )

    def numeric(inputs: Sequence[str]) -> list[str]:
        return [v for v in inputs if not v.startswith(("Kind", "Param"))]

    def add_one_output(
        name: str, kind: Kind, inputs: Sequence[str], noise: tuple[float, float], **mechanism: Any
    ) -> None:
        """Add a calibrated process of one output ``OUT`` (a join, an aggregation, a
        transform): ``mechanism``, then a level, an amplitude and a noise drawn in this
        order."""
        p = SyntheticProcess(
            name,
            kind,
            tuple(inputs),
            (f"{name}.OUT",),
            **mechanism,
            loc=float(rng.uniform(0.5, 2.0)),
            amp=float(rng.uniform(0.8, 1.2)),
            noise=float(rng.uniform(*noise)),
        )
        add(calibrate(p))
        stream(f"{name}.OUT")

    k = 0
    while count < n_variables - 1:
        k += 1
        is_router = rng.random() < branches and count + 4 < n_variables
        if is_router:
            inputs = pick_inputs(1)
            name = f"Route{k}"
            p = SyntheticProcess(
                name,
                "router",
                tuple(inputs),
                (f"{name}.HIGH", f"{name}.HIGH.fired", f"{name}.LOW", f"{name}.LOW.fired"),
                weights=weights_for(inputs),
                loc=float(rng.uniform(0.5, 1.5)),
                noise=float(rng.uniform(0.2, 0.4)),
                threshold=float(rng.uniform(-0.5, 0.5)),
            )
            p = calibrate(p)
            add(p)
            stream(f"{name}.HIGH", gate=True)
            stream(f"{name}.LOW", gate=True)
            continue
        if filters and rng.random() < filters and count + 2 < n_variables:
            inputs = numeric(pick_inputs(1))
            if inputs:
                name = f"Filter{k}"
                p = SyntheticProcess(
                    name,
                    "filter",
                    tuple(inputs),
                    (f"{name}.OUT", f"{name}.OUT.fired"),
                    weights=weights_for(inputs),
                    loc=float(rng.uniform(0.5, 1.5)),
                    noise=float(rng.uniform(0.2, 0.4)),
                    threshold=float(rng.uniform(-1.0, 0.0)),
                )
                add(calibrate(p))
                stream(f"{name}.OUT", gate=True)
                continue
        if joins and rng.random() < joins:
            inputs = numeric(pick_inputs(int(rng.choice([2, 2, 3])), prefer=gated))
            if len(inputs) >= 2:
                add_one_output(
                    f"Join{k}",
                    "join",
                    inputs,
                    (0.2, 0.4),
                    weights=tuple(float(rng.uniform(0.5, 1.5)) for _ in inputs),
                    op=_JOIN_OPS[int(rng.integers(len(_JOIN_OPS)))],
                )
                continue
            frontier.extend(inputs)
        if aggregates and rng.random() < aggregates:
            inputs = numeric(pick_inputs(1))
            if inputs:
                add_one_output(
                    f"Agg{k}",
                    "aggregate",
                    inputs,
                    (0.1, 0.3),
                    weights=weights_for(inputs),
                    op=_AGG_OPS[int(rng.integers(len(_AGG_OPS)))],
                    window=int(rng.integers(4, 13)),
                    spread=float(rng.uniform(0.5, 1.0)),
                )
                continue
        n_in = int(rng.choice([1, 2, 2, 3]))
        inputs = pick_inputs(n_in)
        if params and rng.random() < 0.3:
            inputs.append(params[int(rng.integers(len(params)))])
        shape: Shape = "linear"
        if rng.random() < nonlinear:
            shape = pool[int(rng.integers(len(pool)))]
            if shape in _PAIR_SHAPES and len(numeric(inputs)) < 2:
                shape = "tanh"
            elif shape in _PAIR_SHAPES:
                # The pair's two inputs come first; a parameter only enters linearly.
                inputs = numeric(inputs) + [v for v in inputs if v not in numeric(inputs)]
        add_one_output(
            f"Step{k}", "transform", inputs, (0.3, 0.5), weights=weights_for(inputs), shape=shape
        )
    # Everything nobody reads flows into the sink, as in a network with one output.
    sink_inputs = list(frontier)
    sink = SyntheticProcess(
        "Sink",
        "sink",
        tuple(sink_inputs),
        ("Sink.OUT",),
        weights=tuple(float(rng.uniform(0.5, 1.5)) for _ in sink_inputs),
        noise=0.3,
    )
    sink = calibrate(sink)
    procs.append(sink)

    graph = nx.DiGraph()
    for p in procs:
        for out in p.outputs:
            port = out.split(".")[1]
            if out.endswith(".fired"):
                role = "indicator"
            elif p.kind == "parameter":
                role = "parameter"
            else:
                role = "stream"
            graph.add_node(out, process=p.name, port=port, role=role)
    fired_of = {o: o + ".fired" for p in procs for o in p.outputs if o + ".fired" in p.outputs}
    for p in procs:
        for src in p.inputs:
            for out in p.outputs:
                graph.add_edge(src, out)
                # A process reading a branch port also sees whether it fired.
                if src in fired_of:
                    graph.add_edge(fired_of[src], out)
    return SyntheticNetwork(graph, "Sink.OUT", tuple(procs))


@dataclass(frozen=True)
class FaultCase:
    """A network, the faults injected into it, and a run before and after them.

    Attributes:
        network: the synthetic network.
        faults: the injected faults (none for a "nothing changed" control).
        before: the reference run.
        after: the run with the faults.
        kind: the kind of case (one of :data:`FAULT_KINDS`), if built by kind.
    """

    network: SyntheticNetwork
    faults: tuple[Fault, ...]
    before: pd.DataFrame
    after: pd.DataFrame
    kind: str = ""

    @property
    def truth(self) -> frozenset[str]:
        """Return the processes that were changed (the culprits)."""
        return frozenset(f.process for f in self.faults)

    @property
    def mid_graph(self) -> bool:
        """Whether a culprit is neither a source nor a parameter (a code change inside)."""
        roots = ("source", "category", "parameter")
        return any(self.network.process(p).kind not in roots for p in self.truth)


def _pick_fault(
    net: SyntheticNetwork,
    kind: Kind,
    shape: Literal["linear", "nonlinear", "any"],
    rng: np.random.Generator,
    make: Callable[[str], Fault | None],
    min_effect: float,
    exclude: Sequence[str] = (),
) -> Fault | None:
    names = [n for n in net.names(kind, shape=shape) if n not in exclude]
    rng.shuffle(names)
    for name in names:
        fault = make(name)
        if fault is not None and abs(net.target_effect(fault, n=4000)) >= min_effect:
            return fault
    return None


def _cancelling(
    net: SyntheticNetwork, rng: np.random.Generator, min_effect: float
) -> tuple[Fault, Fault] | None:
    """Two transform offsets, each moving the target, whose effects on its mean cancel."""
    names = net.names("transform")
    rng.shuffle(names)
    effects: list[tuple[str, float]] = []
    for name in names[:10]:
        e = net.target_effect(Fault(name, offset=0.6), n=4000)
        if abs(e) >= min_effect:
            effects.append((name, e))
    for i, (a, ea) in enumerate(effects):
        for b, eb in effects[i + 1 :]:
            off = -0.6 * ea / eb
            if not 0.3 <= abs(off) <= 1.5:
                continue
            pair = (Fault(a, offset=0.6), Fault(b, offset=off))
            if abs(net.target_effect(pair, n=8000)) < 0.05:
                return pair
    return None


def fault_case(
    kind: FaultKind,
    seed: int,
    *,
    n_variables: int = 20,
    rows: int = 2000,
    nonlinear: float = 0.3,
    branches: float = 0.15,
    min_effect: float = 0.25,
    **network: Any,
) -> FaultCase | None:
    """Build one fault-localisation case with a known answer.

    The network is ``make_network(n_variables, nonlinear=, branches=, seed=seed,
    **network)`` (``network`` takes the other options of :func:`make_network`:
    ``filters=``, ``joins=``, ``aggregates=``, ``parameters=``, ``categorical=``,
    ``shapes=``). A fault must move the target's mean by ``min_effect`` standard
    deviations, so that there is something to find (except in ``"cancel"``, where
    each fault does and both together do not).

    Args:
        kind: one of :data:`FAULT_KINDS`.
        seed: makes the network, the fault and the runs reproducible.
        n_variables: the network's size.
        rows: units per run.
        nonlinear: the share of non-linear transforms.
        branches: the chance of a router.
        min_effect: the smallest effect of a fault on the target's mean.
        network: further options of :func:`make_network`.

    Returns:
        The case, or ``None`` when the network has no fault of this kind that moves
        the target enough (for example no router for ``"branch"``).

    Raises:
        ValueError: an unknown kind.
    """
    if kind not in FAULT_KINDS:
        msg = f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}"
        raise ValueError(msg)
    net = make_network(n_variables, nonlinear=nonlinear, branches=branches, seed=seed, **network)
    rng = np.random.default_rng(seed)

    def offset(name: str) -> Fault:
        return Fault(name, offset=0.6)

    def scaled(name: str) -> Fault:
        return Fault(name, scale=1.5)

    def halved(name: str) -> Fault:
        return Fault(name, scale=0.5)

    def threshold(name: str) -> Fault:
        return Fault(name, threshold=0.8)

    def filter_threshold(name: str) -> Fault:
        # Drop far more (or, for a strict filter, far fewer) units.
        return Fault(name, threshold=0.5 if net.process(name).threshold < -0.25 else -1.5)

    def join_op(name: str) -> Fault:
        ops = [o for o in _JOIN_OPS if o != net.process(name).op]
        return Fault(name, op=ops[int(rng.integers(len(ops)))])

    def agg_op(name: str) -> Fault:
        ops = [o for o in _AGG_OPS if o != net.process(name).op]
        return Fault(name, op=ops[int(rng.integers(len(ops)))])

    def reweighted(name: str) -> Fault:
        # Most units move to the category that was the rarest.
        probs = np.asarray(net.process(name).probs)
        new = np.full(len(probs), 0.15)
        new[int(np.argmin(probs))] = 1.0 - 0.15 * (len(probs) - 1)
        return Fault(name, probs=tuple(float(x) for x in new))

    one = {
        "mechanism": ("transform", "linear", offset),
        "input": ("source", "any", scaled),
        "nonlinear": ("transform", "nonlinear", offset),
        "gain": ("transform", "any", halved),
        "branch": ("router", "any", threshold),
        "filter": ("filter", "any", filter_threshold),
        "join": ("join", "any", join_op),
        "aggregate": ("aggregate", "any", agg_op),
        "parameter": ("parameter", "any", scaled),
        "category": ("category", "any", reweighted),
    }
    picks: list[Fault | None]
    if kind in one:
        pkind, shape, make = one[kind]
        picks = [_pick_fault(net, pkind, shape, rng, make, min_effect)]  # type: ignore[arg-type]
    elif kind == "two":
        picks = [
            _pick_fault(net, "transform", "any", rng, offset, min_effect),
            _pick_fault(net, "source", "any", rng, scaled, min_effect),
        ]
    elif kind == "two-mid":
        first = _pick_fault(net, "transform", "any", rng, offset, min_effect)
        second = None
        if first is not None:
            second = _pick_fault(
                net, "transform", "any", rng, halved, min_effect, exclude=[first.process]
            )
        picks = [first, second]
    elif kind == "cancel":
        pair = _cancelling(net, rng, min_effect)
        picks = list(pair) if pair else [None]
    else:  # none
        picks = []
    if any(p is None for p in picks):
        return None
    faults = tuple(p for p in picks if p is not None)
    before = net.sample(rows, seed=1000 + seed)
    after = net.sample(rows, seed=2000 + seed, faults=faults)
    return FaultCase(net, faults, before, after, kind)


def random_case(
    seed: int,
    *,
    rows: int = 2000,
    kinds: Sequence[FaultKind] = FAULT_KINDS,
    min_effect: float = 0.25,
    tries: int = 20,
) -> FaultCase:
    """Draw a broad case: a random network size, mix of mechanism families and kind.

    The network has 10 to 30 variables, a random share of non-linear transforms of
    every shape in :data:`SHAPES`, and random chances of routers, filters, joins and
    aggregations, one or two parameters and possibly a categorical source; the kind is
    drawn from ``kinds``. Draws that have no fault of the kind are redrawn.

    Args:
        seed: makes the case reproducible.
        rows: units per run.
        kinds: the kinds to draw from.
        min_effect: the smallest effect of a fault on the target's mean.
        tries: how many draws to try before giving up.

    Raises:
        ValueError: no draw had a fault of the drawn kinds.
    """
    rng = np.random.default_rng([seed, 12])
    for _ in range(tries):
        kind = kinds[int(rng.integers(len(kinds)))]
        # The family a kind needs is always likely enough to be drawn.
        floor = {"branch": "branches", "filter": "filters", "join": "joins"}
        floor["aggregate"] = "aggregates"
        shares = {
            "branches": float(rng.uniform(0.0, 0.25)),
            "filters": float(rng.uniform(0.0, 0.2)),
            "joins": float(rng.uniform(0.0, 0.25)),
            "aggregates": float(rng.uniform(0.0, 0.2)),
        }
        if kind in floor:
            shares[floor[kind]] = max(shares[floor[kind]], 0.2)
        case = fault_case(
            kind,
            int(rng.integers(1 << 30)),
            n_variables=int(rng.integers(10, 31)),
            rows=rows,
            nonlinear=float(rng.uniform(0.2, 0.8)),
            parameters=int(rng.integers(1, 3)),
            categorical=int(kind == "category" or rng.random() < 0.3),
            shapes=SHAPES,
            min_effect=min_effect,
            **shares,
        )
        if case is not None:
            return case
    msg = f"no network drawn from seed {seed} had a fault of the kinds {tuple(kinds)}"
    raise ValueError(msg)
