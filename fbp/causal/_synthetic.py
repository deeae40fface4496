"""Synthetic FBP-shaped structural causal models with known faults, for tests and benchmarks.

:func:`make_network` builds a random network of processes: sources (input streams),
parameters (IIPs, constant within a run), transforms (linear or non-linear functions of
the streams they read), routers (a branch: the value goes to ``HIGH`` or ``LOW``, the
other port does not fire and reads as 0, with one 0/1 indicator variable per port) and
one ``Sink`` whose ``OUT`` is the target. The causal graph follows the FBP rule: every
variable a process reads points to every variable it writes.

A :class:`Fault` changes one process between two runs: an input shift at a source, a
new parameter value, a code change in a transform (offset, gain) or a new threshold in
a router. ``network.sample(n, faults=[...])`` draws the "after" data;
:func:`fbp.causal._cases.fault_case` builds whole cases with a known answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import networkx as nx
import numpy as np
import pandas as pd

__all__ = (
    "Fault",
    "Kind",
    "SyntheticNetwork",
    "SyntheticProcess",
    "make_network",
)

Kind = Literal["source", "category", "parameter", "transform", "router", "sink"]
Shape = Literal["linear", "tanh", "square", "relu", "softplus"]
_NONLINEAR: tuple[Shape, ...] = ("tanh", "square", "relu", "softplus")
_LABELS = ("a", "b", "c")


@dataclass(frozen=True, slots=True)
class Fault:
    """A change injected into one process.

    Attributes:
        process: the process that changes.
        offset: added to every value the process writes (sources and parameters:
            to the value; transforms: to the output; routers: to the routed value).
        scale: multiplies the value of a source or parameter, or the deterministic
            part of a transform.
        threshold: a router's new threshold, in units of its input's standard
            deviation (the branch every unit takes changes).
        probs: a categorical source's new category probabilities.
    """

    process: str
    offset: float = 0.0
    scale: float = 1.0
    threshold: float | None = None
    probs: tuple[float, ...] | None = None


@dataclass(frozen=True, slots=True)
class SyntheticProcess:
    """One process of a synthetic network and its mechanism.

    The deterministic part of a transform is ``loc + amp * h(gain * (w . x) + bias)``
    with ``h`` its shape; routers route ``gain * (w . x) + bias`` by ``threshold``.
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
    else:
        out = z
    return out


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

    def target_effect(self, fault: Fault, *, n: int = 20_000, seed: int = 0) -> float:
        """Return how far ``fault`` moves the mean of the target, in target standard deviations."""
        before = self.sample(n, seed=seed)[self.target].to_numpy(dtype=float)
        after = self.sample(n, faults=[fault], seed=seed)[self.target].to_numpy(dtype=float)
        return float((after.mean() - before.mean()) / (before.std() or 1.0))

    def sample(self, n: int, *, faults: Sequence[Fault] = (), seed: int = 0) -> pd.DataFrame:
        """Draw ``n`` units of work, with ``faults`` injected.

        Returns:
            One row per unit, one column per variable; categorical sources are
            pandas ``category`` columns.
        """
        rng = np.random.default_rng(seed)
        by_process = {f.process: f for f in faults}
        unknown = set(by_process) - set(self._by_name)
        if unknown:
            msg = f"faults name unknown processes {sorted(unknown)}"
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


def _linear_input(p: SyntheticProcess, values: dict[str, np.ndarray], n: int) -> np.ndarray:
    z = np.zeros(n)
    for name, w in zip(p.inputs, p.weights, strict=True):
        x = values[name]
        z = z + w * x
    return p.gain * z + p.bias


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
        z = _linear_input(p, values, n)
        det = p.loc + p.amp * _h(p.shape, z)
        values[out[0]] = scale * det + offset + p.noise * rng.standard_normal(n)
    elif p.kind == "router":
        z = _linear_input(p, values, n)
        thr = fault.threshold if fault and fault.threshold is not None else p.threshold
        high = z > thr
        routed = p.loc + p.amp * z + offset + p.noise * rng.standard_normal(n)
        values[out[0]] = np.where(high, routed, 0.0)
        values[out[1]] = high.astype(float)
        values[out[2]] = np.where(high, 0.0, routed)
        values[out[3]] = (~high).astype(float)


def make_network(
    n_variables: int = 20,
    *,
    nonlinear: float = 0.0,
    branches: float = 0.0,
    parameters: int = 0,
    categorical: int = 0,
    seed: int = 0,
) -> SyntheticNetwork:
    """Build a random FBP-shaped network with about ``n_variables`` variables.

    Args:
        n_variables: how many causal variables to aim for (at least 4).
        nonlinear: the share of transforms with a non-linear shape.
        branches: the chance that a new process is a router (4 variables).
        parameters: how many parameter (IIP) roots to add.
        categorical: how many categorical sources to add.
        seed: makes the structure and the mechanisms reproducible.
    """
    if n_variables < 4:
        msg = f"n_variables must be at least 4, got {n_variables}"
        raise ValueError(msg)
    rng = np.random.default_rng(seed)
    # Mechanisms are calibrated on a large draw so that every variable has a
    # comparable scale whatever its depth.
    calib_n = 4000
    calib: dict[str, np.ndarray] = {}
    procs: list[SyntheticProcess] = []
    frontier: list[str] = []  # stream variables nobody reads yet
    streams: list[str] = []
    count = 0

    def add(p: SyntheticProcess) -> None:
        nonlocal count
        procs.append(p)
        _sample_process(p, None, calib, calib_n, rng)
        count += len(p.outputs)

    n_sources = max(2, n_variables // 8)
    for i in range(n_sources):
        name = f"Source{i}"
        add(SyntheticProcess(name, "source", (), (f"{name}.OUT",), loc=float(rng.uniform(1, 3))))
        frontier.append(f"{name}.OUT")
        streams.append(f"{name}.OUT")
    for i in range(categorical):
        name = f"Kind{i}"
        probs = tuple(float(x) for x in rng.dirichlet(np.full(len(_LABELS), 4.0)))
        add(SyntheticProcess(name, "category", (), (f"{name}.OUT",), probs=probs))
        frontier.append(f"{name}.OUT")
        streams.append(f"{name}.OUT")
    params: list[str] = []
    for i in range(parameters):
        name = f"Param{i}"
        add(
            SyntheticProcess(
                name, "parameter", (), (f"{name}.VALUE",), loc=float(rng.uniform(1, 2))
            )
        )
        params.append(f"{name}.VALUE")

    def pick_inputs(k: int) -> list[str]:
        chosen: list[str] = []
        for _ in range(k):
            pool = [v for v in frontier if v not in chosen]
            if not pool or rng.random() > 0.75:
                pool = [v for v in streams[-12:] if v not in chosen]
            if not pool:
                break
            chosen.append(pool[int(rng.integers(len(pool)))])
        for v in chosen:
            if v in frontier:
                frontier.remove(v)
        return chosen

    def weights_for(inputs: Sequence[str]) -> tuple[float, ...]:
        return tuple(float(rng.uniform(0.5, 1.5) * rng.choice([-1.0, 1.0])) for _ in inputs)

    def calibrate(p: SyntheticProcess) -> SyntheticProcess:
        z = _linear_input(replace(p, gain=1.0, bias=0.0), calib, calib_n)
        sd = float(np.std(z)) or 1.0
        return replace(p, gain=1.0 / sd, bias=-float(np.mean(z)) / sd)

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
            frontier.extend([f"{name}.HIGH", f"{name}.LOW"])
            streams.extend([f"{name}.HIGH", f"{name}.LOW"])
            continue
        n_in = int(rng.choice([1, 2, 2, 3]))
        inputs = pick_inputs(n_in)
        if params and rng.random() < 0.3:
            inputs.append(params[int(rng.integers(len(params)))])
        shape: Shape = "linear"
        if rng.random() < nonlinear:
            shape = _NONLINEAR[int(rng.integers(len(_NONLINEAR)))]
        name = f"Step{k}"
        p = SyntheticProcess(
            name,
            "transform",
            tuple(inputs),
            (f"{name}.OUT",),
            weights=weights_for(inputs),
            shape=shape,
            loc=float(rng.uniform(0.5, 2.0)),
            amp=float(rng.uniform(0.8, 1.2)),
            noise=float(rng.uniform(0.3, 0.5)),
        )
        p = calibrate(p)
        add(p)
        frontier.append(f"{name}.OUT")
        streams.append(f"{name}.OUT")
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
    fired_of = {
        o: o + ".fired" for p in procs if p.kind == "router" for o in (p.outputs[0], p.outputs[2])
    }
    for p in procs:
        for src in p.inputs:
            for out in p.outputs:
                graph.add_edge(src, out)
                # A process reading a branch port also sees whether it fired.
                if src in fired_of:
                    graph.add_edge(fired_of[src], out)
    return SyntheticNetwork(graph, "Sink.OUT", tuple(procs))
