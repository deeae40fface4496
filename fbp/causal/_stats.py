"""Two-sample tests, the mechanism-change test, multiple-testing corrections, intervals.

Everything here is closed form or a sort, so testing every variable of a 200-variable
graph on 100k rows per run takes seconds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
from scipy import stats

__all__ = (
    "Correction",
    "adjust",
    "combine",
    "distribution_test",
    "lstsq",
    "mechanism_test",
    "percentile_interval",
)

Correction = Literal["holm", "bh", "bonferroni", "none"]


def combine(p_values: Sequence[float]) -> float:
    """Combine p-values of several tests of one hypothesis (Bonferroni on the minimum)."""
    ps = [p for p in p_values if not math.isnan(p)]
    if not ps:
        return 1.0
    return min(1.0, len(ps) * min(ps))


def _welch(a: np.ndarray, b: np.ndarray) -> float:
    va, vb = float(np.var(a)), float(np.var(b))
    if va == 0.0 and vb == 0.0:
        return 1.0 if float(a[0]) == float(b[0]) else 0.0
    se = math.sqrt(va / len(a) + vb / len(b))
    t = (float(np.mean(b)) - float(np.mean(a))) / se
    return float(2.0 * stats.norm.sf(abs(t)))


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    return float(stats.ks_2samp(a, b, method="asymp").pvalue)


def _chi2(a: np.ndarray, b: np.ndarray) -> float:
    k = int(max(a.max(initial=0), b.max(initial=0))) + 1
    table = np.vstack(
        [np.bincount(a.astype(int), minlength=k), np.bincount(b.astype(int), minlength=k)]
    )
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def distribution_test(a: np.ndarray, b: np.ndarray, *, categorical: bool = False) -> float:
    """Return a p-value for "``a`` and ``b`` come from one distribution".

    Numeric samples: the Kolmogorov-Smirnov test (any change of shape) and Welch's
    z-test on the means (more power for a pure shift), Bonferroni-combined.
    Categorical codes: the chi-square test of the two frequency tables.
    """
    if categorical:
        return _chi2(a, b)
    return combine([_ks(a, b), _welch(a, b)])


def _pinv_gram(gram: np.ndarray) -> np.ndarray:
    """Return the pseudo-inverse of a Gram matrix, computed on its scaled form."""
    scale = np.sqrt(np.diag(gram))
    scale[scale == 0.0] = 1.0
    w, q = np.linalg.eigh(gram / np.outer(scale, scale))
    keep = w > 1e-10 * max(float(w[-1]), 1e-300)
    inv = (q[:, keep] / w[keep]) @ q[:, keep].T
    return inv / np.outer(scale, scale)  # type: ignore[no-any-return]


def lstsq(a: np.ndarray, b: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Return the minimum-norm (weighted) least-squares solution of ``a @ x = b``.

    Solved through the normal equations with a scaled eigendecomposition: ``a`` is
    tall and narrow here (many rows, few features), where this is several times
    faster than an SVD of ``a``; collinear columns (a constant parameter next to the
    intercept) get the pseudo-inverse's answer. ``weights`` (bootstrap counts) weigh
    the rows.
    """
    aw = a if weights is None else a * weights[:, None]
    return _pinv_gram(aw.T @ a) @ (aw.T @ b)  # type: ignore[no-any-return]


class _Fit:
    """Least squares on one design matrix, factored once for several right-hand sides."""

    def __init__(self, f: np.ndarray) -> None:
        self.f = f
        self.inv = _pinv_gram(f.T @ f)

    def coef(self, b: np.ndarray) -> np.ndarray:
        return self.inv @ (self.f.T @ b)  # type: ignore[no-any-return]

    def resid(self, b: np.ndarray) -> np.ndarray:
        return b - self.f @ self.coef(b)  # type: ignore[no-any-return]


def _robust_score_test(fit: _Fit, r: np.ndarray, g: np.ndarray) -> float:
    """Heteroscedasticity-robust score test that ``g`` does not explain residuals ``r``.

    ``r`` are the residuals of the least-squares fit ``fit``. Columns of ``g`` that the
    design already spans (for example a parameter that is constant within each run,
    whose change the run indicator cannot be told apart from) drop out of the test.
    """
    g_res = fit.resid(g)
    norms = np.sqrt(np.einsum("ij,ij->j", g, g))
    res_norms = np.sqrt(np.einsum("ij,ij->j", g_res, g_res))
    keep = res_norms > 1e-7 * np.maximum(norms, 1e-300)
    if not keep.any():
        return 1.0
    g_res = g_res[:, keep] / res_norms[keep]
    s = g_res.T @ r
    v = g_res.T @ (g_res * (r * r)[:, None])
    w, q = np.linalg.eigh(v)
    good = w > 1e-10 * max(float(w.max(initial=0.0)), 1e-300)
    if not good.any():
        return 1.0
    z = q[:, good].T @ s
    lm = float(np.sum(z * z / w[good]))
    return float(stats.chi2.sf(lm, int(good.sum())))


def mechanism_test(
    f_old: np.ndarray,
    y_old: np.ndarray,
    f_new: np.ndarray,
    y_new: np.ndarray,
    n_linear: int | None = None,
) -> float:
    """Return a p-value for "the mechanism ``y = f(x) + noise`` is the same in both runs".

    ``f_*`` are design matrices whose first column is the intercept and whose first
    ``n_linear`` columns are the linear features (the rest are a non-linear basis
    that lets the pooled fit follow a curved mechanism); ``y_*`` the node's values
    (one column per category for a categorical node). The test pools both runs, fits
    ``y`` on ``f`` by least squares, and asks two questions of the residuals:

    * do the run indicator ``d`` and its interactions ``d * f_linear`` explain them (a
      robust score test, i.e. a Chow test valid under heteroscedasticity)? This
      catches changed intercepts and slopes. Because the pooled fit is flexible, a
      curved mechanism whose inputs moved is not mistaken for a changed one;
    * does ``d`` explain the squared residuals beyond what ``f`` explains (the same
      score test on ``r**2``, a Breusch-Pagan-style test)? This catches a changed
      noise level. Comparing the residual distributions of the runs directly would
      not do: when a branch fires more often after an input shift, the spread of the
      residuals changes although the mechanism did not.

    If the pooled fit is exact (a deterministic mechanism, such as a branch's 0/1
    indicator, that one function reproduces in both runs) the p-value is 1. The two
    p-values are Bonferroni-combined; for a categorical node each category's
    indicator is tested for a shift and the results Bonferroni-combined.
    """
    f = np.vstack([f_old, f_new])
    y = np.concatenate([y_old, y_new]) if y_old.ndim == 1 else np.vstack([y_old, y_new])
    d = np.concatenate([np.zeros(len(f_old)), np.ones(len(f_new))])
    lin = f.shape[1] if n_linear is None else n_linear
    g = np.column_stack([d, d[:, None] * f[:, 1:lin]]) if lin > 1 else d[:, None]
    fit = _Fit(f)
    r = fit.resid(y)
    if float(np.max(np.abs(r), initial=0.0)) <= 1e-8 * (
        float(np.max(np.abs(y), initial=0.0)) + 1e-300
    ):
        # One deterministic function (within the basis) reproduces both runs exactly:
        # the mechanism did not change, and residuals at rounding level would make
        # the score test meaningless.
        return 1.0
    if r.ndim == 1:
        p_shift = _robust_score_test(fit, r, g)
        p_noise = _robust_score_test(fit, fit.resid(r * r), d[:, None])
        return combine([p_shift, p_noise])
    cols = range(max(1, r.shape[1] - 1))  # the last category is implied by the others
    return combine([_robust_score_test(fit, r[:, j], g) for j in cols])


def adjust(p_values: Sequence[float], method: Correction) -> list[float]:
    """Adjust p-values for testing many variables at once.

    Args:
        p_values: one raw p-value per variable.
        method: ``"holm"`` (Holm-Bonferroni, controls the family-wise error rate: the
            chance of flagging any unchanged variable), ``"bh"`` (Benjamini-Hochberg,
            controls the false discovery rate), ``"bonferroni"`` or ``"none"``.
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    if m == 0 or method == "none":
        return [float(x) for x in p]
    if method == "bonferroni":
        return [float(x) for x in np.minimum(1.0, p * m)]
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if method == "holm":
        adj = np.maximum.accumulate(np.minimum(1.0, ranked * (m - np.arange(m))))
    elif method == "bh":
        adj = np.minimum.accumulate((ranked * m / np.arange(1, m + 1))[::-1])[::-1]
        adj = np.minimum(adj, 1.0)
    else:
        msg = f"unknown correction {method!r}; use 'holm', 'bh', 'bonferroni' or 'none'"
        raise ValueError(msg)
    out = np.empty(m)
    out[order] = adj
    return [float(x) for x in out]


def percentile_interval(replicates: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the percentile bootstrap interval of each column of ``replicates``."""
    lo, hi = (1.0 - confidence) / 2.0, (1.0 + confidence) / 2.0
    q = np.quantile(replicates, [lo, hi], axis=0)
    return q[0], q[1]
