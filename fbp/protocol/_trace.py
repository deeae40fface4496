"""The trace sub-protocol: record a graph's runs and dump them as Flowtrace JSON.

``trace:start`` turns recording on for a graph: from then on every run of it (and the
rest of a run already going) is stored by :class:`fbp.tracing.TraceWriter` in a trace
file in the server's scratch folder, with every IP's lineage. ``trace:dump`` exports
the latest recorded run with :func:`fbp.tracing.export_flowtrace`, keeping the newest
events that fit in ``buffersize`` bytes (given with ``trace:start``; 786,432 by
default, so that a dump fits in the 1 MiB messages common WebSocket clients accept).
``trace:stop`` stops recording; ``trace:clear`` deletes what was recorded. The trace
file lives on disk until ``trace:clear`` or the server's exit.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio

from .._core._log import get_logger
from .._core._tracehook import RunInfo, RunStatus, TraceRecord

__all__ = ("DEFAULT_DUMP_BYTES", "TraceRecorder", "trim_flowtrace")

#: The default size limit of a dump, in bytes of Flowtrace JSON.
DEFAULT_DUMP_BYTES = 786_432

log = get_logger(layer="protocol")


class TraceRecorder:
    """Recording of one graph's runs, fed by the graph's live sink.

    Args:
        graph_id: the graph's id in the protocol.
        folder: gives the folder to keep the trace file in (called when recording
            first starts).
    """

    def __init__(self, graph_id: str, folder: Callable[[], Path]) -> None:
        self.graph_id = graph_id
        self._folder = folder
        self._name = re.sub(r"[^A-Za-z0-9_.-]", "_", graph_id) + ".trace"
        #: The trace file, once recording has started.
        self.path: Path | None = None
        self.recording = False
        self.buffersize = DEFAULT_DUMP_BYTES
        self._writer: Any = None
        self._info: RunInfo | None = None
        self._run_open = False
        self._has_run = False

    # -- fed by the live sink --------------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        """A run of the graph begins."""
        self._info = info
        if self.recording:
            self._open_run()

    def write(self, records: list[TraceRecord]) -> None:
        """Records of the current run; a failing trace file stops the recording, not the run."""
        if self.recording and self._run_open:
            try:
                self._writer.write(records)
            except Exception:
                log.exception("trace recording failed; recording stopped", graph=self.graph_id)
                self.recording = False
                self._run_open = False

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """The current run ended."""
        if self._run_open:
            self._run_open = False
            self._writer.finish_run(status, error, stats)
        self._info = None

    def _open_run(self) -> None:
        if self._run_open or self._info is None:
            return
        if self._writer is None:
            from ..tracing import TraceWriter

            self.path = self._folder() / self._name
            self._writer = TraceWriter(self.path)
        self._writer.start_run(self._info)
        self._run_open = True
        self._has_run = True

    # -- driven by trace commands ----------------------------------------------------------

    def start(self, buffersize: int | None) -> None:
        """Record from now on (including the rest of a run in progress)."""
        if buffersize is not None:
            self.buffersize = buffersize
        self.recording = True
        self._open_run()

    def stop(self) -> None:
        """Stop recording; what was recorded stays until :meth:`clear`."""
        self.recording = False

    def clear(self) -> None:
        """Delete what was recorded; keep recording if recording is on."""
        info, was_open = self._info, self._run_open
        self.close()
        self._info = info
        if was_open and self.recording:
            self._open_run()

    def close(self) -> None:
        """Close and delete the trace file."""
        writer, self._writer = self._writer, None
        self._run_open = False
        self._has_run = False
        self._info = None
        if writer is not None:
            writer.close()
        if self.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(self.path) + suffix).unlink(missing_ok=True)

    async def dump(self, graph: dict[str, Any]) -> str:
        """The latest recorded run as Flowtrace JSON text (empty if none was recorded).

        Args:
            graph: the graph as FBP JSON, for the header of an empty trace.
        """
        if not self._has_run or self._writer is None:
            return _empty(self.graph_id, graph)
        writer = self._writer
        return await anyio.to_thread.run_sync(self._export, writer, self.buffersize)

    def _export(self, writer: Any, limit: int) -> str:
        from ..tracing import export_flowtrace, open_trace

        assert self.path is not None  # a writer exists, so the file does
        writer.flush()
        with open_trace(self.path) as trace:
            buf = io.StringIO()
            export_flowtrace(trace.run(), buf)
        return trim_flowtrace(buf.getvalue(), limit)


def _empty(graph_id: str, graph: dict[str, Any]) -> str:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    header = {
        "metadata": {"label": graph_id, "type": "fbp-causal", "start": now, "end": now},
        "graphs": {graph_id: graph},
        "main": graph_id,
    }
    return json.dumps({"header": header, "events": []}, ensure_ascii=False)


def trim_flowtrace(text: str, limit: int) -> str:
    """Keep the newest events of a Flowtrace JSON text so that it fits in ``limit`` bytes.

    The header is always kept; events are dropped oldest first. A text that already
    fits is returned as it is.
    """
    if len(text.encode("utf-8")) <= limit:
        return text
    data = json.loads(text)
    events: list[Any] = data.get("events", [])
    head = json.dumps({"header": data.get("header", {}), "events": []}, ensure_ascii=False)
    budget = limit - len(head.encode("utf-8"))
    kept: list[str] = []
    for ev in reversed(events):
        line = json.dumps(ev, ensure_ascii=False)
        cost = len(line.encode("utf-8")) + 2
        if cost > budget:
            break
        budget -= cost
        kept.append(line)
    kept.reverse()
    body = ",\n".join(kept)
    return head[: -len("[]}")] + "[\n" + body + "\n]}" if kept else head
