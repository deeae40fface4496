"""What the target would be if some ports were set: interventions on a fitted model.

Intervened and observational samples share one draw of the noise, so the predicted
effect reflects the intervention, not two independent draws (the same coupling as
``gcm.interventional_samples`` on one noise sample). Intervals come from refitting the
model on resampled training rows. :meth:`WhatIfResult.compare_with` checks the
prediction against a real re-run of the network with the port set (``--set``).
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fbp._core._exceptions import CausalModelError

from ._checks import require_fitted
from ._model._fit import FittedModel, seeded
from ._model._noise import Intervention, draw_noise, propagate, reconstruct_noise
from ._model._quality import quality_report
from ._shift._ranking import Answer, fmt, jsonable, normal_interval

__all__ = ("Summary", "WhatIfComparison", "WhatIfResult", "whatif")

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass(frozen=True, slots=True)
class Summary:
    """A distribution in a few numbers.

    Attributes:
        mean: the mean.
        std: the standard deviation.
        quantiles: the 5, 25, 50, 75 and 95 % quantiles.
        ci_low: lower end of the bootstrap interval of the mean.
        ci_high: upper end of that interval.
    """

    mean: float
    std: float
    quantiles: tuple[float, ...]
    ci_low: float | None = None
    ci_high: float | None = None


def _summary(x: np.ndarray, reps: np.ndarray | None, confidence: float) -> Summary:
    lo = hi = None
    if reps is not None and len(reps) > 1:
        a, b = normal_interval(np.array([np.mean(x)]), reps[:, None], confidence)
        lo, hi = float(a[0]), float(b[0])
    q = tuple(float(v) for v in np.quantile(x, QUANTILES))
    return Summary(float(np.mean(x)), float(np.std(x)), q, lo, hi)


@dataclass(frozen=True, slots=True)
class WhatIfComparison:
    """A prediction checked against the target observed in a real re-run.

    Attributes:
        predicted_mean: the model's mean of the target under the intervention.
        observed_mean: the mean observed in the re-run.
        error: ``predicted_mean - observed_mean``.
        relative_error: ``error / |observed_mean|`` (``None`` if that is 0).
        z: the error in standard errors of the prediction (bootstrap) and of the
            observed mean combined.
        within_interval: whether the observed mean lies in ``[interval_low,
            interval_high]``.
        interval_low: lower end of the predicted interval of the mean, widened by
            the sampling error of the observed mean (the interval of the model's mean
            and the standard error of a run of ``n_observed`` units combined): where
            the mean of such a run lands if the model is right.
        interval_high: upper end of that interval.
        ks_statistic: Kolmogorov-Smirnov distance between predicted and observed
            distributions.
        ks_p_value: its p-value.
        wasserstein: the earth mover's distance between the two distributions.
        n_observed: how many observed units.
        warnings: why a prediction missed, when it did.
    """

    predicted_mean: float
    observed_mean: float
    error: float
    relative_error: float | None
    z: float | None
    within_interval: bool | None
    interval_low: float | None
    interval_high: float | None
    ks_statistic: float
    ks_p_value: float
    wasserstein: float
    n_observed: int
    warnings: tuple[str, ...] = ()

    def table(self) -> str:
        """Return the comparison as text."""
        rel = "-" if self.relative_error is None else f"{self.relative_error:+.1%}"
        inside = {None: "-", True: "yes", False: "no"}[self.within_interval]
        return (
            f"predicted mean {fmt(self.predicted_mean, False)}, observed mean "
            f"{fmt(self.observed_mean, False)} over {self.n_observed} units\n"
            f"error {fmt(self.error)} ({rel}), z {fmt(self.z)}, observed mean inside the "
            f"predicted interval: {inside}\n"
            f"distribution: KS {self.ks_statistic:.3f} (p={self.ks_p_value:.2g}), "
            f"Wasserstein {self.wasserstein:.4g}"
        ) + "".join(f"\nwarning: {w}" for w in self.warnings)

    def to_dict(self) -> dict[str, Any]:
        """Return the comparison as JSON-able data."""
        out: dict[str, Any] = jsonable(self)
        return out


@dataclass(frozen=True)
class WhatIfResult(Answer):
    """The predicted distribution of the target under an intervention.

    Attributes:
        target: the variable predicted.
        interventions: a description of each intervention.
        predicted: the target under the intervention.
        observational: the target without it (same noise draw).
        effect: ``predicted.mean - observational.mean``.
        effect_ci_low: lower end of the bootstrap interval of the effect.
        effect_ci_high: upper end of that interval.
        samples: the predicted target samples.
        not_ancestors: intervened variables that cannot affect the target.
        confidence: coverage of the intervals.
        n_bootstrap: bootstrap replicates.
        seed: the seed that reproduces this result.
        timings: seconds per phase.
        miss_causes: what would most likely make a real run miss this prediction
            (extrapolation, poorly fitted mechanisms, the units compared), named by
            :meth:`compare_with` when it does.
    """

    target: str
    interventions: Mapping[str, str]
    predicted: Summary
    observational: Summary
    effect: float
    effect_ci_low: float | None
    effect_ci_high: float | None
    samples: np.ndarray = field(repr=False)
    not_ancestors: tuple[str, ...] = ()
    miss_causes: tuple[str, ...] = ()

    def compare_with(self, observed: pd.Series | np.ndarray | Any) -> WhatIfComparison:
        """Compare the prediction with the target observed in a real re-run.

        Args:
            observed: the target's values from a run of the network with the
                intervention applied (e.g. ``python -m fbp run ... --set``).
        """
        obs = np.asarray(observed, dtype=float).reshape(-1)
        if len(obs) == 0 or not np.isfinite(obs).all():
            msg = "compare_with() needs at least one finite observed value of the target"
            raise CausalModelError(msg)
        pm, om = self.predicted.mean, float(np.mean(obs))
        err = pm - om
        se_obs = float(np.std(obs)) / math.sqrt(len(obs))
        se_pred = 0.0
        inside = lo = hi = None
        zq = float(stats.norm.ppf(0.5 + self.confidence / 2.0))
        if self.predicted.ci_low is not None and self.predicted.ci_high is not None:
            # The two errors are independent: their half-widths add in quadrature.
            half_pred = (self.predicted.ci_high - self.predicted.ci_low) / 2.0
            se_pred = half_pred / zq
            mid = (self.predicted.ci_high + self.predicted.ci_low) / 2.0
            half = math.hypot(half_pred, zq * se_obs)
            lo, hi = mid - half, mid + half
            inside = lo <= om <= hi
        se = math.sqrt(se_obs**2 + se_pred**2)
        ks = stats.ks_2samp(self.samples, obs)
        warnings: list[str] = []
        if inside is False:
            warnings.append(
                f"the observed mean {om:.4g} is outside the predicted interval "
                f"[{lo:.4g}, {hi:.4g}] (with the run's sampling error): "
                + "; ".join(self.miss_causes or ("the model misses a mechanism",))
            )
        return WhatIfComparison(
            predicted_mean=pm,
            observed_mean=om,
            error=err,
            relative_error=None if om == 0 else err / abs(om),
            z=None if se == 0 else err / se,
            within_interval=inside,
            interval_low=lo,
            interval_high=hi,
            ks_statistic=float(ks.statistic),
            ks_p_value=float(ks.pvalue),
            wasserstein=float(stats.wasserstein_distance(self.samples, obs)),
            n_observed=len(obs),
            warnings=tuple(warnings),
        )

    def table(self) -> str:
        """Return the prediction as text."""
        what = ", ".join(f"{k} := {v}" for k, v in self.interventions.items())
        lines = [
            f"what if {what}: {self.target!r} ({self.intervals_note()})",
            "",
        ]
        for name, s in (("intervened", self.predicted), ("observational", self.observational)):
            ci = (
                f"[{fmt(s.ci_low, False)}, {fmt(s.ci_high, False)}]"
                if s.ci_low is not None
                else "-"
            )
            qs = " ".join(fmt(q, False) for q in s.quantiles)
            lines.append(
                f"{name:13s}  mean {fmt(s.mean, False)} {ci}  std {fmt(s.std, False)}  "
                f"quantiles 5/25/50/75/95%: {qs}"
            )
        ci = (
            f"[{fmt(self.effect_ci_low)}, {fmt(self.effect_ci_high)}]"
            if self.effect_ci_low is not None
            else "-"
        )
        lines.append(f"{'effect':13s}  {fmt(self.effect)} {ci}")
        if self.not_ancestors:
            lines.append(f"no path to the target from: {', '.join(self.not_ancestors)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from .._core._html import html_table

        what = ", ".join(f"{k} := {v}" for k, v in self.interventions.items())

        def interval(lo: float | None, hi: float | None, signed: bool) -> str:
            return "-" if lo is None else f"[{fmt(lo, signed)}, {fmt(hi, signed)}]"

        rows = [
            (
                name,
                fmt(s.mean, False),
                interval(s.ci_low, s.ci_high, False),
                fmt(s.std, False),
                *(fmt(q, False) for q in s.quantiles),
            )
            for name, s in (("intervened", self.predicted), ("observational", self.observational))
        ]
        rows.append(
            ("effect", fmt(self.effect), interval(self.effect_ci_low, self.effect_ci_high, True))
            + ("",) * 6
        )
        caption = (
            f"what if {what}: {self.target!r} ({self.intervals_note()})"
        )
        header = ("", "mean", "interval", "std", "5%", "25%", "50%", "75%", "95%")
        out = html_table(caption, header, rows, numeric=8)
        if self.not_ancestors:
            out += f"<p>no path to the target from: {escape(', '.join(self.not_ancestors))}</p>"
        return out

    def plot(
        self, path: str | Path | None = None, *, rerun: WhatIfComparison | None = None
    ) -> Any:
        """Draw the prediction (needs the ``plot`` extra): the target's distribution
        under the intervention against the observational one, with the mean's interval;
        given ``rerun`` (from :meth:`compare_with`), the mean a real re-run observed.

        Returns the matplotlib ``Figure``; given ``path``, also saves it there.
        """
        from ._plot import plot_whatif

        return plot_whatif(self, rerun, path=path)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-able data (without the samples)."""
        out: dict[str, Any] = jsonable(self)
        out.pop("samples", None)
        return out


def _as_function(node: str, value: Any) -> tuple[Intervention, str]:
    if callable(value):
        fn: Callable[[np.ndarray], np.ndarray] = value
        return fn, getattr(value, "__name__", "f(x)")
    if isinstance(value, (numbers.Real, str)) and not isinstance(value, bool):
        const = value

        def constant(x: np.ndarray) -> np.ndarray:
            return np.full(x.shape, const, dtype=object if isinstance(const, str) else float)

        return constant, repr(value)
    msg = (
        f"intervention on {node!r} must be a number, a category label or a function "
        f"of the node's natural values, got {type(value).__name__}"
    )
    raise CausalModelError(msg)


def whatif(
    model: FittedModel,
    interventions: Mapping[str, float | str | Intervention],
    target: str,
    *,
    n: int = 10_000,
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 20,
    units: pd.DataFrame | None = None,
) -> WhatIfResult:
    """Predict the distribution of ``target`` if ``interventions`` were applied.

    Args:
        model: the fitted model.
        interventions: per variable, a value to set it to, or a function of its
            natural values (``lambda x: x * 1.1``), as in ``gcm.interventional_samples``.
        target: the variable to predict.
        n: units to predict: the model's training rows (at most ``n`` of them), or
            ``n`` samples drawn from the model when a variable downstream of the
            intervention has a mechanism that cannot reconstruct its noise.
        seed: makes the result reproducible.
        confidence: coverage of the bootstrap intervals.
        n_bootstrap: replicates, each refitting the model on resampled training rows.
        units: predict for these units instead (a table of a run, e.g. the re-run
            that checks the prediction): what is not downstream of an intervened
            variable keeps their values, the rest is predicted with noise drawn from
            the model. This compares a prediction with a run on the same units, free
            of the difference between two samples of units.

    Raises:
        CausalModelError: an unknown variable, an unusable intervention value, or a
            categorical target.
    """
    require_fitted(model, "whatif()")
    if not interventions:
        msg = "whatif() needs at least one intervention, e.g. {'Scale.FACTOR': 2.0}"
        raise CausalModelError(msg)
    target = model.causal_graph.require(target)
    if model.data[target].dtype == object:
        msg = f"target {target!r} is categorical; whatif() predicts a numeric target"
        raise CausalModelError(msg)
    fns: dict[str, Intervention] = {}
    described: dict[str, str] = {}
    for node, value in interventions.items():
        node = model.causal_graph.require(node, "intervened variable")
        fns[node], described[node] = _as_function(node, value)
    nodes = model.causal_graph.ancestors(target)
    relevant = {k: v for k, v in fns.items() if k in nodes}
    t0 = time.perf_counter()
    _, sub = model.submodel(target)
    downstream = _downstream(model, nodes, relevant)
    down = [k for k in nodes if k in downstream]
    # Only the mechanisms downstream of the intervention are used when units are
    # kept as observed: the bootstrap refits those (and nothing upstream).
    needed = [
        k for k in nodes if k in downstream or any(c in downstream for c in _children(model, k))
    ]
    data = model.data if model.data is not None and len(model.data) else None
    by_rows = data is not None and _invertible(sub, downstream)
    rng = np.random.default_rng(seed)

    def simulate(scm: Any, s: int, rows: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        if units is not None:
            with seeded(s):
                noise = draw_noise(scm, down, len(units))
            fixed = {k: units[k].to_numpy(dtype=float) for k in nodes if k not in downstream}
            obs = _propagate_fixed(scm, nodes, noise, fixed, {})[target].astype(float)
            itv = _propagate_fixed(scm, nodes, noise, fixed, relevant)[target].astype(float)
            return itv, obs
        if rows is not None:
            # The units as observed: what is not downstream of an intervened variable
            # keeps its observed values, and each unit keeps its own noise in the
            # mechanisms downstream (reconstructed from the row), so the dependence
            # between the inputs of a component is the data's, not the model's.
            noise = reconstruct_noise(scm, down, rows)
            fixed = {k: rows[k].to_numpy(dtype=float) for k in nodes if k not in downstream}
            obs = rows[target].to_numpy(dtype=float)
            itv = _propagate_fixed(scm, nodes, noise, fixed, relevant)[target].astype(float)
            return itv, obs
        with seeded(s):
            noise = draw_noise(scm, nodes, n)
        obs = propagate(scm, nodes, noise)[target].astype(float)
        itv = propagate(scm, nodes, noise, relevant)[target].astype(float)
        return itv, obs

    if units is not None:
        missing = [k for k in nodes if k not in downstream and k not in units.columns]
        if missing:
            msg = (
                f"units lack the column(s) {missing[:3]}, which whatif() keeps at their "
                "observed values; pass a table of the same network"
            )
            raise CausalModelError(msg)
        by_rows = False
    rows = None
    if by_rows:
        assert data is not None
        pick = rng.choice(len(data), size=n, replace=False) if len(data) > n else None
        rows = data if pick is None else data.iloc[np.sort(pick)]
    itv, obs = simulate(sub, seed, rows)
    t1 = time.perf_counter()
    reps = np.zeros((n_bootstrap, 2))
    if n_bootstrap:
        data = model.require_data("whatif()")
        for b in range(n_bootstrap):
            brng = np.random.default_rng([seed, b])
            sample = data.iloc[brng.integers(0, len(data), len(data))].reset_index(drop=True)
            with seeded(seed + 1 + b):
                if by_rows or units is not None:
                    refit = model.refit(sample, needed, empirical=frozenset(needed) - downstream)
                else:
                    refit = model.refit(sample, nodes)
            brows = None
            if by_rows:
                brows = sample.iloc[: min(len(sample), n)]
            bi, bo = simulate(refit, seed + 1 + b, brows)
            reps[b] = (bi.mean(), bo.mean())
    t2 = time.perf_counter()
    r = reps if n_bootstrap else None
    eff_lo = eff_hi = None
    if r is not None and len(r) > 1:
        effect = np.array([itv.mean() - obs.mean()])
        a, b_ = normal_interval(effect, (r[:, 0] - r[:, 1])[:, None], confidence)
        eff_lo, eff_hi = float(a[0]), float(b_[0])
    return WhatIfResult(
        target=target,
        interventions=described,
        predicted=_summary(itv, None if r is None else r[:, 0], confidence),
        observational=_summary(obs, None if r is None else r[:, 1], confidence),
        effect=float(itv.mean() - obs.mean()),
        effect_ci_low=eff_lo,
        effect_ci_high=eff_hi,
        samples=itv,
        not_ancestors=tuple(k for k in fns if k not in nodes),
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        timings={"prediction": t1 - t0, "bootstrap": t2 - t1, "total": t2 - t0},
        miss_causes=_miss_causes(model, interventions, downstream, units is not None),
    )


def _miss_causes(
    model: FittedModel,
    interventions: Mapping[str, Any],
    downstream: frozenset[str],
    same_units: bool,
) -> tuple[str, ...]:
    """Return what would most likely make a real run miss the prediction, likeliest first."""
    causes: list[str] = []
    data = model.data
    for node, value in interventions.items():
        if data is None or not len(data) or callable(value) or isinstance(value, str):
            continue
        if node not in data.columns or data[node].dtype == object:
            continue
        seen = np.unique(data[node].to_numpy(dtype=float))
        v = float(value)
        if v < seen[0] or v > seen[-1]:
            causes.append(
                f"{node} := {v:g} is outside the values seen in training "
                f"[{seen[0]:.4g}, {seen[-1]:.4g}]: the prediction extrapolates"
            )
        elif len(seen) <= 5 and not np.isclose(seen, v).any():
            shown = ", ".join(f"{x:.4g}" for x in seen)
            causes.append(
                f"{node} was trained at {shown} only: between them the model interpolates; "
                "fit on runs at more settings"
            )
    has_rows = data is not None and len(data) > 0
    poor = [
        (q.node, q.r2)
        for q in (quality_report(model, nodes=downstream).nodes if has_rows else ())
        if q.node in downstream and q.r2 is not None and q.r2 < 0.9
    ]
    if poor:
        named = ", ".join(f"{n} (R^2 {r2:.2f})" for n, r2 in poor[:3])
        causes.append(f"mechanisms downstream of the intervention fit poorly: {named}")
    if not same_units:
        causes.append(
            "the run compared is another sample of units than the training runs: compare "
            "on its own units (whatif(..., units=its table); the CLI's --rerun does)"
        )
    return tuple(causes)


def _children(model: FittedModel, node: str) -> list[str]:
    return list(model.causal_graph.graph.successors(node))


def _downstream(
    model: FittedModel, nodes: tuple[str, ...], interventions: Mapping[str, Intervention]
) -> frozenset[str]:
    """Return the intervened variables and their descendants among ``nodes``."""
    out: set[str] = set()
    for k in interventions:
        out |= {k} | set(model.causal_graph.descendants(k))
    return frozenset(out & set(nodes))


def _invertible(scm: Any, nodes: frozenset[str]) -> bool:
    from dowhy.gcm.causal_mechanisms import InvertibleFunctionalCausalModel

    return all(
        scm.graph.in_degree(n) == 0
        or isinstance(scm.causal_mechanism(n), InvertibleFunctionalCausalModel)
        for n in nodes
    )


def _propagate_fixed(
    scm: Any,
    nodes: tuple[str, ...],
    noise: Mapping[str, np.ndarray],
    fixed: Mapping[str, np.ndarray],
    interventions: Mapping[str, Intervention],
) -> dict[str, np.ndarray]:
    """Propagate like :func:`propagate`, with the ``fixed`` variables at their values."""
    from ._model._noise import parents_of

    values: dict[str, np.ndarray] = {}
    for node in nodes:
        if node in fixed:
            v = np.asarray(fixed[node])
        elif scm.graph.in_degree(node) == 0:
            v = np.asarray(noise[node])
        else:
            parents = np.column_stack([values[p] for p in parents_of(scm, node)])
            v = np.asarray(scm.causal_mechanism(node).evaluate(parents, noise[node])).reshape(-1)
        if node in interventions:
            v = np.broadcast_to(np.asarray(interventions[node](v)), v.shape).copy()
        values[node] = v
    return values
