"""A fast flexible regressor for mechanisms that are not linear, and when to use it.

Components are thresholds, gates, products and curves of their inputs far more often
than they are linear. :class:`FlexibleRegressor` fits such a mechanism by least
squares on a basis built from the parents (the shapes the mechanism tests also use):
per numeric parent, hinges and steps at quantiles and at its best split; every binary
parent (a gate, a flag, a port's ``fired`` indicator) and every product of two of
them, times every numeric parent's features; hinges of the single index a linear fit
finds; products of pairs of numeric parents. Beyond the range of the training data it
extrapolates linearly (its ramps continue, its steps stay), unlike trees.

:func:`prefers_flexible` validates the choice: two-fold cross-validation, and the
flexible fit is taken only if its out-of-fold error is at least 10 % below the linear
fit's. A linear mechanism stays linear. A fit uses at most 20,000 rows (drawn with a
fixed seed), the choice at most 4,000: at most 128 coefficients need no more.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np

from ._model._threads import one_blas_thread

__all__ = ("FlexibleRegressor", "prefers_flexible")

_QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
_IMPROVEMENT = 0.9
_FIT_ROWS = 20_000  # rows a fit uses at most
_CV_ROWS = 4_000  # rows the cross-validated choice uses at most


def _split(x: np.ndarray, y: np.ndarray) -> float | None:
    from ._shift._changes import _best_split

    return _best_split(x, y)


class FlexibleRegressor:
    """A least-squares fit on a flexible basis of the inputs (scikit-learn style).

    Used inside dowhy as ``AdditiveNoiseModel(SklearnRegressionModel(...))``.


    Args:
        max_features: the most basis functions used (also at most a tenth of the rows).
        selected: chosen by ``fit(..., mechanisms="select")`` rather than asked for;
            the Shapley queries (``anomaly``, ``influence``) then use a linear fit of
            the same variable instead (see ``FittedModel.for_shapley``).
    """

    def __init__(self, max_features: int = 128, selected: bool = False) -> None:
        self.max_features = max_features
        self.selected = selected
        self.width_: int | None = None

    # scikit-learn's estimator protocol, as dowhy's wrapper clones and refits it.
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"max_features": self.max_features, "selected": self.selected}

    def set_params(self, **params: Any) -> FlexibleRegressor:
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def _recipe(self, x: np.ndarray, y: np.ndarray) -> None:
        n, k = x.shape
        self.mu_ = x.mean(axis=0)
        sd = x.std(axis=0)
        self.sd_ = np.where(sd > 0, sd, 1.0)
        z = (x - self.mu_) / self.sd_
        self.binary_ = [j for j in range(k) if sd[j] > 0 and len(np.unique(x[:, j])) <= 2]
        self.cont_ = [j for j in range(k) if sd[j] > 0 and j not in self.binary_]
        self.knots_: dict[int, list[float]] = {}
        for j in self.cont_:
            knots = list(np.quantile(z[:, j], _QUANTILES))
            s = _split(z[:, j], y)
            if s is not None:
                knots.append(s)
            lo, hi = float(z[:, j].min()), float(z[:, j].max())
            self.knots_[j] = [float(t) for t in np.unique(knots) if lo < t < hi]
        self.index_: np.ndarray | None = None
        if len(self.cont_) >= 2:
            zc = z[:, self.cont_]
            a = np.column_stack([np.ones(n), zc])
            beta = np.linalg.lstsq(a, y, rcond=None)[0][1:]
            if np.any(beta != 0):
                idx = zc @ beta
                self.index_ = beta / (idx.std() or 1.0)
                idx = zc @ self.index_
                self.index_center_ = float(idx.mean())
                idx = idx - self.index_center_
                knots = list(np.quantile(idx, _QUANTILES))
                s = _split(idx, y)
                if s is not None:
                    knots.append(s)
                self.index_knots_ = [float(t) for t in np.unique(knots)]

    def _columns(self, z: np.ndarray) -> Iterator[np.ndarray]:
        """Yield the basis functions, in a fixed order, each computed only when asked."""
        n = len(z)
        yield np.ones(n)
        gates = [z[:, g] for g in self.binary_]
        for a in range(len(self.binary_)):
            for b in range(a + 1, len(self.binary_)):
                gates.append(z[:, self.binary_[a]] * z[:, self.binary_[b]])
        yield from gates
        yield from (z[:, j] for j in self.cont_)
        for g in gates:
            yield from (g * z[:, j] for j in self.cont_)
        if self.index_ is not None:
            idx = z[:, self.cont_] @ self.index_ - self.index_center_
            for t in self.index_knots_:
                yield np.maximum(idx - t, 0.0)
                yield (idx > t).astype(np.float64)

        def ramps(j: int) -> Iterator[np.ndarray]:
            zj = z[:, j]
            for t in self.knots_[j]:
                yield np.maximum(zj - t, 0.0)
                yield (zj > t).astype(np.float64)

        for j in self.cont_:
            yield from ramps(j)
        for g in gates:
            for j in self.cont_:
                yield from (g * f for f in ramps(j))
        for a in range(len(self.cont_)):
            for b in range(a + 1, len(self.cont_)):
                yield z[:, self.cont_[a]] * z[:, self.cont_[b]]

    def _features(self, x: np.ndarray, limit: int | None = None) -> np.ndarray:
        """Return the first ``limit`` (default: the fitted width) basis functions."""
        z = (x - self.mu_) / self.sd_
        width = self.width_ if limit is None else limit
        assert width is not None
        out = np.empty((len(x), width))
        k = 0
        for k, col in enumerate(itertools.islice(self._columns(z), width), start=1):
            out[:, k - 1] = col
        return out[:, :k]

    def fit(self, X: Any, y: Any) -> FlexibleRegressor:
        x = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(x) > _FIT_ROWS:
            # At most 128 coefficients: 20,000 rows pin them down; more only cost time.
            keep = np.sort(np.random.default_rng(0).permutation(len(x))[:_FIT_ROWS])
            x, y = x[keep], y[keep]
        self.width_ = None
        # Small matrices: BLAS threads cost more than they save (5x on a busy machine).
        with one_blas_thread():
            self._recipe(x, y)
            f = np.ascontiguousarray(
                self._features(x, limit=min(self.max_features, max(2, len(x) // 10)))
            )
            self.width_ = f.shape[1]
            gram = f.T @ f
            ridge = 1e-8 * float(np.trace(gram)) / max(gram.shape[0], 1)
            self.coef_ = np.linalg.solve(gram + ridge * np.eye(len(gram)), f.T @ y)
        return self

    def predict(self, X: Any) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        with one_blas_thread():
            out: np.ndarray = self._features(x) @ self.coef_
        return out


def prefers_flexible(x: np.ndarray, y: np.ndarray, seed: int = 0) -> bool:
    """Return whether the flexible fit predicts ``y`` clearly better out of fold.

    Two-fold cross-validation on at most 4,000 rows; the flexible fit must cut the
    mean squared error by at least 10 % against a linear fit. A fit that does not cut
    it by that much in sample on the first fold stops the check there.
    """
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(x))[:_CV_ROWS]
    if len(idx) < 100 or float(np.std(y)) == 0.0:
        return False
    half = len(idx) // 2
    folds = (idx[:half], idx[half:])
    err_lin = err_flex = 0.0
    with one_blas_thread():
        for k in (0, 1):
            tr, te = folds[1 - k], folds[k]
            a_tr = np.column_stack([np.ones(len(tr)), x[tr]])
            a_te = np.column_stack([np.ones(len(te)), x[te]])
            beta = np.linalg.lstsq(a_tr, y[tr], rcond=None)[0]
            flex = FlexibleRegressor().fit(x[tr], y[tr])
            if k == 0:
                # In sample the flexible fit can only do better than out of fold, and
                # the linear one about as well: if it does not win by the margin there,
                # it will not out of fold (most variables stop here, at half the cost).
                lin_in = float(np.sum((y[tr] - a_tr @ beta) ** 2))
                if float(np.sum((y[tr] - flex.predict(x[tr])) ** 2)) > _IMPROVEMENT * lin_in:
                    return False
            err_lin += float(np.sum((y[te] - a_te @ beta) ** 2))
            err_flex += float(np.sum((y[te] - flex.predict(x[te])) ** 2))
    return err_flex <= _IMPROVEMENT * err_lin
