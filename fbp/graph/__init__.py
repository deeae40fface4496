"""Graph specs: the model, the three formats, component lookup, and wiring into networks.

Load a graph from ``.fbp``, FBP JSON or YAML with :func:`load_graph`, or build one in
Python with :class:`Graph`; :func:`build_network` checks it completely and wires a
:class:`fbp.Network`; :func:`run` does both and runs it.
"""

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes as _lazy_attributes
from ._load import Format as Format
from ._load import dump_graph as dump_graph
from ._load import format_of as format_of
from ._load import load_graph as load_graph
from ._load import loads_graph as loads_graph
from ._model import Connection as Connection
from ._model import Export as Export
from ._model import Graph as Graph
from ._model import Initial as Initial
from ._model import Node as Node
from ._model import PortRef as PortRef
from ._model import parse_address as parse_address
from ._registry import Registry as Registry
from ._run import run as run
from ._run import run_async as run_async
from ._wiring import FlatGraph as FlatGraph
from ._wiring import build_network as build_network
from ._wiring import check_graph as check_graph

if TYPE_CHECKING:
    from ._dsl_write import NotExpressibleError as NotExpressibleError

# The .fbp writer (and its error) load on first use: reading graphs does not need them.
__getattr__ = _lazy_attributes(__name__, {"NotExpressibleError": "._dsl_write"})

__all__ = (
    "Connection",
    "Export",
    "FlatGraph",
    "Format",
    "Graph",
    "Initial",
    "Node",
    "NotExpressibleError",
    "PortRef",
    "Registry",
    "build_network",
    "check_graph",
    "dump_graph",
    "format_of",
    "load_graph",
    "loads_graph",
    "parse_address",
    "run",
    "run_async",
)
