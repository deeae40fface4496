"""The ``trace`` command: inspect and export the IPs a run recorded.

::

    fbp trace summary FILE [--run ID] [--json]
    fbp trace ips FILE EDGE_OR_PORT [--run ID] [--kind KIND] [--limit N] [--json]
    fbp trace lineage FILE IP_ID [--run ID] [--json]
    fbp trace export FILE [--run ID] [--format flowtrace] [-o OUT] [--json]
    fbp trace convert OLD NEW [--json]

Every handler returns the exit code, with the reason on stderr when it is not 0:
2 when the file is missing or not a trace, or names no run, port, edge or IP of it
(bad input), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .._core._record import Kind
from ..cli._args import add_trace_run
from ..cli._common import print_error
from ._errors import TraceError, TraceFileError, TraceLookupError
from ._reader import Trace, open_trace

if TYPE_CHECKING:
    from ._records import TracedIP
    from ._run import TracedRun

__all__ = ("add_parser",)

_TEXT_LIMIT = 100
_CLIP = 80

Handler = Callable[[argparse.Namespace], int]


def add_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the ``trace`` command and its subcommands to a CLI.

    Each subcommand sets ``func``: call ``args.func(args)`` for the exit code.
    """
    trace = subparsers.add_parser(
        "trace",
        help="inspect and export recorded IPs",
        description="Inspect the runs, IPs and lineage recorded in a trace file.",
    )
    sub = trace.add_subparsers(dest="trace_command", metavar="COMMAND", required=True)

    def command(name: str, help_: str, handler: Handler) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".")
        add_trace_run(p)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        p.set_defaults(func=handler)
        return p

    command("summary", "list the runs and summarise one", _summary)
    p = command("ips", "show the IPs that crossed a port or an edge", _ips)
    p.add_argument(
        "target", metavar="EDGE_OR_PORT", help="'proc.OUT', 'proc.IN[0]' or 'a.OUT -> b.IN'"
    )
    p.add_argument(
        "--kind",
        default="data",
        choices=[*(k.label for k in Kind), "brackets", "all"],
        help="which records (default: data)",
    )
    p.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help=f"at most N IPs, 0 for all (default: {_TEXT_LIMIT}; all with --json)",
    )
    p = command("lineage", "show an IP with its ancestors and descendants", _lineage)
    p.add_argument("ip_id", metavar="IP_ID", type=_ip_id, help="the IP's id (42 or #42)")
    p = command("export", "export a run for other tools", _export)
    p.add_argument("--format", default="flowtrace", choices=["flowtrace"], help="output format")
    p.add_argument("-o", "--output", metavar="OUT", help="output file (default: stdout)")
    help_ = "convert a trace file of an older format (1 or 2) to the current one"
    p = sub.add_parser("convert", help=help_, description=help_[0].upper() + help_[1:] + ".")
    p.add_argument("old", metavar="OLD", help="the trace file to convert (only read)")
    p.add_argument("new", metavar="NEW", help="the file to write (must not exist)")
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=_convert)
    return trace


def _ip_id(text: str) -> int:
    try:
        return int(text.lstrip("#"))
    except ValueError:
        msg = f"IP id must be a number like 42 or #42, not {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _guarded(fn: Callable[[argparse.Namespace, Trace], int]) -> Handler:
    """Open the trace, run the handler, and turn trace errors into exit codes."""

    @functools.wraps(fn)
    def handler(args: argparse.Namespace) -> int:
        try:
            with open_trace(args.file) as trace:
                return fn(args, trace)
        except (TraceFileError, TraceLookupError) as exc:
            return print_error(exc, 2)
        except (TraceError, ImportError) as exc:  # ImportError: a dependency is missing
            return print_error(exc, 1)
        except BrokenPipeError:  # e.g. piped into head
            return 0

    return handler


def _dump(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    cells = [list(headers)] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in cells
    ]
    return "\n".join(lines)


def _clip(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _CLIP else text[: _CLIP - 3] + "..."


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


@_guarded
def _summary(args: argparse.Namespace, trace: Trace) -> int:
    runs = trace.runs()
    run = trace.run(args.run) if runs or args.run else None
    if args.json:
        data: dict[str, Any] = {"file": trace.path, "runs": [r.to_json() for r in runs]}
        if run is not None:
            data["run"] = {
                **run.summary.to_json(),
                "processes": [p.to_json() for p in run.processes()],
                "edges": [e.to_json() for e in run.edges()],
                "ports": [p.to_json() for p in run.ports()],
            }
        _dump(data)
        return 0
    print(f"{trace.path}: {len(runs)} run{'s' if len(runs) != 1 else ''}")
    if run is None:
        return 0
    rows = [
        (
            ("* " if r.run_id == run.run_id else "  ") + r.run_id,
            r.graph_name,
            r.status,
            _when(r.started_ns),
            "-" if r.duration is None else f"{r.duration:.3f} s",
            f"{r.records:,}",
        )
        for r in runs
    ]
    print(_table(("  RUN", "GRAPH", "STATUS", "STARTED (UTC)", "DURATION", "RECORDS"), rows))
    _print_run(run)
    return 0


def _print_run(run: TracedRun) -> None:
    s = run.summary
    print(f"\nrun {s.run_id} of graph {s.graph_name!r}: {s.status}, {s.records:,} records")
    if s.error:
        print("  error: " + s.error.replace("\n", "\n    "))
    procs = run.processes()
    if procs:
        print("processes:")
        rows = [(p.name, p.component, f"{p.ips_sent:,}", f"{p.activations:,}") for p in procs]
        print(_table(("NAME", "COMPONENT", "IPS SENT", "ACTIVATIONS"), rows))
    edges = run.edges()
    if edges:
        print("edges:")
        erows = [(e.name, f"{e.ips:,}", f"{e.brackets:,}", f"{e.dropped:,}") for e in edges]
        print(_table(("EDGE", "IPS", "BRACKETS", "DROPPED"), erows))


@_guarded
def _ips(args: argparse.Namespace, trace: Trace) -> int:
    run = trace.run(args.run)
    limit = args.limit if args.limit is not None else (0 if args.json else _TEXT_LIMIT)
    records: list[dict[str, Any]] = [
        {
            "ip_id": r.ip_id,
            "kind": r.kind,
            "activation": r.activation,
            "t": r.t,
            "parents": list(r.parents),
            "payload": r.payload,
        }
        for r in run._selected_ips(args.target, args.kind, limit or None)
    ]
    if args.json:
        _dump({"run_id": run.run_id, "target": args.target, "kind": args.kind, "ips": records})
        return 0
    print(f"{args.target} in run {run.run_id}: {len(records)} {args.kind} record(s)")
    if records:
        table = [
            (
                f"#{r['ip_id']}",
                r["kind"],
                f"{r['t']:.6f}",
                r["activation"],
                ",".join(f"#{p}" for p in r["parents"]) or "-",
                _clip(r["payload"]),
            )
            for r in records
        ]
        print(_table(("IP", "KIND", "T (S)", "ACTIVATION", "PARENTS", "PAYLOAD"), table))
    if limit and len(records) == limit:
        print(f"(first {limit}; --limit N shows more, --limit 0 all)")
    return 0


def _ip_line(ip: TracedIP) -> tuple[str, ...]:
    parents = ",".join(f"#{p}" for p in ip.parents) or "-"
    payload = _clip(ip.payload) if ip.payload_recorded else "(not recorded)"
    return (f"#{ip.ip_id}", ip.kind, ip.port, f"{ip.t:.6f}", parents, payload)


@_guarded
def _lineage(args: argparse.Namespace, trace: Trace) -> int:
    run = trace.run(args.run)
    lin = run.lineage(args.ip_id)
    if args.json:
        _dump({"run_id": run.run_id, **lin.to_json()})
        return 0
    headers = ("IP", "KIND", "PORT", "T (S)", "PARENTS", "PAYLOAD")
    print(f"ancestors of #{lin.ip.ip_id} ({len(lin.ancestors)}):")
    if lin.ancestors:
        print(_table(headers, [_ip_line(a) for a in lin.ancestors]))
    if lin.missing:
        ids = ", ".join(f"#{i}" for i in lin.missing)
        print(f"  not in the trace (in a deleted segment of a rotated trace): {ids}")
    print(f"IP #{lin.ip.ip_id}:")
    print(_table(headers, [_ip_line(lin.ip)]))
    print(f"descendants of #{lin.ip.ip_id} ({len(lin.descendants)}):")
    if lin.descendants:
        print(_table(headers, [_ip_line(d) for d in lin.descendants]))
    return 0


@_guarded
def _export(args: argparse.Namespace, trace: Trace) -> int:
    from ._flowtrace import export_flowtrace

    run = trace.run(args.run)
    if args.output is None:
        if args.json:
            print("error: --json reports on the written file; add -o OUT", file=sys.stderr)
            return 2
        export_flowtrace(run, sys.stdout)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as fp:
            n = export_flowtrace(run, fp)
    except OSError as exc:
        print(f"error: cannot write {args.output!r}: {exc.strerror}", file=sys.stderr)
        return 1
    if args.json:
        _dump({"run_id": run.run_id, "format": args.format, "output": args.output, "events": n})
    else:
        print(f"wrote {n:,} Flowtrace events of run {run.run_id} to {args.output}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from ._convert import convert

    try:
        done = convert(args.old, args.new)
    except TraceFileError as exc:
        return print_error(exc, 2)
    except TraceError as exc:
        return print_error(exc, 1)
    if args.json:
        _dump(
            {
                "old": args.old,
                "new": args.new,
                "old_format": done.old_version,
                "runs": done.runs,
                "records": done.records,
            }
        )
    else:
        print(
            f"converted {args.old} (format {done.old_version}) to {args.new}:"
            f" {done.runs} run{'s' if done.runs != 1 else ''}, {done.records:,} records"
        )
    return 0
