"""The causal graph of a network: validation and the views the queries need.

A causal graph is a ``networkx.DiGraph`` whose nodes are variable names such as
``"Classify.SIMPLE"`` or ``"Model.OUT.score"``. Each node carries ``process``, ``port``
and ``role`` attributes; ``role`` is ``"stream"`` (the values an output port sends),
``"parameter"`` (an IIP or configuration value, always a root) or ``"indicator"`` (the
0/1 "this port fired for this unit" variable of a port a branch can skip).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import networkx as nx

from fbp._core._exceptions import CausalModelError

__all__ = (
    "ROLES",
    "CausalGraph",
    "VariableInfo",
    "check_graph",
    "suggest",
)

ROLES = ("stream", "parameter", "indicator")


@dataclass(frozen=True, slots=True)
class VariableInfo:
    """Where a variable comes from in the network."""

    process: str
    port: str
    role: str


def suggest(name: str, candidates: Iterable[str]) -> str:
    """Return a ``"; did you mean 'x'?"`` suffix naming the closest candidates, or ``""``."""
    import difflib

    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def _info(node: str, attrs: Mapping[str, object]) -> VariableInfo:
    # The tracing layer always sets the three attributes; graphs written by hand may
    # omit them, so derive them from the "Process.PORT[.field]" name.
    head, _, tail = node.partition(".")
    process = attrs.get("process", head)
    port = attrs.get("port", tail.partition(".")[0] or head)
    role = attrs.get("role", "stream")
    return VariableInfo(str(process), str(port), str(role))


@dataclass(frozen=True, slots=True)
class CausalGraph:
    """A validated causal DAG with a fixed topological order.

    Attributes:
        graph: a structural copy of the user's graph (no user attributes, so dowhy can
            store its mechanisms on it without touching the original).
        order: every node in a deterministic topological order.
        info: process, port and role of every node.
    """

    graph: nx.DiGraph
    order: tuple[str, ...]
    info: Mapping[str, VariableInfo]

    @classmethod
    def from_networkx(cls, graph: nx.DiGraph) -> CausalGraph:
        """Validate ``graph`` and copy its structure.

        Raises:
            CausalModelError: the graph is not a ``DiGraph``, has a cycle, a node
                that is not a string, an unknown role, or a parameter with parents.
        """
        check_graph(graph)
        copy = nx.DiGraph()
        copy.add_nodes_from(graph.nodes)
        copy.add_edges_from(graph.edges)
        order = tuple(nx.lexicographical_topological_sort(copy))
        info = {n: _info(n, graph.nodes[n]) for n in order}
        return cls(copy, order, info)

    def parents(self, node: str) -> tuple[str, ...]:
        """Return the parents of ``node`` in a fixed (sorted) order."""
        return tuple(sorted(self.graph.predecessors(node)))

    def is_root(self, node: str) -> bool:
        """Return whether ``node`` has no parents (an input stream or a parameter)."""
        return bool(self.graph.in_degree(node) == 0)

    def require(self, node: Hashable, what: str = "target") -> str:
        """Return ``node`` if the graph has it, else raise an error naming close matches."""
        if not isinstance(node, str) or node not in self.info:
            msg = f"{what} {node!r} is not a variable of the causal graph" + suggest(
                str(node), self.order
            )
            if not msg.endswith("?"):
                msg += f"; the graph has {len(self.order)} variables, e.g. {self.order[:3]}"
            raise CausalModelError(msg)
        return node

    def ancestors(self, target: str) -> tuple[str, ...]:
        """Return ``target`` and its ancestors, in topological order."""
        keep = nx.ancestors(self.graph, target) | {target}
        return tuple(n for n in self.order if n in keep)

    def descendants(self, node: str) -> frozenset[str]:
        """Return the strict descendants of ``node``."""
        return frozenset(nx.descendants(self.graph, node))

    def process_of(self, node: str) -> str:
        """Return the process that writes ``node``."""
        return self.info[node].process

    def subgraph(self, nodes: Iterable[str]) -> nx.DiGraph:
        """Return a fresh structural copy of the subgraph induced by ``nodes``."""
        keep = set(nodes)
        sub = nx.DiGraph()
        sub.add_nodes_from(n for n in self.order if n in keep)
        sub.add_edges_from((a, b) for a, b in self.graph.edges if a in keep and b in keep)
        return sub


def check_graph(graph: object) -> None:
    """Raise :class:`CausalModelError` if ``graph`` is not a valid causal DAG."""
    if not isinstance(graph, nx.DiGraph):
        msg = (
            f"the causal graph must be a networkx.DiGraph, got {type(graph).__name__}; "
            "build one with networkx.DiGraph(edges)"
        )
        raise CausalModelError(msg)
    if graph.number_of_nodes() == 0:
        msg = "the causal graph has no variables; add one node per output port"
        raise CausalModelError(msg)
    bad = [n for n in graph.nodes if not isinstance(n, str)]
    if bad:
        msg = (
            f"causal graph variables must be strings such as 'Process.PORT', got {bad[:3]!r}; "
            "relabel the nodes with networkx.relabel_nodes"
        )
        raise CausalModelError(msg)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        cycle = None
    if cycle is not None:
        path = " -> ".join([str(e[0]) for e in cycle] + [str(cycle[0][0])])
        msg = (
            f"the causal graph has a cycle: {path}; a causal model needs a DAG, so cut the "
            "feedback edge into a lagged root variable or unroll the loop"
        )
        raise CausalModelError(msg)
    for node, attrs in graph.nodes(data=True):
        role = attrs.get("role", "stream")
        if role not in ROLES:
            msg = (
                f"variable {node!r} has role {role!r}; the role must be one of "
                f"{', '.join(repr(r) for r in ROLES)}"
            )
            raise CausalModelError(msg)
        if role == "parameter" and graph.in_degree(node) > 0:
            parents = sorted(graph.predecessors(node))
            msg = (
                f"parameter {node!r} has parents {parents}; parameters (IIPs) are exogenous "
                "roots: remove the incoming edges or give the variable the role 'stream'"
            )
            raise CausalModelError(msg)
