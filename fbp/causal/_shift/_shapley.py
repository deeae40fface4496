"""Shapley values of a set function evaluated in batches.

The set function takes a boolean matrix, one row per coalition, and returns one value
per row, so the caller can evaluate many coalitions in one vectorised pass. Few
players: every coalition (exact). Many players: random permutations, each paired with
its reverse (antithetic sampling halves the variance for the same cost); coalitions
shared between permutations are evaluated once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ("EXACT_MAX_PLAYERS", "shapley_values")

EXACT_MAX_PLAYERS = 8
"""Up to this many players every one of the ``2**k`` coalitions is evaluated."""

SetFunction = Callable[[np.ndarray], np.ndarray]


def _exact(value: SetFunction, k: int) -> np.ndarray:
    codes = np.arange(1 << k)
    masks = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    v = np.asarray(value(masks), dtype=float)
    size = masks.sum(axis=1)
    weight = np.array(
        [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    )
    phi = np.empty(k)
    for i in range(k):
        without = codes[(codes >> i) & 1 == 0]
        phi[i] = float(np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without])))
    return phi


def _permutations(
    value: SetFunction, k: int, n_permutations: int, rng: np.random.Generator
) -> np.ndarray:
    half = max(1, n_permutations // 2)
    perms = [rng.permutation(k) for _ in range(half)]
    perms += [p[::-1] for p in perms]
    # Prefix coalitions of every permutation: row j of a permutation's block holds
    # its first j players.
    blocks = []
    for p in perms:
        m = np.zeros((k + 1, k), dtype=bool)
        for j in range(k):
            m[j + 1 :, p[j]] = True
        blocks.append(m)
    masks = np.vstack(blocks)
    unique, inverse = np.unique(masks, axis=0, return_inverse=True)
    v_unique = np.asarray(value(unique), dtype=float)
    v = v_unique[np.ravel(inverse)].reshape(len(perms), k + 1)
    phi = np.zeros(k)
    for b, p in enumerate(perms):
        phi[p] += np.diff(v[b])
    return phi / len(perms)


def shapley_values(
    value: SetFunction,
    k: int,
    *,
    rng: np.random.Generator,
    exact_max: int = EXACT_MAX_PLAYERS,
    n_permutations: int = 64,
) -> np.ndarray:
    """Return the Shapley value of each of ``k`` players.

    Args:
        value: maps a ``(coalitions, k)`` boolean matrix to one value per coalition;
            the empty coalition must be worth 0 for the values to sum to ``v(all)``.
        k: the number of players.
        rng: drives the permutation sampling.
        exact_max: up to this many players, compute the exact values.
        n_permutations: permutations to sample above ``exact_max``.
    """
    if k == 0:
        return np.zeros(0)
    if k <= exact_max:
        return _exact(value, k)
    return _permutations(value, k, n_permutations, rng)
