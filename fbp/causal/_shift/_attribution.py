"""The Shapley game of a distribution change, fitted and evaluated fast.

The players are the variables whose mechanism changed; a coalition's value is the
change of the target when exactly those players use their "after" mechanism. For the
mean of a linear model the value is exact in closed form (:meth:`Game.target_means`),
and a bootstrap replicate only reweighs the rows of designs built once. Other measures
sample the model, all coalitions at once with common random numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._model._engine import Game, NodeModel, fit_node, fit_weighted, fit_weighted_many
from ._problem import Problem
from ._shapley import shapley_values

__all__ = ("MeanModel", "Rows", "attribute", "mean_game", "sampled_game")


def _game(
    pb: Problem,
    shared: dict[int, NodeModel],
    olds: dict[int, NodeModel],
    news: dict[int, NodeModel],
    players: Sequence[int],
) -> Game:
    """The game over every node of the problem, its output last."""
    n = len(pb.nodes)
    return Game(tuple(range(n)), pb.designs, shared, olds, news, tuple(players), n - 1)


def sampled_game(pb: Problem, old: np.ndarray, new: np.ndarray, players: Sequence[int]) -> Game:
    """Fit the game for sampling (kl or a custom measure) on rows ``old`` and ``new``."""
    pooled = np.vstack([old, new])
    play = set(players)
    shared: dict[int, NodeModel] = {}
    olds: dict[int, NodeModel] = {}
    news: dict[int, NodeModel] = {}
    for i in range(len(pb.nodes)):
        d = pb.designs[i]
        if i in play:
            olds[i] = fit_node(d, old, i, pb.levels[i])
            news[i] = fit_node(d, new, i, pb.levels[i])
        else:
            shared[i] = fit_node(d, pooled, i, pb.levels[i])
    return _game(pb, shared, olds, news, players)


@dataclass(frozen=True)
class Rows:
    """Design matrices and targets of every node on the attribution rows, built once."""

    f_old: list[np.ndarray | None]
    y_old: list[np.ndarray]
    f_new: list[np.ndarray | None]
    y_new: list[np.ndarray]
    f_pool: list[np.ndarray | None] = field(default_factory=list)
    y_pool: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        for fo, fn, yo, yn in zip(self.f_old, self.f_new, self.y_old, self.y_new, strict=True):
            self.f_pool.append(None if fo is None or fn is None else np.vstack([fo, fn]))
            self.y_pool.append(np.concatenate([yo, yn]))

    @classmethod
    def build(cls, pb: Problem, old: np.ndarray, new: np.ndarray) -> Rows:
        out: tuple[list[Any], list[Any], list[Any], list[Any]] = ([], [], [], [])
        for i in range(len(pb.nodes)):
            d = pb.designs[i]
            for data, fs, ys in ((old, out[0], out[1]), (new, out[2], out[3])):
                fs.append(d.fit_matrix(data) if d.parents else None)
                y = data[:, i]
                if pb.levels[i]:
                    y = (y[:, None] == np.arange(pb.levels[i])[None, :]).astype(np.float64)
                ys.append(y)
        return cls(*out)


def mean_game(
    pb: Problem, rows: Rows, players: Sequence[int], w_old: np.ndarray, w_new: np.ndarray
) -> Game:
    """Fit the game for exact means, with bootstrap weights on the rows."""
    play = set(players)
    shared: dict[int, NodeModel] = {}
    olds: dict[int, NodeModel] = {}
    news: dict[int, NodeModel] = {}
    w_pool = np.concatenate([w_old, w_new])
    for i in range(len(pb.nodes)):
        fo, fn, yo, yn, k = rows.f_old[i], rows.f_new[i], rows.y_old[i], rows.y_new[i], pb.levels[i]
        if i in play:
            olds[i] = fit_weighted(fo, yo, w_old, k)
            news[i] = fit_weighted(fn, yn, w_new, k)
        else:
            shared[i] = fit_weighted(rows.f_pool[i], rows.y_pool[i], w_pool, k)
    return _game(pb, shared, olds, news, players)


def attribute(
    game: Game,
    measure: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
    num_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Return the Shapley value of every player; ``measure=None`` means the exact mean."""
    k = len(game.players)
    if k == 0:
        return np.zeros(0)
    if measure is None:
        base_mean = float(game.target_means(np.zeros((1, k), dtype=bool))[0])

        def mean_value(masks: np.ndarray) -> np.ndarray:
            return game.target_means(masks) - base_mean

        return shapley_values(mean_value, k, rng=rng, exact_max=12, n_permutations=256)
    u = rng.random((len(game.order), num_samples))
    base = game.target_samples(np.zeros((1, k), dtype=bool), u)[0]
    fn = measure

    def value(masks: np.ndarray) -> np.ndarray:
        out = np.zeros(len(masks))
        nonempty = masks.any(axis=1)
        if nonempty.any():
            out[nonempty] = fn(base, game.target_samples(masks[nonempty], u))
        return out

    return shapley_values(value, k, rng=rng)


@dataclass(frozen=True)
class MeanModel:
    """Every node's "before", "after" and pooled mechanism, for exact target means.

    A coalition is given by two masks over the nodes: a node uses its "after"
    mechanism where ``new`` is set, its "before" one where ``old`` is set, and the
    pooled one otherwise (an unchanged node). One vectorised pass evaluates many
    coalitions. Only the nodes that may be players get "before" and "after" fits.
    """

    pb: Problem
    shared: tuple[NodeModel, ...]
    old: tuple[NodeModel, ...]
    new: tuple[NodeModel, ...]

    @classmethod
    def fit(
        cls,
        pb: Problem,
        rows: Rows,
        w_old: np.ndarray,
        w_new: np.ndarray,
        candidates: Sequence[int],
    ) -> MeanModel:
        """Fit the mechanisms with bootstrap weights on the rows.

        Every node gets its pooled mechanism; ``candidates`` (the nodes that may be
        players) also their "before" and "after" ones.
        """
        w_pool = np.concatenate([w_old, w_new])
        shared, olds, news = [], [], []
        cand = set(candidates)
        for i in range(len(pb.nodes)):
            k = pb.levels[i]
            pooled = fit_weighted(rows.f_pool[i], rows.y_pool[i], w_pool, k)
            shared.append(pooled)
            if i in cand:
                olds.append(fit_weighted(rows.f_old[i], rows.y_old[i], w_old, k))
                news.append(fit_weighted(rows.f_new[i], rows.y_new[i], w_new, k))
            else:
                olds.append(pooled)
                news.append(pooled)
        return cls(pb, tuple(shared), tuple(olds), tuple(news))

    @classmethod
    def fit_many(
        cls,
        pb: Problem,
        rows: Rows,
        w_old: np.ndarray,
        w_new: np.ndarray,
        candidates: Sequence[int],
    ) -> list[MeanModel]:
        """:meth:`fit` for each row of the weights (bootstrap replicates), in one pass."""
        w_pool = np.hstack([w_old, w_new])
        b = len(w_old)
        shared: list[list[NodeModel]] = [[] for _ in range(b)]
        olds: list[list[NodeModel]] = [[] for _ in range(b)]
        news: list[list[NodeModel]] = [[] for _ in range(b)]
        cand = set(candidates)
        for i in range(len(pb.nodes)):
            k = pb.levels[i]
            pooled = fit_weighted_many(rows.f_pool[i], rows.y_pool[i], w_pool, k)
            if i in cand:
                before = fit_weighted_many(rows.f_old[i], rows.y_old[i], w_old, k)
                after = fit_weighted_many(rows.f_new[i], rows.y_new[i], w_new, k)
            else:
                before = after = pooled
            for r in range(b):
                shared[r].append(pooled[r])
                olds[r].append(before[r])
                news[r].append(after[r])
        return [cls(pb, tuple(shared[r]), tuple(olds[r]), tuple(news[r])) for r in range(b)]

    def means(self, new: np.ndarray, old: np.ndarray) -> np.ndarray:
        """Return the target's mean under each coalition (rows of ``new``/``old``)."""
        pb = self.pb
        values: list[np.ndarray] = []
        for i in range(len(pb.nodes)):
            design = pb.designs[i]
            d = design if design.parents else None
            pm = [values[p] for p in design.parents]
            m_shared = self.shared[i].mean(d, pm)
            m_old = self.old[i].mean(d, pm)
            m_new = self.new[i].mean(d, pm)
            use_new, use_old = new[:, i], old[:, i]
            if pb.levels[i]:
                use_new, use_old = use_new[:, None], use_old[:, None]
            values.append(np.where(use_new, m_new, np.where(use_old, m_old, m_shared)))
        out = values[-1]
        return np.broadcast_to(out, (len(new),)).astype(np.float64)

    def shapley(self, players: Sequence[int], rng: np.random.Generator) -> np.ndarray:
        """Return the Shapley values of ``players`` (unchanged nodes pooled)."""
        k, n = len(players), len(self.pb.nodes)
        if k == 0:
            return np.zeros(0)
        cols = np.asarray(players, dtype=np.intp)

        def value(masks: np.ndarray) -> np.ndarray:
            new = np.zeros((len(masks) + 1, n), dtype=bool)
            old = np.zeros_like(new)
            new[1:, cols] = masks
            old[1:, cols] = ~masks
            old[0, cols] = True
            v = self.means(new, old)
            out: np.ndarray = v[1:] - v[0]
            return out

        return shapley_values(value, k, rng=rng, exact_max=12, n_permutations=256)
