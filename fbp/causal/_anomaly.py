"""Why particular units of work are anomalous at a target.

The method is dowhy's ``attribute_anomalies`` (Janzing et al., "Causal structure-based
root cause analysis of outliers", ICML 2022): reconstruct the noise of every ancestor
for the anomalous row, then split the row's information-theoretic anomaly score
``-log P(g(X) >= g(x))`` (``g``: the median-CDF quantile score of the target) between
the ancestors with Shapley values, where a coalition keeps its members' noise at the
row's values and redraws everybody else's. ``method="fast"`` evaluates every coalition
in one batched pass through the model's own mechanisms; ``method="dowhy"`` calls
``gcm.attribute_anomalies``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

from ._checks import check_fraction, check_method, require_fitted
from ._model._fit import FittedModel, seeded
from ._model._noise import draw_noise, propagate, reconstruct_noise, require_invertible
from ._shift._ranking import Answer, Ranking, fmt, html, normal_interval, rank, table
from ._shift._shapley import shapley_values
from ._tables._frames import encode, to_dowhy_frame

__all__ = ("AnomalyResult", "anomaly", "worst")


class _Scorer:
    """dowhy's ``MedianCDFQuantileScorer`` and IT score, by binary search.

    ``g(x) = 1 - 2 min(P(X > x) + P(X = x)/2, P(X < x) + P(X = x)/2)`` with ``x`` counted
    as part of ``X``, and ``IT(x) = -log((#{g(X) >= g(x)} + 0.5) / (n + 0.5))``: the same
    numbers as dowhy, in ``O(log n)`` per value instead of ``O(n)``.
    """

    def __init__(self, samples: np.ndarray) -> None:
        self.sorted = np.sort(np.asarray(samples, dtype=float))
        self.n = len(self.sorted)
        self.scores = np.sort(self.g(self.sorted))

    def g(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        smaller = np.searchsorted(self.sorted, x, side="left")
        greater = self.n - np.searchsorted(self.sorted, x, side="right")
        equal = self.n - smaller - greater + 1
        low = smaller + equal / 2.0
        high = greater + equal / 2.0
        out: np.ndarray = 1.0 - 2.0 * np.minimum(low, high) / (self.n + 1)
        return out

    def tail(self, scores: np.ndarray) -> np.ndarray:
        """Return ``P(g(X) >= s)`` for each score (with dowhy's +0.5 smoothing)."""
        at_least = len(self.scores) - np.searchsorted(self.scores, scores, side="left")
        out: np.ndarray = (at_least + 0.5) / (len(self.scores) + 0.5)
        return out

    def it_score(self, x: np.ndarray) -> np.ndarray:
        return -np.log(self.tail(self.g(x)))  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AnomalyResult(Answer):
    """Why the given rows are anomalous at the target.

    Attributes:
        target: the variable explained.
        method: ``"fast"`` or ``"dowhy"``.
        ranking: ancestors ranked by their mean contribution over the rows, with
            bootstrap intervals (model refitted on resampled training rows).
        rows: the labels of the rows explained.
        scores: each row's IT anomaly score at the target (the sum of its
            contributions).
        row_values: ``(rows, nodes)`` contributions per row, columns as ``nodes``.
        row_ci_low: lower interval ends of ``row_values`` (``None`` without bootstrap).
        row_ci_high: upper interval ends.
        nodes: the ancestors, the columns of ``row_values``.
        confidence: coverage of the intervals.
        n_bootstrap: bootstrap replicates.
        seed: the seed that reproduces this result.
        timings: seconds per phase.
    """

    target: str
    method: str
    ranking: Ranking
    rows: tuple[Any, ...]
    scores: tuple[float, ...]
    row_values: np.ndarray
    row_ci_low: np.ndarray | None
    row_ci_high: np.ndarray | None
    nodes: tuple[str, ...]

    def top(self, n: int = 3) -> tuple[str, ...]:
        """Return the ``n`` variables with the largest mean contributions."""
        return self.ranking.nodes[:n]

    def row_top(self, row: int, n: int = 3) -> tuple[str, ...]:
        """Return the ``n`` largest contributors to the ``row``-th row's anomaly."""
        vals = self.row_values[row]
        order = sorted(range(len(vals)), key=lambda j: (-abs(vals[j]), self.nodes[j]))
        return tuple(self.nodes[j] for j in order[:n])

    def table(self, top: int = 10) -> str:
        """Return the ranking (mean over the rows) and each row's top causes as text."""
        text = table(self._header(), self.ranking, top=top, unit="contribution", tested=False)
        return text + "\n".join(["", "per row", *self._row_lines(top)])

    def _repr_html_(self) -> str:
        from .._core._html import html_table

        rows = html_table(
            "per row: each row's anomaly score and its largest contributions",
            ("row", "score", "largest contributions"),
            (
                (repr(label), fmt(self.scores[i], False), self._causes(i))
                for i, label in enumerate(self.rows[:10])
            ),
        )
        ranking = html(self._header(), self.ranking, top=10, unit="contribution", tested=False)
        return ranking + rows

    def plot(self, path: str | Path | None = None, *, top: int = 10) -> Any:
        """Draw the ranking (needs the ``plot`` extra): the ``top`` contributions to the
        anomaly score, mean over the rows, with their intervals, and per process.

        Returns the matplotlib ``Figure``; given ``path``, also saves it there.
        """
        from ._plot import plot_ranking

        title = f"anomaly of {self.target} in {len(self.rows)} row(s): mean contribution"
        return plot_ranking(title, self.ranking, unit="contribution", top=top, path=path)

    def _causes(self, i: int) -> str:
        return ", ".join(
            f"{n} {fmt(float(self.row_values[i][self.nodes.index(n)]))}" for n in self.row_top(i)
        )

    def _row_lines(self, top: int) -> list[str]:
        return [
            f"row {label!r}: score {fmt(self.scores[i], False)}: {self._causes(i)}"
            for i, label in enumerate(self.rows[:top])
        ]

    def _header(self) -> str:
        return (
            f"anomaly of {self.target!r} in {len(self.rows)} row(s) (method={self.method}): "
            f"contributions to the IT anomaly score, mean over rows; {self.intervals_note()}"
        )



def _frame(rows: pd.DataFrame, nodes: Sequence[str], what: str) -> pd.DataFrame:
    encode([rows], [what], nodes, min_rows=1)
    return to_dowhy_frame(rows, nodes)


def _linear_map(
    scm: Any, nodes: Sequence[str], target: str, probe: dict[str, np.ndarray]
) -> tuple[float, np.ndarray] | None:
    """Return ``(c0, c)`` with ``target = c0 + c @ noise`` if the model is linear in its noise.

    Linear additive noise models (the default) make the target an affine function of
    the ancestors' noise. The map is read off by propagating the zero noise and each
    unit noise, then verified on ``probe`` noise; any other model returns ``None``.
    """
    k = len(nodes)
    if any(np.asarray(probe[n]).dtype == object for n in nodes):
        return None
    basis = {n: np.vstack([np.zeros(k), np.eye(k)])[:, j] for j, n in enumerate(nodes)}
    t = propagate(scm, nodes, basis)[target].astype(float)
    c0, c = float(t[0]), t[1:] - t[0]
    matrix = np.vstack([np.asarray(probe[n], dtype=float) for n in nodes])
    exact = propagate(scm, nodes, probe)[target].astype(float)
    approx = c0 + c @ matrix
    if not np.allclose(approx, exact, rtol=1e-7, atol=1e-7 * (1.0 + float(np.abs(exact).max()))):
        return None
    return c0, c


def _fast(
    scm: Any, nodes: Sequence[str], target: str, rows: pd.DataFrame, num_samples: int, seed: int
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    with seeded(seed):
        dist = draw_noise(scm, nodes, num_samples)
    scorer = _Scorer(propagate(scm, nodes, dist)[target])
    anomal = reconstruct_noise(scm, nodes, rows)
    probe = {n: np.concatenate([dist[n][:32], anomal[n]]) for n in nodes}
    linear = _linear_map(scm, nodes, target, probe)
    matrix = np.vstack([np.asarray(dist[n], dtype=float) for n in nodes]) if linear else None
    k = len(nodes)
    out = np.zeros((len(rows), k))
    for i in range(len(rows)):
        x_score = scorer.g(rows[target].to_numpy(dtype=float)[i : i + 1])[0]

        def targets(masks: np.ndarray, i: int = i) -> np.ndarray:
            c = len(masks)
            if linear is not None and matrix is not None:
                # Affine in the noise: every coalition's samples in one matrix product.
                c0, coef = linear
                fixed = np.array([float(anomal[n][i]) for n in nodes]) * coef
                kept: np.ndarray = c0 + masks @ fixed
                return kept[:, None] + (~masks * coef) @ matrix  # type: ignore[no-any-return]
            noise = {}
            for j, node in enumerate(nodes):
                col = np.tile(dist[node], c)
                col[np.repeat(masks[:, j], num_samples)] = anomal[node][i]
                noise[node] = col
            return propagate(scm, nodes, noise)[target].reshape(c, num_samples)

        def value(masks: np.ndarray, x_score: float = x_score) -> np.ndarray:
            t = targets(masks)
            hits = np.sum(scorer.g(t.ravel()).reshape(t.shape) >= x_score, axis=1)
            return np.log((hits + 0.5) / (num_samples + 0.5))  # type: ignore[no-any-return]

        out[i] = _batched_shapley(value, k, rng, max(1, 400_000 // num_samples))
    return out


def _batched_shapley(value: Any, k: int, rng: np.random.Generator, chunk: int) -> np.ndarray:
    def batched(masks: np.ndarray) -> np.ndarray:
        return np.concatenate([value(masks[s : s + chunk]) for s in range(0, len(masks), chunk)])

    return shapley_values(batched, k, rng=rng, n_permutations=32)


def _dowhy(
    scm: Any, nodes: Sequence[str], target: str, rows: pd.DataFrame, num_samples: int, seed: int
) -> np.ndarray:
    from dowhy import gcm
    from dowhy.gcm.shapley import ShapleyConfig

    with seeded(seed):
        attr = gcm.attribute_anomalies(
            scm,
            target,
            rows,
            num_distribution_samples=num_samples,
            shapley_config=ShapleyConfig(n_jobs=1),
        )
    return np.column_stack([np.asarray(attr[n], dtype=float) for n in nodes])


def anomaly(
    model: FittedModel,
    rows: pd.DataFrame,
    target: str,
    *,
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 20,
    num_samples: int = 2000,
    method: Literal["fast", "dowhy"] = "fast",
) -> AnomalyResult:
    """Attribute the anomaly of ``target`` in each of ``rows`` to its ancestors.

    Args:
        model: a fitted model whose ancestors of ``target`` are invertible (additive
            noise models; the default linear mechanisms are).
        rows: the anomalous units, one row each (pick them with :func:`worst`).
        target: the variable whose anomaly is explained.
        seed: makes the result reproducible.
        confidence: coverage of the bootstrap intervals.
        n_bootstrap: replicates, each refitting the model on resampled training rows
            (0 for none).
        num_samples: samples of the target's distribution per coalition.
        method: ``"fast"`` (batched, same estimator) or ``"dowhy"``
            (``gcm.attribute_anomalies``, for cross-checking; slower).

    Raises:
        CausalModelError: unknown target, unusable rows, or a non-invertible ancestor.
    """
    require_fitted(model, "anomaly()")
    check_method(method)
    check_fraction("confidence", confidence)
    model = model.for_shapley()  # linear where "select" chose flexible: see its doc
    target = model.causal_graph.require(target)
    nodes, scm = model.submodel(target)
    require_invertible(scm, nodes, "anomaly()")
    frame = _frame(rows, nodes, "rows")
    run = _fast if method == "fast" else _dowhy
    t0 = time.perf_counter()
    values = run(scm, nodes, target, frame, num_samples, seed)
    t1 = time.perf_counter()
    reps = model.bootstrap(
        nodes,
        n_bootstrap,
        seed,
        "anomaly()",
        lambda refit, s: run(refit, nodes, target, frame, num_samples, s),
    )
    t2 = time.perf_counter()
    mean_reps = None if reps is None else reps.mean(axis=1)
    ranking = rank(
        model.causal_graph,
        nodes,
        values.mean(axis=0),
        mean_reps,
        confidence,
        interval="normal",
    )
    lo = hi = None
    if reps is not None:
        lo, hi = normal_interval(values.reshape(-1), reps.reshape(n_bootstrap, -1), confidence)
        lo, hi = lo.reshape(values.shape), hi.reshape(values.shape)
    return AnomalyResult(
        target=target,
        method=method,
        ranking=ranking,
        rows=tuple(rows.index),
        scores=tuple(float(x) for x in values.sum(axis=1)),
        row_values=values,
        row_ci_low=lo,
        row_ci_high=hi,
        nodes=tuple(nodes),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        timings={"attribution": t1 - t0, "bootstrap": t2 - t1, "total": t2 - t0},
    )


def worst(model: FittedModel, data: pd.DataFrame, target: str, n: int = 10) -> pd.Series:
    """Return the ``n`` rows of ``data`` most anomalous at ``target``, by IT anomaly score.

    The score is dowhy's information-theoretic score of the target's value against
    the target's distribution in the model's training rows. Select the rows with
    ``data.loc[worst(...).index]`` and explain them with :func:`anomaly`.

    Returns:
        The scores of the ``n`` worst rows, largest first, indexed like ``data``.
    """
    require_fitted(model, "worst()")
    target = model.causal_graph.require(target)
    encode([data], ["data"], [target], min_rows=1)
    if model.data[target].dtype == object:
        msg = f"target {target!r} is categorical; anomaly scores need a numeric target"
        raise CausalModelError(msg)
    reference = model.require_data("worst()")[target].to_numpy(dtype=float)
    scorer = _Scorer(reference)
    scores = scorer.it_score(data[target].to_numpy(dtype=float))
    series = pd.Series(scores, index=data.index, name="anomaly_score")
    return series.sort_values(ascending=False, kind="stable").iloc[:n]
