"""Causal questions about a network's runs: structural causal models over its dataflow graph.

An ``fbp`` network is a complete causal graph: one variable per output port (stream)
of a process, edges from every stream a process reads to every stream it writes, and
IIPs / parameters as exogenous roots. Given that graph and the runs of the network as
DataFrames (one row per unit of work), this module answers:

* :func:`shift`: which component's change explains the change of a target between two
  runs (a deployed bug, an input data shift);
* :func:`anomaly` and :func:`worst`: why particular units are anomalous at the target;
* :func:`whatif`: the target's distribution if a port is set to a value;
* :func:`influence`: which variables drive the target (arrow strength, intrinsic
  influence);
* :func:`replay`: a recorded run's inputs through new code (swapped components, other
  values), unit by unit, without a model;
* :func:`replay_shift`: the exact attribution of a code change to each swapped
  component, by Shapley over real replays.

Every answer is a ranking with bootstrap intervals, per variable and per process, and
every call takes a ``seed`` that makes it reproducible. Models are fitted with dowhy.gcm
(:func:`fit`); :func:`shift` has its own vectorised engine and a ``method="dowhy"`` path.

Importing this package is cheap: each name is imported on first use (pandas and scipy
with the queries, dowhy only when a model is fitted or a dowhy method is asked for).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._anomaly import AnomalyResult as AnomalyResult
    from ._anomaly import anomaly as anomaly
    from ._anomaly import worst as worst
    from ._influence import InfluenceResult as InfluenceResult
    from ._influence import influence as influence
    from ._model._fit import FittedModel as FittedModel
    from ._model._fit import fit as fit
    from ._model._quality import NodeQuality as NodeQuality
    from ._model._quality import QualityReport as QualityReport
    from ._replay._api import ReplayError as ReplayError
    from ._replay._api import ReplayResult as ReplayResult
    from ._replay._api import replay as replay
    from ._replay._shift import ReplayShiftResult as ReplayShiftResult
    from ._replay._shift import replay_shift as replay_shift
    from ._shift._query import ShiftResult as ShiftResult
    from ._shift._query import shift as shift
    from ._shift._ranking import ProcessScore as ProcessScore
    from ._shift._ranking import Ranking as Ranking
    from ._shift._ranking import VariableScore as VariableScore
    from ._tables._api import CausalTables as CausalTables
    from ._tables._api import causal_graph as causal_graph
    from ._tables._api import fit_traces as fit_traces
    from ._tables._api import shift_between as shift_between
    from ._tables._api import tables as tables
    from ._whatif import WhatIfComparison as WhatIfComparison
    from ._whatif import WhatIfResult as WhatIfResult
    from ._whatif import whatif as whatif

__all__ = (
    "AnomalyResult",
    "CausalTables",
    "FittedModel",
    "InfluenceResult",
    "NodeQuality",
    "ProcessScore",
    "QualityReport",
    "Ranking",
    "ReplayError",
    "ReplayResult",
    "ReplayShiftResult",
    "ShiftResult",
    "VariableScore",
    "WhatIfComparison",
    "WhatIfResult",
    "anomaly",
    "causal_graph",
    "fit",
    "fit_traces",
    "influence",
    "replay",
    "replay_shift",
    "shift",
    "shift_between",
    "tables",
    "whatif",
    "worst",
)

_EXPORTS = {
    "AnomalyResult": "._anomaly",
    "anomaly": "._anomaly",
    "worst": "._anomaly",
    "InfluenceResult": "._influence",
    "influence": "._influence",
    "FittedModel": "._model._fit",
    "fit": "._model._fit",
    "NodeQuality": "._model._quality",
    "QualityReport": "._model._quality",
    "ProcessScore": "._shift._ranking",
    "Ranking": "._shift._ranking",
    "VariableScore": "._shift._ranking",
    "ReplayError": "._replay._api",
    "ReplayResult": "._replay._api",
    "replay": "._replay._api",
    "ReplayShiftResult": "._replay._shift",
    "replay_shift": "._replay._shift",
    "ShiftResult": "._shift._query",
    "shift": "._shift._query",
    "WhatIfComparison": "._whatif",
    "WhatIfResult": "._whatif",
    "whatif": "._whatif",
    "CausalTables": "._tables._api",
    "causal_graph": "._tables._api",
    "fit_traces": "._tables._api",
    "shift_between": "._tables._api",
    "tables": "._tables._api",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        msg = f"module 'fbp.causal' has no attribute {name!r}"
        raise AttributeError(msg)
    try:
        loaded = importlib.import_module(module, __name__)
    except ModuleNotFoundError as exc:
        from ._deps import INSTALL_HINT

        msg = f"fbp.causal needs {exc.name!r}, which is not installed; {INSTALL_HINT}"
        raise ImportError(msg) from exc
    value = getattr(loaded, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
