"""OTLP export: a receiver started by the test decodes spans equal to the trace's IPs."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import Chunks, Explode, Inc, Numbers, Scale, Sink

from fbp import Network

pytest.importorskip("opentelemetry.sdk", reason="needs the otel extra")
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from fbp.cli import main
from fbp.observe import export_otlp
from fbp.tracing import TraceWriter, open_trace

HELLO = str(Path(__file__).resolve().parent.parent / "networks" / "hello.fbp")


class Receiver:
    """An OTLP/HTTP traces endpoint that keeps every span it is sent, decoded."""

    def __init__(self) -> None:
        self.spans: list[Any] = []
        self.resources: list[Any] = []
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                req = trace_service_pb2.ExportTraceServiceRequest()
                req.ParseFromString(body)
                for rs in req.resource_spans:
                    received.resources.append(rs.resource)
                    for ss in rs.scope_spans:
                        received.spans.extend(ss.spans)
                out = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1/traces"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with brackets, IIPs, two-parent IPs and a dead letter."""
    path = tmp_path_factory.mktemp("otlp") / "run.trace"
    with TraceWriter(path) as sink:
        net = Network("spans", trace=sink)
        net.add_process("Nums", Numbers)
        net.add_process("Chunk", Chunks)
        net.add_process("Inc", Inc)
        net.add_process("Scale", Scale)
        net.add_process("Boom", Explode)
        net.add_process("Out", Sink)
        net.add_process("Dead", Sink)
        net.add_initial(("Nums", "N", None), 30)
        net.add_initial(("Chunk", "SIZE", None), 7)
        net.add_initial(("Scale", "FACTOR", None), 1.0)
        net.add_initial(("Boom", "BAD", None), 4)
        net.connect(("Nums", "OUT", None), ("Chunk", "IN", None))
        net.connect(("Chunk", "OUT", None), ("Inc", "IN", None))
        net.connect(("Inc", "OUT", None), ("Boom", "IN", None))
        net.connect(("Boom", "OUT", None), ("Scale", "IN", None))
        net.connect(("Scale", "OUT", None), ("Out", "IN", None))
        net.connect(("Boom", "ERROR", None), ("Dead", "IN", None))
        anyio.run(net.run)
    return path


def test_spans_and_links_equal_the_traced_ips_and_parents(traced: Path, receiver: Receiver) -> None:
    with open_trace(traced) as trace:
        run = trace.run()
        result = export_otlp(run, receiver.url, batch_size=16)
        records = [r for r in run.records() if r.kind in ("data", "open", "close", "iip")]
        dead = {r.ip_id for r in run.records() if r.kind == "dead"}
        run_id = run.run_id
    assert dead  # the run has a dead letter
    assert result.spans == len(records) == len(receiver.spans)
    assert result.batches == -(-len(records) // 16)
    by_id = {int.from_bytes(s.span_id, "big"): s for s in receiver.spans}
    assert set(by_id) == {r.ip_id for r in records}
    kinds = set()
    for r in records:
        span = by_id[r.ip_id]
        assert span.trace_id.hex() == run_id
        assert span.name == r.port
        links = [int.from_bytes(link.span_id, "big") for link in span.links]
        assert links == list(r.parents)
        assert all(link.trace_id.hex() == run_id for link in span.links)
        parent = int.from_bytes(span.parent_span_id, "big") if span.parent_span_id else None
        assert parent == (r.parents[0] if r.parents else None)
        attrs = {a.key: a.value for a in span.attributes}
        assert attrs["fbp.kind"].string_value == r.kind
        assert attrs["fbp.ip_id"].int_value == r.ip_id
        assert span.start_time_unix_nano <= span.end_time_unix_nano
        assert (span.status.code == 2) == (r.ip_id in dead)  # STATUS_CODE_ERROR
        kinds.add(r.kind)
    assert kinds == {"data", "open", "close", "iip"}
    assert any(len(s.links) == 2 for s in receiver.spans)  # Scale: IN and FACTOR
    service = {a.key: a.value.string_value for a in receiver.resources[0].attributes}
    assert service["service.name"] == "spans"
    assert service["fbp.run_id"] == run_id


def test_the_cli_sends_a_run(traced: Path, receiver: Receiver, capsys: Any) -> None:
    code = main(["otlp", str(traced), "--endpoint", receiver.url, "--no-payloads", "--json"])
    assert code == 0
    out = capsys.readouterr().out
    assert '"spans": ' in out
    assert receiver.spans
    assert not any(a.key == "fbp.payload" for s in receiver.spans for a in s.attributes)


def test_a_refusing_collector_is_a_clear_error(traced: Path, receiver: Receiver) -> None:
    url = receiver.url.replace("/v1/traces", "/wrong")
    code = main(["otlp", str(traced), "--endpoint", url])
    assert code == 1


def test_a_missing_trace_is_bad_input(tmp_path: Path) -> None:
    assert main(["otlp", str(tmp_path / "none.trace")]) == 2


def _live_network(sink: Any) -> Network:
    net = Network("live", trace=sink)
    net.add_process("Nums", Numbers)
    net.add_process("Inc", Inc)
    net.add_process("Scale", Scale)
    net.add_process("Out", Sink)
    net.add_initial(("Nums", "N", None), 2000)
    net.add_initial(("Scale", "FACTOR", None), 2.0)
    net.connect(("Nums", "OUT", None), ("Inc", "IN", None))
    net.connect(("Inc", "OUT", None), ("Scale", "IN", None))
    net.connect(("Scale", "OUT", None), ("Out", "IN", None))
    return net


@pytest.mark.parametrize("sample", [0.1, 1.0])
def test_live_export_sends_whole_sampled_lineages(
    tmp_path: Path, receiver: Receiver, sample: float
) -> None:
    from fbp.observe import LiveSpans

    path = tmp_path / "live.trace"
    with TraceWriter(path) as writer:
        sink = LiveSpans(receiver.url, sample=sample, inner=writer, batch_size=64)
        net = _live_network(sink)
        anyio.run(net.run)
    assert sink.error is None
    with open_trace(path) as trace:
        run = trace.run()
        parents = {
            r.ip_id: r.parents for r in run.records() if r.kind in ("data", "open", "close", "iip")
        }
        roots = {r.ip_id for r in run.records() if r.port == "Nums.OUT"}
        iips = {r.ip_id for r in run.records() if r.kind == "iip"}
        run_id = run.run_id
    got = {int.from_bytes(s.span_id, "big"): s for s in receiver.spans}
    assert sink.spans_sent == len(receiver.spans) == len(got)
    assert set(got) <= set(parents)  # every span is a traced IP (the inner sink got all)
    for ip, span in got.items():
        assert span.trace_id.hex() == run_id
        assert [int.from_bytes(x.span_id, "big") for x in span.links] == list(parents[ip])
    kept_roots = roots & set(got)
    if sample == 1.0:
        assert set(got) == set(parents)
    else:
        assert 100 < len(kept_roots) < 300  # about 10% of 2000
        assert iips <= set(got)
        # Whole lineages: an IP is kept exactly when its data parent is.
        for ip, ps in parents.items():
            if ip in roots or ip in iips:
                continue
            data_parents = [p for p in ps if p not in iips]
            assert (ip in got) == any(p in got for p in data_parents)


def test_fbp_run_exports_live(receiver: Receiver, capsys: Any) -> None:
    code = main(
        ["run", HELLO, "--otlp-endpoint", receiver.url, "--otlp-sample", "1",
         "--progress", "off"]
    )  # fmt: skip
    assert code == 0
    assert {s.name for s in receiver.spans} >= {"Greet.OUT"}
    assert main(["run", HELLO, "--otlp-endpoint", receiver.url,
                 "--otlp-sample", "2"]) == 2  # fmt: skip
