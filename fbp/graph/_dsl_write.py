"""Writing a JSON graph as ``.fbp`` text.

:func:`to_fbp` writes one statement per line: annotations first, then the
connections in their order (a connection that starts where the previous one ended
continues it as a chain, ``A OUT -> IN B OUT -> IN C``), then processes that no
connection mentions, then the exported ports. Each process gets its component
(and metadata) where it is first mentioned: ``Read(io/ReadFile:x=10,y=20)``.

The text reads back as the graph's normal form::

    parse_fbp(to_fbp(graph)).graph == fbp_normal_form(graph)

for every graph where ``fbp_losses(graph) == []``. :mod:`fbp.graph._dsl_losses` lists
what the language cannot express and defines the normal form (``caseSensitive`` true,
no empty ``metadata``/``properties``, numbers as doubles, key order not significant).

IIP values are written as quoted text (``'it\\'s'``) when that reads back exactly and
as JSON otherwise. ``true``, ``false`` and ``null`` IIPs are written after a tab
(``<TAB>true -> IN Proc``): without it the grammar would read them as process names.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fbp._core._exceptions import GraphError
from fbp.graph._dsl_losses import fbp_losses, fbp_normal_form

__all__ = ("NotExpressibleError", "fbp_losses", "fbp_normal_form", "to_fbp")

_MAX_CHAIN_LINE = 100
_LINE_BREAKS = frozenset("\n\r\u2028\u2029")
_JSON_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


class NotExpressibleError(GraphError):
    """A graph holds something the ``.fbp`` language cannot express.

    Attributes:
        losses: every loss, one line each, naming the element by its JSON path.
    """

    def __init__(self, losses: Sequence[str]):
        self.losses = tuple(losses)
        lines = "\n".join(f"  - {loss}" for loss in self.losses)
        super().__init__(
            f"the graph cannot be written as .fbp without losing:\n{lines}\n"
            "keep it as JSON, or remove these parts first"
        )


def to_fbp(graph: Mapping[str, Any]) -> str:
    """Write ``graph`` as ``.fbp`` text.

    Args:
        graph: a JSON graph.

    Returns:
        The text, one statement per line, ending with a newline.

    Raises:
        NotExpressibleError: the graph holds something ``.fbp`` cannot express; the
            error lists every such part (see :func:`fbp_losses`).
    """
    losses = fbp_losses(graph)
    if losses:
        raise NotExpressibleError(losses)
    return "".join(line + "\n" for line in _Writer(graph).lines())


class _Writer:
    def __init__(self, graph: Mapping[str, Any]) -> None:
        self.graph = graph
        self.processes: Mapping[str, Mapping[str, Any]] = graph.get("processes", {})
        self.declared: set[str] = set()

    def lines(self) -> Iterator[str]:
        properties = self.graph.get("properties", {})
        for key, value in properties.items():
            if key == "environment" and isinstance(value, Mapping):
                yield f"# @runtime {value['type']}"
            else:
                yield f"# @{key} {value}"
        if properties:
            yield ""
        yield from self._connections(self.graph.get("connections", []))
        for name in self.processes:
            if name not in self.declared:
                yield self._mention(name)
        exports = [
            f"{keyword}={e['process']}.{e['port']}:{public}"
            for keyword, kind in (("INPORT", "inports"), ("OUTPORT", "outports"))
            for public, e in self.graph.get(kind, {}).items()
        ]
        if exports:
            yield ""
            yield from exports

    def _connections(self, connections: Sequence[Mapping[str, Any]]) -> Iterator[str]:
        line = ""
        last_target: str | None = None
        for connection in connections:
            tgt = connection["tgt"]
            src = connection.get("src")
            if line and src is not None and src["process"] == last_target:
                # Continue the chain: "... -> IN B" becomes "... -> IN B OUT -> IN C".
                link = f" {_port(src)} -> {_port(tgt)} {self._mention(tgt['process'], dry=True)}"
                if len(line) + len(link) <= _MAX_CHAIN_LINE:
                    line += f" {_port(src)} -> {self._inport(tgt)}"
                    last_target = tgt["process"]
                    continue
            if line:
                yield line
            if src is None:
                head = _iip(connection["data"])
            else:
                head = f"{self._mention(src['process'])} {_port(src)}"
            line = f"{head} -> {self._inport(tgt)}"
            last_target = tgt["process"]
        if line:
            yield line

    def _inport(self, tgt: Mapping[str, Any]) -> str:
        return f"{_port(tgt)} {self._mention(tgt['process'])}"

    def _mention(self, name: str, *, dry: bool = False) -> str:
        """The process name, with its component the first time (``dry``: not counted)."""
        if name in self.declared:
            return name
        if not dry:
            self.declared.add(name)
        process = self.processes[name]
        metadata = process.get("metadata") or {}
        meta = ",".join(f"{k}={_meta_value(v)}" for k, v in metadata.items())
        return f"{name}({process['component']}{':' + meta if meta else ''})"


def _port(end: Mapping[str, Any]) -> str:
    if "index" not in end:
        return str(end["port"])
    index = end["index"]
    # An index beyond the doubles reads as Infinity (null in JSON) whatever its digits.
    digits = str(int(index)) if _is_double(index) else "1" + "0" * 400
    return f"{end['port']}[{digits}]"


def _meta_value(value: Any) -> str:
    if isinstance(value, int | float) and not _is_double(value):
        value = None  # beyond the doubles: Infinity, which JSON writes as null
    if value is None:
        return "null"  # x/y: parseFloat gives NaN, which JSON writes as null
    if isinstance(value, float):
        return str(int(value))
    return str(value)


def _is_double(value: int | float) -> bool:
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _iip(data: Any) -> str:
    if isinstance(data, str) and _quotable(data):
        return "'" + data.replace("'", "\\'") + "'"
    if data is None or isinstance(data, bool):
        return "\t" + _json(data)
    return _json(data)


def _quotable(text: str) -> bool:
    """Whether ``'text'`` (with ``\\'`` for quotes) reads back as ``text``."""
    if text.endswith("\\"):
        return False  # the backslash would escape the closing quote
    return all(c.isprintable() and c not in _LINE_BREAKS for c in text) and not any(
        "\ud800" <= c <= "\udfff" for c in text
    )


def _json(value: Any) -> str:
    """Compact, readable JSON: non-ASCII text stays as it is."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if _is_double(value) else "1e400"  # read as Infinity, i.e. null
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _json_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_json(v) for v in value) + "]"
    return "{" + ", ".join(f"{_json_string(k)}: {_json(v)}" for k, v in value.items()) + "}"


def _json_string(text: str) -> str:
    out = []
    for c in text:
        escaped = _JSON_ESCAPES.get(c)
        if escaped is not None:
            out.append(escaped)
        elif c < " " or c in "\u2028\u2029" or "\ud800" <= c <= "\udfff":
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'
