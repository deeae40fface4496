"""Fitting a structural causal model to traced runs (dowhy.gcm), and the fitted model.

The defaults follow what works on dataflow traces: roots (input streams, parameters)
get their empirical distribution, every other numeric variable a linear additive noise
model (it extrapolates, so an input shift beyond the range seen does not make the
downstream mechanisms look broken), categorical variables a logistic classifier.
``mechanisms="auto"`` lets ``gcm.auto.assign_causal_mechanisms`` pick non-linear
models instead; it is slower and its tree models do not extrapolate.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Literal, final

import networkx as nx
import numpy as np
import pandas as pd

from fbp._core._exceptions import CausalModelError

from .._deps import require
from .._flexible import prefers_flexible
from .._tables._frames import MIN_ROWS, encode, to_dowhy_frame
from .._tables._graph import CausalGraph, suggest

__all__ = (
    "FittedModel",
    "MechanismSpec",
    "build_scm",
    "describe",
    "fit",
    "seeded",
)

MechanismSpec = Literal["select", "linear", "auto"] | Mapping[str, Any]
_FAST_KINDS = frozenset({"empirical", "linear", "flexible", "classifier"})


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run dowhy reproducibly: seed its global generators, one job, no progress bars.

    dowhy draws from numpy's and Python's global generators; their state and dowhy's
    configuration are restored afterwards, so a query does not disturb the caller.
    """
    from dowhy.gcm import config

    np_state = np.random.get_state()
    py_state = random.getstate()
    bars, jobs = config.show_progress_bars, config.default_n_jobs
    np.random.seed(seed % (2**32))
    random.seed(seed)
    config.show_progress_bars, config.default_n_jobs = False, 1
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
        config.show_progress_bars, config.default_n_jobs = bars, jobs


def _default_mechanism(is_root: bool, categorical: bool) -> Any:
    from dowhy import gcm

    if is_root:
        return gcm.EmpiricalDistribution()
    if categorical:
        return gcm.ClassifierFCM(gcm.ml.create_logistic_regression_classifier())
    return gcm.AdditiveNoiseModel(gcm.ml.create_linear_regressor())


def describe(mechanism: Any) -> str:
    """Return a short name of a dowhy mechanism: ``empirical``, ``linear``, ``classifier``..."""
    from dowhy import gcm
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if isinstance(mechanism, gcm.EmpiricalDistribution):
        return "empirical"
    if isinstance(mechanism, gcm.AdditiveNoiseModel):
        from .._flexible import FlexibleRegressor

        inner = getattr(mechanism.prediction_model, "sklearn_model", None)
        if isinstance(inner, LinearRegression):
            return "linear"
        if isinstance(inner, FlexibleRegressor):
            return "flexible"
        return f"anm:{type(inner or mechanism.prediction_model).__name__}"
    if isinstance(mechanism, gcm.ClassifierFCM):
        inner = getattr(mechanism.classifier_model, "sklearn_model", None)
        if isinstance(inner, LogisticRegression):
            return "classifier"
        return f"classifier:{type(inner or mechanism.classifier_model).__name__}"
    return type(mechanism).__name__


def build_scm(
    cg: CausalGraph,
    nodes: Sequence[str],
    data: pd.DataFrame,
    model: FittedModel | None = None,
    *,
    empirical: frozenset[str] = frozenset(),
) -> Any:
    """Return an unfitted dowhy SCM over ``nodes`` with default (or ``model``'s) mechanisms.

    The nodes in ``empirical`` get their empirical distribution (nothing upstream of
    them is modelled; their values come from data).
    """
    from dowhy import gcm

    sub = cg.subgraph(nodes)
    sub.remove_edges_from([(a, b) for a, b in list(sub.edges) if b in empirical])
    scm = gcm.InvertibleStructuralCausalModel(sub)
    for node in nodes:
        if node in empirical:
            scm.set_causal_mechanism(node, gcm.EmpiricalDistribution())
        elif model is not None:
            scm.set_causal_mechanism(node, model.scm.causal_mechanism(node).clone())
        else:
            categorical = data[node].dtype == object
            scm.set_causal_mechanism(node, _default_mechanism(cg.is_root(node), categorical))
    return scm


@final
class FittedModel:
    """A structural causal model fitted to the runs of one network.

    Build it with :func:`fit`; keep it with :meth:`save` and :meth:`load` so queries
    do not refit. ``scm`` is the ``dowhy.gcm.InvertibleStructuralCausalModel`` itself,
    for questions this module does not wrap.

    Attributes:
        causal_graph: the validated graph, in topological order.
        scm: the fitted dowhy model.
        data: the rows it was fitted on (dowhy's encoding: floats, categories as
            strings); the bootstrap of every query resamples them.
        mechanisms: a short name of each variable's mechanism.
        seed: the seed of the fit.
    """

    def __init__(
        self,
        causal_graph: CausalGraph,
        scm: Any,
        data: pd.DataFrame,
        mechanisms: Mapping[str, str],
        seed: int,
    ) -> None:
        self.causal_graph = causal_graph
        self.scm = scm
        self.data = data
        self.mechanisms = dict(mechanisms)
        self.seed = seed
        self._shapley_view: FittedModel | None = None

    def __repr__(self) -> str:
        kinds: dict[str, int] = {}
        for k in self.mechanisms.values():
            kinds[k] = kinds.get(k, 0) + 1
        summary = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
        return f"<FittedModel {len(self.mechanisms)} variables ({summary}), {len(self.data)} rows>"

    @property
    def graph(self) -> nx.DiGraph:
        """Return a copy of the causal graph with ``process``, ``port`` and ``role``."""
        g = nx.DiGraph()
        for n in self.causal_graph.order:
            info = self.causal_graph.info[n]
            g.add_node(n, process=info.process, port=info.port, role=info.role)
        g.add_edges_from(self.causal_graph.graph.edges)
        return g

    @property
    def nodes(self) -> tuple[str, ...]:
        """Return the variables in topological order."""
        return self.causal_graph.order

    def require_fast_compatible(self, nodes: Sequence[str]) -> None:
        """Raise unless every mechanism of ``nodes`` is one the fast engine reproduces."""
        other = [n for n in nodes if self.mechanisms[n] not in _FAST_KINDS]
        if other:
            names = ", ".join(f"{n} ({self.mechanisms[n]})" for n in other[:3])
            msg = (
                f"the fast method models every mechanism as linear, but this model uses "
                f"{names}{' and more' if len(other) > 3 else ''}; pass method='dowhy' to "
                "use the model's own mechanisms"
            )
            raise CausalModelError(msg)

    def refit(
        self,
        data: pd.DataFrame,
        nodes: Sequence[str] | None = None,
        *,
        empirical: frozenset[str] = frozenset(),
    ) -> Any:
        """Return a new dowhy SCM over ``nodes`` with this model's mechanisms fitted to ``data``.

        ``empirical`` nodes get their empirical distribution instead (see
        :func:`build_scm`).
        """
        from dowhy import gcm

        nodes = self.nodes if nodes is None else nodes
        scm = build_scm(self.causal_graph, nodes, data, self, empirical=empirical)
        gcm.fit(scm, data[list(nodes)])
        return scm

    def for_shapley(self) -> FittedModel:
        """Return this model with linear mechanisms where ``"select"`` chose flexible ones.

        Anomaly attribution and influence evaluate the model over many coalitions of
        variables at thousands of samples each; with linear mechanisms the fast
        anomaly method is one matrix product, and flexible ones would make these
        queries tens of times slower. A mechanism asked for explicitly (``"flexible"``,
        ``"auto"``, a dowhy object) is kept. The linear fits are made once per model.
        """
        if self._shapley_view is not None:
            return self._shapley_view
        swap = [n for n in self.nodes if _selected_flexible(self.scm.causal_mechanism(n))]
        if not swap:
            self._shapley_view = self
            return self
        from dowhy import gcm
        from dowhy.gcm.causal_models import PARENTS_DURING_FIT
        from dowhy.gcm.fitting_sampling import fit_causal_model_of_target

        scm = gcm.InvertibleStructuralCausalModel(self.causal_graph.subgraph(self.nodes))
        for node in self.nodes:
            if node in swap:
                scm.set_causal_mechanism(node, _default_mechanism(False, False))
                fit_causal_model_of_target(scm, node, self.data)
            else:
                scm.set_causal_mechanism(node, self.scm.causal_mechanism(node))
                scm.graph.nodes[node][PARENTS_DURING_FIT] = self.scm.graph.nodes[node][
                    PARENTS_DURING_FIT
                ]
        names = {n: describe(scm.causal_mechanism(n)) for n in self.nodes}
        view = FittedModel(self.causal_graph, scm, self.data, names, self.seed)
        view._shapley_view = view
        self._shapley_view = view
        return view

    def submodel(self, target: str) -> tuple[tuple[str, ...], Any]:
        """Return the target's ancestors and a fitted SCM restricted to them (shared mechanisms)."""
        from dowhy import gcm
        from dowhy.gcm.causal_models import PARENTS_DURING_FIT

        nodes = self.causal_graph.ancestors(target)
        scm = gcm.InvertibleStructuralCausalModel(self.causal_graph.subgraph(nodes))
        for node in nodes:
            scm.set_causal_mechanism(node, self.scm.causal_mechanism(node))
            # dowhy checks that a mechanism was fitted with the parents it now has.
            scm.graph.nodes[node][PARENTS_DURING_FIT] = self.scm.graph.nodes[node][
                PARENTS_DURING_FIT
            ]
        return nodes, scm

    def quality(self, *, evaluate: bool = False) -> Any:
        """Report how well each mechanism fits its data.

        Args:
            evaluate: also run ``gcm.evaluate_causal_model`` (mechanism CRPS, overall
                KL divergence of generated vs observed data); it takes seconds to
                minutes.

        Returns:
            A :class:`QualityReport`.
        """
        from ._quality import quality_report

        return quality_report(self, evaluate=evaluate)

    def save(self, path: Any, *, include_data: bool = True) -> None:
        """Write the model to ``path`` (a pickle with a format and library versions).

        Args:
            path: a file path.
            include_data: keep the training rows (needed for bootstrap intervals).
        """
        from ._persist import save_model

        save_model(self, path, include_data=include_data)

    @classmethod
    def load(cls, path: Any, *, strict: bool = True) -> FittedModel:
        """Read a model written by :meth:`save`.

        Only load files you trust: unpickling runs code.

        Args:
            path: a file path.
            strict: refuse a file written with other versions of dowhy,
                scikit-learn, numpy, pandas or Python (major.minor).

        Raises:
            CausalModelError: the file is not a saved model, or was written by an
                incompatible format or library version.
        """
        from ._persist import load_model

        return load_model(path, strict=strict)

    def bootstrap(
        self,
        nodes: Sequence[str],
        n: int,
        seed: int,
        what: str,
        compute: Callable[[Any, int], np.ndarray],
    ) -> np.ndarray | None:
        """``n`` bootstrap replicates of an estimate: the mechanisms of ``nodes`` refitted
        to a resample of the training rows (replicate ``b`` drawn with ``[seed, b]``,
        refitted and computed with seed ``seed + 1 + b``), each given to
        ``compute(refit_scm, seed)``; the results stacked, or None when ``n`` is 0.

        Raises:
            CausalModelError: the model was saved without its training rows.
        """
        if not n:
            return None
        data = self.require_data(what)
        out = []
        for b in range(n):
            rng = np.random.default_rng([seed, b])
            sample = data.iloc[rng.integers(0, len(data), len(data))].reset_index(drop=True)
            with seeded(seed + 1 + b):
                refit = self.refit(sample, nodes)
            out.append(compute(refit, seed + 1 + b))
        return np.stack(out)

    def require_data(self, what: str) -> pd.DataFrame:
        """Return the training rows, or raise if the model was saved without them."""
        if self.data is None or len(self.data) == 0:
            msg = (
                f"{what} needs the training rows for its bootstrap, but this model was "
                "saved with include_data=False; pass n_bootstrap=0 or refit"
            )
            raise CausalModelError(msg)
        return self.data


def _resolve(
    cg: CausalGraph, frame: pd.DataFrame, mechanisms: MechanismSpec
) -> tuple[dict[str, Any], list[str]]:
    """Return explicit mechanisms per node and the nodes left to auto-assignment."""
    if isinstance(mechanisms, str):
        if mechanisms not in ("select", "linear", "auto"):
            msg = (
                f"unknown mechanisms {mechanisms!r}; use 'select', 'linear', 'auto' or a "
                "dict {variable: 'select' | 'linear' | 'flexible' | 'auto' | 'empirical' | "
                "dowhy mechanism}"
            )
            raise CausalModelError(msg)
        spec: Mapping[str, Any] = {n: mechanisms for n in cg.order}
    elif isinstance(mechanisms, Mapping):
        unknown = [k for k in mechanisms if k not in cg.info]
        if unknown:
            msg = f"mechanisms names unknown variable {unknown[0]!r}" + suggest(
                str(unknown[0]), cg.order
            )
            raise CausalModelError(msg)
        spec = {n: mechanisms.get(n, "linear") for n in cg.order}
    else:
        msg = f"mechanisms must be 'linear', 'auto' or a dict, got {type(mechanisms).__name__}"
        raise CausalModelError(msg)
    explicit: dict[str, Any] = {}
    auto: list[str] = []
    for node, choice in spec.items():
        root = cg.is_root(node)
        if choice == "auto":
            auto.append(node)
        elif choice in ("select", "flexible"):
            categorical = frame[node].dtype == object
            flexible = not root and not categorical and _numeric_parents(cg, frame, node)
            if flexible and choice == "select":
                parents = frame[list(cg.parents(node))].to_numpy(dtype=np.float64)
                flexible = prefers_flexible(parents, frame[node].to_numpy(dtype=np.float64))
            explicit[node] = (
                _flexible_mechanism(selected=choice == "select")
                if flexible
                else _default_mechanism(root, categorical)
            )
        elif choice == "linear":
            explicit[node] = _default_mechanism(root, frame[node].dtype == object)
        elif choice == "empirical":
            if not root:
                msg = (
                    f"variable {node!r} has parents, so it cannot use 'empirical'; "
                    "use 'linear', 'auto' or a dowhy conditional mechanism"
                )
                raise CausalModelError(msg)
            explicit[node] = _default_mechanism(True, False)
        elif isinstance(choice, str):
            msg = (
                f"unknown mechanism {choice!r} for {node!r}; use 'select', 'linear', "
                "'flexible', 'auto', 'empirical' or a dowhy mechanism object"
            )
            raise CausalModelError(msg)
        else:
            explicit[node] = choice
    return explicit, auto


def _numeric_parents(cg: CausalGraph, frame: pd.DataFrame, node: str) -> bool:
    return all(frame[p].dtype != object for p in cg.parents(node))


def _flexible_mechanism(*, selected: bool = False) -> Any:
    from dowhy import gcm

    from .._flexible import FlexibleRegressor

    return gcm.AdditiveNoiseModel(
        gcm.ml.SklearnRegressionModel(FlexibleRegressor(selected=selected))
    )


def _selected_flexible(mechanism: Any) -> bool:
    inner = getattr(getattr(mechanism, "prediction_model", None), "sklearn_model", None)
    return bool(getattr(inner, "selected", False))


def fit(
    graph: nx.DiGraph,
    data: pd.DataFrame,
    *,
    mechanisms: MechanismSpec = "select",
    seed: int = 0,
) -> FittedModel:
    """Fit a structural causal model of ``graph`` to ``data``.

    Args:
        graph: the causal graph (one node per variable, a DAG).
        data: one row per unit of work, one column per variable.
        mechanisms: ``"select"`` (default: like ``"linear"``, except that a numeric
            variable whose mechanism a flexible basis predicts clearly better out of
            fold, by at least 10 % in two-fold cross-validation, gets that flexible
            additive noise model: thresholds, gates, products, curves), ``"linear"``
            (roots: empirical distribution; numeric variables: linear additive noise
            model; categorical: logistic classifier), ``"auto"``
            (``gcm.auto.assign_causal_mechanisms``; non-linear, slower, trees that do
            not extrapolate), or a dict overriding some variables with ``"select"``,
            ``"linear"``, ``"flexible"``, ``"auto"``, ``"empirical"`` or a dowhy
            mechanism object (the rest stay linear).
        seed: makes the fit reproducible.

    Returns:
        The fitted model.

    Raises:
        CausalModelError: invalid graph or data, or an unknown mechanism choice.
    """
    gcm = require("dowhy.gcm")
    cg = CausalGraph.from_networkx(graph)
    encode([data], ["data"], cg.order, min_rows=MIN_ROWS)
    frame = to_dowhy_frame(data, cg.order).reset_index(drop=True)
    explicit, auto = _resolve(cg, frame, mechanisms)
    scm = gcm.InvertibleStructuralCausalModel(cg.subgraph(cg.order))
    for node, mech in explicit.items():
        scm.set_causal_mechanism(node, mech)
    with seeded(seed):
        if auto:
            gcm.auto.assign_causal_mechanisms(scm, frame, override_models=False)
        gcm.fit(scm, frame)
    names = {n: describe(scm.causal_mechanism(n)) for n in cg.order}
    return FittedModel(cg, scm, frame, names, seed)
