"""The FBP network protocol runtime: visual editors build, run and watch networks here.

The NoFlo/flowbased ecosystem's WebSocket protocol (fbp-protocol, version 0.8) lets an
editor such as noflo-ui/Flowhub edit graphs live, start and stop their networks, watch
the IPs on chosen edges, list components with their typed ports and read their source,
and fetch Flowtrace dumps of traced runs. Start one from the command line::

    python -m fbp runtime --port 3569            # loopback only; see --help

or from Python::

    async with RuntimeServer(RuntimeOptions(port=0)) as server:
        ...  # clients connect to server.url

See ``docs/protocol.md`` for what each command does here, the data event format, the
send queue policy and the security rules.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from ._client import DEFAULT_QUEUE as DEFAULT_QUEUE
    from ._client import Client as Client
    from ._commands import CAPABILITIES as CAPABILITIES
    from ._commands import RUNTIME_TYPE as RUNTIME_TYPE
    from ._components import ComponentLibrary as ComponentLibrary
    from ._components import port_definition as port_definition
    from ._messages import PROTOCOL_VERSION as PROTOCOL_VERSION
    from ._messages import ProtocolError as ProtocolError
    from ._messages import edge_id as edge_id
    from ._options import DEFAULT_PORT as DEFAULT_PORT
    from ._options import RuntimeConfigError as RuntimeConfigError
    from ._options import RuntimeOptions as RuntimeOptions
    from ._options import is_loopback as is_loopback
    from ._server import RuntimeServer as RuntimeServer
    from ._trace import DEFAULT_DUMP_BYTES as DEFAULT_DUMP_BYTES

# Loaded on first use, so that ``python -m fbp runtime`` can listen before it loads the
# server (and so that importing one part does not load the others).
_WHERE = {
    "DEFAULT_QUEUE": "._client",
    "Client": "._client",
    "CAPABILITIES": "._commands",
    "RUNTIME_TYPE": "._commands",
    "ComponentLibrary": "._components",
    "port_definition": "._components",
    "PROTOCOL_VERSION": "._messages",
    "ProtocolError": "._messages",
    "edge_id": "._messages",
    "DEFAULT_PORT": "._options",
    "RuntimeConfigError": "._options",
    "RuntimeOptions": "._options",
    "is_loopback": "._options",
    "RuntimeServer": "._server",
    "DEFAULT_DUMP_BYTES": "._trace",
}


__getattr__ = _lazy_attributes(__name__, _WHERE)


__all__ = (
    "CAPABILITIES",
    "DEFAULT_DUMP_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_QUEUE",
    "PROTOCOL_VERSION",
    "RUNTIME_TYPE",
    "Client",
    "ComponentLibrary",
    "ProtocolError",
    "RuntimeConfigError",
    "RuntimeOptions",
    "RuntimeServer",
    "edge_id",
    "is_loopback",
    "port_definition",
)
