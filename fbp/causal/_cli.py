"""``python -m fbp causal ...``: the causal questions from the command line.

::

    python -m fbp causal graph NETWORK [--format text|dot|mermaid]
    python -m fbp causal shift NETWORK --before A.trace --after B.trace --target P.PORT
    python -m fbp causal fit NETWORK TRACE [TRACE...] -o MODEL
    python -m fbp causal anomaly NETWORK TRACE --target P.PORT [--ip ID | --worst N]
    python -m fbp causal whatif NETWORK TRACE... --set P.PORT=VALUE --target P.PORT [--rerun]
    python -m fbp causal influence NETWORK TRACE... --target P.PORT
    python -m fbp causal replay-shift NETWORK --trace A.trace --swap P=mod:Class --target P.PORT

Queries that need a fitted model take the network and its traces (and fit), or a model
file saved by ``fit`` (``--model MODEL``). Every query prints a ranked table, or JSON
with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..cli._args import add_json, add_unit_and_seed

__all__ = ("add_parser",)


def _common(p: argparse.ArgumentParser, *, target: bool = True) -> None:
    if target:
        p.add_argument("--target", required=True, help="the variable asked about (P.PORT[.field])")
    p.add_argument(
        "--field",
        action="append",
        metavar="P.PORT=FIELD",
        default=[],
        help="project a port on this payload field ('value', 'none', or a path)",
    )
    add_unit_and_seed(p)
    add_json(p)
    if target:
        from ..cli._common import add_plot_option

        add_plot_option(p)


def _traces(p: argparse.ArgumentParser) -> None:
    p.add_argument("network", help="the graph file")
    p.add_argument(
        "traces",
        nargs="*",
        metavar="TRACE",
        help="trace files (FILE or FILE@RUN_ID); runs are stacked",
    )
    p.add_argument("--model", help="a model saved by 'causal fit' instead of fitting")
    p.add_argument(
        "--mechanisms",
        choices=("select", "linear", "auto"),
        default="select",
        help="select (default): linear, or flexible where that predicts clearly better",
    )


def add_parser(sub: Any) -> None:
    """Add ``causal`` and its subcommands to the command parser."""
    top: argparse.ArgumentParser = sub.add_parser(
        "causal",
        help="fit the network's causal model on traces and query it",
        description="The network is its own causal graph: fit it on traced runs and ask"
        " which component explains a change, why an output is anomalous, what a setting"
        " would do.",
    )
    cs = top.add_subparsers(dest="causal_command", metavar="QUESTION", required=True)

    p = cs.add_parser("graph", help="show the causal graph of a network")
    p.add_argument("network")
    p.add_argument("--format", choices=("text", "dot", "mermaid"), default="text")
    p.add_argument("--field", action="append", metavar="P.PORT=FIELD", default=[])
    p.set_defaults(func=_graph)

    p = cs.add_parser("shift", help="which components explain a change between two runs")
    p.add_argument("network")
    p.add_argument("--before", required=True, metavar="TRACE", help="FILE or FILE@RUN_ID")
    p.add_argument("--after", required=True, metavar="TRACE", help="FILE or FILE@RUN_ID")
    p.add_argument("--measure", choices=("mean", "kl"), default="mean")
    p.add_argument("--bootstrap", type=int, default=30, help="bootstrap replicates")
    p.add_argument("--alpha", type=float, default=0.01, help="significance level (default 0.01)")
    p.add_argument("--method", choices=("fast", "dowhy"), default="fast")
    p.add_argument(
        "--windows",
        type=float,
        metavar="SECONDS",
        help="rows are time windows of this length; variables are per-port IP"
        " counts and latencies (for throughput and latency questions)",
    )
    _common(p)
    p.set_defaults(func=_shift)

    p = cs.add_parser("fit", help="fit and save a causal model")
    _traces(p)
    p.add_argument("-o", "--output", required=True, help="the model file to write")
    _common(p, target=False)
    p.add_argument(
        "--evaluate", action="store_true", help="also run dowhy's evaluate_causal_model (slow)"
    )
    p.set_defaults(func=_fit)

    p = cs.add_parser("anomaly", help="why units are anomalous at the target")
    _traces(p)
    p.add_argument(
        "--ip",
        type=int,
        action="append",
        default=[],
        help="the unit of this IP (any IP id of the unit); repeatable",
    )
    p.add_argument("--worst", type=int, default=0, help="explain the N most anomalous units")
    _common(p)
    p.set_defaults(func=_anomaly)

    p = cs.add_parser("whatif", help="the target's distribution under an intervention")
    _traces(p)
    p.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="P.PORT=VALUE",
        dest="set_values",
        help="the intervention; repeatable",
    )
    p.add_argument(
        "--rerun",
        action="store_true",
        help="also re-run the network with these --set values and compare",
    )
    p.add_argument("--samples", type=int, default=10_000)
    _common(p)
    p.set_defaults(func=_whatif)

    p = cs.add_parser("influence", help="which variables drive the target")
    _traces(p)
    p.add_argument("--kind", choices=("arrow_strength", "intrinsic"), default="arrow_strength")
    _common(p)
    p.set_defaults(func=_influence)

    from ..observe._watch_cli import add_watch_parser

    add_watch_parser(cs)

    from ._replay._cli import add_shift_parser

    add_shift_parser(cs)


# -- helpers ---------------------------------------------------------------------------


def _ref(text: str) -> tuple[str, str | None]:
    from ..cli._common import trace_ref

    return trace_ref(text)


def _fields(items: list[str]) -> dict[str, Any]:
    from ..cli._common import CliError

    out: dict[str, Any] = {}
    for item in items:
        addr, sep, spec = item.partition("=")
        if not sep:
            msg = f"--field {item!r}: write --field P.PORT=FIELD"
            raise CliError(msg)
        out[addr] = [s for s in spec.split(",")] if "," in spec else spec
    return out


def _run(fn: Any) -> int:
    """Call ``fn``, turning the layers' errors into CLI errors."""
    from .._core._exceptions import FbpError
    from ..cli._common import CliError, exit_code_of

    try:
        return int(fn())
    except FbpError as e:
        raise CliError(str(e), code=exit_code_of(e)) from None
    except FileNotFoundError as e:
        raise CliError(str(e)) from None


def _emit(result: Any, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(result.to_dict(), default=str))
    else:
        sys.stdout.write(result.table().rstrip("\n") + "\n")
    _plot(result, args)


def _plot(result: Any, args: argparse.Namespace, **kwargs: Any) -> None:
    """Draw ``result`` into ``--plot FILE``, if asked."""
    from ..cli._common import write_plot

    write_plot(result, args.plot, **kwargs)


def _model(args: argparse.Namespace) -> Any:
    from ..cli._common import CliError
    from ._model._fit import FittedModel

    if args.model:
        return FittedModel.load(args.model)
    if not args.traces:
        msg = "give trace files to fit on, or --model MODEL"
        raise CliError(msg)
    model, _tables = _fit_traces(args)
    return model


def _fit_traces(args: argparse.Namespace) -> Any:
    """Fit the model of ``args.network`` on ``args.traces``, as ``fit`` and the queries
    without ``--model`` do: the model and the tables it was fitted on."""
    from ._tables._api import fit_traces

    return fit_traces(
        args.network,
        [_ref(x) for x in args.traces],
        mechanisms=args.mechanisms,
        seed=args.seed,
        unit=args.unit,
        projections=_fields(args.field),
    )


# -- commands --------------------------------------------------------------------------


def _graph(args: argparse.Namespace) -> int:
    from ._tables._api import causal_graph
    from ._tables._wiring import render_causal_graph

    def go() -> int:
        nv = causal_graph(args.network, projections=_fields(args.field))
        sys.stdout.write(render_causal_graph(nv, args.format))
        return 0

    return _run(go)


def _shift(args: argparse.Namespace) -> int:
    from ._tables._api import shift_between

    def go() -> int:
        result = shift_between(
            args.network,
            _ref(args.before),
            _ref(args.after),
            args.target,
            unit=args.unit,
            projections=_fields(args.field),
            window=args.windows,
            seed=args.seed,
            measure=args.measure,
            n_bootstrap=args.bootstrap,
            alpha=args.alpha,
            method=args.method,
        )
        _emit(result, args)
        return 0

    return _run(go)


def _fit(args: argparse.Namespace) -> int:
    def go() -> int:
        model, t = _fit_traces(args)
        model.save(args.output)
        report = model.quality(evaluate=args.evaluate)
        if args.json:
            print(
                json.dumps(
                    {
                        "model": args.output,
                        "variables": t.variables,
                        "notes": t.notes,
                        "quality": report.to_dict(),
                    },
                    default=str,
                )
            )
        else:
            print(
                f"fitted {len(t.variables)} variables on"
                f" {sum(len(f) for f in t.frames)} rows; saved to {args.output}"
            )
            sys.stdout.write(report.table().rstrip("\n") + "\n")
        return 0

    return _run(go)


def _anomaly(args: argparse.Namespace) -> int:
    from ..cli._common import CliError
    from ._anomaly import anomaly, worst
    from ._tables._api import resolve_target, tables

    def go() -> int:
        model = _model(args)
        if not args.traces:
            msg = "anomaly needs the trace holding the units to explain"
            raise CliError(msg)
        t = tables(
            args.network, [_ref(args.traces[-1])], unit=args.unit, projections=_fields(args.field)
        )
        frame = t.frames[0][[c for c in model.nodes if c in t.frames[0].columns]]
        target = resolve_target(args.target, t.graph)
        if args.ip:
            rows = _units_of(args.traces[-1], args.ip, frame)
        else:
            scores = worst(model, frame, target, n=args.worst or 1)
            rows = frame.loc[scores.index]
        _emit(anomaly(model, rows, target, seed=args.seed), args)
        return 0

    return _run(go)


def _units_of(trace_ref: str, ip_ids: list[int], frame: Any) -> Any:
    from ..cli._common import CliError
    from ..tracing import open_trace

    path, run_id = _ref(trace_ref)
    with open_trace(path) as tr:
        run = tr.run(run_id)
        roots = run.roots_of(ip_ids)
    units = []
    for ip in ip_ids:
        found = [r for r in roots.get(ip, ()) if r in frame.index]
        if not found and ip in frame.index:
            found = [ip]
        if not found:
            msg = f"IP #{ip} belongs to no unit of this run's table"
            raise CliError(msg)
        units.append(found[0])
    return frame.loc[units]


def _whatif(args: argparse.Namespace) -> int:
    from ..cli._common import parse_set
    from ._tables._api import resolve_target
    from ._whatif import whatif

    def go() -> int:
        model = _model(args)
        values = parse_set(args.set_values)
        interventions = {resolve_target(k, model.graph): v for k, v in values.items()}
        target = resolve_target(args.target, model.graph)
        if args.rerun:
            rerun = _rerun(args.network, values, args.unit, _fields(args.field))
            # Predict for the re-run's own units, so that the check is not blurred
            # by the difference between two samples of units.
            result = whatif(
                model, interventions, target, n=args.samples, seed=args.seed, units=rerun
            )
            comparison = result.compare_with(rerun[target])
            if args.json:
                d = result.to_dict()
                d["rerun"] = comparison.to_dict()
                print(json.dumps(d, default=str))
            else:
                sys.stdout.write(result.table().rstrip("\n") + "\n")
                sys.stdout.write(comparison.table().rstrip("\n") + "\n")
            _plot(result, args, rerun=comparison)
            return 0
        result = whatif(model, interventions, target, n=args.samples, seed=args.seed)
        _emit(result, args)
        return 0

    return _run(go)


def _rerun(
    network: str, values: dict[str, Any], unit: str | None, projections: dict[str, Any]
) -> Any:
    """Run the network for real with ``values`` set; return its table."""
    from ..graph import run
    from ..tracing import TraceWriter
    from ._tables._api import tables

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rerun.trace"
        with TraceWriter(path) as sink:
            run(network, set_values=values, trace=sink)
        t = tables(network, [path], unit=unit, projections=projections)
    return t.frames[0]


def _influence(args: argparse.Namespace) -> int:
    from ._influence import influence
    from ._tables._api import resolve_target

    def go() -> int:
        model = _model(args)
        target = resolve_target(args.target, model.graph)
        _emit(influence(model, target, kind=args.kind, seed=args.seed), args)
        return 0

    return _run(go)
