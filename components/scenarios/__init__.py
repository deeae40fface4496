"""scenarios: the example applications of the causal walkthrough, with fault knobs.

Three small applications, each a network in ``networks/``:

- **insurance claims** (after the published dataflow fault-localisation study): claim
  value, value and complexity classification, simple and complex payouts;
- **ML deployment**: ingest, clean, features, model, decision, business metric;
- **non-linear branching**: a router, two non-linear branches and a saturating join.

Every fault knob is an input port declared with ``causal=False``: it stands for a
deployed code change or an upstream data problem, so the causal layer does not see it as
a variable and must find its effect in the data, as it would in production.
"""

from ._claims import (
    CalculateClaimValue,
    Claim,
    ClaimPayout,
    ClaimSource,
    ClassifyClaimComplexity,
    ClassifyClaimValue,
    ComplexPayout,
    SimplePayout,
)
from ._mlops import Clean, CleanV2, Decide, Features, Ingest, Revenue, Score, ScoreV2
from ._nonlinear import Branch, Join, Saturate, Signal, Square

__all__ = (
    "Branch",
    "CalculateClaimValue",
    "Claim",
    "ClaimPayout",
    "ClaimSource",
    "ClassifyClaimComplexity",
    "ClassifyClaimValue",
    "Clean",
    "CleanV2",
    "ComplexPayout",
    "Decide",
    "Features",
    "Ingest",
    "Join",
    "Revenue",
    "Saturate",
    "Score",
    "ScoreV2",
    "Signal",
    "SimplePayout",
    "Square",
)
