"""Reading files: ReadLines, ReadCSV and ReadJSONLines."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from typing import Any, Literal

from fbp import Component, InPort, OutPort, port

from ._files import FileAccessError, decode_error, open_text

__all__ = ("ColumnType", "ReadCSV", "ReadJSONLines", "ReadLines")

#: The types a CSV column can be read as (the values of the TYPES mapping).
ColumnType = Literal["str", "int", "float", "bool", "json"]

_TRUE = frozenset({"true", "t", "yes", "y", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "0"})


def _to_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    msg = "expected one of true/false, yes/no, 1/0"
    raise ValueError(msg)


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": _to_bool,
    "json": json.loads,
}


class ReadLines(Component):
    """Send each line of a text file, without its line ending.

    Example: ``'data/words.txt' -> FILENAME Read(io/ReadLines)``.
    """

    filename: InPort[str] = port(description="the file to read")
    encoding: InPort[str] = port(description="the file's text encoding", default="utf-8")
    out: OutPort[str] = port(description="the lines, in order")

    async def run(self) -> None:
        path = await self.filename.receive()
        encoding = await self.encoding.receive()
        where = self.filename.address
        with open_text(path, where, "r", encoding) as f:
            n = 0
            try:
                for n, line in enumerate(f, 1):  # noqa: B007 - n is read after a decode error
                    await self.out.send(line[:-1] if line.endswith("\n") else line)
            except UnicodeDecodeError:
                raise decode_error(path, where, n + 1, encoding) from None


class ReadCSV(Component):
    """Send each row of a CSV file as a dict keyed by the header's column names.

    Values are strings unless TYPES maps a column to ``int``, ``float``, ``bool``
    (true/false, yes/no, 1/0) or ``json``; an empty field of a typed column reads as
    None. A row with more or fewer fields than the header is an error naming the file
    and line.

    Example: ``'{"value": "float"}' -> TYPES Read(io/ReadCSV)``.
    """

    filename: InPort[str] = port(description="the CSV file to read; its first row is the header")
    delimiter: InPort[str] = port(description="the field separator, one character", default=",")
    types: InPort[dict[str, ColumnType]] = port(
        description="column -> str|int|float|bool|json; other columns stay strings", default={}
    )
    out: OutPort[dict[str, Any]] = port(description="one dict per row, in order")

    async def run(self) -> None:
        path = await self.filename.receive()
        delimiter = await self.delimiter.receive()
        types = await self.types.receive()
        where = self.filename.address
        if len(delimiter) != 1:
            msg = f"{self.delimiter.address} must be one character, got {delimiter!r}"
            raise ValueError(msg)
        with open_text(path, where, "r", translate_newlines=False) as f:
            reader = csv.reader(f, delimiter=delimiter)
            try:
                header = next(reader, None)
                if header is None:
                    return
                converters = _converters(path, where, header, types)
                for fields in reader:
                    if not fields:
                        continue  # a blank line
                    row = _row(path, where, reader.line_num, header, fields, converters)
                    await self.out.send(row)
            except csv.Error as e:
                msg = f"{path}:{reader.line_num}: not valid CSV: {e}"
                raise FileAccessError(path, where, msg) from None
            except UnicodeDecodeError:
                raise decode_error(path, where, reader.line_num + 1, "utf-8") from None


def _converters(
    path: str, where: str, header: list[str], types: Mapping[str, str]
) -> list[tuple[str, Callable[[str], Any]] | None]:
    missing = [c for c in types if c not in header]
    if missing:
        msg = (
            f"{path}: TYPES names column(s) {', '.join(map(repr, missing))} that the header"
            f" does not have (its columns: {', '.join(map(repr, header))})"
        )
        raise FileAccessError(path, where, msg)
    names = [types.get(c, "str") for c in header]
    return [None if t == "str" else (t, _CONVERTERS[t]) for t in names]


def _row(
    path: str,
    where: str,
    line: int,
    header: list[str],
    fields: list[str],
    converters: list[tuple[str, Callable[[str], Any]] | None],
) -> dict[str, Any]:
    if len(fields) != len(header):
        msg = (
            f"{path}:{line}: the row has {len(fields)} field(s) but the header has"
            f" {len(header)} ({', '.join(header)})"
        )
        raise FileAccessError(path, where, msg)
    row: dict[str, Any] = {}
    for col, raw, conv in zip(header, fields, converters, strict=True):
        if conv is None:
            row[col] = raw
        elif raw == "":
            row[col] = None
        else:
            name, fn = conv
            try:
                row[col] = fn(raw)
            except ValueError as e:
                msg = f"{path}:{line}: column {col!r}: cannot read {raw!r} as {name}: {e}"
                raise FileAccessError(path, where, msg) from None
    return row


class ReadJSONLines(Component):
    """Send the JSON value on each line of a JSON Lines file; blank lines are skipped.

    Example: ``'events.jsonl' -> FILENAME Events(io/ReadJSONLines)``.
    """

    filename: InPort[str] = port(description="the JSON Lines file to read")
    out: OutPort[Any] = port(description="the parsed values, in order")

    async def run(self) -> None:
        path = await self.filename.receive()
        where = self.filename.address
        with open_text(path, where, "r") as f:
            n = 0
            try:
                for n, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        value = json.loads(line)
                    except json.JSONDecodeError as e:
                        msg = f"{path}:{n}:{e.colno}: not valid JSON: {e.msg}"
                        raise FileAccessError(path, where, msg) from None
                    await self.out.send(value)
            except UnicodeDecodeError:
                raise decode_error(path, where, n + 1, "utf-8") from None
