"""A forgotten ``await`` on a port operation fails the run, naming the process and port.

``self.out.send(x)`` without ``await`` makes a coroutine that never runs: the IP is
never sent, and Python only prints a ``RuntimeWarning`` when the coroutine is collected
(at once, in CPython). Python reports such coroutines through
``warnings._warn_unawaited_coroutine``; while networks run, that hook is wrapped: a
coroutine of a port's own methods fails its process with a :class:`PortError` that says
what to write, and every other coroutine is reported as Python would.

The compiled port paths (:mod:`fbp._core._fast`) send at the call and return an
awaitable that is already done; one dropped without being awaited is reported through
:func:`forgotten` in the same way (the IP went out, but the process would not have
waited for room in a full channel).
"""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import Callable
from types import CodeType
from typing import Any

from ._exceptions import PortError

__all__ = ("forgotten", "watch_unawaited")

_installed = False


def watch_unawaited() -> None:
    """Wrap Python's report of never-awaited coroutines (once per interpreter)."""
    global _installed
    original = getattr(warnings, "_warn_unawaited_coroutine", None)
    if _installed or original is None:
        return
    _installed = True

    @functools.wraps(original)
    def report(coro: Any) -> None:
        try:
            handled = _report(coro)
        except Exception:  # never let the report itself fail where Python calls it
            handled = False
        if not handled:
            original(coro)

    warnings._warn_unawaited_coroutine = report  # type: ignore[attr-defined]


@functools.cache
def _port_codes() -> dict[CodeType, str]:
    """The code of every coroutine method of the port classes, by method name."""
    from . import _arrays, _port_variants, _ports

    codes: dict[CodeType, str] = {}
    for module in (_ports, _port_variants, _arrays):
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if not cls.__name__.endswith("Port"):
                continue
            for fn in vars(cls).values():
                if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
                    # The name it was defined with: the compiled ports keep the Python
                    # methods under other names (_send_py).
                    codes[fn.__code__] = fn.__code__.co_name
    return codes


def _report(coro: Any) -> bool:
    code = getattr(coro, "cr_code", None)
    method = _port_codes().get(code) if code is not None else None
    frame = getattr(coro, "cr_frame", None)
    if method is None or frame is None:
        return False
    return _fail(frame.f_locals.get("self"), method, "so it never happened")


def forgotten(port: Any) -> None:
    """Report a send of ``port`` that was never awaited, made by the compiled port
    paths (``fbp._core._fastports``): there the IP goes out when ``send`` is called,
    and the awaitable it returns, dropped unawaited, is reported here."""
    _fail(port, "send", "so it did not wait while the receiver was full")


def _fail(port: Any, method: str, consequence: str) -> bool:
    proc = getattr(port, "_proc", None)
    net = getattr(proc, "net", None)
    fail: Callable[[Any, Exception], None] | None = getattr(net, "process_failed", None)
    if fail is None or getattr(proc, "ended", True):
        return False
    if getattr(net, "_error", None) is not None:
        return True  # the run is already failing: once is enough
    attr = getattr(getattr(port, "spec", None), "attr", "port")
    err = PortError(
        f"{port.address}.{method}() was called without await, {consequence};"
        f" write 'await self.{attr}.{method}(...)'"
    )
    fail(proc, err)
    return True
