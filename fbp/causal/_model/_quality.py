"""How well a fitted model's mechanisms fit the data they were fitted on."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .._shift._ranking import _align as align
from .._shift._ranking import fmt, jsonable

if TYPE_CHECKING:
    from ._fit import FittedModel

__all__ = ("NodeQuality", "QualityReport", "quality_report")

POOR_R2 = 0.5
"""Below this in-sample R^2 a mechanism is flagged as a poor fit."""


@dataclass(frozen=True, slots=True)
class NodeQuality:
    """The fit of one variable's mechanism (in-sample).

    Attributes:
        node: the variable.
        process: the process that writes it.
        mechanism: the mechanism's short name.
        r2: coefficient of determination (numeric non-roots; ``None`` otherwise).
        nmse: mean squared error divided by the variance (``1 - r2``).
        accuracy: share of correctly predicted categories (categorical non-roots).
    """

    node: str
    process: str
    mechanism: str
    r2: float | None
    nmse: float | None
    accuracy: float | None

    @property
    def poor(self) -> bool:
        """Return whether the fit explains less than :data:`POOR_R2` of the variance."""
        return self.r2 is not None and self.r2 < POOR_R2


@dataclass(frozen=True)
class QualityReport:
    """Per-variable fit quality, worst first, and optionally dowhy's evaluation.

    Attributes:
        nodes: one entry per non-root variable, worst R^2 first.
        evaluation: ``str()`` of ``gcm.evaluate_causal_model``'s result, if asked.
        overall_kl: its KL divergence between generated and observed data, if asked.
    """

    nodes: tuple[NodeQuality, ...]
    evaluation: str | None = None
    overall_kl: float | None = None

    @property
    def poor(self) -> tuple[str, ...]:
        """Return the variables whose mechanism fits poorly."""
        return tuple(q.node for q in self.nodes if q.poor)

    def table(self) -> str:
        """Return the report as human-readable text."""
        rows = [
            [
                q.node,
                q.process,
                q.mechanism,
                fmt(q.r2, False),
                fmt(q.nmse, False),
                fmt(q.accuracy, False),
                "poor" if q.poor else "",
            ]
            for q in self.nodes
        ]
        lines = ["fit quality (in-sample), worst first", ""]
        lines += align(["variable", "process", "mechanism", "R^2", "NMSE", "accuracy", ""], rows)
        if self.overall_kl is not None:
            lines += ["", f"overall KL divergence (generated vs observed): {self.overall_kl:.4g}"]
        if self.evaluation:
            lines += ["", self.evaluation]
        return "\n".join(line.rstrip() for line in lines)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as JSON-able data."""
        out: dict[str, Any] = jsonable(self)
        return out


def quality_report(
    model: FittedModel, *, evaluate: bool = False, nodes: Collection[str] | None = None
) -> QualityReport:
    """Compute the :class:`QualityReport` of ``model`` (of its ``nodes`` only, if given)."""
    from dowhy import gcm

    from ._fit import seeded

    data = model.data
    out = []
    for node in model.nodes:
        if nodes is not None and node not in nodes:
            continue
        parents = model.causal_graph.parents(node)
        if not parents:
            continue
        mech = model.scm.causal_mechanism(node)
        x = data[list(parents)].to_numpy()
        y = data[node].to_numpy()
        r2 = nmse = acc = None
        if isinstance(mech, gcm.ClassifierFCM):
            pred = np.asarray(mech.classifier_model.predict(x)).reshape(-1)
            acc = float(np.mean(pred.astype(str) == y.astype(str)))
        elif hasattr(mech, "prediction_model"):
            pred = np.asarray(mech.prediction_model.predict(x), dtype=float).reshape(-1)
            yf = y.astype(float)
            var = float(np.var(yf))
            mse = float(np.mean((yf - pred) ** 2))
            nmse = mse / var if var > 0 else (0.0 if mse == 0 else float("inf"))
            r2 = 1.0 - nmse
        out.append(
            NodeQuality(
                node, model.causal_graph.process_of(node), model.mechanisms[node], r2, nmse, acc
            )
        )
    out.sort(key=lambda q: (q.r2 if q.r2 is not None else (q.accuracy or 1.0), q.node))
    evaluation = None
    kl = None
    if evaluate:
        with seeded(model.seed):
            result = gcm.evaluate_causal_model(
                model.scm,
                data,
                compare_mechanism_baselines=False,
                evaluate_invertibility_assumptions=False,
                evaluate_causal_structure=False,
            )
        evaluation = str(result)
        kl = getattr(result, "overall_kl_divergence", None)
        kl = None if kl is None else float(kl)
    return QualityReport(tuple(out), evaluation, kl)
