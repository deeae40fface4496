"""Which mechanisms changed between two runs: a closed-form test per variable.

Roots: a two-sample test of their values. Other variables: the mechanism test of
:func:`fbp.causal._stats.mechanism_test`, first with linear features on every row (a
cheap screen), then, for the few it flags, with a flexible basis that tells a changed
component from a curved or branching one whose inputs moved.
"""

from __future__ import annotations

import numpy as np

from ._engine import Design
from ._problem import Problem, subsample
from ._stats import distribution_test, mechanism_test

__all__ = ("test_mechanisms",)


def test_mechanisms(pb: Problem, seed: int, alpha: float) -> list[float]:
    """Return a raw mechanism-change p-value per node (all rows of both runs).

    Non-roots are screened with the linear test first; only where it rejects at
    ``alpha`` does the flexible test run, and the p-value is the larger of the two
    (an intersection-union test: valid, and a node must fail both to be flagged).
    Since a corrected p-value is never below the raw one, a node the screen passes
    cannot be flagged anyway, and the costly flexible basis is only built for the
    few candidates (on at most ``_FLEX_ROWS`` rows per run).
    """
    old, new = pb.enc.arrays
    rng = np.random.default_rng([seed, 1])
    # The flexible confirmation runs on at most _FLEX_ROWS rows per run: its basis has
    # dozens of columns, and tens of thousands of rows already detect tiny changes.
    flex_old, flex_new = subsample(old, _FLEX_ROWS, rng), subsample(new, _FLEX_ROWS, rng)
    out = []
    for i in range(len(pb.nodes)):
        d = pb.designs[i]
        if not d.parents:
            out.append(distribution_test(old[:, i], new[:, i], categorical=pb.levels[i] > 0))
            continue
        y_old, y_new = old[:, i], new[:, i]
        if pb.levels[i]:
            k = np.arange(pb.levels[i])
            y_old = (y_old[:, None] == k).astype(np.float64)
            y_new = (y_new[:, None] == k).astype(np.float64)
        p_lin = mechanism_test(d.fit_matrix(old), y_old, d.fit_matrix(new), y_new)
        if p_lin >= alpha:
            out.append(p_lin)
            continue
        if len(flex_old) < len(old) or len(flex_new) < len(new):
            y_old, y_new = flex_old[:, i], flex_new[:, i]
            if pb.levels[i]:
                k = np.arange(pb.levels[i])
                y_old = (y_old[:, None] == k).astype(np.float64)
                y_new = (y_new[:, None] == k).astype(np.float64)
        f_old, f_new = _test_features(d, flex_old, flex_new, y_old, y_new, rng)
        p_flex = mechanism_test(f_old, y_old, f_new, y_new, n_linear=d.width)
        out.append(max(p_lin, p_flex))
    return out


_KNOTS = (0.1, 0.25, 0.5, 0.75, 0.9)
_FLEX_ROWS = 50_000


def _best_split(x: np.ndarray, y: np.ndarray) -> float | None:
    """Return the threshold on ``x`` that best splits ``y`` in two (a regression stump).

    A branch routes by a threshold on its input; a knot exactly there lets the
    piecewise fit follow the jump, where quantile knots would leave a misfit that a
    shifted input turns into a false "changed".
    """
    n = len(x)
    if n < 40:
        return None
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    csum = np.cumsum(ys)
    csq = np.cumsum(ys * ys)
    left = np.arange(1, n)
    sse_l = csq[:-1] - csum[:-1] ** 2 / left
    right = n - left
    tot, totsq = csum[-1], csq[-1]
    sse_r = (totsq - csq[:-1]) - (tot - csum[:-1]) ** 2 / right
    sse = sse_l + sse_r
    valid = (xs[1:] > xs[:-1]) & (left >= n // 50) & (right >= n // 50)
    if not valid.any():
        return None
    i = int(np.argmin(np.where(valid, sse, np.inf)))
    return float((xs[i] + xs[i + 1]) / 2.0)


def _test_features(
    d: Design,
    old: np.ndarray,
    new: np.ndarray,
    y_old: np.ndarray,
    y_new: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the linear features plus a flexible basis for the mechanism test.

    Per numeric parent: hinges and steps at pooled quantiles and at the parent's best
    split of the node. Per binary parent (a gate such as a port's ``fired`` indicator):
    its products with those features. For several numeric parents: their pairwise
    products and random hinges of their standardised linear combinations, which
    follow a curved function of several inputs. The basis makes the pooled fit
    flexible, so threshold branches and curved components whose inputs shifted are not
    flagged as changed (a linear fit of such a node differs between runs even if the
    component did not change), while the extrapolation stays linear.
    """
    f_old, f_new = d.fit_matrix(old), d.fit_matrix(new)
    extra_old: list[np.ndarray] = []
    extra_new: list[np.ndarray] = []
    budget = max(0, (len(old) + len(new)) // 20 - f_old.shape[1])

    def add(a: np.ndarray, b: np.ndarray) -> None:
        if len(extra_old) < budget:
            extra_old.append(a)
            extra_new.append(b)

    qs = _KNOTS if len(d.parents) <= 4 else _KNOTS[1::2]
    y_pooled = np.concatenate([y_old, y_new])
    if y_pooled.ndim > 1:
        y_pooled = y_pooled[:, 0]
    curved: list[int] = []
    gates: list[int] = []
    per_parent: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for p, levels in zip(d.parents, d.levels, strict=True):
        if levels:
            continue
        xo, xn = old[:, p], new[:, p]
        pooled = np.concatenate([xo, xn])
        lo, hi = float(pooled.min()), float(pooled.max())
        if lo == hi:
            continue
        if np.all((pooled == lo) | (pooled == hi)):
            gates.append(p)  # binary: an indicator or a flag, exact as a linear term
            continue
        curved.append(p)
        knots = list(np.quantile(pooled, qs))
        split = _best_split(pooled, y_pooled)
        if split is not None:
            knots.append(split)
        feats_o, feats_n = [xo], [xn]
        for k in np.unique(knots):
            if lo < k < hi:
                feats_o += [np.maximum(xo - k, 0.0), (xo > k).astype(np.float64)]
                feats_n += [np.maximum(xn - k, 0.0), (xn > k).astype(np.float64)]
        per_parent[p] = (feats_o, feats_n)
    # A gated port is 0 where its gate did not fire: the value is gate * f(inputs), so
    # the basis needs every gate times every input feature. Most telling first, as the
    # basis is capped: gate * input, then the inputs' knots, then gate * knots.
    for g in gates:
        for p in curved:
            add(old[:, g] * old[:, p], new[:, g] * new[:, p])
    for p in curved:
        for a, b in zip(per_parent[p][0][1:], per_parent[p][1][1:], strict=True):
            add(a, b)
    for g in gates:
        go, gn = old[:, g], new[:, g]
        for p in curved:
            for a, b in zip(per_parent[p][0][1:], per_parent[p][1][1:], strict=True):
                add(go * a, gn * b)
    if 2 <= len(curved) <= 6:
        pooled = np.vstack([old[:, curved], new[:, curved]])
        mu, sd = pooled.mean(axis=0), pooled.std(axis=0)
        zo, zn = (old[:, curved] - mu) / sd, (new[:, curved] - mu) / sd
        for i in range(len(curved)):
            for j in range(i + 1, len(curved)):
                add(zo[:, i] * zo[:, j], zn[:, i] * zn[:, j])
        for _ in range(4 * len(curved)):
            w = rng.standard_normal(len(curved))
            w /= np.linalg.norm(w)
            cut = float(rng.normal())
            add(np.maximum(zo @ w - cut, 0.0), np.maximum(zn @ w - cut, 0.0))
    if not extra_old:
        return f_old, f_new
    return np.column_stack([f_old, *extra_old]), np.column_stack([f_new, *extra_new])
