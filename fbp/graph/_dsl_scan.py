"""The scanning layer under the ``.fbp`` parser: position, matching and failure tracking.

The parser is a backtracking recursive-descent parser with PEG semantics (ordered
choice, greedy repetition, no backtracking into a repetition once it has matched).
When it cannot go on, the error is reported where the text stopped making sense: the
furthest position any alternative reached, together with everything that was expected
there. :class:`Scanner` keeps that record; the grammar lives in subclasses.

Expectations are recorded under stable *keys* (``'"->"'``, ``'name'``, ...);
:data:`EXPECTED_TEXT` turns each key into the words shown to people.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable

__all__ = ("EXPECTED_TEXT", "LineIndex", "Scanner")

# Key -> words shown in messages. The keys are the reference parser's own descriptions
# of what it expected, so the differential tests can compare expectations. Inside JSON
# numbers and strings only "a number" / "a JSON string" is ever reported.
EXPECTED_TEXT: dict[str, str] = {
    '" "': "a space",
    '"#"': '"#"',
    '","': '","',
    '"->"': '"->"',
    '"."': '"."',
    '":"': '":"',
    '"("': '"("',
    '")"': '")"',
    '"["': '"["',
    '"]"': '"]"',
    '"@"': '"@"',
    '"\'"': '"\'"',
    '"INPORT="': '"INPORT="',
    '"OUTPORT="': '"OUTPORT="',
    '"DEFAULT_INPORT="': '"DEFAULT_INPORT="',
    '"DEFAULT_OUTPORT="': '"DEFAULT_OUTPORT="',
    '"{"': '"{"',
    '"}"': '"}"',
    '"true"': "true",
    '"false"': "false",
    '"null"': "null",
    "[\\n\\r\\u2028\\u2029]": "end of line",
    "[^\\n\\r\\u2028\\u2029]": "any character",
    "[a-zA-Z_]": "a name",
    "[a-zA-Z0-9_\\-]": "a name character",
    "[a-zA-Z.0-9_]": "a port name character",
    "[a-zA-Z/\\-0-9_]": "a component name character",
    "[a-zA-Z/=_,0-9]": "a metadata character (letter, digit, '/', '_', '=' or ',')",
    "[a-zA-Z0-9\\-_]": "an annotation key character",
    "[a-zA-Z0-9\\-_ \\.]": "an annotation value character",
    "[0-9]": "a digit",
    "[\\\\]": "a backslash",
    "[']": '"\'"',
    "[^']": 'any character but "\'"',
    "number": "a number",
    "string": "a JSON string",
    "end of input": "end of input",
}

_TWO_CHAR_BREAKS = ("\r\n", "\u2028\n", "\u2029\n")
_LINE_BREAK = re.compile("[\r\u2028\u2029]\n?|\n")


class LineIndex:
    """Turns offsets into 1-based ``(line, column)``.

    ``\\n``, ``\\r``, U+2028 and U+2029 each end a line, and so does any of the last
    three followed by ``\\n`` (``\\r\\n``), as in the reference parser. Columns count
    characters (code points); the reference parser counts UTF-16 units, so after a
    character beyond U+FFFF on the same line its columns are one higher per such
    character.
    """

    def __init__(self, text: str) -> None:
        self._text = text
        self._starts = [0] + [m.end() for m in _LINE_BREAK.finditer(text)]

    def line_col(self, offset: int) -> tuple[int, int]:
        """Return the line and column of ``offset``."""
        index = bisect.bisect_right(self._starts, offset) - 1
        if offset > 0 and self._text[offset - 1 : offset + 1] in _TWO_CHAR_BREAKS:
            # Between the two characters of a CRLF: already on the next line.
            return index + 2, 1
        return index + 1, offset - self._starts[index] + 1


class Scanner:
    """Position, primitive matchers and the furthest-failure record.

    Attributes:
        text: the whole input.
        pos: the current offset.
        fail_pos: the furthest offset at which a match failed.
        fail_expected: the keys of what was expected at ``fail_pos``, in order.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.end = len(text)
        self.pos = 0
        self.fail_pos = 0
        self.fail_expected: list[str] = []

    # -- failure record --------------------------------------------------------------

    def fail(self, key: str) -> None:
        """Record that ``key`` was expected at the current offset."""
        where = self.pos
        if where < self.fail_pos:
            return
        if where > self.fail_pos:
            self.fail_pos = where
            self.fail_expected = []
        self.fail_expected.append(key)

    # -- matchers --------------------------------------------------------------------

    def lit(self, literal: str) -> bool:
        """Match ``literal`` exactly."""
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        self.fail(_literal_key(literal))
        return False

    def char(self, allowed: Callable[[str], bool], key: str) -> str | None:
        """Match one character for which ``allowed`` is true."""
        if self.pos < self.end:
            c = self.text[self.pos]
            if allowed(c):
                self.pos += 1
                return c
        self.fail(key)
        return None

    def chars(self, allowed: Callable[[str], bool], key: str, *, at_least: int = 0) -> str | None:
        """Match a run of allowed characters (``*`` or, with ``at_least=1``, ``+``)."""
        start = self.pos
        text, end = self.text, self.end
        i = start
        while i < end and allowed(text[i]):
            i += 1
        self.pos = i
        self.fail(key)  # the character that ended the run was not allowed
        if i - start < at_least:
            self.pos = start
            return None
        return text[start:i]


def _literal_key(literal: str) -> str:
    escaped = literal.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'
