"""A Prometheus endpoint for a running network.

Nothing is counted for the endpoint: every figure is read, at scrape time, from what the
runtime keeps anyway (the IPs each port has sent, the channels' buffers, drops and wait
times, the trace writer's counters). A network run without an endpoint pays nothing, and
a scrape costs one pass over the ports, in the scraping thread.

Metrics (every name starts with ``fbp_``; ``process``, ``port`` and ``edge`` labels use
the address form ``Proc.PORT[i]``)::

    fbp_ips_sent_total{process,port}              IPs sent by an output port (data and
                                                  brackets; a dead letter counts once)
    fbp_ips_received_total{process,port}          IPs taken by the process from an input
                                                  port (IIPs included)
    fbp_edge_ips_total{edge}                      IPs sent along an edge
    fbp_edge_buffered{edge}                       IPs waiting in the edge's channel
    fbp_edge_capacity{edge}                       the channel's capacity
    fbp_edge_buffer_fill{edge}                    buffered / capacity (0..1)
    fbp_dropped_total{process,port}               IPs dropped at an input port (drop-oldest
                                                  edges, or sent after the process ended)
    fbp_blocked_seconds_total{process,port}       seconds senders waited for room in an
                                                  input port's channel (back-pressure)
    fbp_receive_wait_seconds_total{process,port}  seconds a process waited for input
    fbp_process_errors_total{process}             dead letters sent on ERROR, plus 1 for a
                                                  failure that stopped the run
    fbp_process_running{process}                  1 while the process runs, then 0
    fbp_run_info{network,run_id}                  1 (labels only)
    fbp_run_seconds                               seconds since the run started
    fbp_trace_records_total                       records handed to the trace writer
    fbp_trace_records_stored_total                records durable in the trace file
    fbp_trace_lag_records                         records made but not yet durable (the
                                                  runtime's buffer and the writer's queue)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .._core._exceptions import ProcessError
from .._core._network import Network, PortStats
from ..lowlevel import Closing

if TYPE_CHECKING:
    from prometheus_client.registry import CollectorRegistry

__all__ = ("MetricsServer", "NetworkCollector", "serve_metrics")

INSTALL_HINT = "install the metrics extra: pip install 'fbp-causal[metrics]'"


def _require() -> Any:
    try:
        import prometheus_client
    except ModuleNotFoundError as exc:
        msg = f"metrics need prometheus_client, which is not installed; {INSTALL_HINT}"
        raise ImportError(msg) from exc
    return prometheus_client


class NetworkCollector:
    """A Prometheus collector that reads a network's counters when scraped.

    Args:
        net: the network (running, about to run, or finished).
        sink: the network's trace sink; when it has ``statistics()`` (a
            :class:`fbp.tracing.TraceWriter`), the trace metrics are exported too.
    """

    def __init__(self, net: Network, sink: Any = None) -> None:
        self.net = net
        self.sink = sink if sink is not None else net.sink

    def describe(self) -> list[Any]:
        """No description up front: the registry then does not call collect() at
        registration, when the network may not be wired yet."""
        return []

    def _ports(self) -> tuple[PortStats, ...]:
        # Read from another thread than the network's: a live edit may change the
        # process table while it is walked; read again then.
        for _ in range(5):
            try:
                return self.net.port_statistics()
            except RuntimeError:
                continue
        return ()

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (called by prometheus_client at each scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        net = self.net
        ports = self._ports()
        pl = ["process", "port"]
        sent = CounterMetricFamily("fbp_ips_sent", "IPs sent by an output port", labels=pl)
        recv = CounterMetricFamily(
            "fbp_ips_received", "IPs taken by a process from an input port", labels=pl
        )
        dropped = CounterMetricFamily("fbp_dropped", "IPs dropped at an input port", labels=pl)
        blocked = CounterMetricFamily(
            "fbp_blocked_seconds",
            "seconds senders waited for room in an input port's channel",
            labels=pl,
        )
        waiting = CounterMetricFamily(
            "fbp_receive_wait_seconds", "seconds a process waited for input", labels=pl
        )
        by_address: dict[str, PortStats] = {}
        for p in ports:
            by_address[p.address] = p
            labels = [p.process, p.address]
            if p.direction == "out":
                sent.add_metric(labels, p.ips)
            else:
                recv.add_metric(labels, p.ips)
                dropped.add_metric(labels, p.dropped)
                blocked.add_metric(labels, p.send_blocked_s)
                waiting.add_metric(labels, p.receive_wait_s)
        yield from (sent, recv, dropped, blocked, waiting)

        el = ["edge"]
        e_ips = CounterMetricFamily("fbp_edge_ips", "IPs sent along an edge", labels=el)
        e_buf = GaugeMetricFamily("fbp_edge_buffered", "IPs waiting in an edge", labels=el)
        e_cap = GaugeMetricFamily("fbp_edge_capacity", "capacity of an edge", labels=el)
        e_fill = GaugeMetricFamily("fbp_edge_buffer_fill", "buffered / capacity", labels=el)
        for edge in net.edges():
            src, tgt = by_address.get(edge[0]), by_address.get(edge[1])
            if src is None or tgt is None:
                continue
            name = [f"{edge[0]} -> {edge[1]}"]
            e_ips.add_metric(name, src.ips)
            e_buf.add_metric(name, tgt.buffered)
            e_cap.add_metric(name, tgt.capacity)
            e_fill.add_metric(name, tgt.buffered / tgt.capacity if tgt.capacity else 0.0)
        yield from (e_ips, e_buf, e_cap, e_fill)

        errors = CounterMetricFamily(
            "fbp_process_errors", "dead letters sent, plus 1 for a failure", labels=["process"]
        )
        running = GaugeMetricFamily(
            "fbp_process_running", "1 while the process runs", labels=["process"]
        )
        failed = net.error.process if isinstance(net.error, ProcessError) else None
        state = net.status
        for proc in list(net.processes.values()):
            errors.add_metric([proc.name], proc.dead_letters + (proc.name == failed))
            running.add_metric([proc.name], float(state == "running" and not proc.ended))
        yield from (errors, running)

        info = GaugeMetricFamily("fbp_run_info", "the run", labels=["network", "run_id"])
        info.add_metric([net.name, net.run_id], 1.0)
        yield info
        yield GaugeMetricFamily(
            "fbp_run_seconds", "seconds since the run started", value=net.result().duration_s
        )
        yield from self._trace_metrics()

    def _trace_metrics(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        stats = getattr(self.sink, "statistics", None)
        if stats is None:
            return
        st = stats()
        if st is None:
            return
        received = int(getattr(st, "received", 0))
        stored = int(getattr(st, "stored", 0))
        pending = len(self.net.trace_buf)
        yield CounterMetricFamily(
            "fbp_trace_records", "records handed to the trace writer", value=received
        )
        yield CounterMetricFamily(
            "fbp_trace_records_stored", "records durable in the trace file", value=stored
        )
        yield GaugeMetricFamily(
            "fbp_trace_lag_records",
            "records made but not yet durable",
            value=pending + max(received - stored, 0),
        )


class MetricsServer(Closing):
    """An HTTP endpoint serving ``/metrics`` for one network, in a daemon thread.

    Made by :func:`serve_metrics`; stop it with :meth:`close` (or use it as a context
    manager).
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        pc = _require()
        self.registry = registry
        self._server, self._thread = pc.start_http_server(port, addr=host, registry=registry)
        #: The port it listens on (the one given, or the one the system chose for 0).
        self.port: int = self._server.server_port
        self.host = host
        self._closed = threading.Event()

    @property
    def url(self) -> str:
        """The scrape URL."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving (waits for a scrape in progress)."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)



def serve_metrics(
    net: Network, port: int, host: str = "127.0.0.1", *, sink: Any = None
) -> MetricsServer:
    """Serve a network's metrics on ``http://HOST:PORT/metrics`` (port 0: any free one).

    Args:
        net: the network to observe; it may start after the endpoint.
        port: the TCP port.
        host: the address to listen on; ``0.0.0.0`` to be scraped from other machines.
        sink: the trace sink, when it is not the network's own.

    Raises:
        ImportError: prometheus_client is not installed (the ``metrics`` extra).
        OSError: the port cannot be bound.
    """
    pc = _require()
    registry = pc.CollectorRegistry(auto_describe=False)
    registry.register(NetworkCollector(net, sink))
    return MetricsServer(registry, host, port)
