"""What the commands that run a network share about SIGINT and SIGTERM.

The first signal asks the run to stop (``fbp run`` cancels its network, ``fbp run
--backend ray`` its job); the exit code is 128 + the signal. A subclass decides what a
signal does in ``_handle``; this base keeps the signal, the handlers it replaced, and
how to reach the run's event loop from the signal handler.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ("SignalStopper",)


class SignalStopper:
    """Installs itself for SIGINT and SIGTERM while a run lasts."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._cancel: Callable[[], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[int, Any] = {}

    @property
    def code(self) -> int:
        """The exit code of a run stopped by the signal: 128 + the signal."""
        return 128 + (self.signum or signal.SIGINT)

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signals reach only the main thread: the caller handles them
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def running(self, cancel: Callable[[], None]) -> None:
        """The run started: ``cancel`` stops it (called in the event loop)."""
        self._loop = asyncio.get_running_loop()
        self._cancel = cancel
        if self._cancel_at_start():
            cancel()  # a signal came before the loop was running

    def _cancel_at_start(self) -> bool:
        return self.signum is not None

    def _request_cancel(self) -> None:
        """Cancel the run from the signal handler's thread, once it is running."""
        loop, cancel = self._loop, self._cancel
        if loop is not None and cancel is not None:
            loop.call_soon_threadsafe(cancel)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        raise NotImplementedError
