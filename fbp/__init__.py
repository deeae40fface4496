"""fbp: flow-based programming on asyncio, where the dataflow graph is a causal graph.

Components are Python classes with typed ports; networks wire them with bounded
channels; a graph spec (.fbp, FBP JSON or YAML) names them. Every IP has an identity and
a lineage, so a traced run is data for the causal layer (:mod:`fbp.causal`).

The layers that pull in heavy libraries are separate modules, imported on demand:
:mod:`fbp.graph` (loading graph specs), :mod:`fbp.tracing` (the trace store),
:mod:`fbp.causal` (dowhy), :mod:`fbp.testing` (helpers for tests).
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes as _lazy_attributes

if TYPE_CHECKING:
    from ._core._arrays import ArrayInPort as ArrayInPort
    from ._core._arrays import ArrayOutPort as ArrayOutPort
    from ._core._arrays import merge as merge
    from ._core._channel import Channel as Channel
    from ._core._channel import ChannelStatistics as ChannelStatistics
    from ._core._channel import open_channel as open_channel
    from ._core._component import Component as Component
    from ._core._component import ComponentDefinitionError as ComponentDefinitionError
    from ._core._component import ComponentSpec as ComponentSpec
    from ._core._exceptions import CausalModelError as CausalModelError
    from ._core._exceptions import ComponentNotFoundError as ComponentNotFoundError
    from ._core._exceptions import DeadlockError as DeadlockError
    from ._core._exceptions import EndOfStream as EndOfStream
    from ._core._exceptions import FbpError as FbpError
    from ._core._exceptions import GraphError as GraphError
    from ._core._exceptions import GraphFileError as GraphFileError
    from ._core._exceptions import GraphIssue as GraphIssue
    from ._core._exceptions import GraphSyntaxError as GraphSyntaxError
    from ._core._exceptions import GraphValidationError as GraphValidationError
    from ._core._exceptions import NetworkError as NetworkError
    from ._core._exceptions import NetworkInterrupted as NetworkInterrupted
    from ._core._exceptions import PacketTypeError as PacketTypeError
    from ._core._exceptions import PortClosedError as PortClosedError
    from ._core._exceptions import PortError as PortError
    from ._core._exceptions import ProcessError as ProcessError
    from ._core._exceptions import SourceLocation as SourceLocation
    from ._core._exceptions import WouldBlock as WouldBlock
    from ._core._ip import IP as IP
    from ._core._network import DEFAULT_CAPACITY as DEFAULT_CAPACITY
    from ._core._network import Network as Network
    from ._core._network import RunResult as RunResult
    from ._core._ports import DownstreamClosed as DownstreamClosed
    from ._core._ports import InPort as InPort
    from ._core._ports import OutPort as OutPort
    from ._core._ports import OutPortStatistics as OutPortStatistics
    from ._core._ports import port as port
    from ._core._process import DeadLetter as DeadLetter

# The names below load on first use: ``python -m fbp runtime`` starts listening before
# it loads the core (see fbp.protocol._start), and other commands load what they use.
_WHERE = {
    "ArrayInPort": "._core._arrays",
    "ArrayOutPort": "._core._arrays",
    "merge": "._core._arrays",
    "Channel": "._core._channel",
    "ChannelStatistics": "._core._channel",
    "open_channel": "._core._channel",
    "OutPortStatistics": "._core._ports",
    "Component": "._core._component",
    "ComponentDefinitionError": "._core._component",
    "ComponentSpec": "._core._component",
    "CausalModelError": "._core._exceptions",
    "ComponentNotFoundError": "._core._exceptions",
    "DeadlockError": "._core._exceptions",
    "EndOfStream": "._core._exceptions",
    "FbpError": "._core._exceptions",
    "GraphError": "._core._exceptions",
    "GraphFileError": "._core._exceptions",
    "GraphIssue": "._core._exceptions",
    "GraphSyntaxError": "._core._exceptions",
    "GraphValidationError": "._core._exceptions",
    "NetworkError": "._core._exceptions",
    "NetworkInterrupted": "._core._exceptions",
    "PacketTypeError": "._core._exceptions",
    "PortClosedError": "._core._exceptions",
    "PortError": "._core._exceptions",
    "ProcessError": "._core._exceptions",
    "SourceLocation": "._core._exceptions",
    "WouldBlock": "._core._exceptions",
    "IP": "._core._ip",
    "DEFAULT_CAPACITY": "._core._network",
    "Network": "._core._network",
    "RunResult": "._core._network",
    "DownstreamClosed": "._core._ports",
    "InPort": "._core._ports",
    "OutPort": "._core._ports",
    "port": "._core._ports",
    "DeadLetter": "._core._process",
}


__getattr__ = _lazy_attributes(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__version__ = "0.1.0"

__all__ = (
    "DEFAULT_CAPACITY",
    "IP",
    "ArrayInPort",
    "ArrayOutPort",
    "CausalModelError",
    "Channel",
    "ChannelStatistics",
    "Component",
    "ComponentDefinitionError",
    "ComponentNotFoundError",
    "ComponentSpec",
    "DeadLetter",
    "DeadlockError",
    "DownstreamClosed",
    "EndOfStream",
    "FbpError",
    "GraphError",
    "GraphFileError",
    "GraphIssue",
    "GraphSyntaxError",
    "GraphValidationError",
    "InPort",
    "Network",
    "NetworkError",
    "NetworkInterrupted",
    "OutPort",
    "OutPortStatistics",
    "PacketTypeError",
    "PortClosedError",
    "PortError",
    "ProcessError",
    "RunResult",
    "SourceLocation",
    "WouldBlock",
    "merge",
    "open_channel",
    "port",
)
