"""Exceptions raised by fbp: the whole tree, every layer's, drawn here once.

Each class is importable from the module named beside it (``fbp`` unless said
otherwise); every class carries its context as attributes (the element, the place) and
its message says what to do. ``tests/test_exceptions.py`` checks this drawing against
the classes: every public exception of every layer is in it, once, under its real base.

The tree of errors::

    FbpError                        every error fbp raises on purpose
    ├── GraphError                  the graph spec is wrong; nothing has run
    │   ├── GraphFileError          a graph file cannot be read (missing, a folder, format)
    │   ├── GraphSyntaxError        a .fbp / JSON / YAML text does not parse (line:col)
    │   ├── GraphValidationError    the graph parses but is wrong; carries every issue
    │   ├── ComponentNotFoundError  a component name resolves to nothing
    │   └── NotExpressibleError     fbp.graph: a graph cannot be written as .fbp
    ├── NetworkError                the network failed while running
    │   ├── ProcessError            a component raised; names process, port and IP
    │   ├── DeadlockError           every live process waits on another; carries the cycle
    │   ├── NetworkInterrupted      the run was cancelled (Ctrl-C, SIGTERM)
    │   ├── PartitionLost           fbp.ray: a partition's process died
    │   ├── PeerLost                fbp.ray: the other end of a bridge vanished
    │   ├── PeerStopped             fbp.ray: the other end of a bridge stopped early
    │   └── RouteError              fbp.ray: an IP cannot be routed to a replica by key
    ├── PortError                   misuse of a port from inside a component
    │   ├── PortClosedError         send on a port this process already closed
    │   └── PacketTypeError         an IP does not match the port's declared type
    ├── LiveEditError               fbp.lowlevel: an edit of a running network cannot apply
    ├── TraceError                  fbp.tracing: something about a trace file went wrong
    │   ├── TraceFileError          missing, not a trace, or another format
    │   ├── TraceLookupError        a run, port, edge or IP named is not in the trace
    │   └── TraceWriterError        the background writer failed; __cause__ says why
    └── CausalModelError            the causal layer cannot answer the question as asked

Misuse detected where Python's own types fit, raised as subclasses of them::

    TypeError
    └── ComponentDefinitionError    a component class is written wrongly
    ValueError
    ├── RuntimeConfigError          fbp.protocol: the runtime's settings are unsafe
    └── ReplayError                 fbp.causal: a replay cannot be made as asked
    RuntimeError
    └── OtlpExportError             fbp.observe: the OTLP collector refused or is down

Answers to a peer, and the command line's own::

    Exception
    ├── ProtocolError               fbp.protocol: a request the runtime cannot carry out
    └── CliError                    fbp.cli: printed as "error: ..." with its exit code

Flow-control signals are not errors and stay outside ``FbpError``::

    Exception
    ├── EndOfStream                 an input port has no more IPs
    ├── WouldBlock                  a *_nowait operation would have to wait
    └── DownstreamClosed            every receiver of an output port has ended
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = (
    "CausalModelError",
    "ComponentNotFoundError",
    "DeadlockError",
    "EndOfStream",
    "FbpError",
    "GraphError",
    "GraphFileError",
    "GraphIssue",
    "GraphSyntaxError",
    "GraphValidationError",
    "NetworkError",
    "NetworkInterrupted",
    "PacketTypeError",
    "PortClosedError",
    "PortError",
    "ProcessError",
    "SourceLocation",
    "WouldBlock",
)


@dataclass(frozen=True, slots=True)
class SourceLocation:
    """A place in a graph file: ``file:line:column`` (1-based), or a JSON path."""

    source: str | None = None
    line: int | None = None
    column: int | None = None
    path: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        parts: list[str] = []
        if self.source:
            parts.append(self.source)
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        where = ":".join(parts)
        if self.path:
            jp = format_json_path(self.path)
            where = f"{where} at {jp}" if where else jp
        return where


def format_json_path(path: Sequence[str | int]) -> str:
    """Render ``("connections", 3, "tgt", "port")`` as ``connections[3].tgt.port``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class EndOfStream(Exception):
    """An input port has ended: every upstream sender has closed."""


class WouldBlock(Exception):
    """A ``*_nowait`` operation could not complete without waiting."""


class FbpError(Exception):
    """Base class of every error fbp raises on purpose."""


class GraphError(FbpError):
    """The graph spec is wrong; nothing has run."""


class GraphFileError(GraphError):
    """A graph file cannot be read: it is missing, a folder, unreadable, or its name
    does not say its format.

    Attributes:
        path: the file as it was given.
        reason: what is wrong, with the fix.
    """

    def __init__(self, path: str, reason: str):
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class GraphSyntaxError(GraphError):
    """A graph text (.fbp, JSON or YAML) does not parse.

    Attributes:
        location: where the parse failed.
        expected: what the parser expected there, when known.
    """

    def __init__(self, message: str, location: SourceLocation, expected: Sequence[str] = ()):
        self.message = message
        self.location = location
        self.expected = tuple(expected)
        where = str(location)
        super().__init__(f"{where}: {message}" if where else message)


@dataclass(frozen=True, slots=True)
class GraphIssue:
    """One problem found in a graph.

    Attributes:
        msg: what is wrong, naming the element (``parse.IN``).
        location: where it is (file line, or JSON path such as ``connections[3].tgt.port``).
        hint: the likely fix, if one is known.
    """

    msg: str
    location: SourceLocation = field(default_factory=SourceLocation)
    hint: str = ""

    def __str__(self) -> str:
        where = str(self.location)
        text = f"{where}: {self.msg}" if where else self.msg
        return f"{text}; {self.hint}" if self.hint else text


class GraphValidationError(GraphError):
    """The graph is wrong; ``issues`` lists every problem found, not only the first."""

    def __init__(self, issues: Sequence[GraphIssue], graph_name: str | None = None):
        self.issues = tuple(issues)
        self.graph_name = graph_name
        n = len(self.issues)
        head = f"{n} problem{'s' if n != 1 else ''} in graph"
        if graph_name:
            head += f" {graph_name!r}"
        super().__init__(head + ":\n" + "\n".join(f"  - {i}" for i in self.issues))


class ComponentNotFoundError(GraphError):
    """A component name resolves to no class, graph file or entry point."""

    def __init__(self, name: str, candidates: Sequence[str] = (), detail: str = ""):
        self.name = name
        self.candidates = tuple(candidates)
        msg = f"unknown component {name!r}"
        if detail:
            msg += f" ({detail})"
        if self.candidates:
            msg += "; did you mean " + " or ".join(repr(c) for c in self.candidates) + "?"
        super().__init__(msg)


class NetworkError(FbpError):
    """The network failed while running."""


class ProcessError(NetworkError):
    """A component raised while running.

    Attributes:
        process: the process name.
        component: the component name as the graph gave it.
        port: the input port of the IP being handled (``proc.IN[0]``), if any.
        ip: a short description of that IP, if any.
        location: where the process is declared in the graph file, if known.
    """

    def __init__(
        self,
        process: str,
        component: str,
        cause: BaseException,
        *,
        port: str | None = None,
        ip: str | None = None,
        location: SourceLocation | None = None,
    ):
        self.process = process
        self.component = component
        self.port = port
        self.ip = ip
        self.location = location
        self.cause = cause
        msg = f"process {process!r} ({component}) raised {type(cause).__name__}: {cause}"
        if port is not None:
            msg += f"\n  while handling {ip or 'an IP'} received on {port}"
        if location is not None and str(location):
            msg += f"\n  declared at {location}"
        msg += (
            "\n  fix the component, or connect its ERROR port to route failing IPs as dead letters"
        )
        super().__init__(msg)


class DeadlockError(NetworkError):
    """Every live process is waiting on a channel that only another waiting process can serve.

    Attributes:
        cycle: the wait-for cycle, as lines ``"A waits to send on A.OUT -> B.IN (full 1/1)"``.
        waits: what every live process was waiting on.
    """

    def __init__(self, cycle: Sequence[str], waits: Sequence[str]):
        self.cycle = tuple(cycle)
        self.waits = tuple(waits)
        lines = ["deadlock: every live process is blocked on a channel"]
        if self.cycle:
            lines.append("wait-for cycle:")
            lines.extend(f"  {c}" for c in self.cycle)
        others = [w for w in self.waits if w not in self.cycle]
        if others:
            lines.append("also waiting:")
            lines.extend(f"  {w}" for w in others)
        lines.append(
            "fix: raise the capacity of a full edge in the cycle, or restructure the"
            " fan-out/fan-in so that no branch needs the other to move first"
        )
        super().__init__("\n".join(lines))


class NetworkInterrupted(NetworkError):
    """The run was cancelled from outside (Ctrl-C or SIGTERM) and shut down cleanly."""


class PortError(FbpError):
    """A port was misused from inside a component."""


class PortClosedError(PortError):
    """A process sent on an output port it had already closed."""


class PacketTypeError(PortError):
    """An IP does not match the type declared by the port it crossed.

    Attributes:
        port: the port address (``proc.OUT``).
        expected: the declared type, rendered.
        value: a short repr of the offending value.
    """

    def __init__(self, port: str, expected: str, value: str, detail: str):
        self.port = port
        self.expected = expected
        self.value = value
        super().__init__(f"{port} expects {expected} but got {value}: {detail}")


class CausalModelError(FbpError):
    """The causal layer cannot answer the question as asked."""
