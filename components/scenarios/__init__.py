"""scenarios: the example applications of the causal walkthrough, with fault knobs.

Six small applications, each a network in ``networks/``:

- **insurance claims** (after the published dataflow fault-localisation study): claim
  value, value and complexity classification, simple and complex payouts;
- **ML deployment**: ingest, clean, features, model, decision, business metric;
- **non-linear branching**: a router, two non-linear branches and a saturating join;
- **fraud scoring**: features, a logistic model, a triage router and a ledger join;
- **recommender**: relevance per view, baskets aggregated per session, revenue;
- **sensor ETL**: calibration, a validity filter, a heat index and an alert level.

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
from ._fraud import (
    AutoApprove,
    FeatureVector,
    FraudScore,
    Ledger,
    ManualReview,
    ScoredTxn,
    Transaction,
    Transactions,
    Triage,
    TxnFeatures,
)
from ._mlops import Clean, CleanV2, Decide, Features, Ingest, Revenue, Score, ScoreV2
from ._nonlinear import Branch, Join, Saturate, Signal, Square
from ._recommender import Basket, BasketStats, Rank, Relevance, ScoredView, Sessions, View
from ._sensors import Alert, Calibrate, Calibrated, HeatIndex, Reading, Sensors, Valid

__all__ = (
    "Alert",
    "AutoApprove",
    "Basket",
    "BasketStats",
    "Branch",
    "CalculateClaimValue",
    "Calibrate",
    "Calibrated",
    "Claim",
    "ClaimPayout",
    "ClaimSource",
    "ClassifyClaimComplexity",
    "ClassifyClaimValue",
    "Clean",
    "CleanV2",
    "ComplexPayout",
    "Decide",
    "FeatureVector",
    "Features",
    "FraudScore",
    "HeatIndex",
    "Ingest",
    "Join",
    "Ledger",
    "ManualReview",
    "Rank",
    "Reading",
    "Relevance",
    "Revenue",
    "Saturate",
    "Score",
    "ScoreV2",
    "ScoredTxn",
    "ScoredView",
    "Sensors",
    "Sessions",
    "Signal",
    "SimplePayout",
    "Square",
    "Transaction",
    "Transactions",
    "Triage",
    "TxnFeatures",
    "Valid",
    "View",
)
