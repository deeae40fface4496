"""Port and edge addresses: ``process.PORT``, ``process.PORT[i]``, ``a.OUT -> b.IN[1]``."""

from __future__ import annotations

from .._core._address import PortAddress

__all__ = ("format_address", "parse_address", "parse_edge")


def format_address(process: str, port: str, index: int | None) -> str:
    """Format a port address the way the runtime does: ``process.PORT[index]``."""
    return str(PortAddress(process, port, index))


def parse_address(text: str) -> tuple[str, str, int | None] | None:
    """Split ``process.PORT[i]`` into ``(process, PORT, i)``; None if it is not one.

    The port name is upper-cased, as addresses spell it.
    """
    a = PortAddress.parse_or_none(text)
    return None if a is None else (a.process, a.port.upper(), a.index)


def parse_edge(text: str) -> tuple[str, str] | None:
    """Split ``src -> tgt`` into its two normalised addresses; None if it is not one."""
    if "->" not in text:
        return None
    left, _, right = text.partition("->")
    src, tgt = parse_address(left), parse_address(right)
    if src is None or tgt is None:
        return None
    return format_address(*src), format_address(*tgt)
