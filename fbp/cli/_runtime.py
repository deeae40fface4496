"""``python -m fbp runtime``: serve the FBP network protocol over WebSocket.

Visual editors (noflo-ui/Flowhub) and the protocol's test suite (``fbp-test``) connect
to it. It prints one line to standard output once it listens, and stops cleanly on
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

from .._core._network import DEFAULT_CAPACITY
from ._common import CliError, configure_logging

__all__ = ("add_parser", "runtime_command")

_SECRET_ENV = "FBP_PROTOCOL_SECRET"

# fbp.protocol.DEFAULT_PORT; not imported here, so that building the command line does
# not need the runtime's optional dependency (websockets).
_DEFAULT_PORT = 3569


def add_parser(sub: Any) -> None:
    """Add ``runtime`` to the command parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "runtime",
        help="serve the FBP network protocol (for noflo-ui/Flowhub and fbp-test)",
        description="Serve the FBP network protocol over WebSocket: clients build graphs,"
        " run them, watch their edges and fetch traces. Listens on loopback unless told"
        " otherwise; beyond loopback a secret is required.",
    )
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=_DEFAULT_PORT,
        help=f"TCP port ({_DEFAULT_PORT}; 0 picks a free one, printed on start)",
    )
    p.add_argument(
        "--secret",
        default=os.environ.get(_SECRET_ENV),
        help=f"access token clients must send (default: ${_SECRET_ENV}); required when"
        " listening beyond loopback. Prefer the environment variable: command lines are"
        " visible to other users",
    )
    p.add_argument(
        "--allow-imports",
        action="store_true",
        help="let graphs name components by import path (pkg.mod:Class) or graph file;"
        " off by default, so clients can use only installed collections",
    )
    p.add_argument(
        "--collection-only",
        action="append",
        metavar="NAME",
        dest="collections",
        help="offer only this component collection (repeatable), e.g. --collection-only core",
    )
    p.add_argument("--label", help="the runtime's label, shown by editors")
    p.add_argument("--id", dest="runtime_id", help="the runtime's UUID (a new one by default)")
    p.add_argument(
        "--queue-size",
        type=int,
        help="messages each client's send queue holds before data events are dropped (1000)",
    )
    p.add_argument(
        "--capacity",
        type=int,
        default=DEFAULT_CAPACITY,
        help=f"default edge capacity of the networks it runs ({DEFAULT_CAPACITY})",
    )
    p.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=runtime_command)


def runtime_command(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C or SIGTERM; return the exit code."""
    try:
        from ..protocol import RuntimeConfigError, RuntimeOptions
    except ImportError as e:
        msg = f"the runtime needs its optional dependencies ({e}); install fbp-causal[runtime]"
        raise CliError(msg) from None

    configure_logging(args.log_format, args.log_level)
    options = RuntimeOptions(
        host=args.host,
        port=args.port,
        secret=args.secret,
        allow_imports=args.allow_imports,
        collections=tuple(args.collections) if args.collections else None,
        capacity=args.capacity,
    )
    if args.queue_size is not None:
        options.queue_size = args.queue_size
    if args.label:
        options.label = args.label
    if args.runtime_id:
        options.runtime_id = args.runtime_id
    try:
        options.check()
    except RuntimeConfigError as e:
        raise CliError(str(e)) from None
    try:
        asyncio.run(_serve(options))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


async def _serve(options: Any) -> None:
    from ..protocol import RuntimeServer

    server = RuntimeServer(options)
    try:
        await server.start()
    except OSError as e:
        msg = f"cannot listen on {options.host}:{options.port}: {e.strerror or e}"
        raise CliError(msg) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        guard = "secret required" if options.secret else "no secret: loopback only"
        sys.stdout.write(f"fbp runtime listening on {server.url} ({guard})\n")
        sys.stdout.flush()
        with server.forward_stdout():
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.close()
