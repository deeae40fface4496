"""The runtime's logs, through the standard ``logging`` module.

A library must not print on its own: fbp's loggers write to the standard logger named
``fbp``, which has only a ``NullHandler`` until the application configures logging.
``python -m fbp`` does so (console on a terminal, JSON with ``--log-format json``);
a program embedding fbp configures ``logging`` as it likes.

A log call is ``log.info("event", key=value, ...)``: the record's message is the event,
and the bound context and the keywords are in the record's ``fbp_context`` attribute
(a dict), which the command line's formatter renders as fields.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ("BoundLogger", "get_logger")

logging.getLogger("fbp").addHandler(logging.NullHandler())

_LOGGER = logging.getLogger("fbp")


class BoundLogger:
    """A logger bound to some context (``process=...``), writing to the ``fbp`` logger."""

    __slots__ = ("_context",)

    def __init__(self, context: dict[str, Any]) -> None:
        self._context = context

    def bind(self, **context: Any) -> BoundLogger:
        """A logger with ``context`` added to this one's."""
        return BoundLogger({**self._context, **context})

    def _log(self, level: int, event: str, kw: dict[str, Any]) -> None:
        if not _LOGGER.isEnabledFor(level):
            return
        exc_info = kw.pop("exc_info", None)
        _LOGGER.log(
            level,
            event,
            exc_info=exc_info,
            extra={"fbp_context": {**self._context, **kw}},
            stacklevel=3,
        )

    def debug(self, event: str, **kw: Any) -> None:
        self._log(logging.DEBUG, event, kw)

    def info(self, event: str, **kw: Any) -> None:
        self._log(logging.INFO, event, kw)

    def warning(self, event: str, **kw: Any) -> None:
        self._log(logging.WARNING, event, kw)

    def error(self, event: str, **kw: Any) -> None:
        self._log(logging.ERROR, event, kw)

    def exception(self, event: str, **kw: Any) -> None:
        kw.setdefault("exc_info", True)
        self._log(logging.ERROR, event, kw)

    def critical(self, event: str, **kw: Any) -> None:
        self._log(logging.CRITICAL, event, kw)


def get_logger(**context: Any) -> BoundLogger:
    """A logger writing to the ``fbp`` standard logger, bound to ``context``."""
    return BoundLogger(dict(context))
