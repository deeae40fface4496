"""Noise reconstruction and batched propagation through a fitted dowhy SCM.

A structural causal model writes every variable as a function of its parents and its
own noise. Reconstructing the noise of observed rows (``estimate_noise``) and pushing
noise back through the mechanisms (``evaluate``) are the two moves behind anomaly
attribution and interventions. Here they run on whole columns, so thousands of
Shapley coalitions or intervention samples cost one ``evaluate`` call per variable
instead of one call per coalition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

__all__ = (
    "Intervention",
    "draw_noise",
    "parents_of",
    "propagate",
    "reconstruct_noise",
    "require_invertible",
)

Intervention = Callable[[np.ndarray], np.ndarray]


def parents_of(scm: Any, node: str) -> list[str]:
    """Return the parents of ``node`` in the order its mechanism was fitted with."""
    from dowhy.graph import get_ordered_predecessors

    return list(get_ordered_predecessors(scm.graph, node))


def require_invertible(scm: Any, nodes: Sequence[str], what: str) -> None:
    """Raise unless every non-root mechanism of ``nodes`` can reconstruct its noise."""
    from dowhy.gcm.causal_mechanisms import InvertibleFunctionalCausalModel

    bad = [
        n
        for n in nodes
        if scm.graph.in_degree(n) > 0
        and not isinstance(scm.causal_mechanism(n), InvertibleFunctionalCausalModel)
    ]
    if bad:
        msg = (
            f"{what} needs invertible mechanisms (additive noise models) for every ancestor "
            f"of the target, but {bad[:3]} use {type(scm.causal_mechanism(bad[0])).__name__}; "
            "categorical variables are not invertible: leave them out of the graph, or "
            "project them to a number"
        )
        raise CausalModelError(msg)


def draw_noise(scm: Any, nodes: Sequence[str], n: int) -> dict[str, np.ndarray]:
    """Draw ``n`` noise samples per node (a root's noise is its value)."""
    out = {}
    for node in nodes:
        mech = scm.causal_mechanism(node)
        if scm.graph.in_degree(node) == 0:
            out[node] = np.asarray(mech.draw_samples(n)).reshape(-1)
        else:
            out[node] = np.asarray(mech.draw_noise_samples(n)).reshape(-1)
    return out


def reconstruct_noise(scm: Any, nodes: Sequence[str], rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return the noise of each observed row, node by node (roots: their values)."""
    out = {}
    for node in nodes:
        if scm.graph.in_degree(node) == 0:
            out[node] = rows[node].to_numpy().reshape(-1)
            continue
        parents = rows[parents_of(scm, node)].to_numpy()
        noise = scm.causal_mechanism(node).estimate_noise(rows[node].to_numpy(), parents)
        out[node] = np.asarray(noise).reshape(-1)
    return out


def propagate(
    scm: Any,
    nodes: Sequence[str],
    noise: Mapping[str, np.ndarray],
    interventions: Mapping[str, Intervention] | None = None,
) -> dict[str, np.ndarray]:
    """Compute every node from the noise, in topological order ``nodes``.

    Args:
        scm: a fitted dowhy structural causal model.
        nodes: the nodes to compute, parents before children.
        noise: one array per node, all of one length.
        interventions: functions that replace a node's natural value, as in
            ``gcm.interventional_samples``.
    """
    values: dict[str, np.ndarray] = {}
    for node in nodes:
        if scm.graph.in_degree(node) == 0:
            v = np.asarray(noise[node])
        else:
            parents = np.column_stack([values[p] for p in parents_of(scm, node)])
            v = np.asarray(scm.causal_mechanism(node).evaluate(parents, noise[node])).reshape(-1)
        if interventions and node in interventions:
            v = np.broadcast_to(np.asarray(interventions[node](v)), v.shape).copy()
        values[node] = v
    return values
