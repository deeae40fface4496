"""``python -m fbp run``: run a network, with live progress on a terminal."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

import anyio

from .._core._exceptions import GraphError, NetworkError
from .._core._network import DEFAULT_CAPACITY, Network, RunResult
from ._args import add_graph_file
from ._common import CliError, configure_logging, exit_code_of, load, parse_set
from ._signals import SignalStopper

__all__ = ("add_run_command",)


def add_run_command(sub: Any) -> None:
    """Add ``run`` to the command parser."""
    p: argparse.ArgumentParser = sub.add_parser(
        "run",
        help="run a network to its end",
        description="Run a network (.fbp, .json or .yaml) until every process has ended.",
    )
    add_graph_file(p)
    p.add_argument(
        "--set",
        action="append",
        metavar="PROC.PORT=JSON",
        dest="set_values",
        help="give an input port a value (replaces its IIPs and cuts its edges); repeatable",
    )
    p.add_argument(
        "--trace",
        metavar="FILE",
        help="record every IP and its lineage in FILE (a folder with --trace-rotate)",
    )
    p.add_argument(
        "--trace-rotate",
        metavar="WHEN",
        help="write --trace as a folder of segments, a new one every WHEN: a duration"
        " (30m, 1h, 1d), a size (500MB, 1GiB), or both (1h,500MB)",
    )
    p.add_argument(
        "--trace-keep",
        metavar="N|AGE|SIZE",
        help="with --trace-rotate, delete the oldest segments beyond N segments (24),"
        " an age (7d) or a disk size (5GB); comma-separate several (default: keep all)",
    )
    p.add_argument(
        "--capacity",
        type=int,
        default=DEFAULT_CAPACITY,
        help=f"default edge capacity (default {DEFAULT_CAPACITY})",
    )
    p.add_argument(
        "--no-validate",
        action="store_true",
        help="skip type checks on edges whose types already match",
    )
    p.add_argument(
        "--quiet-period",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="warn, saying what each process waits on, when no IP has moved for this long"
        " (default 10; 0 never warns)",
    )
    p.add_argument("--json", action="store_true", help="print the run summary as JSON")
    p.add_argument(
        "--progress",
        choices=("auto", "on", "off"),
        default="auto",
        help="live progress on stderr (default: when stderr is a terminal)",
    )
    p.add_argument(
        "--backend",
        choices=("inprocess", "ray"),
        default="inprocess",
        help="where processes run: this process (default), or Ray actors (docs/scaling.md)",
    )
    p.add_argument("--address", help="with --backend ray: the Ray cluster to join (default: local)")
    p.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="logs on stderr: console on a terminal and JSON lines otherwise, or as chosen"
        " (default: auto)",
    )
    p.add_argument(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        type=str.lower,
        default="warning",
        help="the least severe log messages shown",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on http://HOST:PORT/metrics while the network runs"
        " (the metrics extra)",
    )
    p.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        metavar="HOST",
        help="address of the metrics endpoint (default 127.0.0.1; 0.0.0.0 for all)",
    )
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=0.0,
        metavar="S",
        help="on SIGTERM, drain: stop the sources and let the IPs in flight finish for up"
        " to S seconds, then stop at once; exit 143 (default 0: stop at once)",
    )
    p.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        help="send a sample of lineages as OpenTelemetry spans to this OTLP/HTTP collector"
        " while the network runs (the otel extra)",
    )
    p.add_argument(
        "--otlp-sample",
        type=float,
        default=0.01,
        metavar="FRACTION",
        help="fraction of source IPs whose lineages --otlp-endpoint sends (default 0.01)",
    )
    p.set_defaults(func=run_command)


def _make_sink(path: str | None, rotate: str | None = None, keep: str | None = None) -> Any:
    """The trace writer of ``--trace PATH`` (rotated with ``--trace-rotate``), or None;
    a path that cannot hold a trace (a folder, a missing folder, a file that is not a
    trace or has another format) is refused here, before the network starts."""
    if path is None:
        if rotate is not None or keep is not None:
            msg = "--trace-rotate and --trace-keep need --trace FOLDER"
            raise CliError(msg)
        return None
    if keep is not None and rotate is None:
        msg = "--trace-keep needs --trace-rotate (when to start a new segment), e.g. 1h"
        raise CliError(msg)
    import importlib

    try:
        tracing = importlib.import_module("fbp.tracing")
    except ImportError as e:  # pragma: no cover - tracing ships with fbp
        msg = f"--trace needs the tracing layer: {e}"
        raise CliError(msg) from e
    try:
        rotation = None if rotate is None else tracing.Rotation.parse(rotate, keep)
    except ValueError as e:
        msg = f"--trace-rotate/--trace-keep: {e}"
        raise CliError(msg) from None
    try:
        return tracing.TraceWriter(path, rotation=rotation)
    except tracing.TraceFileError as e:
        msg = f"--trace: {e}"
        raise CliError(msg, code=2) from None


#: After a first Ctrl-C or SIGTERM, a run that has not stopped within this many seconds
#: (a component blocking the event loop, say) is ended at once, its trace kept.
_GRACE_S = 1.5


class _Stopper(SignalStopper):
    """Signal handling of a run: the first SIGINT or SIGTERM cancels the network (its
    trace is finished as ``interrupted``); if it has not stopped ``_GRACE_S`` later,
    or at a second signal, the process ends at once, with code 128 + the signal,
    after storing every trace record handed over and marking the run interrupted.

    With a drain time (``--drain-timeout S``), the first SIGTERM drains instead: the
    sources stop and the IPs in flight finish (:meth:`Network.stop`); a second signal,
    or a drain not over after ``S`` seconds, stops the network as above."""

    def __init__(self, net: Network, drain_s: float = 0.0) -> None:
        super().__init__()
        self.net = net
        self.drain_s = drain_s
        #: Whether a SIGTERM started a drain, and whether it then ran out of time (or
        #: another signal came) and the network was stopped at once.
        self.draining = False
        self.drain_cut = False
        self._timer: threading.Timer | None = None

    def uninstall(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        super().uninstall()

    def _cancel_at_start(self) -> bool:
        return self.signum is not None and not (self.draining and not self.drain_cut)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None and signum == signal.SIGTERM and self.drain_s > 0:
            self.signum = signum
            self.draining = True
            print(
                f"\nSIGTERM: draining the network: its sources stop, the IPs in flight finish"
                f" (at most {self.drain_s:g} s; again to stop now)",
                file=sys.stderr,
            )
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self.net.stop)
            else:  # not running yet: the network stops its sources as they start
                self.net.stop()
            self._timer = threading.Timer(self.drain_s, self._cut_drain, ("drain timed out",))
            self._timer.daemon = True
            self._timer.start()
            return
        if self.draining and not self.drain_cut:
            self._cut_drain("signalled again")
            return
        if self.signum is not None:
            self._exit_now("stopping at once")
            return
        self.signum = signum
        name = signal.Signals(signum).name
        print(f"\n{name}: stopping the network (again to stop at once)", file=sys.stderr)
        self._stop()

    def _cut_drain(self, why: str) -> None:
        """The drain is over before the network: stop it at once (any thread)."""
        if self._timer is not None:
            self._timer.cancel()
        self.drain_cut = True
        print(f"SIGTERM: {why}: stopping the network (again to stop at once)", file=sys.stderr)
        self._stop()

    def _stop(self) -> None:
        self._request_cancel()
        self._timer = threading.Timer(_GRACE_S, self._exit_now, ("not stopped in time",))
        self._timer.daemon = True
        self._timer.start()

    def _exit_now(self, why: str) -> None:
        """End the process now: finish the trace from this thread, then exit."""
        kept = self.net.finish_trace_now(
            "interrupted", f"{signal.Signals(self.code - 128).name}: {why}", timeout=0.5
        )
        trace = "; the trace keeps every IP stored so far" if self.net.sink is not None else ""
        if self.net.sink is not None and not kept:
            trace = "; the trace keeps every IP stored so far (the run reads as crashed)"
        print(f"interrupted: {why}{trace}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(self.code)


def run_command(args: argparse.Namespace) -> int:
    """Run the network named on the command line."""
    configure_logging(args.log_format, args.log_level)
    graph = load(args.network)
    set_values = parse_set(args.set_values)
    sink = _make_sink(args.trace, args.trace_rotate, args.trace_keep)
    if args.backend == "ray":
        if args.metrics_port is not None or args.otlp_endpoint:
            msg = "--metrics-port and --otlp-endpoint run in process: drop them or --backend ray"
            raise CliError(msg)
        from ..ray._cli import run_on_ray

        return run_on_ray(args, graph, set_values, sink, _report)
    if args.otlp_endpoint:
        sink = _live_spans(args, sink)
    from ..graph._run import prepare

    try:
        net = prepare(
            graph,
            set_values=set_values,
            capacity=args.capacity,
            validate=not args.no_validate,
            trace=sink,
        )
    except (GraphError, ValueError) as e:  # ValueError: a --set address that is not one
        raise CliError(str(e)) from None
    if not args.quiet_period >= 0:
        msg = f"--quiet-period {args.quiet_period}: give a number of seconds >= 0"
        raise CliError(msg)
    net.quiet_period = args.quiet_period or None
    show = args.progress == "on" or (
        args.progress == "auto" and sys.stderr.isatty() and not args.json
    )
    metrics = _serve_metrics(net, args, sink)
    outcome: dict[str, Any] = {}
    if not args.drain_timeout >= 0:
        msg = f"--drain-timeout {args.drain_timeout}: give a number of seconds >= 0"
        raise CliError(msg)
    stopper = _Stopper(net, args.drain_timeout)
    stopper.install()
    try:
        anyio.run(_run, net, show, outcome, stopper)
    except KeyboardInterrupt:
        outcome["interrupted"] = True
    finally:
        if metrics is not None:
            metrics.close()
        if sink is not None:
            sink.close()
        stopper.uninstall()
    result = net.result()
    err = outcome.get("error")
    if stopper.draining and err is None and not outcome.get("interrupted"):
        _report(result, args, "interrupted")
        how = (
            f"after {args.drain_timeout:g} s of draining, with IPs still in flight"
            if stopper.drain_cut
            else "after draining the IPs in flight"
        )
        print(
            f"terminated: network {net.name!r} stopped {how}; {result.ips} IPs"
            + (f"; trace kept in {args.trace}" if args.trace else ""),
            file=sys.stderr,
        )
        return stopper.code
    if outcome.get("interrupted") or stopper.signum is not None:
        _report(result, args, "interrupted")
        print(
            f"interrupted: network {net.name!r} stopped cleanly after {result.ips} IPs"
            + (f"; trace kept in {args.trace}" if args.trace else ""),
            file=sys.stderr,
        )
        return stopper.code
    if err is not None:
        _report(result, args, result.status)
        print(f"error: {err}", file=sys.stderr)
        if args.trace:
            print(f"the trace of the run up to the failure is in {args.trace}", file=sys.stderr)
        return exit_code_of(err)
    _report(result, args, "completed")
    return 0


def _live_spans(args: argparse.Namespace, inner: Any) -> Any:
    try:
        from ..observe import LiveSpans

        return LiveSpans(args.otlp_endpoint, sample=args.otlp_sample, inner=inner)
    except (ImportError, ValueError) as e:
        msg = f"--otlp-endpoint: {e}"
        raise CliError(msg) from None


def _serve_metrics(net: Network, args: argparse.Namespace, sink: Any) -> Any:
    if args.metrics_port is None:
        return None
    try:
        from ..observe import serve_metrics

        server = serve_metrics(net, args.metrics_port, args.metrics_host, sink=sink)
    except ImportError as e:
        msg = f"--metrics-port: {e}"
        raise CliError(msg) from None
    except OSError as e:
        msg = (
            f"--metrics-port {args.metrics_port}: cannot listen on"
            f" {args.metrics_host}:{args.metrics_port} ({e.strerror or e}); choose another port"
        )
        raise CliError(msg) from None
    print(f"metrics: {server.url}", file=sys.stderr, flush=True)
    return server


async def _run(net: Network, show: bool, outcome: dict[str, Any], stopper: _Stopper) -> None:
    # The live view starts before any process does, so that everything they print goes
    # above it (and it is never drawn over, which would repeat its header).
    with _live() if show else contextlib.nullcontext() as live:
        async with anyio.create_task_group() as tg:
            stopper.running(tg.cancel_scope.cancel)
            if live is not None:
                tg.start_soon(_progress, net, live)
            try:
                await net.run()
            except NetworkError as e:
                outcome["error"] = e
            finally:
                tg.cancel_scope.cancel()


def _live() -> Any:
    from rich.console import Console
    from rich.live import Live

    # Standard output is redirected above the view only when it is the terminal too; a
    # network's output piped to a file stays in the file.
    return Live(
        console=Console(stderr=True),
        refresh_per_second=4,
        transient=True,
        redirect_stdout=sys.stdout.isatty(),
        redirect_stderr=True,
    )


async def _progress(net: Network, live: Any) -> None:
    from rich.console import Group

    last: dict[str, int] = {}
    last_t = time.perf_counter()
    while True:
        await anyio.sleep(0.5)
        now = time.perf_counter()
        result = net.result()
        rates = {
            p.name: (p.sent - last.get(p.name, 0)) / max(now - last_t, 1e-9)
            for p in result.processes
        }
        last = {p.name: p.sent for p in result.processes}
        last_t = now
        live.update(Group(_table(result, rates, waits(net)), _edges(result)))


def waits(net: Network) -> dict[str, str]:
    """What each process is doing: waiting to receive, blocked sending, running, done."""
    out: dict[str, str] = {}
    for name, proc in net.processes.items():
        waiting = proc.waiting
        if proc.ended:
            out[name] = "done"
        elif waiting is None:
            out[name] = "running"
        else:
            chans, op = waiting
            if op == "receive":
                ports = ", ".join(ch.name.partition(".")[2] or ch.name for ch in chans)
                out[name] = f"waits for {ports}"
            else:
                ch = chans[0]
                out[name] = f"blocked sending to {ch.name} ({len(ch)}/{ch.capacity} full)"
    return out


def _table(
    result: RunResult,
    rates: dict[str, float] | None = None,
    states: dict[str, str] | None = None,
) -> Any:
    from rich.table import Table

    t = Table(
        title=f"{result.name}: {result.ips} IPs in {result.duration_s:.2f} s", title_justify="left"
    )
    t.add_column("process")
    t.add_column("component")
    t.add_column("received", justify="right")
    t.add_column("sent", justify="right")
    if rates is not None:
        t.add_column("IPs/s", justify="right")
    t.add_column("state")
    for p in result.processes:
        state = (states or {}).get(p.name) or p.state or ("done" if p.ended else "running")
        row = [p.name, p.component, f"{p.received:,}", f"{p.sent:,}"]
        if rates is not None:
            row.append(f"{rates.get(p.name, 0):,.0f}")
        t.add_row(*row, state)
    return t


def _edges(result: RunResult) -> Any:
    from rich.table import Table

    t = Table(title="edges", title_justify="left")
    t.add_column("edge")
    t.add_column("IPs", justify="right")
    t.add_column("buffered", justify="right")
    t.add_column("dropped", justify="right")
    for e in result.edges:
        t.add_row(
            f"{e.src} -> {e.tgt}", f"{e.ips:,}", f"{e.buffered}/{e.capacity}", f"{e.dropped:,}"
        )
    return t


def _report(result: RunResult, args: argparse.Namespace, status: str) -> None:
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.json:
        d = result.to_dict()
        d["status"] = status
        print(json.dumps(d))
        return
    if sys.stderr.isatty() or args.progress == "on":
        from rich.console import Console

        Console(stderr=True).print(_table(result))
    else:
        rate = result.ips / result.duration_s if result.duration_s > 0 else 0.0
        print(
            f"{status}: {result.name}: {len(result.processes)} processes, {result.ips} IPs"
            f" in {result.duration_s:.3f} s ({rate:,.0f} IPs/s)",
            file=sys.stderr,
        )
        for p in result.processes:
            if p.state != "ended":  # what the processes that did not end were doing
                print(f"  {p.name}: {p.state}", file=sys.stderr)
