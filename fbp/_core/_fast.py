"""The port operations' common cases without a coroutine per IP.

``async for x in port`` and ``await port.send(y)``, written in Python, make and run a
coroutine for every IP, which is most of what a hop costs. When the optional C
extension :mod:`fbp._core._fastports` is built (and ``FBP_NO_ACCEL`` is not set),
:func:`install` replaces ``InPort.__anext__``, ``ArrayInPort.__anext__`` and the
untraced ``send`` methods with C functions that finish the common case at once (an
item buffered; room in the one channel, or in every channel of a fan-out) and return
an awaitable that is already done; where the traced send's record-making
(:mod:`fbp._core._accel`) is built too, ``TracedInPort.__anext__`` and
``TracedOutPort.send`` alike (a data record buffered; a send that ``put()`` makes and
delivers). Every other case calls the Python method
(``_anext_py`` / ``_send_py``; for an input port, its wait ``InPort._wait_next``),
which remains the reference: waiting, brackets, validation that converts, closed ports
and explicit parents behave exactly as in Python.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from typing import Any

from . import _port_variants, _ports, _unawaited
from ._arrays import ArrayInPort
from ._channel import Channel
from ._ip import DATA, IP
from ._lineage import WINDOW_RECORDS
from ._port_variants import CheckedOutPort, TracedInPort, TracedOutPort
from ._ports import InPort, OutPort
from ._types import Validator

__all__ = ("active", "install", "report_missing", "unavailable", "uninstall")

# The Python methods, whatever is installed.
_PY: dict[tuple[type, str], Any] = {
    (InPort, "__anext__"): InPort.__dict__["__anext__"],
    (ArrayInPort, "__anext__"): ArrayInPort.__dict__["__anext__"],
    (OutPort, "send"): OutPort.__dict__["send"],
    (CheckedOutPort, "send"): CheckedOutPort.__dict__["send"],
    (TracedInPort, "__anext__"): TracedInPort.__dict__["__anext__"],
    (TracedOutPort, "send"): TracedOutPort.__dict__["send"],
}
for (_cls, _name), _fn in _PY.items():
    setattr(_cls, "_anext_py" if _name == "__anext__" else "_send_py", _fn)
# What the compiled InPort.__anext__ calls when nothing is buffered: the wait itself.
InPort._anext_py = InPort._wait_next  # type: ignore[attr-defined]

_why_not: str | None = None
_methods: tuple[Any, ...] | None = None
_reported = False


def _load() -> tuple[Any, ...] | None:
    global _why_not
    from ._compiled import load, reason

    _fastports: Any = load("fbp._core._fastports")
    if _fastports is None:
        _why_not = reason("fbp._core._fastports")
        return None
    slots = (
        (InPort, "_chan"),
        (InPort, "_last"),
        (OutPort, "_chan"),
        (OutPort, "sent_fast"),
        (OutPort, "_validator"),
        (Channel, "_buf"),
        (Channel, "_room"),
        (Channel, "_recv_signal"),
        (Channel, "_send_waiters"),
        (Validator, "_plain"),
        (ArrayInPort, "elements"),
        (ArrayInPort, "_next"),
        (OutPort, "_chans"),
        (OutPort, "_closed"),
        (OutPort, "_sent_slow"),
        (Channel, "_accepted"),
        (Channel, "open_senders"),
        (Channel, "capacity"),
        (Channel, "drop_oldest"),
        (OutPort, "_proc"),
        (OutPort, "_loop"),
    )
    descriptors = tuple(cls.__dict__[name] for cls, name in slots)
    classes = (InPort, OutPort, Channel, IP, Validator, ArrayInPort, deque, CheckedOutPort)
    _fastports.configure(descriptors, classes)
    _fastports.set_unawaited_hook(_unawaited.forgotten)
    from ._channel import Waiter
    from ._fuse import Scheduler, _Member

    handover = (
        (Waiter, "waiting"),
        (Waiter, "last_wait"),
        (Waiter, "fused"),
        (_Member, "wait"),
        (_Member, "sched"),
        (Scheduler, "ready"),
        (Scheduler, "_idle"),
        (Scheduler, "loop"),
        (Channel, "_blocked_mark"),
        (Channel, "_peak"),
    )
    _fastports.configure_handover(
        tuple(cls.__dict__[name] for cls, name in handover),
        (Waiter, _Member, Scheduler, asyncio.Future),
        time.perf_counter_ns,
    )
    methods: tuple[Any, ...] = _fastports.methods()
    put = _port_variants._put
    if put is not None:  # the traced send's record-making (fbp._core._accel) is built
        traced = tuple(InPort.__dict__[name] for name in ("_pending", "_validator", "_proc"))
        _fastports.configure_traced(
            traced, (TracedInPort, TracedOutPort), put, DATA, WINDOW_RECORDS
        )
        methods += _fastports.traced_methods()
    return methods


def install() -> bool:
    """Put the C methods in place; False (and the Python ones stay) when unavailable."""
    global _methods
    if _methods is None:
        _methods = _load()
    if _methods is None:
        return False
    in_anext, array_anext, send, checked_send, *traced = _methods
    from . import _fastports  # type: ignore[attr-defined]  # loaded by _load

    _ports._all_exactly = _fastports.all_exactly
    InPort.__anext__ = in_anext  # type: ignore[method-assign]
    ArrayInPort.__anext__ = array_anext  # type: ignore[method-assign]
    OutPort.send = send  # type: ignore[method-assign]
    CheckedOutPort.send = checked_send  # type: ignore[method-assign]
    if traced:
        TracedInPort.__anext__, TracedOutPort.send = traced  # type: ignore[method-assign]
    for cls in (InPort, ArrayInPort, *((TracedInPort,) if traced else ())):
        _fastports.bind_anext(cls)
    return True


def uninstall() -> None:
    """Put the Python methods back (the tests run both)."""
    for (cls, name), fn in _PY.items():
        setattr(cls, name, fn)
    _ports._all_exactly = _ports._all_exactly_py


def active() -> bool:
    """Whether the C methods are in place."""
    return _methods is not None and InPort.__dict__["__anext__"] is _methods[0]


def unavailable() -> str | None:
    """Why the C methods cannot be used, or None."""
    if _methods is None and _why_not is None:
        _load()
    return _why_not


def report_missing(log: Any) -> None:
    """Warn once per process when the C paths were not built (rather than chosen off
    with ``FBP_NO_ACCEL``): runs are correct, only slower."""
    global _reported
    why = unavailable()
    if _reported or why is None or os.environ.get("FBP_NO_ACCEL"):
        return
    _reported = True
    log.warning(
        "fbp's compiled port paths are missing: networks run on the Python paths,"
        " about 1.5x slower per hop; reinstall fbp where a C compiler is available"
        " (pip install --force-reinstall --no-deps fbp-causal), or set FBP_NO_ACCEL=1"
        " to choose the Python paths",
        reason=why,
    )


install()
