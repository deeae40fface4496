"""The causal graph of a network, read off its wiring.

Every arrow of a network is a real data dependency, so the network is a complete causal
graph by construction. The variables are:

- one **stream** variable per output port of a process (``Model.OUT``), or one per
  selected payload field (``Model.OUT.score``) when IPs are structured;
- one **parameter** variable per input port fed only by an IIP (``Scale.FACTOR``):
  exogenous roots, so that a changed ``--set`` value is attributed like an input shift;
- one **indicator** variable ``P.PORT.fired`` (0/1) for a stream that a branch may
  skip for some units, added by the dataset when a port did not fire for every unit.

Edges run from every variable a process reads (the streams feeding its input ports and
its parameters) to every variable it writes (its output streams). Subnets are already
flattened by the loader. A network with a feedback loop is not a DAG and is refused,
naming the loop: cut the loop by giving the fed-back port an IIP or restructure it.

Numeric projection, chosen from the port's declared type: ``int``/``float`` as they are,
``bool`` as 0/1, ``Literal``/``Enum``/``str`` as categorical, a pydantic model as its
numeric, bool and categorical fields (nested models one level, as ``outer.inner``),
identifiers (``id``, ``*_id``) left out.
Override per port with a projection map (``{"Model.OUT": "score"}``, ``"value"`` for
the payload itself, ``"none"`` to leave the port out), from graph metadata
(``processes.P.metadata.causal = {"OUT": "score"}``) or ``--field Model.OUT=score``.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import networkx as nx
from pydantic import BaseModel

from .._core._exceptions import CausalModelError
from .._core._ports import PortSpec
from ..graph._model import Graph
from ..graph._wiring import FlatGraph, check_graph

__all__ = ("NetworkVariables", "Variable", "network_causal_graph", "render_causal_graph")

Kind = Literal["numeric", "bool", "categorical"]


@dataclass(frozen=True, slots=True)
class Variable:
    """One causal variable and where its values come from."""

    name: str
    process: str
    port: str
    index: int | None
    #: Dotted path into the payload (``"score"``, ``"meta.size"``), or None for the payload.
    field: str | None
    role: Literal["stream", "parameter"]
    kind: Kind
    #: The IIP value, for parameters.
    value: Any = None

    @property
    def address(self) -> str:
        """The port address ``process.PORT[index]``."""
        base = f"{self.process}.{self.port.upper()}"
        return base if self.index is None else f"{base}[{self.index}]"


@dataclass
class NetworkVariables:
    """The causal variables of a network and the DAG over them."""

    graph: nx.DiGraph
    variables: dict[str, Variable] = field(default_factory=dict)
    #: Ports left out: address -> why (an unprojectable type, "none" by request).
    skipped: dict[str, str] = field(default_factory=dict)

    def by_port(self) -> dict[str, list[Variable]]:
        """Variables grouped by the port address they read."""
        out: dict[str, list[Variable]] = {}
        for v in self.variables.values():
            out.setdefault(v.address, []).append(v)
        return out


def _strip(tp: Any) -> Any:
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _strip(rest[0])
    return tp


def _kind(tp: Any) -> Kind | None:
    tp = _strip(tp)
    if tp is bool:
        return "bool"
    if tp in (int, float):
        return "numeric"
    if tp is str or typing.get_origin(tp) is Literal:
        return "categorical"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "categorical"
    return None


_ID_NAMES = ("id", "uuid", "key")


def is_identifier(name: str) -> bool:
    """Whether a field name looks like an identifier (``id``, ``*_id``, ``uuid``, ``key``)."""
    last = name.rsplit(".", 1)[-1].lower()
    return last in _ID_NAMES or last.endswith(("_id", "_uuid", "_key"))


def projection_of(tp: Any) -> list[tuple[str | None, Kind]]:
    """The default projection of a payload type: ``(field path, kind)`` pairs.

    Identifier fields are left out: they label units, they do not cause anything.
    """
    k = _kind(tp)
    if k is not None:
        return [(None, k)]
    tp = _strip(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        out: list[tuple[str | None, Kind]] = []
        for fname, finfo in tp.model_fields.items():
            if is_identifier(fname):
                continue
            fk = _kind(finfo.annotation)
            if fk is not None:
                out.append((fname, fk))
                continue
            inner = _strip(finfo.annotation)
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                for sub, sk in projection_of(inner):
                    if sub is not None and "." not in sub:
                        out.append((f"{fname}.{sub}", sk))
        return out
    return []


def _field_kind(tp: Any, path: str) -> Kind:
    tp = _strip(tp)
    for part in path.split("."):
        if isinstance(tp, type) and issubclass(tp, BaseModel) and part in tp.model_fields:
            tp = _strip(tp.model_fields[part].annotation)
        else:
            return "numeric"  # unknown statically: treated as numeric, checked on data
    return _kind(tp) or "numeric"


def _projections(flat: FlatGraph, overrides: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in flat.processes.values():
        meta = p.metadata.get("causal")
        if isinstance(meta, Mapping):
            for port, spec in meta.items():
                out[f"{p.name}.{str(port).upper()}"] = spec
    for addr, spec in overrides.items():
        proc, _, port = addr.rpartition(".")
        out[f"{proc}.{port.upper()}"] = spec
    return out


def network_causal_graph(
    graph: Graph, *, projections: Mapping[str, Any] | None = None
) -> NetworkVariables:
    """Build the causal DAG of ``graph`` (subnets flattened).

    Args:
        graph: the network's graph.
        projections: per output port address (``"Model.OUT"``): a field path, a list of
            field paths, ``"value"`` (the payload itself) or ``"none"``.

    Raises:
        CausalModelError: the graph is invalid, or has a feedback loop.
    """
    flat = check_graph(graph)
    if flat.issues:
        msg = "the graph has problems; fix them first:\n" + "\n".join(
            f"  - {i}" for i in flat.issues
        )
        raise CausalModelError(msg)
    chosen = _projections(flat, projections or {})
    nv = NetworkVariables(graph=nx.DiGraph())
    g = nv.graph
    writes: dict[str, list[str]] = {}  # process -> its stream variables
    port_vars: dict[tuple[str, str, int | None], list[str]] = {}

    def add(v: Variable) -> None:
        nv.variables[v.name] = v
        g.add_node(v.name, process=v.process, port=v.port.upper(), role=v.role)

    sizes = flat.array_sizes
    for p in flat.processes.values():
        for ps in p.spec.outports:
            indices: list[int | None] = (
                list(range(sizes.get(p.name, {}).get(ps.name, 0))) if ps.array else [None]
            )
            for idx in indices:
                _add_stream(nv, p.name, ps, idx, chosen, add, writes, port_vars)
    static: dict[tuple[str, str, int | None], Any] = {}
    fed_by_edge = {(e.tgt.process, e.tgt.port.lower(), e.tgt.index) for e in flat.edges}
    for i in flat.initials:
        key = (i.tgt.process, i.tgt.port.lower(), i.tgt.index)
        if key not in fed_by_edge:
            static[key] = i.data
    # An unconnected input port with a default reads it as an IIP: a parameter too.
    fed_by_iip = {(i.tgt.process, i.tgt.port.lower(), i.tgt.index) for i in flat.initials}
    for p in flat.processes.values():
        for ps in p.spec.inports:
            key = (p.name, ps.name, None)
            if ps.has_default and not ps.array and key not in fed_by_edge | fed_by_iip:
                static[key] = ps.default
    reads: dict[str, list[str]] = {}
    for e in flat.edges:
        src_vars = port_vars.get((e.src.process, e.src.port.lower(), e.src.index), [])
        reads.setdefault(e.tgt.process, []).extend(src_vars)
    for (proc, port, idx), value in static.items():
        spec = flat.processes[proc].spec.inport(port)
        if spec is not None and not spec.causal:
            continue  # a switch standing for a code change, not a variable
        name = f"{proc}.{port.upper()}" + (f"[{idx}]" if idx is not None else "")
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
        kind: Kind = "numeric" if numeric else "bool" if isinstance(value, bool) else "categorical"
        add(Variable(name, proc, port, idx, None, "parameter", kind, value))
        reads.setdefault(proc, []).append(name)
    for proc, ins in reads.items():
        for out in writes.get(proc, []):
            for src in dict.fromkeys(ins):
                if src != out:
                    g.add_edge(src, out)
    try:
        cycle = nx.find_cycle(g)
    except nx.NetworkXNoCycle:
        return nv
    loop = " -> ".join([str(a) for a, _ in cycle] + [str(cycle[0][0])])
    msg = (
        f"the network has a feedback loop ({loop}), so its causal graph is not a DAG;"
        " a structural causal model needs one. Cut the loop for the analysis (feed the"
        " looping port from an IIP) or analyse the part of the network outside it"
    )
    raise CausalModelError(msg)


def _add_stream(
    nv: NetworkVariables,
    proc: str,
    ps: PortSpec,
    idx: int | None,
    chosen: Mapping[str, Any],
    add: Any,
    writes: dict[str, list[str]],
    port_vars: dict[tuple[str, str, int | None], list[str]],
) -> None:
    addr = f"{proc}.{ps.display}" + (f"[{idx}]" if idx is not None else "")
    spec = chosen.get(addr, chosen.get(f"{proc}.{ps.display}"))
    fields: list[tuple[str | None, Kind]]
    if spec == "none":
        nv.skipped[addr] = "left out by request"
        return
    if spec == "value":
        fields = [(None, _kind(ps.tp) or "numeric")]
    elif isinstance(spec, str):
        fields = [(spec, _field_kind(ps.tp, spec))]
    elif isinstance(spec, list):
        fields = [(str(f), _field_kind(ps.tp, str(f))) for f in spec]
    else:
        fields = projection_of(ps.tp)
        if not fields:
            nv.skipped[addr] = (
                f"its type has no numeric projection; choose a field with --field {addr}=FIELD"
            )
            # The port still carries causation: keep it as a count-free pass-through
            # variable so that the graph stays connected.
            fields = [(None, "numeric")]
            nv.skipped[addr] += " (kept as a structural node)"
    names: list[str] = []
    for fpath, kind in fields:
        name = addr if fpath is None else f"{addr}.{fpath}"
        add(Variable(name, proc, ps.name, idx, fpath, "stream", kind))
        names.append(name)
    writes.setdefault(proc, []).extend(names)
    port_vars[(proc, ps.name, idx)] = names


def render_causal_graph(nv: NetworkVariables, fmt: str = "text") -> str:
    """Draw the causal graph as text, DOT or mermaid."""
    g = nv.graph
    order = list(nx.topological_sort(g))
    if fmt == "dot":
        lines = ["digraph causal {", "  rankdir=LR;"]
        for n in order:
            v = nv.variables[n]
            shape = "ellipse" if v.role == "parameter" else "box"
            lines.append(f'  "{n}" [shape={shape}];')
        lines += [f'  "{a}" -> "{b}";' for a, b in g.edges]
        return "\n".join([*lines, "}"]) + "\n"
    if fmt == "mermaid":
        ids = {n: f"v{i}" for i, n in enumerate(order)}
        lines = ["flowchart LR"]
        for n in order:
            v = nv.variables[n]
            lines.append(f'  {ids[n]}(["{n}"])' if v.role == "parameter" else f'  {ids[n]}["{n}"]')
        lines += [f"  {ids[a]} --> {ids[b]}" for a, b in g.edges]
        return "\n".join(lines) + "\n"
    lines = [f"causal graph: {g.number_of_nodes()} variables, {g.number_of_edges()} edges"]
    for n in order:
        v = nv.variables[n]
        parents = sorted(g.predecessors(n))
        tag = f"{v.role}, {v.kind}"
        if v.role == "parameter":
            tag += f" = {v.value!r}"
        lines.append(f"  {n}  ({tag})" + (f"  <- {', '.join(parents)}" if parents else ""))
    for addr, why in nv.skipped.items():
        lines.append(f"  note: {addr}: {why}")
    return "\n".join(lines) + "\n"
