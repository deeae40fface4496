"""``python -m fbp runtime``: serve the FBP network protocol over WebSocket.

Visual editors (noflo-ui/Flowhub), the protocol's test suite (``fbp-test``) and
``fbp-spec`` connect to it. It prints one line to standard output once it listens
(before it loads the server: see :mod:`fbp.protocol._start`), and stops cleanly on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..protocol._start import StartError, add_arguments, serve
from ._common import CliError

__all__ = ("add_parser", "runtime_command")


def add_parser(sub: Any) -> None:
    """Add ``runtime`` to the command parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "runtime",
        help="serve the FBP network protocol (for noflo-ui/Flowhub, fbp-test and fbp-spec)",
        description="Serve the FBP network protocol over WebSocket: clients build graphs,"
        " run them, watch their edges, drive their exported ports and fetch traces."
        " Listens on loopback unless told otherwise; beyond loopback a secret is required.",
    )
    add_arguments(p)
    p.set_defaults(func=runtime_command)


def runtime_command(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C or SIGTERM; return the exit code."""
    try:
        return serve(args)
    except StartError as e:
        raise CliError(str(e)) from None
