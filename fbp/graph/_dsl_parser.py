"""The ``.fbp`` grammar, one method per rule.

The rules, in the notation of the format's PEG grammar (``/`` is ordered choice;
``_`` is optional spaces, ``__`` is required spaces; only the space character counts)::

    start       <- line*
    line        <- _ "INPORT=" node "." portName ":" portName _ LineTerminator?
                 / _ "OUTPORT=" node "." portName ":" portName _ LineTerminator?
                 / _ "DEFAULT_INPORT=" portName _ LineTerminator?
                 / _ "DEFAULT_OUTPORT=" portName _ LineTerminator?
                 / annotation newline
                 / comment newline?
                 / _ newline
                 / _ connection _ LineTerminator?
    LineTerminator <- _ ","? comment? newline?
    annotation  <- "#" __ "@" [a-zA-Z0-9\\-_]+ __ [a-zA-Z0-9\\-_ .]+
    comment     <- _ "#" [^newline]*
    connection  <- source _ "->" _ connection / destination
    source      <- bridge / outport / iip
    destination <- inport / bridge
    bridge      <- port __ node __ port / (port __)? nodeWithComponent (__ port)?
    outport     <- node (__ port)?
    inport      <- (port __)? node
    iip         <- "'" ("\\\\'" / [^'])* "'" / JSON_text
    node        <- nodeName component / nodeName / component
    nodeWithComponent <- nodeName component / component
    nodeName    <- [a-zA-Z_] [a-zA-Z0-9_\\-]*
    component   <- "(" [a-zA-Z/\\-0-9_]* (":" [a-zA-Z/=_,0-9]+)? ")"
    port        <- portName ("[" [0-9]+ "]")?
    portName    <- [a-zA-Z_] [a-zA-Z.0-9_]*
    newline     <- [\\n\\r\\u2028\\u2029]

Every rule method returns its value, or ``None`` when it does not match (leaving the
position where it was). Actions run as soon as their rule matches, even inside an
alternative that fails later, exactly as in the reference parser.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

from fbp.graph._dsl_build import Component, Endpoint, GraphBuilder, Port
from fbp.graph._dsl_json import JsonScanner

__all__ = ("FbpParser",)

_LETTERS = frozenset(string.ascii_letters)
_DIGITS = frozenset(string.digits)
_NAME_START = (_LETTERS | {"_"}).__contains__
_NODE_CHAR = (_LETTERS | _DIGITS | {"_", "-"}).__contains__
_PORT_CHAR = (_LETTERS | _DIGITS | {".", "_"}).__contains__
_COMPONENT_CHAR = (_LETTERS | _DIGITS | {"/", "-", "_"}).__contains__
_META_CHAR = (_LETTERS | _DIGITS | {"/", "=", "_", ","}).__contains__
_KEY_CHAR = (_LETTERS | _DIGITS | {"-", "_"}).__contains__
_VALUE_CHAR = (_LETTERS | _DIGITS | {"-", "_", " ", "."}).__contains__
_DIGIT = _DIGITS.__contains__
_NEWLINE_SET = frozenset("\n\r\u2028\u2029")
_NEWLINE = _NEWLINE_SET.__contains__
_SPACE = " ".__eq__


class FbpParser(JsonScanner):
    """Parses one ``.fbp`` text into a :class:`GraphBuilder`.

    Attributes:
        graph: the builder that receives every recognised element.
    """

    def __init__(self, text: str, *, case_sensitive: bool) -> None:
        super().__init__(text)
        self.graph = GraphBuilder(case_sensitive=case_sensitive)

    def parse(self) -> bool:
        """Run ``start``; return whether the whole text matched."""
        while self._line():
            pass
        if self.pos < self.end:
            self.fail("end of input")
            return False
        return True

    # -- lines -----------------------------------------------------------------------

    def _line(self) -> bool:
        start = self.pos
        for keyword, inport in (("INPORT=", True), ("OUTPORT=", False)):
            self._sp()
            at = self.pos
            if self.lit(keyword):
                node = self._node()
                if node is not None and self.lit("."):
                    port = self._port_name()
                    if port is not None and self.lit(":"):
                        public = self._port_name()
                        if public is not None:
                            self._end_statement()
                            self.graph.register_export(inport, node, port, public, at)
                            return True
            self.pos = start
        for keyword in ("DEFAULT_INPORT=", "DEFAULT_OUTPORT="):
            self._sp()
            if self.lit(keyword):
                name = self._port_name()
                if name is not None:
                    self._end_statement()
                    if keyword == "DEFAULT_INPORT=":
                        self.graph.default_inport = name
                    else:
                        self.graph.default_outport = name
                    return True
            self.pos = start
        annotation = self._annotation()
        if annotation is not None and self._newline():
            self.graph.register_annotation(annotation[0], annotation[1], start)
            return True
        self.pos = start
        if self._comment():
            self._newline()
            return True
        self._sp()
        if self._newline():
            return True
        self.pos = start
        self._sp()
        items = self._connection()
        if items is not None:
            self._end_statement()
            self.graph.items.extend(items)
            return True
        self.pos = start
        return False

    def _end_statement(self) -> None:
        """``_ LineTerminator?`` where ``LineTerminator <- _ ","? comment? newline?``."""
        self._sp()
        self._sp()  # LineTerminator's own ``_``: matches nothing more, still expected
        self.lit(",")
        self._comment()
        self._newline()

    def _annotation(self) -> tuple[str, str] | None:
        start = self.pos
        if self.lit("#") and self._sp(at_least=1) and self.lit("@"):
            key = self.chars(_KEY_CHAR, "[a-zA-Z0-9\\-_]", at_least=1)
            if key is not None and self._sp(at_least=1):
                value = self.chars(_VALUE_CHAR, "[a-zA-Z0-9\\-_ \\.]", at_least=1)
                if value is not None:
                    return key, value
        self.pos = start
        return None

    def _comment(self) -> bool:
        start = self.pos
        self._sp()
        if self.lit("#"):
            self.chars(lambda c: c not in _NEWLINE_SET, "[^\\n\\r\\u2028\\u2029]")
            return True
        self.pos = start
        return False

    def _newline(self) -> bool:
        return self.char(_NEWLINE, "[\\n\\r\\u2028\\u2029]") is not None

    def _sp(self, *, at_least: int = 0) -> bool:
        """``_`` (any spaces) or, with ``at_least=1``, ``__`` (one or more)."""
        return self.chars(_SPACE, '" "', at_least=at_least) is not None

    # -- connections -----------------------------------------------------------------

    def _connection(self) -> list[Endpoint] | None:
        """``source _ "->" _ connection / destination``, without recursion.

        Each level that matched ``source ->`` is remembered; when a level fails, the
        level above falls back to ``destination`` at its own start, as the recursive
        rule does.
        """
        levels: list[tuple[int, list[Endpoint]]] = []
        while True:
            start = self.pos
            source = self._source()
            if source is not None:
                self._sp()
                if self.lit("->"):
                    self._sp()
                    levels.append((start, source))
                    continue
            self.pos = start
            break
        destination = self._destination()
        while destination is None and levels:
            start, _ = levels.pop()
            self.pos = start
            destination = self._destination()
        if destination is None:
            return None
        return [item for _, source in levels for item in source] + destination

    def _source(self) -> list[Endpoint] | None:
        start = self.pos
        bridge = self._bridge()
        if bridge is not None:
            return bridge
        node = self._node()
        if node is not None:
            port = self._spaced_port()
            return [self.graph.endpoint("src", node, port, start)]
        data = self._iip()
        if data is not None:
            return [Endpoint("data", data[0], start)]
        return None

    def _destination(self) -> list[Endpoint] | None:
        start = self.pos
        port = self._port_spaced()
        node = self._node()
        if node is not None:
            return [self.graph.endpoint("tgt", node, port, start)]
        self.pos = start
        return self._bridge()

    def _bridge(self) -> list[Endpoint] | None:
        start = self.pos
        inport = self._port_spaced()
        if inport is not None:
            node = self._node()
            if node is not None:
                outport = self._spaced_port()
                if outport is not None:
                    return self._bridge_items(node, inport, outport, start)
        self.pos = start
        inport = self._port_spaced()
        node = self._node_with_component()
        if node is not None:
            outport = self._spaced_port()
            return self._bridge_items(node, inport, outport, start)
        self.pos = start
        return None

    def _bridge_items(
        self, node: str, inport: Port | None, outport: Port | None, start: int
    ) -> list[Endpoint]:
        # A connection from here is located at its outport (or, if left out, at the node).
        out_at = self.pos if outport is None else self.text.rindex(" ", start, self.pos) + 1
        return [
            self.graph.endpoint("tgt", node, inport, start),
            self.graph.endpoint("src", node, outport, out_at),
        ]

    def _iip(self) -> tuple[Any] | None:
        start = self.pos
        if self.lit("'"):
            chunks: list[str] = []
            while True:
                before = self.pos
                if self.char("\\".__eq__, "[\\\\]") is not None:
                    if self.char("'".__eq__, "[']") is not None:
                        chunks.append("'")
                        continue
                    self.pos = before
                c = self.char("'".__ne__, "[^']")
                if c is None:
                    break
                chunks.append(c)
            if self.lit("'"):
                return ("".join(chunks),)
            self.pos = start
        return self.json_text()

    # -- nodes and ports -------------------------------------------------------------

    def _node(self) -> str | None:
        name = self._node_name_and_component()
        if name is None:
            name = self._node_name()
        if name is None:
            name = self._node_component()
        return name

    def _node_with_component(self) -> str | None:
        name = self._node_name_and_component()
        if name is None:
            name = self._node_component()
        return name

    def _node_name_and_component(self) -> str | None:
        start = self.pos
        name = self._node_name()
        if name is not None:
            component = self._component()
            if component is not None:
                return self.graph.add_process(name, component, start)
        self.pos = start
        return None

    def _node_component(self) -> str | None:
        start = self.pos
        component = self._component()
        if component is None:
            return None
        return self.graph.add_anonymous(component, start)

    def _node_name(self) -> str | None:
        return self._name(_NODE_CHAR, "[a-zA-Z0-9_\\-]")

    def _port_name(self) -> str | None:
        return self._name(_PORT_CHAR, "[a-zA-Z.0-9_]")

    def _name(self, rest: Callable[[str], bool], rest_key: str) -> str | None:
        start = self.pos
        if self.char(_NAME_START, "[a-zA-Z_]") is None:
            return None
        self.chars(rest, rest_key)
        return self.text[start : self.pos]

    def _component(self) -> Component | None:
        start = self.pos
        if not self.lit("("):
            return None
        name = self.chars(_COMPONENT_CHAR, "[a-zA-Z/\\-0-9_]") or ""
        meta: tuple[str, ...] | None = None
        before = self.pos
        if self.lit(":"):
            text = self.chars(_META_CHAR, "[a-zA-Z/=_,0-9]", at_least=1)
            if text is None:
                self.pos = before
            else:
                meta = tuple(text.split(","))
        if not self.lit(")"):
            self.pos = start
            return None
        return Component(name, meta)

    def _port(self) -> Port | None:
        name = self._port_name()
        if name is None:
            return None
        index: str | None = None
        before = self.pos
        if self.lit("["):
            index = self.chars(_DIGIT, "[0-9]", at_least=1)
            if index is None or not self.lit("]"):
                index = None
                self.pos = before
        return self.graph.port(name, index)

    def _port_spaced(self) -> Port | None:
        """``port __``."""
        start = self.pos
        port = self._port()
        if port is not None and self._sp(at_least=1):
            return port
        self.pos = start
        return None

    def _spaced_port(self) -> Port | None:
        """``__ port``."""
        start = self.pos
        if self._sp(at_least=1):
            port = self._port()
            if port is not None:
                return port
        self.pos = start
        return None
