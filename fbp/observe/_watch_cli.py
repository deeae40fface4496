"""``python -m fbp causal watch``: follow a long-running network's trace in a terminal."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from ..cli._args import add_run, add_unit_and_seed

__all__ = ("add_watch_parser",)


def add_watch_parser(cs: Any) -> None:
    """Add ``watch`` to the ``causal`` subcommands."""
    p: argparse.ArgumentParser = cs.add_parser(
        "watch",
        help="follow a running network's trace; name the culprits when the target shifts",
        description="Compare each window of a (long-running) network's trace with a"
        " reference window; when the target shifts, name the components that explain it,"
        " with intervals. One line per window (JSON lines with --json); alarms are also"
        " logged as structured events and exported as metrics with --metrics-port.",
    )
    p.add_argument("network", help="the graph file")
    p.add_argument(
        "--trace",
        required=True,
        metavar="FILE",
        help="the trace being written (a file, or a rotated trace's folder)",
    )
    p.add_argument("--target", required=True, help="the variable watched (P.PORT[.field])")
    add_run(p)
    p.add_argument(
        "--window",
        default="500",
        metavar="N|Ss",
        help="units of work per window (500), or seconds with an s suffix (10s)",
    )
    p.add_argument(
        "--reference", type=int, default=1, metavar="K", help="the first K windows (default 1)"
    )
    p.add_argument(
        "--alpha", type=float, default=0.001, help="significance level per window (0.001)"
    )
    p.add_argument("--bootstrap", type=int, default=20, help="bootstrap replicates (20)")
    p.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="seconds between looks (2)"
    )
    p.add_argument("--once", action="store_true", help="judge the windows there are now, then exit")
    p.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve the verdicts to Prometheus"
    )
    add_unit_and_seed(p)
    p.add_argument("--json", action="store_true", help="one JSON object per window")
    p.set_defaults(func=watch_command)


def _window(text: str) -> tuple[float, bool]:
    from ..cli._common import CliError

    raw = text.strip().lower()
    try:
        if raw.endswith("s"):
            return float(raw[:-1]), True
        return float(int(raw)), False
    except ValueError:
        msg = f"--window {text!r}: give a number of units (500) or seconds (10s)"
        raise CliError(msg) from None


def watch_command(args: argparse.Namespace) -> int:
    """Run the watch."""
    from .._core._exceptions import CausalModelError
    from .._core._log import get_logger
    from ..cli._common import CliError, load
    from ..tracing import TraceError
    from ._watch import CausalWatch, WatchEvent

    graph = load(args.network)
    size, by_time = _window(args.window)
    try:
        watch = CausalWatch(
            graph,
            args.target,
            window=size,
            by_time=by_time,
            reference=args.reference,
            alpha=args.alpha,
            n_bootstrap=args.bootstrap,
            unit=args.unit,
            seed=args.seed,
        )
    except ValueError as e:
        raise CliError(str(e)) from None
    log = get_logger(watch=args.target)
    gauges = _metrics(args.metrics_port) if args.metrics_port is not None else None

    def publish(e: WatchEvent) -> None:
        if args.json:
            print(json.dumps(e.to_dict(), default=str), flush=True)
        else:
            print(e.line(), flush=True)
        if e.alarm:
            log.warning("causal watch alarm", **e.to_dict())
        if gauges is not None:
            gauges(e)

    try:
        while True:
            try:
                events = watch.poll(args.trace, args.run)
                running = not events and _running(args.trace, args.run)
            except TraceError as err:
                if args.once:
                    raise CliError(str(err)) from None
                events, running = [], True  # the run has not started yet
            except CausalModelError as err:
                if args.once or not _running(args.trace, args.run):
                    raise CliError(str(err), code=1) from None
                events, running = [], True  # no data yet
            for event in events:
                publish(event)
            if args.once or (not events and not running):
                return 0
            time.sleep(args.interval)
    except KeyboardInterrupt:
        return 130


def _running(trace: str, run_id: str | None) -> bool:
    from ..tracing import TraceError, open_trace

    try:
        with open_trace(trace) as tr:
            return tr.run(run_id).summary.status == "running"
    except TraceError:
        return True


def _metrics(port: int) -> Any:
    from ..cli._common import CliError

    try:
        import prometheus_client as pc
    except ModuleNotFoundError:
        msg = "--metrics-port needs prometheus_client; pip install 'fbp-causal[metrics]'"
        raise CliError(msg) from None
    registry = pc.CollectorRegistry()
    windows = pc.Counter("fbp_watch_windows", "windows judged", registry=registry)
    alarms = pc.Counter("fbp_watch_alarms", "windows that raised an alarm", registry=registry)
    alarm = pc.Gauge("fbp_watch_alarm", "1 if the latest window raised an alarm", registry=registry)
    change = pc.Gauge("fbp_watch_target_change", "the target's change", registry=registry)
    share = pc.Gauge(
        "fbp_watch_culprit_attribution",
        "each culprit's share of the change in the latest window",
        ["process"],
        registry=registry,
    )
    pc.start_http_server(port, addr="127.0.0.1", registry=registry)

    def update(e: Any) -> None:
        windows.inc()
        alarms.inc(e.alarm)
        alarm.set(float(e.alarm))
        change.set(e.change if e.change is not None else float("nan"))
        share.clear()
        for c in e.culprits:
            share.labels(c.process).set(c.attribution)

    return update
