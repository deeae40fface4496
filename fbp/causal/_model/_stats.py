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
    "adjust_rows",
    "combine",
    "combine_rows",
    "distribution_test",
    "distribution_tests",
    "lstsq",
    "lstsq_many",
    "margin_test",
    "mechanism_test",
    "mechanism_tests",
    "percentile_interval",
    "weighted_means",
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


def lstsq_many(a: np.ndarray, b: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return :func:`lstsq` of ``a @ x = b`` for each row of ``weights`` at once.

    Args:
        a: ``(rows, p)``.
        b: ``(rows,)`` or ``(rows, k)``.
        weights: ``(B, rows)``, e.g. the counts of B bootstrap replicates.

    Returns:
        ``(B, p)`` or ``(B, p, k)``.
    """
    n, p = a.shape
    nb = len(weights)
    # One matrix product each: the weighted Gram matrices and right-hand sides of
    # every replicate, from the rows' outer products.
    gram = (weights @ (a[:, :, None] * a[:, None, :]).reshape(n, p * p)).reshape(nb, p, p)
    b2 = b if b.ndim == 2 else b[:, None]
    k = b2.shape[1]
    rhs = (weights @ (a[:, :, None] * b2[:, None, :]).reshape(n, p * k)).reshape(nb, p, k)
    scale = np.sqrt(np.einsum("bii->bi", gram))
    scale[scale == 0.0] = 1.0
    outer = scale[:, :, None] * scale[:, None, :]
    w, q = np.linalg.eigh(gram / outer)
    top = np.maximum(w[:, -1:], 1e-300)
    inv_w = np.where(w > 1e-10 * top, 1.0 / np.where(w > 0, w, 1.0), 0.0)
    inv = np.matmul(q * inv_w[:, None, :], q.transpose(0, 2, 1)) / outer
    out = np.matmul(inv, rhs)
    return out if b.ndim == 2 else out[:, :, 0]  # type: ignore[no-any-return]


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


# -- tests that also answer for bootstrap replicates ----------------------------------
#
# The functions below return one p-value for the data and one per bootstrap replicate:
# an array of length ``1 + B`` for weights ``w`` of shape ``(B, rows)`` (multinomial
# counts, rows of "before" then "after"). A replicate re-evaluates the test statistic on
# the resampled rows with the nuisance fits held fixed (a score bootstrap), so the share
# of replicates in which a variable is flagged costs a matrix product, not a refit.


def weighted_means(s: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Return the column means of ``s`` (rows, m): the data's, then each replicate's."""
    full = s.mean(axis=0)[None, :]
    if w is None or len(w) == 0:
        return full  # type: ignore[no-any-return]
    reps = (w @ s) / w.sum(axis=1, keepdims=True)
    return np.vstack([full, reps])


def _chi2_rows(means: np.ndarray, cov: np.ndarray, n: int) -> np.ndarray:
    """Return chi-square p-values of ``n * m' cov^-1 m`` for each row ``m`` of ``means``."""
    w, q = np.linalg.eigh(np.atleast_2d(cov))
    good = w > 1e-10 * max(float(w.max(initial=0.0)), 1e-300)
    if not good.any():
        return np.ones(len(means))
    z = means @ q[:, good]
    stat = n * np.sum(z * z / w[good], axis=1)
    return np.asarray(stats.chi2.sf(stat, int(good.sum())), dtype=float)


def combine_rows(p_values: Sequence[np.ndarray]) -> np.ndarray:
    """Bonferroni-combine several tests, elementwise over data and replicates."""
    ps = np.vstack([np.asarray(p, dtype=float) for p in p_values])
    return np.minimum(1.0, len(ps) * ps.min(axis=0))  # type: ignore[no-any-return]


def adjust_rows(p: np.ndarray, method: Correction) -> np.ndarray:
    """Apply :func:`adjust` to every row of ``p`` (replicates x variables)."""
    return np.vstack([adjust(list(row), method) for row in p]) if len(p) else p


def _score_test_rows(fit: _Fit, r: np.ndarray, g: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """:func:`_robust_score_test`, for the data and each replicate."""
    g_res = fit.resid(g)
    norms = np.sqrt(np.einsum("ij,ij->j", g, g))
    res_norms = np.sqrt(np.einsum("ij,ij->j", g_res, g_res))
    keep = res_norms > 1e-7 * np.maximum(norms, 1e-300)
    reps = 1 if w is None else 1 + len(w)
    if not keep.any():
        return np.ones(reps)
    g_res = g_res[:, keep] / res_norms[keep]
    s = g_res * r[:, None]
    cov = (g_res.T @ (g_res * (r * r)[:, None])) / len(r)
    return _chi2_rows(weighted_means(s, w), cov, len(r))


def mechanism_tests(
    f_old: np.ndarray,
    y_old: np.ndarray,
    f_new: np.ndarray,
    y_new: np.ndarray,
    w: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`mechanism_test` with linear features, for the data and each replicate."""
    f = np.vstack([f_old, f_new])
    y = np.concatenate([y_old, y_new]) if y_old.ndim == 1 else np.vstack([y_old, y_new])
    d = np.concatenate([np.zeros(len(f_old)), np.ones(len(f_new))])
    g = np.column_stack([d, d[:, None] * f[:, 1:]]) if f.shape[1] > 1 else d[:, None]
    fit = _Fit(f)
    r = fit.resid(y)
    reps = 1 if w is None else 1 + len(w)
    if float(np.max(np.abs(r), initial=0.0)) <= 1e-8 * (
        float(np.max(np.abs(y), initial=0.0)) + 1e-300
    ):
        return np.ones(reps)
    if r.ndim == 1:
        p_shift = _score_test_rows(fit, r, g, w)
        p_noise = _score_test_rows(fit, fit.resid(r * r), d[:, None], w)
        return combine_rows([p_shift, p_noise])
    cols = range(max(1, r.shape[1] - 1))
    return combine_rows([_score_test_rows(fit, r[:, j], g, w) for j in cols])


def margin_test(contrib: np.ndarray, margin: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Test that no column mean of ``contrib`` exceeds its ``margin`` in size.

    ``contrib`` holds per-row contributions whose column means estimate effects (in
    the units of ``margin``). Each mean is shrunk towards zero by its margin, so that
    effects within the margins do not count (the test asks whether an effect is
    *material*), and tested on its own standard error; the columns' p-values are
    Bonferroni-combined. A joint chi-square would be more powerful for effects
    spread over many columns, but the shrinking breaks the columns' correlation
    pattern, and along the near-degenerate directions of correlated columns (two
    gates that fire together, slopes along correlated parents) a few small shrunk
    means would then look like a huge effect. Data and replicates.
    """
    n = len(contrib)
    means = weighted_means(contrib, w)
    shrunk = np.sign(means) * np.maximum(np.abs(means) - margin[None, :], 0.0)
    se = contrib.std(axis=0, ddof=1 if n > 1 else 0) / math.sqrt(max(n, 1))
    safe = np.where(se > 0.0, se, 1.0)
    z = np.where(se[None, :] > 0.0, np.abs(shrunk) / safe[None, :], np.inf)
    z = np.where(shrunk == 0.0, 0.0, z)
    p = 2.0 * stats.norm.sf(z)
    out: np.ndarray = np.minimum(1.0, p.shape[1] * p.min(axis=1))
    return out


_KS_BINS = 4096


def _ks_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Two-sample Kolmogorov-Smirnov p-values (asymptotic), data and replicates.

    The data's statistic compares the empirical distribution functions after every
    distinct value. A replicate's does the same on more than ``4 * _KS_BINS`` rows
    only at ``_KS_BINS`` pooled quantiles (the statistic then is at most 1/4096
    smaller), which keeps the bootstrap of a large run to a few bincounts.
    """
    na, nb = len(a), len(b)
    en = na * nb / (na + nb)
    pooled = np.concatenate([a, b])
    order = np.argsort(pooled, kind="stable")
    xs = pooled[order]
    last = np.append(xs[1:] != xs[:-1], True)  # the ECDFs are compared after ties
    step = np.where(order < na, 1.0 / na, -1.0 / nb)
    d_data = float(np.abs(np.cumsum(step)[last]).max())
    out = [d_data]
    if w is not None and len(w):
        if na + nb > 4 * _KS_BINS:
            edges = np.unique(np.quantile(xs, np.linspace(0.0, 1.0, _KS_BINS + 1)[1:-1]))
            bins = np.searchsorted(edges, pooled, side="left")
            k = len(edges) + 1
        else:
            bins = np.empty(na + nb, dtype=np.intp)
            bins[order] = np.cumsum(np.append(True, xs[1:] != xs[:-1])) - 1
            k = int(bins.max()) + 1
        ba, bb = bins[:na], bins[na:]
        for row in w:
            ca = np.bincount(ba, weights=row[:na], minlength=k)
            cb = np.bincount(bb, weights=row[na:], minlength=k)
            diff = np.cumsum(ca / ca.sum() - cb / cb.sum())
            out.append(float(np.abs(diff).max()))
    d = np.asarray(out)
    return np.asarray(stats.kstwobign.sf(d * math.sqrt(en)), dtype=float)


def _welch_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    na = len(a)
    ones = np.ones((1, na + len(b)))
    ws = ones if w is None else np.vstack([ones, w])
    out = []
    for part, x in ((ws[:, :na], a), (ws[:, na:], b)):
        tot = part.sum(axis=1)
        m = part @ x / tot
        v = np.maximum(part @ (x * x) / tot - m * m, 0.0)
        out.append((m, v, len(x)))
    (ma, va, la), (mb, vb, lb) = out
    se = np.sqrt(va / la + vb / lb)
    same = np.isclose(ma, mb, rtol=0.0, atol=1e-12 * (1.0 + np.abs(ma)))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, (mb - ma) / np.where(se > 0, se, 1.0), np.where(same, 0.0, np.inf))
    return np.asarray(2.0 * stats.norm.sf(np.abs(t)), dtype=float)


def _chi2_counts_rows(a: np.ndarray, b: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    k = int(max(a.max(initial=0), b.max(initial=0))) + 1
    na = len(a)
    onehot = np.zeros((na + len(b), k))
    onehot[np.arange(na + len(b)), np.concatenate([a, b]).astype(int)] = 1.0
    ones = np.ones((1, na + len(b)))
    ws = ones if w is None else np.vstack([ones, w])
    out = []
    for row in ws:
        table = np.vstack([row[:na] @ onehot[:na], row[na:] @ onehot[na:]])
        table = table[:, table.sum(axis=0) > 0]
        if table.shape[1] < 2:
            out.append(1.0)
            continue
        out.append(float(stats.chi2_contingency(table, correction=False).pvalue))
    return np.asarray(out)


def distribution_tests(
    a: np.ndarray, b: np.ndarray, *, categorical: bool = False, w: np.ndarray | None = None
) -> np.ndarray:
    """:func:`distribution_test`, for the data and each replicate (weights ``w``)."""
    if categorical:
        return _chi2_counts_rows(a, b, w)
    return combine_rows([_ks_rows(a, b, w), _welch_rows(a, b, w)])
