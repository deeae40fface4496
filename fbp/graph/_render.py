"""Drawing graphs as text, Graphviz DOT and Mermaid."""

from __future__ import annotations

import json
from typing import Literal

from ._model import Connection, Graph, Initial

__all__ = ("RenderFormat", "render_graph")

RenderFormat = Literal["text", "dot", "mermaid"]


def _iip(data: object, limit: int = 40) -> str:
    text = json.dumps(data, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render_graph(graph: Graph, fmt: RenderFormat = "text") -> str:
    """Render a graph's processes, edges and IIPs in ``fmt``."""
    if fmt == "dot":
        return _dot(graph)
    if fmt == "mermaid":
        return _mermaid(graph)
    lines = [f"graph {graph.name}"]
    lines.append(f"  processes ({len(graph.processes)}):")
    width = max((len(n) for n in graph.processes), default=0)
    for n in graph.processes.values():
        lines.append(f"    {n.name.ljust(width)}  {n.component_name}")
    lines.append(f"  connections ({len(graph.connections)}):")
    for c in graph.connections:
        if isinstance(c, Initial):
            lines.append(f"    {_iip(c.data)} -> {c.tgt}")
        else:
            extra = f"  {json.dumps(c.metadata)}" if c.metadata else ""
            lines.append(f"    {c.src} -> {c.tgt}{extra}")
    for kind, exports in (("inports", graph.inports), ("outports", graph.outports)):
        if exports:
            lines.append(f"  {kind}:")
            for public, e in exports.items():
                lines.append(f"    {public} = {e.ref}")
    return "\n".join(lines) + "\n"


def _id(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def _dot(graph: Graph) -> str:
    out = [f"digraph {_id(graph.name)} {{", "  rankdir=LR;", "  node [shape=box];"]
    for n in graph.processes.values():
        out.append(f"  {_id(n.name)} [label={_id(n.name + chr(10) + n.component_name)}];")
    for i, c in enumerate(graph.connections):
        if isinstance(c, Initial):
            out.append(f"  iip{i} [shape=plaintext, label={_id(_iip(c.data))}];")
            out.append(f"  iip{i} -> {_id(c.tgt.process)} [headlabel={_id(c.tgt.port.upper())}];")
        elif isinstance(c, Connection):
            label = f"{c.src.port.upper()} -> {c.tgt.port.upper()}"
            out.append(f"  {_id(c.src.process)} -> {_id(c.tgt.process)} [label={_id(label)}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _mermaid(graph: Graph) -> str:
    ids = {name: f"p{i}" for i, name in enumerate(graph.processes)}
    out = ["flowchart LR"]
    for n in graph.processes.values():
        label = f"{n.name}<br/>{n.component_name}".replace('"', "'")
        out.append(f'  {ids[n.name]}["{label}"]')
    for i, c in enumerate(graph.connections):
        if isinstance(c, Initial):
            label = _iip(c.data).replace('"', "'")
            tgt = ids.get(c.tgt.process, c.tgt.process)
            out.append(f'  iip{i}(["{label}"]) -->|{c.tgt.port.upper()}| {tgt}')
        elif isinstance(c, Connection):
            a = ids.get(c.src.process, c.src.process)
            b = ids.get(c.tgt.process, c.tgt.process)
            out.append(f"  {a} -->|{c.src.port.upper()} to {c.tgt.port.upper()}| {b}")
    return "\n".join(out) + "\n"
