"""The port address, ``process.PORT`` or ``process.PORT[index]``: one grammar, one spelling.

Graphs, the trace, the command line's ``--set`` and queries, error messages and the
causal layer's variable names all name a port this way, and all parse and format it
here.

The grammar: a **process** name is any text without a dot, white space or square
brackets (``Scale``, ``ns:Scale``, ``sub/Scale``, ``Büro``); a **port** name is an
identifier (letters of any script, digits, underscores; not starting with a digit),
which may hold dots (``OUT.x``); an **index** is a non-negative integer in square
brackets, which may be separated from the port by spaces (``OUT [1]``, as the ``.fbp``
language allows). White space around the whole address is ignored. Port names are
case-insensitive and written upper-case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

__all__ = ("PortAddress", "parse_variable")

_GRAMMAR = re.compile(
    r"^\s*(?P<process>[^.\s\[\]]+)\.(?P<port>[^\W\d][^\s\[\]]*?)\s*(?:\[\s*(?P<index>\d+)\s*\])?\s*$"
)


def _port_name(port: str) -> bool:
    """Whether the rest of a port name (after its first letter) is word characters
    (``\\w``), identifier characters or dots. ``\\w`` alone leaves out combining marks,
    which upper-casing makes (``'ῢ'.upper()`` is ``'Ϋ'`` and a combining accent)."""
    return all(c.isalnum() or c in "._" or ("a" + c).isidentifier() for c in port[1:])


def _parts(text: str) -> tuple[str, str, int | None] | None:
    m = _GRAMMAR.match(text)
    if m is None or not _port_name(m["port"]):
        return None
    index = m["index"]
    return m["process"], m["port"], None if index is None else int(index)


_FIX = "write process.PORT or process.PORT[index]"

#: A causal variable or a replay target: an address whose port has no dot, then
#: optionally ``.field`` (a payload field, dotted for nested fields).
_VARIABLE = re.compile(
    r"^\s*(?P<process>[^.\s\[\]]+)\.(?P<port>[^\W\d][^\s\[\].]*?)\s*"
    r"(?:\[\s*(?P<index>\d+)\s*\])?(?:\.(?P<field>\S+))?\s*$"
)


def parse_variable(text: str) -> tuple[PortAddress, str | None] | None:
    """Split ``P.PORT``, ``P.PORT[i]`` or ``P.PORT.field`` (a causal variable's name, a
    ``--target``) into the port's address and the field (None for the whole payload);
    None where the text is not one. The first name after the process is the port."""
    m = _VARIABLE.match(text) if isinstance(text, str) else None
    if m is None or not _port_name(m["port"]):
        return None
    index = m["index"]
    address = PortAddress(m["process"], m["port"], None if index is None else int(index))
    return address, m["field"]


@dataclass(frozen=True, slots=True)
class PortAddress:
    """A port of a process: ``process.PORT[index]`` (``index`` for array ports).

    ``port`` keeps the case it was given; ``str()`` writes it upper-case, as every
    message, trace and graph file spells it.
    """

    process: str
    port: str
    index: int | None = None

    def __str__(self) -> str:
        base = f"{self.process}.{self.port.upper()}"
        return base if self.index is None else f"{base}[{self.index}]"

    @classmethod
    def parse(cls, text: str) -> PortAddress:
        """Parse ``process.PORT`` or ``process.PORT[index]`` (see the module's grammar).

        Raises:
            ValueError: the text is not an address; the message says what is wrong.
        """
        parts = _parts(text) if isinstance(text, str) else None
        if parts is None:
            raise ValueError(_why_not(text))
        return cls(*parts)

    @classmethod
    def parse_or_none(cls, text: str) -> PortAddress | None:
        """:meth:`parse`, or None where the text is not an address."""
        parts = _parts(text)
        return None if parts is None else cls(*parts)

    def to_dict(self) -> dict[str, Any]:
        """The FBP JSON form ``{"process", "port", "index"?}``."""
        d: dict[str, Any] = {"process": self.process, "port": self.port}
        if self.index is not None:
            d["index"] = self.index
        return d


def _why_not(text: object) -> str:
    if not isinstance(text, str):
        return f"a port address is text, not {type(text).__name__}; {_FIX}"
    shown = repr(text)
    body = text.strip()
    if "." not in body:
        return f"{shown} is not a port address (no '.' between process and port); {_FIX}"
    process, _, rest = body.partition(".")
    if not process or any(c.isspace() or c in "[]" for c in process):
        return (
            f"{shown} is not a port address: the process name {process!r} is empty or"
            f" holds spaces or brackets; {_FIX}"
        )
    port = rest.split("[", 1)[0].strip()
    if not port or not (port[0].isalpha() or port[0] == "_"):
        return (
            f"{shown} is not a port address: the port name {port!r} must start with a"
            f" letter or '_'; {_FIX}"
        )
    if "[" in rest:
        return (
            f"{shown} is not a port address: an index is a whole number in brackets,"
            f" as in {process}.{port.upper()}[0]"
        )
    return f"{shown} is not a port address: {port!r} is not a port name; {_FIX}"
