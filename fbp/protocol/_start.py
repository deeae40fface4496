"""Starting ``python -m fbp runtime``: its arguments, and listening before loading.

Protocol tools start the runtime and connect as soon as it prints its first line
(``fbp-spec`` connects 100 ms after it, and assumes the runtime is up 300 ms after the
start when it prints nothing). So the runtime binds its socket and prints the line
first, having imported only the standard library: connections made while the server
and the component library load wait in the socket's backlog and are served once they
have. ``python -m fbp runtime`` comes here directly (``fbp/__main__.py``), without
loading the rest of the command line.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import socket
import sys
from pathlib import Path
from typing import Any

__all__ = ("DEFAULT_PORT", "StartError", "add_arguments", "is_loopback", "main", "serve")

#: The port fbp-protocol runtimes customarily listen on.
DEFAULT_PORT = 3569

_SECRET_ENV = "FBP_PROTOCOL_SECRET"
_DEFAULT_CAPACITY = 32  # fbp.DEFAULT_CAPACITY, not imported here: it loads the core


class StartError(Exception):
    """The runtime cannot start; the message says why and how to fix it (exit code 2)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``python -m fbp runtime``."""
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (127.0.0.1)")
    p.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"TCP port ({DEFAULT_PORT}; 0 picks a free one, printed on start)",
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


def _check(args: argparse.Namespace) -> None:
    """The checks that must pass before listening (the full ones follow, in
    :meth:`RuntimeOptions.check`, before anything is served)."""
    if args.secret is not None and not args.secret:
        msg = "the secret is empty; give a non-empty secret, or none on loopback"
        raise StartError(msg)
    if args.allow_setsource and not args.secret:
        msg = (
            "--allow-setsource runs the code clients send: it needs a secret so that only"
            f" clients that know it can; set {_SECRET_ENV} (or --secret)"
        )
        raise StartError(msg)
    if not args.secret and not is_loopback(args.host):
        shown = args.host or "every interface"
        msg = (
            f"refusing to listen on {shown} without a secret: anyone who can reach"
            " the port could build and run networks on this machine. Pass --secret"
            f" (or set {_SECRET_ENV}), or listen on 127.0.0.1"
        )
        raise StartError(msg)
    if not 0 <= args.port <= 65535:
        msg = f"port must be between 0 and 65535, got {args.port}"
        raise StartError(msg)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only loopback addresses (``127.0.0.1``, ``::1``, ``localhost``).

    An empty host, ``0.0.0.0`` and ``::`` mean every interface, so they are not
    loopback; a name is loopback when every address it resolves to is.
    """
    if host in ("", "0.0.0.0", "::", "*"):
        return False
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {str(info[4][0]) for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


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
        raise StartError(msg) from None
    sock.setblocking(False)
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"ws://{host}:{port}/"


def serve(args: argparse.Namespace) -> int:
    """Listen, print the listening line, then load and run the server until Ctrl-C
    or SIGTERM; return the exit code.

    Raises:
        StartError: the settings are unsafe or invalid, or the port cannot be bound.
    """
    if importlib.util.find_spec("websockets") is None:  # found, not loaded: that comes later
        msg = "the runtime needs its optional dependency websockets; install fbp-causal[runtime]"
        raise StartError(msg)
    _check(args)
    sock = _listen(args.host, args.port)
    guard = "secret required" if args.secret else "no secret: loopback only"
    sys.stdout.write(f"fbp runtime listening on {_url(sock)} ({guard})\n")
    sys.stdout.flush()

    import asyncio

    from ..cli._common import configure_logging
    from ._options import RuntimeConfigError, RuntimeOptions

    configure_logging(args.log_format, args.log_level)
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
        sock.close()
        raise StartError(str(e)) from None
    try:
        asyncio.run(_serve(options, sock))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130
    return 0


async def _serve(options: Any, sock: socket.socket) -> None:
    import asyncio
    import signal

    from ._server import RuntimeServer

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


def main(argv: list[str]) -> int:
    """``python -m fbp runtime ARGS``, without loading the rest of the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m fbp runtime",
        description="Serve the FBP network protocol over WebSocket.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return serve(args)
    except StartError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
