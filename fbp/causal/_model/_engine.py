"""A vectorised linear structural causal model for fast attribution.

This is the ``method="fast"`` engine behind :func:`fbp.causal.shift`. Each variable is
modelled as dowhy's default would model it (roots: the empirical distribution;
numeric nodes: a linear additive noise model; categorical nodes: a linear probability
model), but fitted in closed form and sampled for many Shapley coalitions at once.

Sampling couples every coalition through common random numbers: one uniform number
per unit and variable picks the noise quantile of both the old and the new mechanism,
so the difference between coalitions reflects the mechanisms, not sampling noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ._stats import lstsq, lstsq_many

__all__ = (
    "Design",
    "Game",
    "NodeModel",
    "fit_node",
    "fit_weighted",
    "fit_weighted_many",
)

_CHUNK_ELEMENTS = 4_000_000


@dataclass(frozen=True, slots=True)
class Design:
    """The feature map of one node: an intercept, numeric parents, one-hot categories.

    Attributes:
        parents: column positions of the parents in the encoded matrix.
        levels: number of categories of each parent (0 for a numeric parent).
    """

    parents: tuple[int, ...]
    levels: tuple[int, ...]

    @property
    def width(self) -> int:
        """Return the number of features, intercept included."""
        return 1 + sum(1 if k == 0 else max(k - 1, 0) for k in self.levels)

    def matrix(self, cols: Sequence[np.ndarray]) -> np.ndarray:
        """Stack the features of parent arrays of a common (broadcastable) shape."""
        parts: list[np.ndarray] = []
        for x, k in zip(cols, self.levels, strict=True):
            if k == 0:
                parts.append(x)
            else:
                parts.extend((x == c).astype(np.float64) for c in range(1, k))
        if not parts:
            return np.ones((1, 1) if not cols else (*cols[0].shape, 1))
        shape = np.broadcast_shapes(*(p.shape for p in parts))
        out = np.empty((*shape, len(parts) + 1))
        out[..., 0] = 1.0
        for j, p in enumerate(parts):
            out[..., j + 1] = p
        return out

    def fit_matrix(self, data: np.ndarray) -> np.ndarray:
        """Return the ``(rows, width)`` design matrix of the encoded ``data``."""
        if not self.parents:
            return np.ones((len(data), 1))
        return self.matrix([data[:, j] for j in self.parents])


def _pick(support: np.ndarray, u: np.ndarray) -> np.ndarray:
    idx = np.minimum((u * len(support)).astype(np.intp), len(support) - 1)
    return support[idx]


@dataclass(frozen=True, slots=True)
class NodeModel:
    """A fitted mechanism of one variable.

    Attributes:
        kind: ``"root"`` (empirical distribution), ``"anm"`` (linear additive noise
            model) or ``"categorical"`` (linear probability model over the codes).
        beta: regression coefficients, ``(width,)`` for an ANM, ``(width, levels)``
            for a categorical node.
        support: sorted values of a root, or sorted residuals of an ANM (empty when
            the model only serves exact means).
        levels: number of categories (0 for a numeric variable).
        center: mean of a numeric root, or of an ANM's residuals.
        freq: category frequencies of a categorical root.
    """

    kind: Literal["root", "anm", "categorical"]
    beta: np.ndarray | None
    support: np.ndarray
    levels: int = 0
    center: float = 0.0
    freq: np.ndarray | None = None

    def predict(self, design: Design, cols: Sequence[np.ndarray]) -> np.ndarray:
        """Return ``features(cols) @ beta`` without materialising the features."""
        beta = self.beta
        if beta is None:  # pragma: no cover - roots have no prediction
            msg = "a root mechanism has no regression"
            raise ValueError(msg)
        out: np.ndarray = np.asarray(beta[0])
        j = 1
        for x, k in zip(cols, design.levels, strict=True):
            if k == 0:
                out = out + (x[..., None] * beta[j] if beta.ndim == 2 else x * beta[j])
                j += 1
                continue
            for c in range(1, k):
                ind = (x == c).astype(np.float64)
                out = out + (ind[..., None] * beta[j] if beta.ndim == 2 else ind * beta[j])
                j += 1
        return out

    def sample(
        self, design: Design | None, cols: Sequence[np.ndarray], u: np.ndarray
    ) -> np.ndarray:
        """Draw values given the parents' values ``cols`` and uniforms ``u``."""
        if self.kind == "root" or design is None:
            picked: np.ndarray = _pick(self.support, u)
            return picked
        pred = self.predict(design, cols)
        if self.kind == "anm":
            drawn: np.ndarray = np.asarray(pred + _pick(self.support, u))
            return drawn
        probs = np.clip(pred, 0.0, None)
        total = probs.sum(axis=-1, keepdims=True)
        k = probs.shape[-1]
        probs = np.where(total > 0, probs / np.where(total > 0, total, 1.0), 1.0 / k)
        cum = np.cumsum(probs, axis=-1)
        codes = (np.broadcast_to(u, cum.shape[:-1])[..., None] > cum).sum(axis=-1)
        out: np.ndarray = np.minimum(codes, k - 1).astype(np.float64)
        return out

    def mean(self, design: Design | None, parent_means: Sequence[np.ndarray]) -> np.ndarray:
        """Return the expected value (a numeric node) or category probabilities.

        ``parent_means`` holds, per parent, its mean (numeric) or its category
        probabilities along the last axis (categorical). Exact for the linear models:
        the expectation of a linear function is the function of the expectations
        (a categorical node's linear probabilities are taken unclipped).
        """
        if self.kind == "root" or design is None:
            if self.levels and self.freq is not None:
                return self.freq
            return np.asarray(self.center)
        beta = self.beta
        assert beta is not None
        out: np.ndarray = np.asarray(beta[0])
        j = 1
        for m, k in zip(parent_means, design.levels, strict=True):
            if k == 0:
                out = out + (m[..., None] * beta[j] if beta.ndim == 2 else m * beta[j])
                j += 1
                continue
            for c in range(1, k):
                pc = m[..., c]
                out = out + (pc[..., None] * beta[j] if beta.ndim == 2 else pc * beta[j])
                j += 1
        if self.kind == "anm":
            return out + self.center
        return out


def fit_node(design: Design, data: np.ndarray, column: int, levels: int) -> NodeModel:
    """Fit the mechanism of ``column`` on the encoded ``data``, for sampling.

    Args:
        design: the node's feature map.
        data: encoded rows (categorical codes as floats).
        column: the node's column.
        levels: the node's number of categories (0 if numeric).
    """
    y = data[:, column]
    if not design.parents:
        freq = np.bincount(y.astype(np.intp), minlength=levels) / len(y) if levels else None
        return NodeModel("root", None, np.sort(y), levels, float(np.mean(y)), freq)
    f = design.fit_matrix(data)
    if levels:
        onehot = (y[:, None] == np.arange(levels)[None, :]).astype(np.float64)
        return NodeModel("categorical", lstsq(f, onehot), np.empty(0), levels)
    beta = lstsq(f, y)
    resid = y - f @ beta
    return NodeModel("anm", beta, np.sort(resid), 0, float(np.mean(resid)))


def fit_weighted(f: np.ndarray | None, y: np.ndarray, w: np.ndarray, levels: int) -> NodeModel:
    """Fit a mechanism for exact means, with bootstrap weights ``w`` on the rows.

    Args:
        f: the design matrix (``None`` for a root).
        y: the node's values (one column per category if categorical).
        w: a non-negative weight per row.
        levels: the node's number of categories (0 if numeric).
    """
    total = float(w.sum())
    if f is None:
        if levels:
            return NodeModel("root", None, np.empty(0), levels, 0.0, (w @ y) / total)
        return NodeModel("root", None, np.empty(0), 0, float(w @ y) / total)
    beta = lstsq(f, y, w)
    if levels:
        return NodeModel("categorical", beta, np.empty(0), levels)
    # With an intercept the weighted residuals average to zero.
    return NodeModel("anm", beta, np.empty(0), 0, 0.0)


def fit_weighted_many(
    f: np.ndarray | None, y: np.ndarray, w: np.ndarray, levels: int
) -> list[NodeModel]:
    """:func:`fit_weighted` for each row of the weights ``w`` (B, rows), in one pass."""
    totals = w.sum(axis=1)
    if f is None:
        means = (w @ y) / (totals[:, None] if y.ndim == 2 else totals)
        if levels:
            return [NodeModel("root", None, np.empty(0), levels, 0.0, m) for m in means]
        return [NodeModel("root", None, np.empty(0), 0, float(m)) for m in means]
    betas = lstsq_many(f, y, w)
    kind: Literal["anm", "categorical"] = "categorical" if levels else "anm"
    return [NodeModel(kind, beta, np.empty(0), levels) for beta in betas]


@dataclass(frozen=True)
class Game:
    """The attribution game of a distribution change.

    Players are the variables whose mechanism changed. A coalition ``S`` is the model
    in which the players in ``S`` use their "after" mechanism and every other variable
    its "before" one (or the pooled one, if it did not change).

    Attributes:
        order: positions of the target's ancestors, in topological order.
        designs: the feature map of every position.
        shared: mechanisms of the variables that did not change.
        old: "before" mechanisms of the players.
        new: "after" mechanisms of the players.
        players: positions of the players.
        target: position of the target.
    """

    order: tuple[int, ...]
    designs: Mapping[int, Design]
    shared: Mapping[int, NodeModel]
    old: Mapping[int, NodeModel]
    new: Mapping[int, NodeModel]
    players: tuple[int, ...]
    target: int

    def target_means(self, masks: np.ndarray) -> np.ndarray:
        """Return the exact mean of the target under each coalition in ``masks``."""
        player_col = {p: j for j, p in enumerate(self.players)}
        means: dict[int, np.ndarray] = {}
        for pos in self.order:
            design = self.designs[pos]
            design_or_none = design if design.parents else None
            pm = [means[p] for p in design.parents]
            if pos in player_col:
                old = self.old[pos].mean(design_or_none, pm)
                new = self.new[pos].mean(design_or_none, pm)
                m = masks[:, player_col[pos]]
                if self.old[pos].levels:
                    m = m[:, None]
                means[pos] = np.where(m, new, old)
            else:
                means[pos] = self.shared[pos].mean(design_or_none, pm)
        out = means[self.target]
        return np.broadcast_to(out, (len(masks),)).astype(np.float64)

    def target_samples(self, masks: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Return target samples, one row per coalition in ``masks``.

        Args:
            masks: ``(coalitions, players)`` booleans.
            u: ``(len(order), samples)`` uniforms shared by every coalition.
        """
        n = u.shape[1]
        chunk = max(1, _CHUNK_ELEMENTS // n)
        rows = [self._simulate(masks[i : i + chunk], u) for i in range(0, len(masks), chunk)]
        return np.vstack(rows) if rows else np.empty((0, n))

    def _simulate(self, masks: np.ndarray, u: np.ndarray) -> np.ndarray:
        player_col = {p: j for j, p in enumerate(self.players)}
        values: dict[int, np.ndarray] = {}
        for i, pos in enumerate(self.order):
            design = self.designs[pos]
            design_or_none = design if design.parents else None
            cols = [values[p] for p in design.parents]
            ui = u[i][None, :]
            if pos in player_col:
                old = self.old[pos].sample(design_or_none, cols, ui)
                new = self.new[pos].sample(design_or_none, cols, ui)
                values[pos] = np.where(masks[:, player_col[pos]][:, None], new, old)
            else:
                values[pos] = self.shared[pos].sample(design_or_none, cols, ui)
        out = values[self.target]
        return np.broadcast_to(out, (len(masks), u.shape[1]))
