"""Which variables drive a target: arrow strength and intrinsic causal influence.

``kind="arrow_strength"`` (``gcm.arrow_strength``, Janzing et al. 2013) scores each
direct input of the target by how much the target's distribution changes when that
edge is cut (for a numeric target: the change of its variance). ``kind="intrinsic"``
(``gcm.intrinsic_causal_influence``, Janzing et al. 2024) splits the target's variance
between all ancestors by the information each one *adds* through its own noise, so a
stage that merely passes its input on scores low.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fbp._core._exceptions import CausalModelError

from ._checks import require_fitted
from ._model._fit import FittedModel, seeded
from ._model._threads import one_blas_thread
from ._shift._ranking import Answer, Ranking, html, rank, table

__all__ = ("InfluenceResult", "influence")


@dataclass(frozen=True)
class InfluenceResult(Answer):
    """How strongly each variable drives the target.

    Attributes:
        target: the variable explained.
        kind: ``"arrow_strength"`` (the target's parents) or ``"intrinsic"`` (all
            ancestors).
        ranking: variables and processes, strongest first, with bootstrap intervals
            (model refitted on resampled training rows).
        confidence: coverage of the intervals.
        n_bootstrap: bootstrap replicates.
        seed: the seed that reproduces this result.
        timings: seconds per phase.
    """

    target: str
    kind: str
    ranking: Ranking

    def top(self, n: int = 3) -> tuple[str, ...]:
        """Return the ``n`` strongest variables."""
        return self.ranking.nodes[:n]

    def table(self, top: int = 10) -> str:
        """Return the ranking as human-readable text."""
        return table(self._header(), self.ranking, top=top, unit="influence", tested=False)

    def _repr_html_(self) -> str:
        return html(self._header(), self.ranking, top=10, unit="influence", tested=False)

    def plot(self, path: str | Path | None = None, *, top: int = 10) -> Any:
        """Draw the ranking (needs the ``plot`` extra): the ``top`` variables'
        influence with their intervals, and the same per process.

        Returns the matplotlib ``Figure``; given ``path``, also saves it there.
        """
        from ._plot import plot_ranking

        title = f"{self.kind.replace('_', ' ')} on {self.target}"
        return plot_ranking(title, self.ranking, unit="influence", top=top, path=path)

    def _header(self) -> str:
        what = (
            "arrow strength of each input"
            if self.kind == "arrow_strength"
            else ("intrinsic causal influence of each ancestor")
        )
        head = (
            f"{what} on {self.target!r}; {self.intervals_note()}"
        )
        return head



def _compute(scm: Any, target: str, kind: str, nodes: tuple[str, ...], seed: int) -> np.ndarray:
    from dowhy import gcm
    from dowhy.gcm.shapley import ShapleyConfig

    with seeded(seed), one_blas_thread():
        if kind == "arrow_strength":
            res = gcm.arrow_strength(scm, target, n_jobs=1)
            return np.array([float(res.get((p, target), 0.0)) for p in nodes])
        res = gcm.intrinsic_causal_influence(
            scm,
            target,
            prediction_model="exact",
            num_samples_randomization=250,
            num_samples_baseline=500,
            shapley_config=ShapleyConfig(n_jobs=1),
        )
        return np.array([float(res.get(n, 0.0)) for n in nodes])


def influence(
    model: FittedModel,
    target: str,
    *,
    kind: Literal["arrow_strength", "intrinsic"] = "arrow_strength",
    seed: int = 0,
    confidence: float = 0.95,
    n_bootstrap: int = 10,
) -> InfluenceResult:
    """Rank the variables that drive ``target``.

    Args:
        model: the fitted model.
        target: the variable explained.
        kind: ``"arrow_strength"`` (direct inputs) or ``"intrinsic"`` (every
            ancestor's own contribution; slower).
        seed: makes the result reproducible.
        confidence: coverage of the bootstrap intervals.
        n_bootstrap: replicates, each refitting the model on resampled training rows.

    Raises:
        CausalModelError: unknown target or kind, or a target without parents.
    """
    require_fitted(model, "influence()")
    if kind not in ("arrow_strength", "intrinsic"):
        msg = f"unknown kind {kind!r}; use 'arrow_strength' or 'intrinsic'"
        raise CausalModelError(msg)
    target = model.causal_graph.require(target)
    if model.causal_graph.is_root(target):
        msg = (
            f"{target!r} is a root (an input or a parameter): nothing upstream drives it; "
            "ask about a variable downstream"
        )
        raise CausalModelError(msg)
    model = model.for_shapley()  # linear where "select" chose flexible: see its doc
    ancestors, scm = model.submodel(target)
    nodes = model.causal_graph.parents(target) if kind == "arrow_strength" else ancestors
    t0 = time.perf_counter()
    values = _compute(scm, target, kind, tuple(nodes), seed)
    t1 = time.perf_counter()
    reps = model.bootstrap(
        ancestors,
        n_bootstrap,
        seed,
        "influence()",
        lambda refit, s: _compute(refit, target, kind, tuple(nodes), s),
    )
    t2 = time.perf_counter()
    ranking = rank(
        model.causal_graph,
        nodes,
        values,
        reps,
        confidence,
        interval="normal",
    )
    return InfluenceResult(
        target=target,
        kind=kind,
        ranking=ranking,
        confidence=confidence,
        n_bootstrap=n_bootstrap,
        seed=seed,
        timings={"estimate": t1 - t0, "bootstrap": t2 - t1, "total": t2 - t0},
    )
