"""Live OTLP export: a sample of lineages sent as spans while the network runs.

:class:`LiveSpans` is a trace sink: the network hands it its records, it passes every
one on to another sink (a :class:`fbp.tracing.TraceWriter`, or none) and, in a thread
of its own, turns a sample of them into spans (as :mod:`fbp.observe._otlp` describes)
sent to an OTLP/HTTP collector.

Sampling keeps whole lineages: a root IP (one whose parents are IIPs at most) is kept
with probability ``sample`` (decided by its id, so a run is sampled the same way twice),
and every IP with a kept parent is kept; IIPs are always kept.

Export is best effort and never slows the network: when the collector falls behind
and ``max_queue`` batches wait, further batches are skipped from the export (counted
in ``skipped_records``; the inner sink still gets every record).
"""

from __future__ import annotations

import json
import queue
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from .._core._record import DEAD as KIND_DEAD
from .._core._record import DEFINING, Kind
from .._core._record import IIP as KIND_IIP
from ..lowlevel import PortAddress, RunInfo, RunStatus, TraceRecord

__all__ = ("LiveSpans",)

_KIND_NAMES = {k.value: k.label for k in Kind if k <= DEFINING}
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


class LiveSpans:
    """A trace sink that exports a sample of lineages to OTLP as the run goes.

    Args:
        endpoint: the collector's traces URL (``http://localhost:4318/v1/traces``).
        sample: the fraction of root IPs whose lineages are exported (0..1).
        inner: the sink that gets every record (e.g. a ``TraceWriter``), or None.
        headers: extra HTTP headers for the collector.
        payloads: record payloads as span attributes (JSON, cut to 1024 characters).
        batch_size: spans per request.
        max_queue: batches of records that may wait for the export thread.
        remember: how many kept IP ids are remembered as possible parents.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        sample: float = 0.01,
        inner: Any = None,
        headers: Mapping[str, str] | None = None,
        payloads: bool = True,
        batch_size: int = 512,
        max_queue: int = 256,
        remember: int = 1_000_000,
    ) -> None:
        if not 0.0 <= sample <= 1.0:
            msg = f"sample must be between 0 and 1, got {sample}"
            raise ValueError(msg)
        from ._otlp import _require_otel

        _require_otel()
        self.endpoint = endpoint
        self.sample = sample
        self.inner = inner
        self.headers = dict(headers or {})
        self.payloads = payloads
        self.span_batch = batch_size
        self.remember = remember
        #: How many records the runtime buffers before calling :meth:`write`.
        self.batch_size: int = inner.batch_size if inner is not None else 1024
        self._q: queue.Queue[list[TraceRecord] | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._info: RunInfo | None = None
        #: Spans sent, and records left out of the export because the queue was full.
        self.spans_sent = 0
        self.skipped_records = 0
        #: The error that stopped the export, if any (the run goes on without it).
        self.error: BaseException | None = None

    # -- the sink protocol ----------------------------------------------------------

    def start_run(self, info: RunInfo) -> None:
        """Begin a run: start the export thread."""
        if self.inner is not None:
            self.inner.start_run(info)
        self._info = info
        self._thread = threading.Thread(target=self._main, name="fbp-otlp", daemon=True)
        self._thread.start()

    def write(self, records: list[TraceRecord]) -> None:
        """Pass the batch on, and queue a copy for the export."""
        mine = records[:]
        if self.inner is not None:
            self.inner.write(records)
        try:
            self._q.put_nowait(mine)
        except queue.Full:
            self.skipped_records += len(mine)

    def finish_run(self, status: RunStatus, error: str | None, stats: dict[str, Any]) -> None:
        """End the run: send what is queued, then finish the inner sink."""
        if self._thread is not None:
            self._q.put(None)
            self._thread.join(timeout=30)
            self._thread = None
        if self.inner is not None:
            self.inner.finish_run(status, error, stats)

    def close(self) -> None:
        """Close the inner sink, if it can be closed."""
        close = getattr(self.inner, "close", None)
        if close is not None:
            close()

    def statistics(self) -> Any:
        """The inner sink's statistics (for the metrics endpoint)."""
        stats = getattr(self.inner, "statistics", None)
        return stats() if stats is not None else None

    # -- the export thread ----------------------------------------------------------

    def _main(self) -> None:
        try:
            self._export()
        except BaseException as e:  # the network must not stop for its telemetry
            self.error = e
            while self._q.get() is not None:
                pass

    def _export(self) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from ._otlp import SpanMaker

        info = self._info
        assert info is not None
        exporter = OTLPSpanExporter(endpoint=self.endpoint, headers=self.headers)
        maker = SpanMaker(info.run_id, info.graph_name, payloads=self.payloads)
        names = [str(PortAddress(p.process, p.port, p.index)) for p in info.ports]
        offset = info.t0_wall_ns - info.t0_perf_ns
        threshold = int(self.sample * (1 << 64))
        kept: OrderedDict[int, int] = OrderedDict()  # kept ip id -> its send time
        dead: set[int] = set()
        iips: set[int] = set()
        spans: list[Any] = []

        def flush() -> None:
            if spans:
                exporter.export(spans)
                self.spans_sent += len(spans)
                spans.clear()

        try:
            while True:
                batch = self._q.get()
                if batch is None:
                    break
                for ip_id, kind, port_id, activation, t_ns, parents, payload in batch:
                    if kind == KIND_DEAD:
                        dead.add(ip_id)
                        continue
                    name = _KIND_NAMES.get(kind)
                    if name is None:
                        continue
                    if kind == KIND_IIP:
                        iips.add(ip_id)  # parameters: always kept (few, and linked to)
                    else:
                        data_parents = [p for p in parents if p not in iips]
                        if data_parents:
                            if not any(p in kept for p in data_parents):
                                continue
                        elif (ip_id * _GOLDEN) & _MASK >= threshold:
                            continue
                    end = offset + t_ns
                    known = [kept[p] for p in parents if p in kept]
                    kept[ip_id] = end
                    if len(kept) > self.remember:
                        kept.popitem(last=False)
                    text = None
                    if self.payloads:
                        text = (
                            payload.model_dump_json()
                            if isinstance(payload, BaseModel)
                            else json.dumps(payload, default=str)
                        )
                    spans.append(
                        maker.span(
                            ip_id=ip_id,
                            kind=name,
                            process=info.ports[port_id].process,
                            port=names[port_id],
                            activation=activation,
                            parents=parents,
                            payload_json=text,
                            start=min(max(known), end) if known else end,
                            end=end,
                            dead=ip_id in dead,
                        )
                    )
                    if len(spans) >= self.span_batch:
                        flush()
                if self._q.empty():
                    flush()
            flush()
        finally:
            exporter.shutdown()  # type: ignore[no-untyped-call]
