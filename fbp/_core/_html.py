"""Small HTML tables for notebooks (``_repr_html_``), with every cell escaped."""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ("html_table", "short")


def short(value: Any, width: int = 80) -> str:
    """``repr`` of a value, cut to ``width`` characters."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def html_table(
    caption: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: int = 0
) -> str:
    """A table; the last ``numeric`` columns are right-aligned."""
    esc = html.escape
    right = ' style="text-align:right"'
    n = len(header)

    def cells(tag: str, row: Sequence[Any]) -> str:
        return "".join(
            f"<{tag}{right if i >= n - numeric else ''}>{esc(str(c))}</{tag}>"
            for i, c in enumerate(row)
        )

    body = "".join(f"<tr>{cells('td', r)}</tr>" for r in rows)
    return (
        f'<table><caption style="text-align:left">{esc(caption)}</caption>'
        f"<thead><tr>{cells('th', header)}</tr></thead><tbody>{body}</tbody></table>"
    )
