"""Record every IP a network moves, and read the records back.

Write with a :class:`TraceWriter`, the runtime's trace sink; it stores runs in an
SQLite file (the schema is in :mod:`fbp.tracing._schema` and ``docs/tracing.md``)::

    with TraceWriter("runs.trace") as sink:
        ...  # run a network with trace=sink

A long-running network writes a rotated trace, a folder of segment files with
retention: ``TraceWriter("svc.trace.d", rotation=Rotation(every_seconds=3600,
keep_segments=24))``. Read with :func:`open_trace` (a file, or such a folder)::

    run = open_trace("runs.trace").run()          # the latest run
    run.edges()                                   # IP counts per edge
    df = run.ips("Scale.OUT")                     # a DataFrame of IPs and payloads
    run.lineage(42)                               # where IP #42 came from and went
    run.roots_of(df.ip_id)                        # the source IPs of each one

and export for the FBP ecosystem's tools with :func:`export_flowtrace`. pandas is
needed only to read records as frames (:meth:`TracedRun.ips`, :meth:`TracedRun.frames`).
"""

from typing import TYPE_CHECKING, Any

from ._errors import TraceError, TraceFileError, TraceLookupError, TraceWriterError

if TYPE_CHECKING:
    from ._flowtrace import export_flowtrace
    from ._frames import RunFrames
    from ._payload import PayloadMode, PayloadSetting
    from ._reader import Trace, open_trace
    from ._records import (
        EdgeSummary,
        Lineage,
        ProcessSummary,
        RunState,
        RunSummary,
        TracedIP,
        TracedPort,
    )
    from ._rotation import Rotation
    from ._run import TracedRun
    from ._writer import TraceWriter, WriterStatistics

__all__ = (
    "EdgeSummary",
    "Lineage",
    "PayloadMode",
    "PayloadSetting",
    "ProcessSummary",
    "Rotation",
    "RunFrames",
    "RunState",
    "RunSummary",
    "Trace",
    "TraceError",
    "TraceFileError",
    "TraceLookupError",
    "TraceWriter",
    "TraceWriterError",
    "TracedIP",
    "TracedPort",
    "TracedRun",
    "WriterStatistics",
    "export_flowtrace",
    "open_trace",
)


#: Imported on first use, so that each side loads only what it uses: a traced run
#: the writer's modules, a reader the reader's (RunFrames needs numpy and pandas).
_LAZY = {
    "EdgeSummary": "._records",
    "Lineage": "._records",
    "ProcessSummary": "._records",
    "RunState": "._records",
    "RunSummary": "._records",
    "TracedIP": "._records",
    "TracedPort": "._records",
    "Trace": "._reader",
    "open_trace": "._reader",
    "Rotation": "._rotation",
    "TracedRun": "._run",
    "RunFrames": "._frames",
    "TraceWriter": "._writer",
    "WriterStatistics": "._writer",
    "PayloadMode": "._payload",
    "PayloadSetting": "._payload",
    "export_flowtrace": "._flowtrace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(module, __name__), name)
        globals()[name] = value
        return value
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
