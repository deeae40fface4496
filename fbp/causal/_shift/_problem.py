"""A shift question checked and encoded: the target's ancestors and their designs."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

from .._model._engine import Design
from .._model._fit import FittedModel
from .._tables._frames import Encoded, encode
from .._tables._graph import CausalGraph

__all__ = ("Problem", "problem", "subsample", "subsample_index")


@dataclass(frozen=True)
class Problem:
    """A shift question, checked and encoded.

    Attributes:
        cg: the causal graph.
        target: the variable explained.
        nodes: the target's ancestors (and itself, last), in topological order.
        enc: both runs encoded over ``nodes``.
        levels: the number of categories of each node (0 if numeric).
        designs: the feature map of each node's mechanism, by position.
    """

    cg: CausalGraph
    target: str
    nodes: tuple[str, ...]
    enc: Encoded
    levels: tuple[int, ...]
    designs: dict[int, Design]


def problem(
    graph_or_model: nx.DiGraph | FittedModel,
    before: pd.DataFrame,
    after: pd.DataFrame,
    target: str,
) -> tuple[Problem, FittedModel | None]:
    """Check the question and encode both runs over the target's ancestors.

    Raises:
        CausalModelError: not a graph or model, unknown target, unusable frames, or
            too few rows for a mechanism's coefficients.
    """
    model = graph_or_model if isinstance(graph_or_model, FittedModel) else None
    if model is not None:
        cg = model.causal_graph
    elif isinstance(graph_or_model, nx.DiGraph):
        cg = CausalGraph.from_networkx(graph_or_model)
    else:
        msg = (
            f"shift() needs a networkx.DiGraph or a FittedModel, got "
            f"{type(graph_or_model).__name__}"
        )
        raise CausalModelError(msg)
    target = cg.require(target)
    nodes = cg.ancestors(target)
    enc = encode([before, after], ["before", "after"], nodes)
    pos = {n: i for i, n in enumerate(nodes)}
    levels = tuple(len(enc.categories.get(n, ())) for n in nodes)
    designs: dict[int, Design] = {}
    for i, node in enumerate(nodes):
        parents = tuple(pos[p] for p in cg.parents(node))
        design = Design(parents, tuple(levels[p] for p in parents))
        designs[i] = design
        need = design.width + 2
        short = [
            name for name, a in zip(("before", "after"), enc.arrays, strict=True) if len(a) < need
        ]
        if short:
            msg = (
                f"too few rows for {node!r}: its model has {design.width} coefficients, so "
                f"{short[0]} needs at least {need} rows; trace a longer run"
            )
            raise CausalModelError(msg)
    return Problem(cg, target, nodes, enc, levels, designs), model


def subsample(a: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Return at most ``n`` rows of ``a``, drawn without replacement, in their order."""
    if len(a) <= n:
        return a
    return a[np.sort(rng.choice(len(a), size=n, replace=False))]


def subsample_index(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Return the sorted positions of at most ``m`` of ``n`` rows, drawn without replacement."""
    if n <= m:
        return np.arange(n)
    return np.sort(rng.choice(n, size=m, replace=False))
