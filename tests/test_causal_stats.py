"""The statistical building blocks of the causal layer."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fbp.causal._model._stats import adjust, distribution_test, lstsq, mechanism_test
from fbp.causal._shift._shapley import shapley_values


def test_holm_and_bh_adjustments() -> None:
    p = [0.01, 0.04, 0.03, 0.5]
    assert adjust(p, "holm") == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert adjust(p, "bh") == pytest.approx([0.04, 0.0533333, 0.0533333, 0.5])
    assert adjust(p, "bonferroni") == pytest.approx([0.04, 0.16, 0.12, 1.0])
    assert adjust(p, "none") == p
    assert adjust([], "holm") == []


def test_lstsq_matches_numpy_and_handles_collinear_columns() -> None:
    rng = np.random.default_rng(0)
    a = np.column_stack([np.ones(200), rng.normal(size=(200, 3))])
    b = a @ np.array([1.0, 2.0, -1.0, 0.5]) + rng.normal(size=200)
    np.testing.assert_allclose(lstsq(a, b), np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-8)
    collinear = np.column_stack([a, np.full(200, 3.0)])  # a parameter next to the intercept
    np.testing.assert_allclose(collinear @ lstsq(collinear, b), a @ lstsq(a, b), atol=1e-8)
    weights = rng.integers(0, 3, 200).astype(float)
    expanded = np.repeat(np.arange(200), weights.astype(int))
    np.testing.assert_allclose(lstsq(a, b, weights), lstsq(a[expanded], b[expanded]), rtol=1e-8)


def _linear(
    n: int, rng: np.random.Generator, loc: float, slope: float = 1.0, noise: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(loc, 1.0, n)
    f = np.column_stack([np.ones(n), x])
    return f, slope * x + noise * rng.normal(size=n)


def test_mechanism_test_detects_offset_slope_and_noise_changes() -> None:
    rng = np.random.default_rng(1)
    f0, y0 = _linear(2000, rng, 0.0)
    f1, y1 = _linear(2000, rng, 0.0)
    assert mechanism_test(f0, y0, f1, y1 + 0.2) < 1e-4
    f2, y2 = _linear(2000, rng, 0.0, slope=1.2)
    assert mechanism_test(f0, y0, f2, y2) < 1e-4
    f3, y3 = _linear(2000, rng, 0.0, noise=1.3)
    assert mechanism_test(f0, y0, f3, y3) < 1e-4


def test_mechanism_test_is_calibrated_when_nothing_changed() -> None:
    rng = np.random.default_rng(2)
    ps = []
    for _ in range(200):
        f0, y0 = _linear(300, rng, 0.0)
        f1, y1 = _linear(300, rng, 0.5)  # the input moved, the mechanism did not
        ps.append(mechanism_test(f0, y0, f1, y1))
    assert 0.0 <= np.mean(np.array(ps) < 0.05) <= 0.08


def test_a_deterministic_mechanism_reproduced_by_the_basis_is_unchanged() -> None:
    rng = np.random.default_rng(3)
    x0, x1 = rng.normal(0, 1, 500), rng.normal(1, 1, 500)
    f0, f1 = np.column_stack([np.ones(500), x0]), np.column_stack([np.ones(500), x1])
    assert mechanism_test(f0, 2 * x0 + 1, f1, 2 * x1 + 1) == 1.0


def test_distribution_test() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(0, 1, 1000), rng.normal(0, 1, 1000)
    assert distribution_test(a, b) > 0.01
    assert distribution_test(a, b + 0.3) < 1e-6
    assert distribution_test(np.full(50, 2.0), np.full(50, 2.0)) == 1.0
    assert distribution_test(np.full(50, 2.0), np.full(50, 3.0)) < 1e-6
    codes = rng.integers(0, 3, 1000).astype(float)
    assert distribution_test(codes, rng.integers(0, 3, 1000).astype(float), categorical=True) > 0.01
    assert distribution_test(codes, np.zeros(1000), categorical=True) < 1e-6


def test_exact_shapley_of_an_additive_game_is_the_weights() -> None:
    w = np.array([1.0, -2.0, 0.5])

    def value(masks: np.ndarray) -> np.ndarray:
        return np.asarray(masks @ w, dtype=float)

    rng = np.random.default_rng(0)
    np.testing.assert_allclose(shapley_values(value, 3, rng=rng), w)
    np.testing.assert_allclose(shapley_values(value, 3, rng=rng, exact_max=0), w)


def test_shapley_values_add_up_and_split_interactions_fairly() -> None:
    def value(masks: np.ndarray) -> np.ndarray:
        m = masks.astype(float)
        return np.asarray(m[:, 0] * m[:, 1] * 6.0 + m[:, 2], dtype=float)

    rng = np.random.default_rng(0)
    exact = shapley_values(value, 3, rng=rng)
    np.testing.assert_allclose(exact, [3.0, 3.0, 1.0])
    sampled = shapley_values(value, 3, rng=rng, exact_max=0, n_permutations=400)
    assert math.isclose(sampled.sum(), 7.0)
    np.testing.assert_allclose(sampled, [3.0, 3.0, 1.0], atol=0.3)
