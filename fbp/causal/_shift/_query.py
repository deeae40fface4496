"""Which mechanism changes explain the change of a target between two runs.

The method is dowhy's ``distribution_change`` (Budhathoki et al., "Why did the
distribution change?", AISTATS 2021): test every ancestor of the target for a change
of its mechanism, keep the unchanged ones fitted on both runs, and split the change of
the target between the changed ones with Shapley values over "which mechanisms are the
new ones". ``method="fast"`` computes it with closed-form tests and fits and a
vectorised simulator; ``method="dowhy"`` calls ``gcm.distribution_change`` itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import networkx as nx
import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

from .._checks import check_fraction, check_method
from .._deps import require
from .._model._fit import FittedModel, build_scm, seeded
from .._model._stats import Correction, adjust_rows, distribution_test
from .._model._threads import one_blas_thread
from .._tables._frames import to_dowhy_frame
from ._attribution import MeanModel, Rows, attribute, sampled_game
from ._changes import mechanism_changes
from ._problem import Problem, problem, subsample, subsample_index
from ._result import ShiftResult, build_result

__all__ = ("Measure", "ShiftResult", "shift")

Measure = Literal["mean", "kl"] | Callable[[np.ndarray, np.ndarray], float]
_CORRECTIONS = ("holm", "bh", "bonferroni", "none")


def _check_options(
    method: str, confidence: float, alpha: float, correction: str, n_bootstrap: int
) -> None:
    check_method(method)
    check_fraction("confidence", confidence, "0.95")
    check_fraction("alpha", alpha, "0.05")
    if correction not in _CORRECTIONS:
        msg = f"unknown correction {correction!r}; use one of {', '.join(map(repr, _CORRECTIONS))}"
        raise CausalModelError(msg)
    if n_bootstrap < 0:
        msg = f"n_bootstrap must be >= 0, got {n_bootstrap}"
        raise CausalModelError(msg)


def _measure_fn(
    measure: Measure, categorical: bool, target: str, levels: int
) -> tuple[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Return the measure's name and a batched ``(base (N,), rows (C, N)) -> (C,)``."""
    if measure == "mean":
        if categorical:
            msg = (
                f"target {target!r} is categorical, so its mean is meaningless; "
                "use measure='kl' or a callable"
            )
            raise CausalModelError(msg)
        return "mean", lambda base, rows: rows.mean(axis=1) - base.mean()
    if measure == "kl":
        if categorical:

            def kl_discrete(base: np.ndarray, rows: np.ndarray) -> np.ndarray:
                p = np.bincount(base.astype(int), minlength=levels) + 0.5
                p = p / p.sum()
                out = []
                for r in rows:
                    q = np.bincount(r.astype(int), minlength=levels) + 0.5
                    q = q / q.sum()
                    out.append(float(np.sum(p * np.log(p / q))))
                return np.asarray(out)

            return "kl", kl_discrete
        auto_estimate_kl_divergence = require("dowhy.gcm.divergence").auto_estimate_kl_divergence

        def kl(base: np.ndarray, rows: np.ndarray) -> np.ndarray:
            return np.asarray([float(auto_estimate_kl_divergence(base, r)) for r in rows])

        return "kl", kl
    if callable(measure):
        fn = measure
        name = getattr(fn, "__name__", "custom")
        return name, lambda base, rows: np.asarray([float(fn(base, r)) for r in rows])
    msg = f"unknown measure {measure!r}; use 'mean', 'kl' or a callable(before, after) -> float"
    raise CausalModelError(msg)


def shift(
    graph_or_model: nx.DiGraph | FittedModel,
    before: pd.DataFrame,
    after: pd.DataFrame,
    target: str,
    *,
    measure: Measure = "mean",
    method: Literal["fast", "dowhy"] = "fast",
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 30,
    alpha: float = 0.01,
    correction: Correction = "holm",
    num_samples: int = 4000,
    max_rows: int = 20_000,
    dowhy_options: Mapping[str, Any] | None = None,
) -> ShiftResult:
    """Explain the change of ``target`` between ``before`` and ``after``.

    Every ancestor of the target is tested for a change of its mechanism (roots: of
    their distribution), on all rows. The changed ones are the players of a Shapley
    game whose value is the change of the target when those players switch to their
    "after" mechanism; the attributions add up to the modelled change.

    Args:
        graph_or_model: the causal graph, or a :class:`FittedModel` (its graph is used;
            mechanisms are refitted on ``before`` and ``after``).
        before: one row per unit of work of the reference run.
        after: the same columns for the run to explain.
        target: the variable whose change is explained.
        measure: ``"mean"`` (default; attributions in the target's units, summing to
            the change of its mean), ``"kl"`` (KL divergence of the target's
            distributions; needed for a categorical target), or a callable
            ``(before_samples, after_samples) -> float``.
        method: ``"fast"`` (closed-form tests and fits, vectorised simulation) or
            ``"dowhy"`` (``gcm.distribution_change`` with regression-based tests, for
            cross-checking; much slower).
        seed: makes the result reproducible.
        confidence: coverage of the bootstrap intervals.
        n_bootstrap: bootstrap replicates (0 for none).
        alpha: significance level of the mechanism tests and of the shift gate.
        correction: multiple-testing correction of the mechanism tests: ``"holm"``
            (family-wise error, default), ``"bh"`` (false discovery rate),
            ``"bonferroni"`` or ``"none"``.
        num_samples: samples drawn per coalition for a measure other than the mean
            (the mean of the linear model is computed exactly).
        max_rows: rows per run used to fit the mechanisms for the attribution. The
            linear screen of the mechanism tests uses every row, its flexible
            confirmation up to 50,000 per run.
        dowhy_options: extra keyword arguments for ``gcm.distribution_change``.

    Raises:
        CausalModelError: unknown target, invalid graph, unusable columns, too few
            rows, or a model whose mechanisms the fast method cannot reproduce.
    """
    _check_options(method, confidence, alpha, correction, n_bootstrap)
    t0 = time.perf_counter()
    pb, model = problem(graph_or_model, before, after, target)
    cat_target = pb.levels[-1] > 0
    name, measure_fn = _measure_fn(measure, cat_target, pb.target, pb.levels[-1])
    old, new = pb.enc.arrays
    gate = distribution_test(old[:, -1], new[:, -1], categorical=cat_target)
    obs_rng = np.random.default_rng(seed)
    observed = float(
        measure_fn(
            subsample(old[:, -1:], max_rows, obs_rng)[:, 0],
            subsample(new[:, -1:], max_rows, obs_rng)[:, 0][None, :],
        )[0]
    )
    asked = _Asked(
        name,
        measure_fn,
        seed,
        confidence,
        n_bootstrap,
        alpha,
        correction,
        num_samples,
        gate,
        observed,
        t0,
    )
    if method == "dowhy":
        return _shift_dowhy(pb, model, before, after, asked, dowhy_options or {})
    if model is not None:
        model.require_fast_compatible(pb.nodes)
    with one_blas_thread():
        return _shift_fast(pb, asked, max_rows)


@dataclass(frozen=True)
class _Asked:
    """What a shift query asks, and what it has measured before either engine runs."""

    name: str
    measure_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]
    seed: int
    confidence: float
    n_bootstrap: int
    alpha: float
    correction: Correction
    num_samples: int
    gate: float
    observed: float | None
    t0: float

    def result(
        self,
        pb: Problem,
        method: str,
        values: np.ndarray,
        reps: np.ndarray,
        p: list[float | None],
        p_adj: list[float | None],
        changed: list[bool],
        timings: dict[str, float],
        **extra: Any,
    ) -> ShiftResult:
        """The result of either engine, with the query's settings."""
        return build_result(
            pb,
            self.name,
            method,
            values,
            reps if self.n_bootstrap else None,
            p,
            p_adj,
            changed,
            gate=self.gate,
            observed=self.observed,
            alpha=self.alpha,
            correction=self.correction,
            confidence=self.confidence,
            n_bootstrap=self.n_bootstrap,
            seed=self.seed,
            timings=timings,
            **extra,
        )


def _bootstrap_weights(n_old: int, n_new: int, seed: int, n_bootstrap: int) -> np.ndarray | None:
    """Return multinomial resampling counts ``(B, n_old + n_new)``, one row per replicate."""
    if not n_bootstrap:
        return None
    w = np.empty((n_bootstrap, n_old + n_new))
    for b, child in enumerate(np.random.SeedSequence(seed).spawn(n_bootstrap)):
        brng = np.random.default_rng(child)
        w[b, :n_old] = np.bincount(brng.integers(0, n_old, n_old), minlength=n_old)
        w[b, n_old:] = np.bincount(brng.integers(0, n_new, n_new), minlength=n_new)
    return w


def _shift_fast(pb: Problem, asked: _Asked, max_rows: int) -> ShiftResult:
    name, measure_fn, seed = asked.name, asked.measure_fn, asked.seed
    n_bootstrap = asked.n_bootstrap
    alpha, correction, num_samples, t0 = asked.alpha, asked.correction, asked.num_samples, asked.t0
    old, new = pb.enc.arrays
    n_old, n_new = len(old), len(new)
    # One set of resampling weights drives the whole pipeline: every replicate
    # re-decides which variables changed, then refits and re-attributes.
    w = _bootstrap_weights(n_old, n_new, seed, n_bootstrap)
    tests = mechanism_changes(pb, seed, alpha, w, correction)
    p_adj_rows = adjust_rows(tests.p, correction)
    changed_rows = p_adj_rows < alpha
    changed = [bool(c) for c in changed_rows[0]]
    players = [i for i, c in enumerate(changed) if c]
    t_test = time.perf_counter()

    rng = np.random.default_rng(seed)
    io = subsample_index(n_old, max_rows, rng)
    jn = subsample_index(n_new, max_rows, rng)
    old_s, new_s = old[io], new[jn]
    n_nodes = len(pb.nodes)
    reps = np.zeros((n_bootstrap, n_nodes))
    candidates = [int(i) for i in np.flatnonzero(changed_rows.any(axis=0))]
    children = np.random.SeedSequence([seed, 2]).spawn(n_bootstrap)
    if name == "mean":
        # The mean of a linear model is exact in closed form: no sampling, no noise,
        # and each bootstrap replicate only reweighs the rows of prebuilt designs.
        rows = Rows.build(pb, old_s, new_s)
        model = MeanModel.fit(pb, rows, np.ones(len(old_s)), np.ones(len(new_s)), players)
        values = np.zeros(n_nodes)
        values[players] = model.shapley(players, rng)
        t_attr = time.perf_counter()
        if candidates and w is not None:
            boots = MeanModel.fit_many(pb, rows, w[:, io], w[:, n_old + jn], candidates)
            for b, (child, boot) in enumerate(zip(children, boots, strict=True)):
                bplayers = [int(i) for i in np.flatnonzero(changed_rows[b + 1])]
                reps[b, bplayers] = boot.shapley(bplayers, np.random.default_rng(child))
    else:
        phi = attribute(sampled_game(pb, old_s, new_s, players), measure_fn, num_samples, rng)
        values = np.zeros(n_nodes)
        values[players] = phi
        t_attr = time.perf_counter()
        for b, child in enumerate(children):
            brng = np.random.default_rng(child)
            bplayers = [int(i) for i in np.flatnonzero(changed_rows[b + 1])]
            if not bplayers:
                continue
            ob = old_s[brng.integers(0, len(old_s), len(old_s))]
            nb = new_s[brng.integers(0, len(new_s), len(new_s))]
            reps[b, bplayers] = attribute(
                sampled_game(pb, ob, nb, bplayers), measure_fn, num_samples, brng
            )
    t_boot = time.perf_counter()

    return asked.result(
        pb,
        "fast",
        values,
        reps,
        [float(x) for x in tests.p[0]],
        [float(x) for x in p_adj_rows[0]],
        changed,
        {
            "test": t_test - t0,
            "attribution": t_attr - t_test,
            "bootstrap": t_boot - t_attr,
            "total": t_boot - t0,
        },
        flagged=changed_rows[1:] if n_bootstrap else None,
        tests=tests,
    )


def _shift_dowhy(
    pb: Problem,
    model: FittedModel | None,
    before: pd.DataFrame,
    after: pd.DataFrame,
    asked: _Asked,
    options: Mapping[str, Any],
) -> ShiftResult:
    gcm = require("dowhy.gcm")
    from dowhy.gcm.shapley import ShapleyConfig

    measure_fn, seed, n_bootstrap, t0 = asked.measure_fn, asked.seed, asked.n_bootstrap, asked.t0
    correction, alpha, num_samples = asked.correction, asked.alpha, asked.num_samples

    old = to_dowhy_frame(before, pb.nodes)
    new = to_dowhy_frame(after, pb.nodes)
    fdr = {"holm": "holm", "bh": "fdr_bh", "bonferroni": "bonferroni", "none": None}[correction]

    def diff(a: np.ndarray, b: np.ndarray) -> float:
        return float(measure_fn(np.ravel(a), np.ravel(b)[None, :])[0])

    kwargs: dict[str, Any] = {
        "num_samples": num_samples,
        "difference_estimation_func": diff,
        "independence_test": gcm.regression_based,
        "conditional_independence_test": gcm.regression_based,
        "mechanism_change_test_significance_level": alpha,
        "mechanism_change_test_fdr_control_method": fdr,
        "shapley_config": ShapleyConfig(n_jobs=1),
        "return_additional_info": True,
    }
    kwargs.update(options)

    def run(o: pd.DataFrame, n: pd.DataFrame) -> tuple[np.ndarray, list[bool]]:
        scm = build_scm(pb.cg, pb.nodes, o, model)
        attr, flags, _, _ = gcm.distribution_change(scm, o, n, pb.target, **kwargs)
        return (
            np.array([float(attr.get(x, 0.0)) for x in pb.nodes]),
            [bool(flags.get(x, False)) for x in pb.nodes],
        )

    with seeded(seed):
        values, changed = run(old, new)
    t_attr = time.perf_counter()
    reps = np.zeros((n_bootstrap, len(pb.nodes)))
    for b in range(n_bootstrap):
        rng = np.random.default_rng([seed, b])
        ob = old.iloc[rng.integers(0, len(old), len(old))].reset_index(drop=True)
        nb = new.iloc[rng.integers(0, len(new), len(new))].reset_index(drop=True)
        with seeded(seed + 1 + b):
            reps[b] = run(ob, nb)[0]
    t_boot = time.perf_counter()
    none: list[float | None] = [None] * len(pb.nodes)
    timings = {"attribution": t_attr - t0, "bootstrap": t_boot - t_attr, "total": t_boot - t0}
    return asked.result(pb, "dowhy", values, reps, none, none, changed, timings)
