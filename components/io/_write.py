"""Writing files: WriteLines and WriteJSONLines."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from pydantic import BaseModel

from fbp import Component, InPort, OutPort, port

from ..core._basic import render
from ._files import STDOUT, open_text, stdout_reader_gone

__all__ = ("WriteJSONLines", "WriteLines", "to_json")


def to_json(value: Any) -> str:
    """Render a payload as one line of JSON (models by their fields)."""
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    return json.dumps(value, ensure_ascii=False, default=_fallback)


def _fallback(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)


class _Writer(Component):
    """Write one line per IP to FILENAME; brackets are skipped."""

    filename: InPort[str] = port(description="the file to write ('-' for standard output)")
    in_: InPort[Any] = port(description="IPs to write, one line each")
    out: OutPort[int] = port(description="how many lines were written, at the end", optional=True)

    render: ClassVar[Any] = staticmethod(render)

    async def run(self) -> None:
        path = await self.filename.receive()
        line = type(self).render
        n = 0
        ids: list[int] = []
        keep_ids = self.out.is_connected
        f = open_text(path, self.filename.address, "w")
        try:
            async for ip in self.in_.packets():
                if ip.is_data:
                    f.write(line(ip.payload) + "\n")
                    n += 1
                    if keep_ids and ip.id:
                        ids.append(ip.id)
            f.flush()
        except BrokenPipeError:
            if path != STDOUT:
                raise
            stdout_reader_gone(self.in_)  # `| head -1`: a normal end
        finally:
            if path != STDOUT:
                f.close()
        if self.out.is_connected:
            await self.out.send(n, parents=ids)


class WriteLines(_Writer):
    """Write each IP as one line of a text file: strings as they are, others as JSON.

    The file is created (or emptied) when the process starts. ``'-'`` writes to
    standard output. Brackets are skipped. At the end, OUT (if connected) gets the
    number of lines written.

    Example: ``'out.txt' -> FILENAME Save(io/WriteLines)``.
    """

    in_: InPort[Any] = port(description="IPs to write: strings as they are, others as JSON")


class WriteJSONLines(_Writer):
    """Write each IP as one line of JSON (a JSON Lines file); strings are quoted.

    The file is created (or emptied) when the process starts. ``'-'`` writes to
    standard output. Brackets are skipped. At the end, OUT (if connected) gets the
    number of lines written.

    Example: ``'out.jsonl' -> FILENAME Save(io/WriteJSONLines)``.
    """

    in_: InPort[Any] = port(description="IPs to write, each as one line of JSON")
    render: ClassVar[Any] = staticmethod(to_json)
