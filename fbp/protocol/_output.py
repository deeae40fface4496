"""Console output of running networks, sent to clients as ``network:output``.

A component that prints (``core/Output`` does) writes to ``sys.stdout``. While the
runtime serves, :class:`OutputForwarder` stands in for ``sys.stdout``: each complete
line goes to every client as a ``network:output`` message (droppable, like data
events), and nothing reaches the process's real standard output, which belongs to
whoever started the server (the protocol's test harness closes it after the first
line).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable

__all__ = ("OutputForwarder",)


class OutputForwarder(io.TextIOBase):
    """A text stream that hands each complete line to ``emit`` on the event loop.

    Args:
        emit: called with each line (without its newline), on the loop's thread.
        loop: the event loop; writes from other threads are passed to it.
        max_line: longer lines are cut to this many characters.
    """

    def __init__(
        self,
        emit: Callable[[str], None],
        loop: asyncio.AbstractEventLoop,
        *,
        max_line: int = 65536,
    ) -> None:
        super().__init__()
        self._emit = emit
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self._max_line = max_line
        self._partial = ""
        self._lock = threading.Lock()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            data = self._partial + text
            *lines, self._partial = data.split("\n")
            if len(self._partial) > self._max_line:
                lines.append(self._partial)
                self._partial = ""
        for line in lines:
            self._send(line[: self._max_line])
        return len(text)

    def flush(self) -> None:
        with self._lock:
            line, self._partial = self._partial, ""
        if line:
            self._send(line)

    def _send(self, line: str) -> None:
        if threading.get_ident() == self._loop_thread:
            self._emit(line)
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._emit, line)
