"""Fault-localisation cases with a known answer, built on the synthetic networks.

The tests and the benchmark draw their cases here, so that both measure the same thing:
a network, a fault of a given kind that moves the target, and a run before and after.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ._synthetic import Fault, Kind, SyntheticNetwork, make_network

__all__ = ("FAULT_KINDS", "FaultCase", "FaultKind", "fault_case")


FaultKind = Literal["mechanism", "input", "nonlinear", "branch", "two", "none"]
FAULT_KINDS: tuple[FaultKind, ...] = ("mechanism", "input", "nonlinear", "branch", "two", "none")


@dataclass(frozen=True)
class FaultCase:
    """A network, the faults injected into it, and a run before and after them.

    Attributes:
        network: the synthetic network.
        faults: the injected faults (none for a "nothing changed" case).
        before: the reference run.
        after: the run with the faults.
    """

    network: SyntheticNetwork
    faults: tuple[Fault, ...]
    before: pd.DataFrame
    after: pd.DataFrame

    @property
    def truth(self) -> frozenset[str]:
        """Return the processes that were changed."""
        return frozenset(f.process for f in self.faults)


def _pick_fault(
    net: SyntheticNetwork,
    kind: Kind,
    shape: Literal["linear", "nonlinear", "any"],
    rng: np.random.Generator,
    make: Callable[[str], Fault],
    min_effect: float,
) -> Fault | None:
    names = net.names(kind, shape=shape)
    rng.shuffle(names)
    for name in names:
        fault = make(name)
        if abs(net.target_effect(fault, n=4000)) >= min_effect:
            return fault
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
) -> FaultCase | None:
    """Build one fault-localisation case with a known answer.

    Kinds: ``"mechanism"`` (a linear transform's output moves by 0.6, about 1.5 noise
    standard deviations), ``"input"`` (a source scaled by 1.5, the data-shift case of
    the Paleyes et al. experiments), ``"nonlinear"`` (a non-linear transform moves by
    0.6), ``"branch"`` (a router's threshold moves, so units take the other branch),
    ``"two"`` (a transform and a source at once) and ``"none"``. A fault must move the
    target's mean by ``min_effect`` standard deviations, so that there is something
    to find; ``None`` means the network has no such fault of this kind.
    """
    net = make_network(n_variables, nonlinear=nonlinear, branches=branches, seed=seed)
    rng = np.random.default_rng(seed)

    def offset(name: str) -> Fault:
        return Fault(name, offset=0.6)

    def scaled(name: str) -> Fault:
        return Fault(name, scale=1.5)

    def threshold(name: str) -> Fault:
        return Fault(name, threshold=0.8)

    picks: list[Fault | None]
    if kind == "mechanism":
        picks = [_pick_fault(net, "transform", "linear", rng, offset, min_effect)]
    elif kind == "input":
        picks = [_pick_fault(net, "source", "any", rng, scaled, min_effect)]
    elif kind == "nonlinear":
        picks = [_pick_fault(net, "transform", "nonlinear", rng, offset, min_effect)]
    elif kind == "branch":
        picks = [_pick_fault(net, "router", "any", rng, threshold, min_effect)]
    elif kind == "two":
        picks = [
            _pick_fault(net, "transform", "any", rng, offset, min_effect),
            _pick_fault(net, "source", "any", rng, scaled, min_effect),
        ]
    elif kind == "none":
        picks = []
    else:
        msg = f"unknown fault kind {kind!r}; use one of {FAULT_KINDS}"
        raise ValueError(msg)
    if any(p is None for p in picks):
        return None
    faults = tuple(p for p in picks if p is not None)
    before = net.sample(rows, seed=1000 + seed)
    after = net.sample(rows, seed=2000 + seed, faults=faults)
    return FaultCase(net, faults, before, after)
