"""Reading the ``.fbp`` graph language into the JSON graph format.

The ``.fbp`` language describes a graph one statement per line::

    # @name WordCount
    INPORT=Read.SOURCE:FILENAME
    'words.txt' -> SOURCE Read(io/ReadFile) OUT -> IN Split(text/SplitWords)
    Split OUT -> IN[0] Count(stats/Counter:x=120,y=40)

:func:`parse_fbp` gives exactly the JSON graph that the format's reference parser
(npm ``fbp`` 1.8.0) gives for the same text, accepts and rejects the same texts, and
reports where each element was written. The grammar itself is documented in
:mod:`fbp.graph._dsl_parser`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fbp._core._exceptions import GraphSyntaxError, SourceLocation
from fbp.graph._dsl_parser import FbpParser
from fbp.graph._dsl_scan import EXPECTED_TEXT, LineIndex

__all__ = ("ParsedGraph", "parse_fbp")

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True)
class ParsedGraph:
    """A parsed ``.fbp`` text.

    Attributes:
        graph: the JSON graph, exactly as the reference parser gives it.
        locations: where each element was written, by JSON path:
            ``("processes", name)`` (where its component is declared),
            ``("connections", i)``, ``("inports", public)``, ``("outports", public)``,
            ``("properties",)`` (the first annotation) and ``("properties", key)``.
    """

    graph: dict[str, Any]
    locations: dict[JsonPath, SourceLocation]
    #: Processes declared a second time with another component (the graph keeps the
    #: last one, as the reference parser does): ``(name, first, its place, other, its
    #: place)``. The loader refuses them.
    redeclared: tuple[tuple[str, str, SourceLocation, str, SourceLocation], ...] = ()


def parse_fbp(text: str, *, source: str | None = None, case_sensitive: bool = True) -> ParsedGraph:
    """Parse ``.fbp`` text into a JSON graph.

    Args:
        text: the graph text.
        source: the file name (or other label) used in locations and errors.
        case_sensitive: keep port names as written. When false, port and exported
            names are lowercased, as the reference parser does by default.

    Returns:
        The graph and the location of each of its elements.

    Raises:
        GraphSyntaxError: the text does not follow the grammar (the error gives the
            line, column and what was expected there), or it uses a process that has
            no component or is never declared.
    """
    parser = FbpParser(text, case_sensitive=case_sensitive)
    lines = LineIndex(text)
    try:
        complete = parser.parse()
    except RecursionError:
        msg = "a JSON IIP is nested too deeply to read"
        raise GraphSyntaxError(msg, _where(lines, source, parser.pos)) from None
    if not complete:
        raise _syntax_error(parser, lines, source)
    builder = parser.graph
    problem = builder.problem()
    if problem is not None:
        msg = f"{problem.message}; {problem.hint}"
        raise GraphSyntaxError(msg, _where(lines, source, problem.offset))

    locations: dict[JsonPath, SourceLocation] = {}
    for name in builder.processes:
        locations["processes", name] = _where(lines, source, builder.declaration_offset(name))
    for i, (_, offset) in enumerate(builder.connections()):
        locations["connections", i] = _where(lines, source, offset)
    for kind, exports in (("inports", builder.inports), ("outports", builder.outports)):
        for public, export in (exports or {}).items():
            locations[kind, public] = _where(lines, source, export.offset)
    if builder.property_offsets:
        first = min(builder.property_offsets.values())
        locations["properties",] = _where(lines, source, first)
        for key, offset in builder.property_offsets.items():
            locations["properties", key] = _where(lines, source, offset)
    redeclared = tuple(
        (name, first, _where(lines, source, at), other, _where(lines, source, again))
        for name, first, at, other, again in builder.redeclared
    )
    return ParsedGraph(builder.result(), locations, redeclared)


def _where(lines: LineIndex, source: str | None, offset: int) -> SourceLocation:
    line, column = lines.line_col(offset)
    return SourceLocation(source, line, column)


def expected_words(keys: list[str]) -> list[str]:
    """Turn the parser's expectation keys into the words shown to people, sorted."""
    return sorted({EXPECTED_TEXT.get(key, key) for key in keys})


_JSON_START = frozenset({'"["', '"{"', "string", "number", '"false"', '"null"', '"true"'})
_STATEMENT_START = _JSON_START | {
    '"INPORT="', '"OUTPORT="', '"DEFAULT_INPORT="', '"DEFAULT_OUTPORT="', '"#"', '"\'"', '"("',
    "[a-zA-Z_]", '" "', "[\\n\\r\\u2028\\u2029]", "end of input",
}  # fmt: skip
_ENDPOINT_START = _JSON_START | {'"\'"', '"("', "[a-zA-Z_]"}


def _syntax_error(parser: FbpParser, lines: LineIndex, source: str | None) -> GraphSyntaxError:
    at = parser.fail_pos
    keys = set(parser.fail_expected)
    found = _describe_found(parser.text[at] if at < parser.end else None)
    msg = f"unexpected {found}; expected {_expectation(keys)}"
    hint = _hint(parser.text, at, keys)
    if hint:
        msg += f"; {hint}"
    expected = expected_words(parser.fail_expected)
    return GraphSyntaxError(msg, _where(lines, source, at), expected=expected)


def _expectation(keys: set[str]) -> str:
    """What was expected, in words; the many ways to start a statement or a JSON value
    are summed up as such (the error's ``expected`` keeps them all)."""
    summary = []
    if '"INPORT="' in keys:  # a new statement could start here
        keys, summary = keys - _STATEMENT_START, ["a statement"]
    elif keys >= _ENDPOINT_START:
        keys, summary = keys - _ENDPOINT_START - {'" "'}, ["a process, a port or an IIP"]
    elif keys >= _JSON_START:
        keys, summary = keys - _JSON_START, ["a JSON value"]
    words = expected_words(list(keys)) + summary
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _describe_found(char: str | None) -> str:
    if char is None:
        return "end of input"
    if char == "\t":
        return "tab"
    if char in "\n\r\u2028\u2029":
        return "end of line"
    if char == "\ufeff":
        return "byte-order mark"
    return f"{char!r}" if char == '"' or not char.isprintable() else f'"{char}"'


def _hint(text: str, at: int, keys: set[str]) -> str:
    char = text[at] if at < len(text) else None
    if char == "\t" or text[:at].rstrip(" \n\r").endswith("\t"):
        return "only spaces may separate the parts of a statement; replace the tab with spaces"
    if char is not None and char.isalpha() and not char.isascii():
        return "names use ASCII letters, digits and '_' (process names also '-')"
    if char == "\ufeff":
        return "save the file without a byte-order mark"
    if text[:at].rstrip(" \t\n\r").endswith("->") and "number" in keys:
        return "write what '->' connects to on the same line: -> IN Target"
    if char == '"' and "string" in keys:
        return "this JSON string does not parse: check its escapes and control characters"
    if "[^']" in keys and char is None:
        return "a quoted IIP is never closed; end it with ' (write \\' for a quote inside it)"
    if "[a-zA-Z/=_,0-9]" in keys:
        return (
            "node metadata is written as key=value pairs of letters, digits, '/' and '_';"
            " send other values as an IIP instead"
        )
    if "[a-zA-Z/\\-0-9_]" in keys and '")"' in keys:
        return "a component name may use letters, digits, '/', '-' and '_', then ')'"
    if '"->"' in keys and char is not None and char not in "\n\r\u2028\u2029":
        return "write connections as: Source OUT -> IN Target"
    return ""
