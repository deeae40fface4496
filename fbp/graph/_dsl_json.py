"""JSON values inside ``.fbp`` text: the JSON IIPs (``{"a": 1} -> OPTIONS Proc``).

The JSON grammar is RFC 7159's. Numbers are IEEE doubles, as in the JavaScript world
the ``.fbp`` format comes from, and are handed back as the value JSON text of that
double would load as in Python: integral values below 1e21 as ``int`` (so ``5.0`` reads
as ``5``), others as ``float``, and non-finite values as ``None`` (JSON has no
``Infinity``). :func:`js_number` is that conversion.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from fbp.graph._dsl_scan import Scanner

__all__ = ("JsonScanner", "js_number")

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_STRING = re.compile(r'"((?:[^\x00-\x1f"\\]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*)"')
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def js_number(value: float) -> int | float | None:
    """Return what JSON text of the double ``value`` loads as in Python.

    Args:
        value: a double, as JavaScript would hold it.

    Returns:
        ``None`` for NaN and infinities, an ``int`` for integral values whose magnitude
        is below 1e21 (``-0.0`` gives ``0``), the float itself otherwise.
    """
    if math.isnan(value) or math.isinf(value):
        return None
    if value.is_integer() and abs(value) < 1e21:
        # The shortest digits that round-trip, as JavaScript prints them.
        return int(Decimal(repr(value)))
    return value


def decode_json_string(body: str) -> str:
    """Decode the escapes of a JSON string body (the text between the quotes)."""
    if "\\" in body:
        out: list[str] = []
        i = 0
        while i < len(body):
            c = body[i]
            if c != "\\":
                out.append(c)
                i += 1
            elif body[i + 1] == "u":
                out.append(chr(int(body[i + 2 : i + 6], 16)))
                i += 6
            else:
                out.append(_ESCAPES[body[i + 1]])
                i += 2
        body = "".join(out)
    if _SURROGATE.search(body):
        # Escaped UTF-16 surrogate pairs (\ud83d\ude00) make one character; lone
        # surrogates stay as they are.
        body = body.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")
    return body


class JsonScanner(Scanner):
    """The JSON rules; each returns a 1-tuple holding the value, or ``None`` on failure."""

    def json_text(self) -> tuple[Any] | None:
        """``ws value ws``."""
        self._ws()
        value = self.json_value()
        if value is None:
            return None
        self._ws()
        return value

    def json_value(self) -> tuple[Any] | None:
        """``false / null / true / object / array / number / string``."""
        for word, constant in (("false", False), ("null", None), ("true", True)):
            if self.lit(word):
                return (constant,)
        for rule in (self._object, self._array, self._number, self._string):
            value = rule()
            if value is not None:
                return value
        return None

    def _ws(self) -> None:
        # A named rule that cannot fail: it never shows up among expectations.
        match = _WS.match(self.text, self.pos)
        assert match is not None
        self.pos = match.end()

    def _punct(self, mark: str) -> bool:
        """``ws mark ws``."""
        start = self.pos
        self._ws()
        if self.lit(mark):
            self._ws()
            return True
        self.pos = start
        return False

    def _object(self) -> tuple[Any] | None:
        start = self.pos
        if not self._punct("{"):
            return None
        result: dict[str, Any] = {}
        member = self._member()
        if member is not None:
            result[member[0]] = member[1]
            while True:
                before = self.pos
                if not self._punct(","):
                    break
                member = self._member()
                if member is None:
                    self.pos = before
                    break
                result[member[0]] = member[1]
        if not self._punct("}"):
            self.pos = start
            return None
        return (result,)

    def _member(self) -> tuple[str, Any] | None:
        start = self.pos
        name = self._string()
        if name is not None and self._punct(":"):
            value = self.json_value()
            if value is not None:
                return (name[0], value[0])
        self.pos = start
        return None

    def _array(self) -> tuple[Any] | None:
        start = self.pos
        if not self._punct("["):
            return None
        result: list[Any] = []
        item = self.json_value()
        if item is not None:
            result.append(item[0])
            while True:
                before = self.pos
                if not self._punct(","):
                    break
                item = self.json_value()
                if item is None:
                    self.pos = before
                    break
                result.append(item[0])
        if not self._punct("]"):
            self.pos = start
            return None
        return (result,)

    def _number(self) -> tuple[Any] | None:
        match = _NUMBER.match(self.text, self.pos)
        if match is None:
            self.fail("number")
            return None
        self.pos = match.end()
        return (js_number(float(match.group())),)

    def _string(self) -> tuple[str] | None:
        match = _STRING.match(self.text, self.pos)
        if match is None:
            self.fail("string")
            return None
        self.pos = match.end()
        return (decode_json_string(match.group(1)),)
