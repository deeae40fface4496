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
import socket
import sys
from pathlib import Path
from typing import Any

from ._common import CliError, configure_logging

__all__ = ("add_parser", "runtime_command")

_SECRET_ENV = "FBP_PROTOCOL_SECRET"

# fbp.protocol.DEFAULT_PORT and fbp.DEFAULT_CAPACITY; not imported here, so that
# building the command line does not load the runtime (or need websockets).
_DEFAULT_PORT = 3569
_DEFAULT_CAPACITY = 32


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
        default=_DEFAULT_CAPACITY,
        help=f"default edge capacity of the networks it runs ({_DEFAULT_CAPACITY})",
    )
    p.add_argument(
        "--persist",
        metavar="DIR",
        type=Path,
        help="keep graphs across restarts: network:persist writes them to DIR, and the"
        " runtime loads them from DIR when it starts",
    )
    p.add_argument(
        "--allow-setsource",
        action="store_true",
        help="run component code that clients send (component:source); needs a secret."
        " Only for trusted clients: the code runs with the runtime's rights",
    )
    p.add_argument("--log-format", choices=("auto", "console", "json"), default="auto")
    p.add_argument("--log-level", default="warning")
    p.set_defaults(func=runtime_command)


def runtime_command(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C or SIGTERM; return the exit code.

    The listening socket is bound, and the listening line printed, before the runtime
    itself is loaded: connections made meanwhile wait in the socket's backlog and are
    served once it is, so clients that connect as soon as the line appears (the
    protocol's test tools do) are never refused.
    """
    try:
        import websockets  # noqa: F401 - checked first: without it nothing can be served
    except ImportError as e:
        msg = f"the runtime needs its optional dependencies ({e}); install fbp-causal[runtime]"
        raise CliError(msg) from None
    if args.allow_setsource and not args.secret:
        msg = (
            "--allow-setsource runs the code clients send: it needs a secret so that only"
            " clients that know it can; set FBP_PROTOCOL_SECRET (or --secret)"
        )
        raise CliError(msg)
    from ..protocol._options import RuntimeConfigError, RuntimeOptions

    options = RuntimeOptions(
        host=args.host,
        port=args.port,
        secret=args.secret,
        allow_imports=args.allow_imports,
        collections=tuple(args.collections) if args.collections else None,
        capacity=args.capacity,
        persist=args.persist,
        allow_setsource=args.allow_setsource,
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
    sock = _listen(options.host, options.port)
    guard = "secret required" if options.secret else "no secret: loopback only"
    sys.stdout.write(f"fbp runtime listening on {_url(sock)} ({guard})\n")
    sys.stdout.flush()
    configure_logging(args.log_format, args.log_level)
    try:
        asyncio.run(_serve(options, sock))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """Bind and listen on ``host:port`` (the first address it resolves to)."""
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, addr = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as e:
        msg = f"cannot listen on {host}:{port}: {e.strerror or e}"
        raise CliError(msg) from None
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{port}/"


async def _serve(options: Any, sock: socket.socket) -> None:
    from ..protocol import RuntimeServer

    server = RuntimeServer(options)
    await server.start(sock=sock)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with server.forward_stdout():
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await server.close()
