"""The runtime's logs: structlog loggers on top of the standard ``logging`` module.

A library must not print on its own: fbp's loggers write to the standard logger named
``fbp``, which has only a ``NullHandler`` until the application configures logging.
``python -m fbp`` does so (console on a terminal, JSON with ``--log-format json``);
a program embedding fbp configures ``logging`` as it likes.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog

__all__ = ("get_logger",)

logging.getLogger("fbp").addHandler(logging.NullHandler())


def get_logger(**context: Any) -> structlog.stdlib.BoundLogger:
    """A structlog logger writing to the ``fbp`` standard logger, bound to ``context``."""
    logger: structlog.stdlib.BoundLogger = structlog.wrap_logger(
        logging.getLogger("fbp"),
        wrapper_class=structlog.stdlib.BoundLogger,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
    )
    return logger.bind(**context)
