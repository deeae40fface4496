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
identifiers (``id``, ``*_id``) left out. A port whose type names no fields (``dict``,
``Any``: a CSV reader's rows) is projected on the fields its IPs carry in the traces:
numbers, bools and strings of at most 20 distinct values (see
:func:`fields_to_project`).
Override per port with a projection map (``{"Model.OUT": "score"}``, ``"value"`` for
the payload itself, ``"none"`` to leave the port out), from graph metadata
(``processes.P.metadata.causal = {"OUT": "score"}``) or ``--field Model.OUT=score``.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import networkx as nx
from pydantic import BaseModel

from ..._core._address import PortAddress
from ..._core._exceptions import CausalModelError
from ..._core._ports import PortSpec
from ..._core._record import DATA
from ...graph._model import Graph
from ...graph._wiring import FlatGraph, check_graph

__all__ = (
    "MAX_CATEGORIES",
    "FieldSurvey",
    "NetworkVariables",
    "Variable",
    "fields_to_project",
    "network_causal_graph",
    "render_causal_graph",
    "survey_fields",
)

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
        return str(PortAddress(self.process, self.port, self.index))


@dataclass
class NetworkVariables:
    """The causal variables of a network and the DAG over them."""

    graph: nx.DiGraph
    variables: dict[str, Variable] = field(default_factory=dict)
    #: Ports left out: address -> why (an unprojectable type, "none" by request).
    skipped: dict[str, str] = field(default_factory=dict)
    #: Ports whose type names no fields (``dict``, ``Any``...) and no projection was
    #: chosen for: their fields are read off the traces (see :func:`fields_to_project`).
    untyped: set[str] = field(default_factory=set)
    #: The graph and projections the variables were made from.
    source: Graph | None = None
    projections: Mapping[str, Any] = field(default_factory=dict)
    #: Process -> the output ports (addresses) whose IPs it reads.
    feeds: dict[str, set[str]] = field(default_factory=dict)

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
                out[str(PortAddress(p.name, str(port)))] = spec
    for addr, spec in overrides.items():
        proc, _, port = addr.rpartition(".")
        out[str(PortAddress(proc, port))] = spec
    return out


def network_causal_graph(
    graph: Graph,
    *,
    projections: Mapping[str, Any] | None = None,
    seen: Mapping[str, Sequence[tuple[str | None, Kind]]] | None = None,
) -> NetworkVariables:
    """Build the causal DAG of ``graph`` (subnets flattened).

    Args:
        graph: the network's graph.
        projections: per output port address (``"Model.OUT"``): a field path, a list of
            field paths, ``"value"`` (the payload itself) or ``"none"``.
        seen: for ports whose type names no fields, the ``(field, kind)`` pairs read off
            traced runs (:func:`fields_to_project`).

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
    nv = NetworkVariables(graph=nx.DiGraph(), source=graph, projections=dict(projections or {}))
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
                _add_stream(nv, p.name, ps, idx, chosen, add, writes, port_vars, seen or {})
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
        src = str(e.src)
        nv.feeds.setdefault(e.tgt.process, set()).add(src)
        src_vars = port_vars.get((e.src.process, e.src.port.lower(), e.src.index), [])
        reads.setdefault(e.tgt.process, []).extend(src_vars)
    for (proc, port, idx), value in static.items():
        spec = flat.processes[proc].spec.inport(port)
        if spec is not None and not spec.causal:
            continue  # a switch standing for a code change, not a variable
        name = str(PortAddress(proc, port, idx))
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
    seen: Mapping[str, Sequence[tuple[str | None, Kind]]],
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
        if not fields and addr in seen:
            fields = list(seen[addr])
            if not fields:
                nv.skipped[addr] = (
                    "its payloads have no numeric, bool or low-cardinality string field;"
                    f" choose one with --field {addr}=FIELD, or give the port a typed payload"
                )
                return
        elif not fields:
            nv.untyped.add(addr)
            nv.skipped[addr] = (
                "its type names no fields; they are chosen from the fields seen in the"
                f" traces (numeric, bool, low-cardinality strings), or with --field {addr}=FIELD"
            )
            # Until traces are read, the port is one variable so the graph stays whole.
            fields = [(None, "numeric")]
    names: list[str] = []
    for fpath, kind in fields:
        name = addr if fpath is None else f"{addr}.{fpath}"
        add(Variable(name, proc, ps.name, idx, fpath, "stream", kind))
        names.append(name)
    writes.setdefault(proc, []).extend(names)
    port_vars[(proc, ps.name, idx)] = names


#: The most distinct values a string field may have to be projected as a category.
MAX_CATEGORIES = 20


@dataclass
class FieldSurvey:
    """What one run's IPs of an untyped port say about its fields (see
    :func:`survey_fields`); surveys of several runs merge with :func:`fields_to_project`."""

    #: dotted field path -> the kinds seen (``numeric``, ``bool``, ``string``, ``other``).
    kinds: dict[str, set[str]] = field(default_factory=dict)
    #: Whether the port sent any IP in the run.
    sent: bool = False
    #: Per path read in full (``""``: the payload, when it is no mapping; and string
    #: fields): its kind over the run (None: mixed or other), and its distinct strings.
    read: dict[str, tuple[str | None, set[Any]]] = field(default_factory=dict)


def survey_fields(addresses: Sequence[str], frames: Any) -> dict[str, FieldSurvey]:
    """Survey the fields of untyped output ports in one run's frames
    (``TracedRun.frames()``), for :func:`fields_to_project`."""
    p = frames.ports
    out: dict[str, FieldSurvey] = {}
    for addr in addresses:
        survey = out[addr] = FieldSurvey()
        sel = (p["address"] == addr) & (p["direction"] == "out")
        pids = [int(pid) for pid in p.loc[sel, "port_id"].tolist()]
        for pid in pids:
            for path, kind in frames.fields_seen(pid).items():
                survey.kinds.setdefault(path, set()).add(kind)
        if not pids:
            continue
        counts = frames.counts(DATA)
        survey.sent = any(counts.get(pid, 0) for pid in pids)
        if not survey.sent:
            continue
        paths = [""] if not survey.kinds else []
        paths += [q for q, k in sorted(survey.kinds.items()) if k == {"string"}]
        for path in paths:
            survey.read[path] = _column_kind(frames.payloads(pids, [path])[path])
    return out


def _column_kind(col: Any) -> tuple[str | None, set[Any]]:
    """The kind of a payload column and its distinct strings (None: no single kind;
    ``""``: no value)."""
    import pandas as pd

    present = col.dropna()
    if not len(present):
        return "", set()
    if isinstance(col.dtype, pd.BooleanDtype):
        return "bool", set()
    if col.dtype.kind in "fiu":
        return "numeric", set()
    types = {type(x) for x in present.tolist()}
    if types == {str}:
        return "string", set(present.unique().tolist())
    if types <= {int, float}:
        return "numeric", set()
    if types == {bool}:
        return "bool", set()
    return None, set()


def fields_to_project(
    addresses: Sequence[str], runs: Sequence[Any]
) -> dict[str, list[tuple[str | None, Kind]]]:
    """The fields of untyped ports to project, read off traced runs.

    Args:
        addresses: output port addresses whose type names no fields.
        runs: the runs' frames (``TracedRun.frames()``), or their surveys
            (:func:`survey_fields`, so that runs need not be held in memory together).

    Returns:
        Per address, ``(field path, kind)`` pairs, sorted by path: numeric fields,
        bool fields, and string fields with at most :data:`MAX_CATEGORIES` distinct
        values over all the runs, identifiers left out; for a port whose payloads are
        not mappings, the payload itself (``None``) when it is a number, a bool or a
        low-cardinality string. An empty list when nothing can be projected.
    """
    surveys = [r if isinstance(r, dict) else survey_fields(addresses, r) for r in runs]
    out: dict[str, list[tuple[str | None, Kind]]] = {}
    for addr in addresses:
        mine = [s[addr] for s in surveys if addr in s]
        if not any(s.sent for s in mine):
            continue  # no IP in any run: nothing to read the fields off
        kinds: dict[str, set[str]] = {}
        for s in mine:
            for path, seen in s.kinds.items():
                kinds.setdefault(path, set()).update(seen)
        chosen: list[tuple[str | None, Kind]] = []
        if not kinds:
            kind = _merged_kind(mine, "")
            if kind is not None:
                chosen.append((None, kind))
        for path in sorted(kinds):
            if is_identifier(path) or len(kinds[path]) != 1:
                continue
            (seen,) = kinds[path]
            if seen == "numeric":
                chosen.append((path, "numeric"))
            elif seen == "bool":
                chosen.append((path, "bool"))
            elif seen == "string" and _merged_kind(mine, path) == "categorical":
                chosen.append((path, "categorical"))
        out[addr] = chosen
    return out


def _merged_kind(surveys: Sequence[FieldSurvey], path: str) -> Kind | None:
    """The kind of one field (``""``: the payload) over the runs' IPs of a port, or None:
    numbers, bools, or strings with few distinct values."""
    values: set[Any] = set()
    kind: str | None = None
    for s in surveys:
        if path not in s.read:
            continue
        k, strings = s.read[path]
        if k == "":
            continue  # no value in this run
        if k is None or kind not in (None, k):
            return None
        kind = k
        values |= strings
    if kind == "string":
        return "categorical" if len(values) <= MAX_CATEGORIES else None
    return kind  # type: ignore[return-value]


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
        tag = f"{v.role}, {v.kind}" if n not in nv.untyped else f"{v.role}, fields from the traces"
        if v.role == "parameter":
            tag += f" = {v.value!r}"
        lines.append(f"  {n}  ({tag})" + (f"  <- {', '.join(parents)}" if parents else ""))
    for addr, why in nv.skipped.items():
        lines.append(f"  note: {addr}: {why}")
    return "\n".join(lines) + "\n"
