"""Which mechanisms changed between two runs: a closed-form test per variable.

Roots: a two-sample test of their values (a parameter, constant within each run, is
compared exactly). Other variables: first the linear mechanism test of
:func:`fbp.causal._model._stats.mechanism_tests` on every row (a cheap screen); for the few it
flags, a flexible test that tells a changed component from a curved, thresholded or
branching one whose inputs moved:

* **Cross-fitted, doubly robust.** Both runs are pooled and split in two folds. On
  each fold, the variable is predicted from its parents by a least-squares fit on a
  flexible basis fitted on the other fold (the outcome model), and so is the run
  indicator (the propensity model: where in the parents' space the runs differ).
  The test asks whether the two residuals are correlated, overall and weighted by
  each parent (the generalised covariance measure of Shah and Peters, 2020). A misfit
  of either model alone does not bias it; only the product of both misfits does, and
  parents seen in one run only (an input shifted beyond the other run's range) carry
  no weight, so the test never extrapolates.
* **A material change.** Each effect (the change of the variable's level, of its
  slope along each parent, of its noise variance) is compared with a margin before
  the statistic is formed: 2 % of the variable's standard deviation for
  level and slopes; for the noise variance, the larger of (5 % of the standard
  deviation) squared and half the mean squared residual. A deterministic component
  (most code is) has no noise to hide a misfit in, so without a margin any curve the
  basis does not reproduce exactly would be "changed" at enough rows.
* The p-value is the larger of the screen's and the flexible test's (an
  intersection-union test), on at most ``_FLEX_ROWS`` rows per run.

A variable one of whose parents is constant within each run but differs between them
(a changed parameter) cannot be tested at all: the parameter's change and a change of
the component that reads it are the same contrast in the data. Its test is *void*
(p = 1) and the shift result reports the two as inseparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._model._engine import Design
from .._model._stats import (
    Correction,
    _pinv_gram,
    adjust_rows,
    combine_rows,
    distribution_tests,
    margin_test,
    mechanism_tests,
)
from ._problem import Problem, subsample_index

__all__ = ("MechanismTests", "mechanism_changes")

_FLEX_ROWS = 5_000
_MAX_FEATURES = 96
_KNOTS = (0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95)
LEVEL_MARGIN = 0.02
"""Level and slope changes below this share of the variable's standard deviation are
not material."""
NOISE_MARGIN = 0.05
"""Noise-variance changes below this share of the standard deviation, squared (or
half the mean squared residual, if larger), are not material."""


@dataclass(frozen=True)
class MechanismTests:
    """The raw mechanism-change p-values of every node, for the data and each replicate.

    Attributes:
        p: ``(1 + B, nodes)``; row 0 is the data, row ``b`` the ``b``-th bootstrap
            replicate.
        void: positions of nodes that cannot be tested because a parent is a changed
            parameter.
        constant: positions of roots that are constant within each run and differ
            between the runs (changed parameters).
    """

    p: np.ndarray
    void: tuple[int, ...]
    constant: tuple[int, ...]


def _run_constant(old: np.ndarray, new: np.ndarray) -> bool:
    return bool(np.ptp(old) == 0.0 and np.ptp(new) == 0.0 and old[0] != new[0])


def _onehot(y: np.ndarray, levels: int) -> np.ndarray:
    if not levels:
        return y
    out: np.ndarray = (y[:, None] == np.arange(levels)[None, :]).astype(np.float64)
    return out


def mechanism_changes(
    pb: Problem,
    seed: int,
    alpha: float,
    w: np.ndarray | None,
    correction: Correction = "holm",
) -> MechanismTests:
    """Test every node of ``pb`` for a change of its mechanism.

    Args:
        pb: the problem (both runs encoded).
        seed: drives the row subsample and the folds of the flexible test.
        alpha: the level of the corrected tests. A node gets the flexible test only
            if its linear screen, corrected with the others, rejects at ``alpha`` in
            the data or in a replicate: the correction is monotone, so a node the
            corrected screen passes cannot be flagged whatever the flexible test says.
        w: bootstrap weights ``(B, rows before + rows after)``, or ``None``.
        correction: the multiple-testing correction the caller applies.
    """
    old, new = pb.enc.arrays
    n_old = len(old)
    reps = 1 if w is None else 1 + len(w)
    rng = np.random.default_rng([seed, 1])
    io = subsample_index(n_old, _FLEX_ROWS, rng)
    jn = subsample_index(len(new), _FLEX_ROWS, rng)
    flex_old, flex_new = old[io], new[jn]
    w_flex = None if w is None else np.hstack([w[:, io], w[:, n_old + jn]])
    constant = tuple(
        i
        for i in range(len(pb.nodes))
        if not pb.designs[i].parents and _run_constant(old[:, i], new[:, i])
    )
    out = np.ones((reps, len(pb.nodes)))
    void: list[int] = []
    screened: list[int] = []
    for i in range(len(pb.nodes)):
        d = pb.designs[i]
        if not d.parents:
            if i in constant:
                out[:, i] = 0.0
            else:
                out[:, i] = distribution_tests(
                    old[:, i], new[:, i], categorical=pb.levels[i] > 0, w=w
                )
            continue
        if any(p in constant for p in d.parents):
            void.append(i)
            continue
        y_old, y_new = _onehot(old[:, i], pb.levels[i]), _onehot(new[:, i], pb.levels[i])
        out[:, i] = mechanism_tests(d.fit_matrix(old), y_old, d.fit_matrix(new), y_new, w)
        screened.append(i)
    adjusted = adjust_rows(out, correction)
    candidates = [i for i in screened if (adjusted[:, i] < alpha).any()]
    for i in candidates:
        p_flex = _flexible_test(pb.designs[i], flex_old, flex_new, i, pb.levels[i], rng, w_flex)
        out[:, i] = np.maximum(out[:, i], p_flex)
    return MechanismTests(out, tuple(void), constant)


def _ols(f: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _pinv_gram(f.T @ f) @ (f.T @ y)  # type: ignore[no-any-return]


def _best_split(x: np.ndarray, y: np.ndarray) -> float | None:
    """Return the threshold on ``x`` that best splits ``y`` in two (a regression stump).

    A branch routes by a threshold on its input; a knot exactly there lets the
    piecewise fit follow the jump, where quantile knots would leave a misfit.
    """
    n = len(x)
    if n < 40:
        return None
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    csum = np.cumsum(ys)
    csq = np.cumsum(ys * ys)
    left = np.arange(1, n)
    right = n - left
    sse = (
        csq[:-1]
        - csum[:-1] ** 2 / left
        + (csq[-1] - csq[:-1])
        - (csum[-1] - csum[:-1]) ** 2 / right
    )
    valid = (xs[1:] > xs[:-1]) & (left >= n // 50) & (right >= n // 50)
    if not valid.any():
        return None
    i = int(np.argmin(np.where(valid, sse, np.inf)))
    return float((xs[i] + xs[i + 1]) / 2.0)


def _hinges(z: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Hinges and steps of ``z`` at pooled quantiles and at its best split of ``y``."""
    knots = list(np.quantile(z, _KNOTS))
    split = _best_split(z, y)
    if split is not None:
        knots.append(split)
    lo, hi = float(z.min()), float(z.max())
    out: list[np.ndarray] = []
    for k in np.unique(knots):
        if lo < k < hi:
            out += [np.maximum(z - k, 0.0), (z > k).astype(np.float64)]
    return out


def flexible_basis(d: Design, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return a flexible feature matrix of the parents, and their standardised values.

    In order (the basis is capped at one column per 20 rows and 96 in all, so the
    most telling come first): the parents; every binary parent (a gate such as a
    port's ``fired`` indicator, or a flag) times every numeric parent (a gated port is
    ``fired * f(inputs)``); the product of every pair of numeric parents; hinges of
    the single index that a linear fit of the node finds (a threshold or a curve of a
    weighted sum, the commonest multi-input shape);
    per numeric parent, hinges and steps at quantiles and at its best split; gates
    times those; the products of every pair of numeric parents' ramps (products,
    ratios, ``x * exp(-s)``). Categorical parents enter as one indicator per category.

    Args:
        d: the node's design.
        x: pooled rows of the encoded data (all columns).
        y: the node's values on those rows (first column if one-hot), to place the
            split knots and the single-index direction.
    """
    n = len(x)
    cap = max(8, min(n // 20, _MAX_FEATURES))
    feats: list[np.ndarray] = [np.ones(n)]
    cont: list[np.ndarray] = []
    binary: list[np.ndarray] = []
    std: list[np.ndarray] = []
    for p, levels in zip(d.parents, d.levels, strict=True):
        col = x[:, p]
        if levels:
            feats.extend((col == c).astype(np.float64) for c in range(1, levels))
            continue
        sd = float(col.std())
        if sd == 0.0:
            continue
        z = (col - float(col.mean())) / sd
        std.append(z)
        if len(np.unique(col[: min(n, 2000)])) <= 2 and len(np.unique(col)) <= 2:
            binary.append(z)
        else:
            cont.append(z)
    # Most telling first, as the basis is capped.
    feats.extend(binary)
    feats.extend(cont)
    for g in binary:
        feats.extend(g * z for z in cont)
    # The plain product of every pair (``price * relevance``): one column a pair, so
    # that it survives the cap of a small sample.
    feats.extend(cont[a] * cont[b] for a in range(len(cont)) for b in range(a + 1, len(cont)))
    if len(cont) >= 2:
        z_all = np.column_stack(cont)
        beta = _ols(np.column_stack([np.ones(n), z_all]), y)[1:]
        if np.any(beta != 0.0):
            idx = z_all @ beta
            idx = (idx - idx.mean()) / (idx.std() or 1.0)
            feats.extend(_hinges(idx, y))
    per = [_hinges(z, y) for z in cont]
    for group in per:
        feats.extend(group)
    for g in binary:
        for group in per:
            feats.extend(g * f for f in group)
    if len(cont) >= 2:
        ramps = [
            [z, *(np.maximum(z - k, 0.0) for k in np.quantile(z, (0.25, 0.5, 0.75)))] for z in cont
        ]
        for a in range(len(cont)):
            for b in range(a + 1, len(cont)):
                feats.extend(u * v for u in ramps[a] for v in ramps[b])
                del feats[-len(ramps[a]) * len(ramps[b])]  # the plain product, above
    feats = feats[:cap]
    zs = np.column_stack(std) if std else np.empty((n, 0))
    return np.column_stack(feats), zs


def _flexible_test(
    d: Design,
    old: np.ndarray,
    new: np.ndarray,
    column: int,
    levels: int,
    rng: np.random.Generator,
    w: np.ndarray | None,
) -> np.ndarray:
    """The cross-fitted, doubly robust mechanism test with margins (data, replicates)."""
    # Rows in random order, so that the two folds are the two halves.
    perm = rng.permutation(len(old) + len(new))
    x = np.vstack([old, new])[perm]
    dd = (perm >= len(old)).astype(np.float64)
    if w is not None:
        w = w[:, perm]
    y = _onehot(x[:, column], levels)
    y2 = y if y.ndim == 2 else y[:, None]
    n = len(x)
    reps = 1 if w is None else 1 + len(w)
    f, z = flexible_basis(d, x, y2[:, 0])
    half = n // 2
    parts = [slice(0, half), slice(half, n)]
    grams = [f[te].T @ f[te] for te in parts]
    # The whole-data fit (both folds' Gram matrices) tells a deterministic mechanism
    # that the basis reproduces in both runs.
    rhs = np.column_stack([y2, dd])
    resid_full = y2 - f @ (_pinv_gram(grams[0] + grams[1]) @ (f.T @ y2))
    if float(np.max(np.abs(resid_full), initial=0.0)) <= 1e-6 * (
        float(np.max(np.abs(y2), initial=0.0)) + 1e-300
    ):
        return np.ones(reps)  # one deterministic function of the basis fits both runs
    inv = [_pinv_gram(grams[1 - k]) for k in (0, 1)]  # fit on the other fold
    ry = np.empty_like(y2)
    rd = np.empty(n)
    for k, te in enumerate(parts):
        tr = parts[1 - k]
        pred = f[te] @ (inv[k] @ (f[tr].T @ rhs[tr]))
        ry[te] = y2[te] - pred[:, :-1]
        rd[te] = dd[te] - np.clip(pred[:, -1], 0.0, 1.0)
    rd2 = float(np.mean(rd * rd))
    if rd2 < 1e-6:
        return np.ones(reps)  # the parents tell the runs apart: nothing to compare
    weights = [rd / rd2]
    for k in range(z.shape[1]):
        scale = float(np.mean(rd * rd * z[:, k] ** 2)) or 1.0
        weights.append(rd * z[:, k] / scale)
    wmat = np.column_stack(weights)
    tests = []
    for j in range(max(1, y2.shape[1] - 1)):  # the last category is implied
        r = ry[:, j]
        sd = float(np.std(y2[:, j])) or 1.0
        margin = np.full(wmat.shape[1], LEVEL_MARGIN * sd)
        tests.append(margin_test(wmat * r[:, None], margin, w))
    if y.ndim == 1:
        sq = ry[:, 0] ** 2
        r2 = np.empty(n)
        for k, te in enumerate(parts):
            tr = parts[1 - k]
            r2[te] = sq[te] - f[te] @ (inv[k] @ (f[tr].T @ sq[tr]))
        sd = float(np.std(y)) or 1.0
        noise_margin = max((NOISE_MARGIN * sd) ** 2, 0.5 * float(np.mean(sq)))
        tests.append(margin_test((r2 * rd / rd2)[:, None], np.array([noise_margin]), w))
    return combine_rows(tests)
