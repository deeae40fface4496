"""``python -m fbp otlp``: send a traced run to an OpenTelemetry collector.

::

    fbp otlp FILE [--run ID] [--endpoint URL] [--header K=V ...] [--no-payloads] [--json]

Exit codes: 0 sent, 1 the collector refused or was unreachable, 2 bad input (no such
trace or run, missing extra).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from ..cli._args import add_json, add_trace_run

__all__ = ("add_parser",)

DEFAULT_ENDPOINT = "http://localhost:4318/v1/traces"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``otlp`` command."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "otlp",
        help="send a traced run to an OpenTelemetry collector (OTLP/HTTP)",
        description="Send a traced run to an OpenTelemetry collector over OTLP/HTTP: each IP"
        " a span, its parents span links, the run one trace.",
    )
    add_trace_run(p)
    p.add_argument(
        "--endpoint",
        default=os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", DEFAULT_ENDPOINT),
        metavar="URL",
        help="the collector's traces URL (default: $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or"
        f" {DEFAULT_ENDPOINT})",
    )
    p.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an HTTP header for the collector (an API key); repeatable",
    )
    p.add_argument(
        "--no-payloads", action="store_true", help="leave payloads out of span attributes"
    )
    add_json(p)
    p.set_defaults(func=otlp_command)
    return p


def otlp_command(args: argparse.Namespace) -> int:
    """Export the run named on the command line."""
    from ..cli._common import print_error
    from ..tracing import TraceError, open_trace
    from ._otlp import OtlpExportError, export_otlp

    headers: dict[str, str] = {}
    for h in args.header:
        key, sep, value = h.partition("=")
        if not sep or not key.strip():
            return print_error(f"--header {h!r}: write --header KEY=VALUE", 2)
        headers[key.strip()] = value
    try:
        with open_trace(args.file) as trace:
            run = trace.run(args.run)
            result = export_otlp(run, args.endpoint, headers=headers, payloads=not args.no_payloads)
    except (TraceError, ImportError) as e:
        return print_error(e, 2)
    except OtlpExportError as e:
        return print_error(e, 1)
    if args.json:
        print(json.dumps({"endpoint": args.endpoint, **_asdict(result)}))
    else:
        print(
            f"sent {result.spans} spans with {result.links} links to {args.endpoint}"
            f" (trace id {result.trace_id})",
            file=sys.stderr,
        )
    return 0


def _asdict(result: Any) -> dict[str, Any]:
    return {k: getattr(result, k) for k in result.__slots__}
