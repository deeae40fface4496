"""A traced run as OpenTelemetry spans, sent to an OTLP/HTTP collector.

An IP is a span and its parents are span links, in all but name. Each run is one trace
(its trace id is the run id); each recorded IP, bracket or IIP is one span:

- span id: the IP's id; name: the sending port's address (``Scale.OUT``; for an IIP
  the receiving port's);
- start: when the latest of its parents was sent (the process's work and waits that
  led to it), end: when it was sent; an IP without parents is an instant;
- links: one per parent, in the runtime's order (``fbp.parent_ord``); the first parent
  is also the span's parent, so that trace viewers draw the lineage as a tree;
- attributes: ``fbp.ip_id``, ``fbp.kind`` (data, open, close, iip), ``fbp.process``,
  ``fbp.port``, ``fbp.activation``, and ``fbp.payload`` (JSON, cut to
  ``payload_chars``) unless payloads are left out;
- status: ERROR for a dead letter (an activation that raised).

Drop markers (an IP discarded by a drop-oldest edge) are not spans; the IP's own span
is. The export reads the run through :class:`fbp.tracing.TracedRun` and streams: memory
stays bounded by the batch size.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._core._record import DEFINING, Kind

if TYPE_CHECKING:
    from ..tracing import TracedIP, TracedRun

__all__ = ("OtlpExportError", "OtlpExportResult", "export_otlp", "run_spans")

INSTALL_HINT = "install the otel extra: pip install 'fbp-causal[otel]'"
_SPAN_KINDS = tuple(k.label for k in Kind if k <= DEFINING)


class OtlpExportError(RuntimeError):
    """The collector refused or could not be reached; the message names the endpoint."""


@dataclass(frozen=True, slots=True)
class OtlpExportResult:
    """What an export sent."""

    trace_id: str
    spans: int
    links: int
    batches: int


def _trace_id(run_id: str) -> int:
    try:
        tid = int(run_id, 16)
    except ValueError:
        tid = 0
    if not 0 < tid < 1 << 128:
        import hashlib

        tid = int.from_bytes(hashlib.blake2b(run_id.encode(), digest_size=16).digest(), "big")
    return tid or 1


def _require_otel() -> None:
    try:
        import opentelemetry.exporter.otlp.proto.http
        import opentelemetry.sdk  # noqa: F401
    except ModuleNotFoundError as exc:
        msg = f"OTLP export needs {exc.name!r}, which is not installed; {INSTALL_HINT}"
        raise ImportError(msg) from exc


class SpanMaker:
    """Makes the span of one IP (shared by the export after a run and the live one)."""

    def __init__(
        self,
        run_id: str,
        graph_name: str,
        *,
        payloads: bool = True,
        payload_chars: int = 1024,
        resource_attributes: Mapping[str, str] | None = None,
    ) -> None:
        _require_otel()
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags
        from opentelemetry.trace.status import Status, StatusCode

        self._types = (ReadableSpan, Link, SpanContext, SpanKind.INTERNAL)
        self._tid = _trace_id(run_id)
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._resource = Resource.create(
            {
                "service.name": graph_name or "fbp",
                "fbp.run_id": run_id,
                **(resource_attributes or {}),
            }
        )
        self._scope = InstrumentationScope("fbp")
        self._ok = Status(StatusCode.UNSET)
        self._error = Status(StatusCode.ERROR, "dead letter: an activation raised")
        self.payloads = payloads
        self.payload_chars = payload_chars

    def _ctx(self, span_id: int) -> Any:
        return self._types[2](self._tid, span_id, is_remote=False, trace_flags=self._flags)

    def span(
        self,
        *,
        ip_id: int,
        kind: str,
        process: str,
        port: str,
        activation: int,
        parents: tuple[int, ...],
        payload_json: str | None,
        start: int,
        end: int,
        dead: bool,
    ) -> Any:
        """The span of an IP (times in ns since the Unix epoch)."""
        readable, link, _, internal = self._types
        attrs: dict[str, Any] = {
            "fbp.ip_id": ip_id,
            "fbp.kind": kind,
            "fbp.process": process,
            "fbp.port": port,
            "fbp.activation": activation,
        }
        if self.payloads and payload_json is not None:
            attrs["fbp.payload"] = payload_json[: self.payload_chars]
        return readable(
            name=port,
            context=self._ctx(ip_id),
            parent=self._ctx(parents[0]) if parents else None,
            resource=self._resource,
            attributes=attrs,
            links=[link(self._ctx(p), {"fbp.parent_ord": i}) for i, p in enumerate(parents)],
            kind=internal,
            instrumentation_scope=self._scope,
            status=self._error if dead else self._ok,
            start_time=start,
            end_time=end,
        )


def run_spans(
    run: TracedRun,
    *,
    payloads: bool = True,
    payload_chars: int = 1024,
    resource_attributes: Mapping[str, str] | None = None,
) -> Iterator[Any]:
    """The spans of a traced run (``opentelemetry.sdk.trace.ReadableSpan``), streamed."""
    maker = SpanMaker(
        run.run_id,
        run.summary.graph_name,
        payloads=payloads,
        payload_chars=payload_chars,
        resource_attributes=resource_attributes,
    )
    return _spans(run, maker)


def _spans(run: TracedRun, maker: SpanMaker) -> Iterator[Any]:
    start_ns = run.summary.started_ns
    sent_at: dict[int, int] = {}
    dead: set[int] = set()
    rec: TracedIP
    for rec in run.records():
        if rec.kind == "dead":
            dead.add(rec.ip_id)
            continue
        if rec.kind not in _SPAN_KINDS:
            continue
        end = start_ns + round(rec.t * 1e9)
        sent_at[rec.ip_id] = end
        known = [sent_at[p] for p in rec.parents if p in sent_at]
        yield maker.span(
            ip_id=rec.ip_id,
            kind=rec.kind,
            process=rec.process,
            port=rec.port,
            activation=rec.activation,
            parents=rec.parents,
            payload_json=json.dumps(rec.payload, default=str) if rec.payload_recorded else None,
            start=min(max(known), end) if known else end,
            end=end,
            dead=rec.ip_id in dead,
        )


def export_otlp(
    run: TracedRun,
    endpoint: str,
    *,
    headers: Mapping[str, str] | None = None,
    payloads: bool = True,
    batch_size: int = 512,
    timeout: float = 10.0,
) -> OtlpExportResult:
    """Send a traced run to an OTLP/HTTP collector as spans with links.

    Args:
        run: the run (``open_trace(path).run()``).
        endpoint: the collector's traces URL, e.g. ``http://localhost:4318/v1/traces``
            (a URL without a path gets ``/v1/traces``).
        headers: extra HTTP headers (an API key).
        payloads: record each IP's payload (JSON, cut to 1024 characters) as an
            attribute.
        batch_size: spans per request.
        timeout: seconds per request.

    Raises:
        OtlpExportError: the collector refused a batch or could not be reached.
        ImportError: the ``otel`` extra is not installed.
    """
    from urllib.parse import urlsplit

    spans = run_spans(run, payloads=payloads)  # checks the imports first
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    if urlsplit(endpoint).path in ("", "/"):
        endpoint = endpoint.rstrip("/") + "/v1/traces"
    exporter = OTLPSpanExporter(endpoint=endpoint, headers=dict(headers or {}), timeout=timeout)
    n = links = batches = 0
    batch: list[Any] = []

    def flush() -> None:
        nonlocal batches
        if not batch:
            return
        if exporter.export(batch) is not SpanExportResult.SUCCESS:
            msg = (
                f"the OTLP collector at {endpoint} did not take {len(batch)} spans (after"
                f" {n - len(batch)} were sent); check that it runs and accepts OTLP/HTTP"
                " protobuf there"
            )
            raise OtlpExportError(msg)
        batches += 1
        batch.clear()

    try:
        for span in spans:
            batch.append(span)
            n += 1
            links += len(span.links)
            if len(batch) >= batch_size:
                flush()
        flush()
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
    return OtlpExportResult(
        trace_id=f"{_trace_id(run.run_id):032x}", spans=n, links=links, batches=batches
    )
