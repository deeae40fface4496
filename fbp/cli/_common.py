"""Shared pieces of the command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import structlog

from .._core._exceptions import GraphError

__all__ = ("CliError", "configure_logging", "load", "parse_set")


class CliError(Exception):
    """A command-line error: printed as ``error: ...`` with the exit code."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def configure_logging(fmt: str = "auto", level: str = "warning") -> None:
    """Send fbp's logs to stderr: console on a terminal, JSON lines otherwise."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    logger = logging.getLogger("fbp")
    for h in list(logger.handlers):
        if not isinstance(h, logging.NullHandler):
            logger.removeHandler(h)
    logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper(), logging.WARNING))
    logger.propagate = False


def load(path: str) -> Any:
    """Load a graph file for a command, turning failures into CliErrors."""
    from ..graph import load_graph

    p = Path(path)
    if not p.exists():
        msg = f"{path}: no such file"
        raise CliError(msg)
    try:
        return load_graph(p)
    except GraphError as e:
        raise CliError(str(e), code=1) from None
    except ValueError as e:
        raise CliError(str(e)) from None


def parse_set(items: list[str] | None) -> dict[str, Any]:
    """Parse ``--set PROC.PORT=JSON`` options; a value that is not JSON is a string."""
    out: dict[str, Any] = {}
    for item in items or []:
        addr, sep, raw = item.partition("=")
        if not sep or not addr.strip():
            msg = f"--set {item!r}: write --set PROC.PORT=VALUE (VALUE as JSON)"
            raise CliError(msg)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[addr.strip()] = value
    return out
